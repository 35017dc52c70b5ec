"""The exported repository on a real tritonserver (CPU configs): served == direct runtime == eager.

configs/cpu.pbtxt (the default) serves OpenVINO FP32; configs/cpu_onnxruntime.pbtxt serves ONNX
Runtime. Guards the numpy trap too: under numpy 2 the python-backend stub answers with the right
shapes and no data, which these comparisons turn into a loud failure.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
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


@pytest.fixture(scope="module")
def inputs():
    return sample_batch(sample_stills()[:3], Canvas(320, 480))


@pytest.fixture(scope="module")
def eager(inputs):
    detector = load_detector(TEST_MODEL, random_weights=True)
    return parity.reference_detections(detector.model, *inputs)


def _serve(repository, config_name, images, sizes):
    with TritonServer(repository, config_name) as server:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        served = _infer(client, images, sizes)
        config = client.get_model_config(TEST_MODEL, as_json=True)["config"]
        client.close()
    assert served[0].shape == (3, 100, 4) and served[0].nbytes == 3 * 100 * 4 * 4
    assert served[3].min() > 0
    return served, config


def _assert_within_parity(reference, candidate):
    for ref, got in zip(reference, candidate):
        comparison = parity.compare(ref, got, 0.05, 100)
        assert comparison.ok, comparison
        assert comparison.matched > 0


def test_served_openvino_equals_eager_and_onnxruntime(exported_repository, inputs, eager):
    images, sizes = inputs
    served, config = _serve(exported_repository, "cpu", images, sizes)
    assert config["default_model_filename"] == "openvino_model.py"
    assert config["parameters"]["inference_precision"]["string_value"] == "f32"
    names = json.loads(config["parameters"]["class_names"]["string_value"])
    assert names[0] == "person" and len(names) == 80
    assert config["parameters"]["random_weights"]["string_value"] == "true"
    assert config["parameters"]["precision"]["string_value"] == "fp32"

    _assert_within_parity(eager, parity.split_outputs(served))
    direct = OnnxRunner(exported_repository / TEST_MODEL / "1" / "model.onnx")(images, sizes)
    _assert_within_parity(parity.split_outputs(direct), parity.split_outputs(served))


def test_served_onnxruntime_equals_onnxruntime_and_eager(exported_repository, inputs, eager):
    images, sizes = inputs
    served, config = _serve(exported_repository, "cpu_onnxruntime", images, sizes)
    assert config.get("default_model_filename", "") in ("", "model.py")
    direct = OnnxRunner(exported_repository / TEST_MODEL / "1" / "model.onnx")(images, sizes)
    assert served[3].reshape(-1).tolist() == direct[3].reshape(-1).tolist()
    for got, expected in zip(served, direct):
        np.testing.assert_array_equal(got.reshape(expected.shape), expected)
    _assert_within_parity(eager, parity.split_outputs(served))
