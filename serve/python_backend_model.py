"""Triton python-backend model: runs the exported ONNX detector through ONNX Runtime on CPU.

Copied by the exporter to `<model>/1/model.py` and used by `configs/cpu_onnxruntime.pbtxt`. Thin on
purpose: concatenate the batch that Triton's dynamic batcher hands over, run it once, split
the outputs back per request. Requests in one call share a canvas shape (Triton batches only
equal shapes), but grouping by shape keeps this correct whatever arrives.
"""

import json
import os

import numpy as np
import onnxruntime
import triton_python_backend_utils as pb_utils

OUTPUTS = ("boxes", "scores", "classes", "num_detections")


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        path = os.path.join(args["model_repository"], args["model_version"], parameters.get("onnx_file", "model.onnx"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(parameters.get("intra_op_threads", "0"))
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

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
                outputs = self.session.run(list(OUTPUTS), {
                    "images": np.concatenate([inputs[i][0] for i in indices]),
                    "image_sizes": np.concatenate([inputs[i][1] for i in indices]).astype(np.int32),
                })
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
        self.session = None
