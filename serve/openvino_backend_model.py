"""Triton python-backend model: runs the exported detector through OpenVINO on CPU.

Copied by the exporter to `<model>/1/openvino_model.py`; `configs/cpu.pbtxt` names it as its
`default_model_filename` (`configs/cpu_onnxruntime.pbtxt` keeps `model.py`, ONNX Runtime), and so
do the reduced-precision configs that passed their gate: `configs/cpu_bf16.pbtxt`
(`inference_precision` bf16) and `configs/cpu_int8.pbtxt` (`openvino_model_file` model_int8.xml,
the NNCF-quantized IR, compiled at batch 1). Thin on purpose, like that one: the graphs are
compiled per canvas bucket and warmed up at load by
`creativelens.serve.openvino_runner.OpenVinoRunner`; the batching loop is
`creativelens.serve.backend_batching.execute`.
"""

import json
import os

import triton_python_backend_utils as pb_utils

from creativelens.model_metadata import canvases_of
from creativelens.serve import backend_batching
from creativelens.serve.openvino_runner import OpenVinoRunner, available_cores


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        model_file = parameters.get("openvino_model_file") or parameters.get("onnx_file", "model.onnx")
        path = os.path.join(args["model_repository"], args["model_version"], model_file)
        instances = sum(int(group.get("count", 1)) for group in config.get("instance_group", [])) or 1
        threads = int(parameters.get("inference_threads", "0")) or max(1, available_cores() // instances)
        canvases = canvases_of(parameters)
        self.runner = OpenVinoRunner(path, canvases, threads=threads,
                                     precision=parameters.get("inference_precision", "f32"),
                                     batch_one=parameters.get("openvino_batch_one", "false") == "true")

    def execute(self, requests):
        return backend_batching.execute(requests, self.runner, pb_utils, self.runner.output_names)

    def finalize(self):
        self.runner = None
