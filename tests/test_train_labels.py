"""Labels in: COCO <-> Azure conversions, format detection, and one line + non-zero exit for each bad label."""

from __future__ import annotations

import json

import numpy as np
import pytest

from creativelens import formats
from creativelens.cli import main
from creativelens.detections import Detections
from creativelens.train.labels import detect_format, read_coco
from creativelens.train.synthetic_dataset import generate


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synthetic"), seed=3, splits={"train": 4, "val": 3}, image_size=96)


def test_azure_coco_round_trip_box_and_dataset(dataset):
    assert formats.azure_bbox_to_coco([0.25, 0.5, 0.1, 0.2], 200, 100) == [50.0, 50.0, 20.0, 20.0]
    assert formats.coco_bbox_to_azure([50, 50, 20, 20], 200, 100) == [0.25, 0.5, 0.1, 0.2]
    coco = json.loads(dataset.coco_json("train").read_text())
    azure = formats.coco_dataset_to_azure(coco)
    assert all(max(a["bbox"]) <= 1.0 for a in azure["annotations"]) and "iscrowd" not in azure["annotations"][0]
    back = formats.azure_dataset_to_coco(azure)
    for original, converted in zip(coco["annotations"], back["annotations"]):
        np.testing.assert_allclose(converted["bbox"], original["bbox"], atol=1e-6)
        assert converted["iscrowd"] == 0
    # the written Azure file equals the converted COCO labels, and the Detections converter agrees
    assert json.loads(dataset.azure_json("train").read_text())["annotations"] == json.loads(json.dumps(azure["annotations"]))
    x, y, w, h = coco["annotations"][0]["bbox"]
    det = Detections(np.array([[x, y, x + w, y + h]], np.float32), np.ones(1, np.float32), np.zeros(1, np.int32), ("a",),
                     width=96, height=96)
    np.testing.assert_allclose(formats.to_azure_xywh(det)[0], azure["annotations"][0]["bbox"], atol=1e-5)


def test_generator_is_seeded_and_formats_are_told_apart(dataset, tmp_path):
    again = generate(tmp_path, seed=3, splits={"train": 4, "val": 3}, image_size=96)
    assert again.coco_json("val").read_text() == dataset.coco_json("val").read_text()
    assert (again.images("val") / "val_0000.jpg").read_bytes() == (dataset.images("val") / "val_0000.jpg").read_bytes()
    assert "SYNTHETIC" in json.loads(dataset.coco_json("val").read_text())["info"]["description"]
    assert detect_format(json.loads(dataset.coco_json("val").read_text())) == "coco"
    assert detect_format(json.loads(dataset.azure_json("val").read_text())) == "azure"
    from_azure = read_coco(dataset.azure_json("val"), dataset.images("val"))
    from_coco = read_coco(dataset.coco_json("val"), dataset.images("val"))
    for a, b in zip(from_azure["annotations"], from_coco["annotations"]):
        np.testing.assert_allclose(a["bbox"], b["bbox"], atol=1e-3)


def _bad(coco, case):
    if case == "box outside the image":
        coco["annotations"][0]["bbox"] = [80, 80, 40, 40]
        return "annotation 1: box", "outside"
    if case == "unknown category":
        coco["annotations"][0]["category_id"] = 99
        return "annotation 1:", "unknown category id 99"
    if case == "missing image file":
        coco["images"][0]["file_name"] = "nowhere.jpg"
        return "image 1:", "is missing"
    if case == "empty split":
        coco["images"], coco["annotations"] = [], []
        return "empty split", ""
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["box outside the image", "unknown category", "missing image file", "empty split"])
def test_bad_labels_one_line_and_non_zero_exit(dataset, tmp_path, capsys, case):
    coco = json.loads(dataset.coco_json("val").read_text())
    first, second = _bad(coco, case)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(coco))
    code = main(["evaluate", "--coco-json", str(bad), "--images", str(dataset.images("val")), "--onnx", str(tmp_path),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1, err
    assert str(bad) in err and first in err and second in err
