"""Triton python-backend model: runs the exported ONNX detector through OpenVINO on CPU.

Copied by the exporter to `<model>/1/openvino_model.py`; `configs/cpu.pbtxt` names it as its
`default_model_filename` (`configs/cpu_onnxruntime.pbtxt` keeps `model.py`, ONNX Runtime).
Thin on purpose, like that one: the graphs are compiled per canvas bucket and warmed up at load
by `creativelens.serve.openvino_runner.OpenVinoRunner`; each call concatenates the batch that
Triton's dynamic batcher hands over, runs it once per shape and splits the outputs per request.
"""

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils

from creativelens.model_metadata import ModelMetadata
from creativelens.serve.openvino_runner import OUTPUTS, OpenVinoRunner, available_cores


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        path = os.path.join(args["model_repository"], args["model_version"], parameters.get("onnx_file", "model.onnx"))
        instances = sum(int(group.get("count", 1)) for group in config.get("instance_group", [])) or 1
        threads = int(parameters.get("inference_threads", "0")) or max(1, available_cores() // instances)
        canvases = ModelMetadata.from_parameters(parameters).canvases if "canvases" in parameters else ()
        self.runner = OpenVinoRunner(path, canvases, threads=threads,
                                     precision=parameters.get("inference_precision", "f32"))

    def execute(self, requests):
        inputs = [
            (pb_utils.get_input_tensor_by_name(r, "images").as_numpy(),
             pb_utils.get_input_tensor_by_name(r, "image_sizes").as_numpy())
            for r in requests
        ]
        responses = [None] * len(requests)
        by_shape = {}
        for index, (images, _) in enumerate(inputs):
            by_shape.setdefault(images.shape[1:], []).append(index)
        for indices in by_shape.values():
            try:
                outputs = self.runner(np.concatenate([inputs[i][0] for i in indices]),
                                      np.concatenate([inputs[i][1] for i in indices]).astype(np.int32))
            except Exception as error:  # a bad request must not fail the others in the batch
                for i in indices:
                    responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error)))
                continue
            start = 0
            for i in indices:
                n = len(inputs[i][0])
                tensors = [pb_utils.Tensor(name, np.ascontiguousarray(value[start:start + n]))
                           for name, value in zip(OUTPUTS, outputs)]
                responses[i] = pb_utils.InferenceResponse(output_tensors=tensors)
                start += n
        return responses

    def finalize(self):
        self.runner = None
