"""Detector packs (issue 22): parts shared exactly when their weights are identical, each packed
detector's outputs equal to the same detector alone, a pack served by the real tritonserver and
streamed beside an unpacked model, a detector added to a pack running only its own records.

The detectors are small R18 Faster R-CNNs with RANDOM weights (tests/pack_fixtures.py): a base and
detectors changed exactly where training at each --freeze level changes them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from creativelens.canvas import parse_canvas
from creativelens.client.settings import RunSettings
from creativelens.client.stream import stream
from creativelens.model_metadata import packed_detectors, parameters_of, read_model_metadata
from creativelens.sample_media import sample_stills
from creativelens.serve.tritonserver import TritonServer
from pack_fixtures import base_config, base_state, write_brand_detectors, write_folder
from serving_fixtures import write_geometry_model
from test_stream_multimodel import inference_counts, records

CANVAS = "320x320"


def load(folders: dict[str, Path], names) -> list:
    from creativelens.export.zoo import load_detector
    from creativelens.train.outputs import from_training

    named = []
    for name in names:
        config, weights, labels, _ = from_training(folders[name])
        named.append((name, load_detector(name, config_file=config, weights=weights, labels_file=labels,
                                          log=lambda message: None)))
    return named


def export(folders, names, repository: Path, pack_name: str = "brand"):
    from creativelens.export.pack import members
    from creativelens.export.pack_repository import export_pack
    from creativelens.train.outputs import from_training

    thresholds = {name: from_training(folders[name])[3] for name in names}
    return export_pack(pack_name, members(load(folders, names)), [parse_canvas(CANVAS)], repository,
                       sample_stills()[:2], thresholds=thresholds, log=lambda message: None)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    return write_brand_detectors(tmp_path_factory.mktemp("detectors"))


@pytest.fixture(scope="module")
def packed(folders, tmp_path_factory):
    repository = tmp_path_factory.mktemp("pack") / "repository"
    return repository, export(folders, ["base", "logo", "product", "cue"], repository)


def test_parts_are_shared_exactly_where_the_weights_are_identical(folders, tmp_path):
    from creativelens.export.pack import members, sharing

    groups = sharing(members(load(folders, ["base", "logo", "product", "cue"])))
    assert groups == {"trunk": [["base", "logo", "product"], ["cue"]],
                      "proposals": [["base", "logo", "product"], ["cue"]],
                      "box_features": [["base", "logo"], ["product"], ["cue"]]}
    # the same weights under another RPN setting share the trunk, not the proposals
    other = base_config()
    other.merge_from_list(["MODEL.RPN.POST_NMS_TOPK_TEST", 300])
    folders = dict(folders, fewer=write_folder(tmp_path / "fewer", other, base_state(), ("person", "bottle", "can")))
    groups = sharing(members(load(folders, ["base", "fewer"])))
    assert groups["trunk"] == [["base", "fewer"]] and groups["proposals"] == [["base"], ["fewer"]]


def test_the_pack_computes_what_each_detector_computes_alone(folders):
    from creativelens.export.batched_rcnn import BatchedFasterRCNN
    from creativelens.export.pack import DetectorPack, members
    from creativelens.export.repository import sample_batch

    named = load(folders, ["base", "logo", "product", "cue"])
    pack = DetectorPack(members(named)).eval()
    images, sizes = sample_batch(sample_stills()[:2], parse_canvas(CANVAS))
    for batch in (1, 2):
        inputs = torch.from_numpy(images[:batch]), torch.from_numpy(sizes[:batch])
        with torch.no_grad():
            outputs = pack(*inputs)
            for index, (name, detector) in enumerate(named):
                alone = BatchedFasterRCNN(detector.model).eval()(*inputs)
                assert all(torch.equal(a, b) for a, b in zip(alone, outputs[4 * index:4 * index + 4])), name
                assert int(alone[3][0]) > 0


def test_the_exported_pack_passes_parity_per_detector_and_says_what_each_detector_is(packed, folders, tmp_path):
    from creativelens.export.model_files import OnnxRunner
    from creativelens.export.repository import export_to_repository, sample_batch

    _, result = packed
    assert result.ok and set(result.reports) == {"base", "logo", "product", "cue"}
    parity = json.loads((result.model_dir / "parity.json").read_text())
    assert parity["ok"] and parity["sharing"]["box_features"] == [["base", "logo"], ["product"], ["cue"]]
    for report in parity["detectors"].values():
        assert {f["format"] for f in report["formats"]} == {"onnx", "openvino"}
    # one copy of each shared part: two trunks' weights, not four
    pack_mb = (result.model_dir / "1" / "model.onnx").stat().st_size / 1e6
    assert pack_mb < 2.5 * 11.5 * 4  # an R18 trunk is ~45 MB in float32

    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    config = text_format.Parse((result.model_dir / "configs/cpu.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert [o.name for o in config.output][:4] == ["base__boxes", "base__scores", "base__classes",
                                                   "base__num_detections"]
    assert len(config.output) == 16
    detectors = {d.name: d for d in packed_detectors(parameters_of(config))}
    assert detectors["logo"].metadata.class_names == ("acme_logo",)
    assert detectors["logo"].metadata.thresholds == {"acme_logo": 0.3}
    assert (result.model_dir / "labels_logo.txt").read_text() == "acme_logo\n"

    # the same detector exported alone: the same version, the same answers
    (name, logo), = load(folders, ["logo"])
    alone = export_to_repository(logo, [parse_canvas(CANVAS)], tmp_path / "alone", sample_stills()[:2],
                                 torchscript=False, thresholds={"acme_logo": 0.3}, log=lambda message: None)
    assert read_model_metadata(alone.model_dir, "configs/cpu.pbtxt").version == detectors["logo"].metadata.version
    images, sizes = sample_batch(sample_stills()[:2], parse_canvas(CANVAS))
    from_pack = OnnxRunner(result.model_dir / "1/model.onnx")(images, sizes)[4:8]
    by_itself = OnnxRunner(alone.model_dir / "1/model.onnx")(images, sizes)
    np.testing.assert_array_equal(from_pack[3], by_itself[3])
    np.testing.assert_allclose(from_pack[0], by_itself[0], atol=1e-3)
    np.testing.assert_allclose(from_pack[1], by_itself[1], atol=1e-5)


def test_a_served_pack_streams_beside_an_unpacked_model_with_rules_across_them(packed, tmp_path):
    from creativelens.client.rules import load_rules

    repository, _ = packed
    write_geometry_model(repository, "faces", class_names=["face", "face_centre"])
    media = [str(p) for p in sample_stills()[:2]]
    rules = tmp_path / "brand.json"
    rules.write_text(json.dumps({"models": ["faces", "logo", "base"], "threshold": 0.05,
                                 "only_inside": {"acme_logo": ["face_centre"]}}))
    with TritonServer(repository, ready_timeout_s=180) as server:
        free = stream(media, server.grpc_url, tmp_path / "free", RunSettings(models=("faces", "logo", "base"),
                                                                             rules=load_rules(None, 0.05)))
        assert free.complete
        before = inference_counts(server)
        out = tmp_path / "out"
        summary = stream(media, server.grpc_url, out, RunSettings(rules=load_rules(rules)))
        assert summary.complete and summary.items_done == 2
        counts = inference_counts(server)
        # one request per item to the pack for both of its detectors, one to the unpacked model
        assert counts["brand"] - before["brand"] == 2 and counts["faces"] - before["faces"] == 2
    free_logos = sum(len(r["models"]["logo"]["detections"]) for r in records(tmp_path / "free"))
    kept_logos = 0
    for record in records(out):
        assert list(record["models"]) == ["faces", "logo", "base"]
        assert record["models"]["base"]["detections"]
        width, height = record["width"], record["height"]
        centre = np.array([width / 4, height / 4, 3 * width / 4, 3 * height / 4])
        for logo in record["models"]["logo"]["detections"]:
            box = np.array(logo["box"])
            overlap = np.clip(np.minimum(box[2:], centre[2:]) - np.maximum(box[:2], centre[:2]), 0, None).prod()
            assert overlap >= 0.79 * np.prod(box[2:] - box[:2])  # most of it inside the other model's box
            kept_logos += 1
    assert 0 < kept_logos < free_logos  # the rule across a packed and an unpacked model dropped some, kept some
    assert (out / "csv" / "logo").is_dir() and (out / "csv" / "base").is_dir()
    assert json.loads((out / "summary.json").read_text())["models"]["logo"]["triton"]["inference_count"] == 2


def test_adding_a_detector_to_a_pack_runs_only_its_records(folders, tmp_path):
    media = [str(p) for p in sample_stills()[:3]]
    out = tmp_path / "out"
    first_repository = tmp_path / "first"
    export(folders, ["base", "logo"], first_repository)
    with TritonServer(first_repository, ready_timeout_s=180) as server:
        first = stream(media, server.grpc_url, out, RunSettings())
        assert first.complete and first.items_done == 3
    lines_before = len(records(out))
    second_repository = tmp_path / "second"
    export(folders, ["base", "logo", "product"], second_repository)
    with TritonServer(second_repository, ready_timeout_s=180) as server:
        second = stream(media, server.grpc_url, out, RunSettings())
        assert second.complete
        assert inference_counts(server)["brand"] == 3  # one request per item, for the new detector's outputs
    added = records(out)[lines_before:]
    assert len(added) == 3 and all(list(record["models"]) == ["product"] for record in added)


def test_pack_cli_misuse_is_one_line(tmp_path, folders):
    missing = subprocess.run([sys.executable, "-m", "creativelens.cli", "pack", "--detector", str(tmp_path / "none"),
                              "--name", "brand", "--out", str(tmp_path / "repo")], capture_output=True, text=True)
    assert missing.returncode != 0 and "not a finished `creativelens train` folder" in missing.stderr
    assert "Traceback" not in missing.stderr
    twice = subprocess.run([sys.executable, "-m", "creativelens.cli", "pack", "--detector", f"x={folders['logo']}",
                            "--detector", f"x={folders['base']}", "--name", "brand", "--out", str(tmp_path / "repo")],
                           capture_output=True, text=True)
    assert twice.returncode != 0 and "given twice" in twice.stderr and "Traceback" not in twice.stderr
