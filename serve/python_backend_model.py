"""Triton python-backend model: runs the exported ONNX detector through ONNX Runtime on CPU.

Copied by the exporter to `<model>/1/model.py` and used by `configs/cpu_onnxruntime.pbtxt`. Thin on
purpose: the batching loop is `creativelens.serve.backend_batching.execute`, shared with the
OpenVINO model.
"""

import json
import os

import onnxruntime
import triton_python_backend_utils as pb_utils

from creativelens.serve import backend_batching


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        path = os.path.join(args["model_repository"], args["model_version"], parameters.get("onnx_file", "model.onnx"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(parameters.get("intra_op_threads", "0"))
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.output_names = [output.name for output in self.session.get_outputs()]

    def execute(self, requests):
        return backend_batching.execute(requests, self._run, pb_utils, self.output_names)

    def _run(self, images, sizes):
        return self.session.run(self.output_names, {"images": images, "image_sizes": sizes})

    def finalize(self):
        self.session = None
