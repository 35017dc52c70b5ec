"""The exporter's reduced-precision stage on the real R50 export (random weights): a variant that
fails its gate leaves no config and no file behind, one that passes gets configs/cpu_<p>.pbtxt,
and both gates are what parity.json records. The candidates are constructed (the FP32 runner
itself, and one that loses a third of its detections), so these tests judge the stage, not NNCF;
tests/test_int8_served.py quantizes for real."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from conftest import TEST_MODEL
from creativelens.export import reduced_precision, triton_config
from creativelens.model_metadata import read_model_metadata
from creativelens.sample_media import sample_stills
from creativelens.serve.openvino_runner import OpenVinoRunner


@pytest.fixture
def model_dir(exported_repository, tmp_path):
    """A copy of the exported model folder (model files hard-linked: they are only read)."""
    copy = tmp_path / "repo" / TEST_MODEL
    shutil.copytree(exported_repository / TEST_MODEL, copy, copy_function=os.link)
    return copy


def _constructed(lose_every: int | None):
    """A builder whose candidate is FP32 OpenVINO, dropping every `lose_every`-th detection."""

    def build(onnx_path, canvases, request, log):
        fp32 = OpenVinoRunner(onnx_path, canvases, warm_up=False)
        leftover = onnx_path.parent / "candidate.bin"
        leftover.write_bytes(b"x")

        def run(images, sizes):
            boxes, scores, classes, counts = (a.copy() for a in fp32(images, sizes))
            if lose_every:
                for i, n in enumerate(counts):
                    keep = [j for j in range(int(n)) if j % lose_every]
                    boxes[i, :len(keep)], scores[i, :len(keep)], classes[i, :len(keep)] = \
                        boxes[i, keep], scores[i, keep], classes[i, keep]
                    counts[i] = len(keep)
            return boxes, scores, classes, counts

        return run, [leftover], "constructed"

    return build


def _stage(model_dir, precision="int8"):
    # random weights score nothing at a user's thresholds (0.85 by default): the stage is judged here
    # on every detection the graph reports; tests/test_reduced_precision_thresholds.py judges thresholds
    return reduced_precision.add_reduced_precision(
        model_dir, reduced_precision.Request((precision,)), sample_stills()[:2], score_threshold=0.05, top_k=100,
        thresholds=reduced_precision.Thresholds.everywhere(0.05), log=lambda message: None)


def test_a_failing_variant_writes_no_config_and_leaves_no_file(model_dir, monkeypatch):
    monkeypatch.setitem(reduced_precision.BUILDERS, "int8", _constructed(lose_every=3))
    [result] = _stage(model_dir)
    assert not result.ok and result.reason.startswith("int8 not written: it finds 6")
    assert not (model_dir / triton_config.REDUCED_PRECISION_CONFIGS["int8"]).exists()
    assert not (model_dir / "1" / "candidate.bin").exists()
    assert result.to_json()["reduced_precision"] is True and result.fp32_detections > 50


def test_a_passing_variant_gets_its_config_saying_reduced_precision(model_dir, monkeypatch):
    monkeypatch.setitem(reduced_precision.BUILDERS, "int8", _constructed(lose_every=None))
    [result] = _stage(model_dir)
    assert result.ok and result.recall == 1.0 and result.matched > 50
    config = model_dir / triton_config.REDUCED_PRECISION_CONFIGS["int8"]
    assert config.is_file() and (model_dir / "1" / "candidate.bin").is_file()
    metadata = read_model_metadata(model_dir, triton_config.REDUCED_PRECISION_CONFIGS["int8"])
    assert metadata.precision == "int8" and metadata.random_weights
    assert '"REDUCED PRECISION INT8 (constructed)' in config.read_text()
    assert np.isfinite(result.seconds_per_image) and result.fp32_seconds_per_image > 0
