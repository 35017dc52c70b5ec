"""The one batching loop of the python-backend models (ONNX Runtime `model.py`, OpenVINO
`openvino_model.py`): concatenate the requests that Triton's dynamic batcher hands over, run
each shape once, split the outputs back per request.

Requests in one call share a canvas shape (Triton batches only equal shapes), but grouping by
shape keeps this correct whatever arrives; a failing run answers its own requests with the
error and leaves the others in the batch alone.
"""

from __future__ import annotations

import numpy as np

def execute(requests, run, pb_utils, output_names) -> list:
    """Triton `execute`: `run(images uint8 [N,H,W,3], sizes int32 [N,2])` -> one array per name of
    `output_names` (a detector's four outputs, or every packed detector's)."""
    inputs = [
        (pb_utils.get_input_tensor_by_name(r, "images").as_numpy(),
         pb_utils.get_input_tensor_by_name(r, "image_sizes").as_numpy())
        for r in requests
    ]
    responses = [None] * len(requests)
    by_shape: dict[tuple, list[int]] = {}
    for index, (images, _) in enumerate(inputs):
        by_shape.setdefault(images.shape[1:], []).append(index)
    for indices in by_shape.values():
        try:
            outputs = run(np.concatenate([inputs[i][0] for i in indices]),
                          np.concatenate([inputs[i][1] for i in indices]).astype(np.int32))
        except Exception as error:  # a bad request must not fail the others in the batch
            for i in indices:
                responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error)))
            continue
        start = 0
        for i in indices:
            n = len(inputs[i][0])
            tensors = [pb_utils.Tensor(name, np.ascontiguousarray(value[start:start + n]))
                       for name, value in zip(output_names, outputs)]
            responses[i] = pb_utils.InferenceResponse(output_tensors=tensors)
            start += n
    return responses
