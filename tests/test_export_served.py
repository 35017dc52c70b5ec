"""The exported repository on a real tritonserver (CPU config): served == ONNX Runtime == eager.

Guards the numpy trap too: under numpy 2 the python-backend stub answers with the right shapes
and no data, which these comparisons turn into a loud failure.
"""

from __future__ import annotations

import json

import numpy as np
import tritonclient.grpc as grpcclient

from conftest import TEST_MODEL
from creativelens.canvas import Canvas
from creativelens.export import parity
from creativelens.export.model_files import OnnxRunner
from creativelens.export.repository import sample_batch
from creativelens.export.zoo import load_detector
from creativelens.sample_media import sample_stills
from creativelens.serve.tritonserver import TritonServer


def _infer(client, images, sizes):
    inputs = [grpcclient.InferInput("images", list(images.shape), "UINT8"),
              grpcclient.InferInput("image_sizes", list(sizes.shape), "INT32")]
    inputs[0].set_data_from_numpy(images)
    inputs[1].set_data_from_numpy(sizes)
    result = client.infer(TEST_MODEL, inputs)
    return tuple(result.as_numpy(name) for name in ("boxes", "scores", "classes", "num_detections"))


def test_served_outputs_equal_onnxruntime_and_eager(exported_repository):
    images, sizes = sample_batch(sample_stills()[:3], Canvas(320, 480))
    direct = OnnxRunner(exported_repository / TEST_MODEL / "1" / "model.onnx")(images, sizes)
    with TritonServer(exported_repository) as server:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        served = _infer(client, images, sizes)
        config = client.get_model_config(TEST_MODEL, as_json=True)["config"]
        client.close()

    assert served[0].shape == (3, 100, 4) and served[0].nbytes == 3 * 100 * 4 * 4
    assert served[3].reshape(-1).tolist() == direct[3].reshape(-1).tolist()
    assert served[3].min() > 0
    for got, expected in zip(served, direct):
        np.testing.assert_array_equal(got.reshape(expected.shape), expected)

    names = json.loads(config["parameters"]["class_names"]["string_value"])
    assert names[0] == "person" and len(names) == 80
    assert config["parameters"]["random_weights"]["string_value"] == "true"

    detector = load_detector(TEST_MODEL, random_weights=True)
    reference = parity.reference_detections(detector.model, images, sizes)
    for ref, got in zip(reference, parity.split_outputs(served)):
        assert parity.compare(ref, got, 0.05, 100).ok
