"""Issue 25.8: a model's version covers everything in the exported graph that changes its answers
(weights, precision, canvases, class names, thresholds, the graph's score/NMS settings and config),
so two exports that answer differently never share a version in the ledger."""

from __future__ import annotations

import dataclasses

import pytest

from creativelens.canvas import parse_canvas
from creativelens.cli import main
from creativelens.model_metadata import ModelMetadata, read_model_metadata

BASE = ModelMetadata(("logo", "can"), (parse_canvas("480x480"), parse_canvas("480x800")), weights="w.pth",
                     weights_sha256="ab" * 32, thresholds={"logo": 0.7},
                     graph={"score_threshold": 0.05, "nms_threshold": 0.5, "detections_per_image": 100,
                            "config_sha256": "c0" * 32})


@pytest.mark.parametrize("change", [
    {"weights_sha256": "cd" * 32},
    {"precision": "int8"},
    {"canvases": (parse_canvas("480x480"),)},
    {"canvases": (parse_canvas("480x480"), parse_canvas("800x480"))},
    {"class_names": ("logo", "bottle")},
    {"thresholds": {"logo": 0.8}},
    {"graph": {**BASE.graph, "score_threshold": 0.3}},
    {"graph": {**BASE.graph, "nms_threshold": 0.6}},
    {"graph": {**BASE.graph, "detections_per_image": 50}},
    {"graph": {**BASE.graph, "config_sha256": "c1" * 32}},
], ids=lambda change: ",".join(change))
def test_anything_that_changes_the_answers_changes_the_version(change):
    changed = dataclasses.replace(BASE, **change)
    assert changed.version != BASE.version
    assert ModelMetadata.from_parameters(changed.to_parameters()).version == changed.version


def test_the_version_survives_the_config_round_trip_and_names_its_weights():
    again = ModelMetadata.from_parameters(BASE.to_parameters())
    assert again == BASE and again.version == BASE.version
    assert BASE.version.startswith("abababababab-") and dataclasses.replace(BASE, precision="bf16").version.endswith("-bf16")
    # the checkpoint's path alone is not an answer: the same file elsewhere is the same version
    assert dataclasses.replace(BASE, weights="/elsewhere/w.pth").version == BASE.version


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    """A small Faster R-CNN config (R18 FPN, GroupNorm as `train --from-scratch` writes it)."""
    from creativelens.train.training import _base_config, apply_from_scratch

    root = tmp_path_factory.mktemp("tiny")
    cfg = _base_config("faster_rcnn_R_50_FPN_1x")
    apply_from_scratch(cfg)
    cfg.merge_from_list(["MODEL.RESNETS.DEPTH", 18, "MODEL.RESNETS.RES2_OUT_CHANNELS", 64,
                         "MODEL.RPN.POST_NMS_TOPK_TEST", 100, "MODEL.ROI_HEADS.NUM_CLASSES", 2])
    (root / "tiny.yaml").write_text(cfg.dump())
    (root / "labels.txt").write_text("logo\ncan\n")
    (root / "score.yaml").write_text(cfg.dump().replace("SCORE_THRESH_TEST: 0.05", "SCORE_THRESH_TEST: 0.3"))
    return root


def _export(config, repo, *flags):
    assert main(["export", "--model", "tiny", "--config-file", str(config), "--random-weights",
                 "--labels", str(config.parent / "labels.txt"), "--format", "onnx", "--parity-images", "2",
                 "--out", str(repo), *flags]) == 0
    return read_model_metadata(repo / "tiny")


def test_exports_of_the_same_weights_differ_in_version_where_their_graphs_differ(tiny_config, tmp_path):
    small = _export(tiny_config / "tiny.yaml", tmp_path / "small", "--canvas", "96x96")
    large = _export(tiny_config / "tiny.yaml", tmp_path / "large", "--canvas", "128x128")
    strict = _export(tiny_config / "score.yaml", tmp_path / "strict", "--canvas", "96x96")
    assert small.weights == large.weights == strict.weights  # the same (seeded random) weights
    assert small.graph["score_threshold"] == pytest.approx(0.05) and strict.graph["score_threshold"] == pytest.approx(0.3)
    assert small.graph["config_sha256"] != strict.graph["config_sha256"]
    assert len({small.version, large.version, strict.version}) == 3
    # every config of one export carries the same version
    assert read_model_metadata(tmp_path / "small" / "tiny", "configs/cpu.pbtxt").version == small.version
