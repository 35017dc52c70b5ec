"""The Detections type, every format conversion, and the canvas geometry."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from creativelens.canvas import CPU_CANVASES, GPU_CANVASES, Canvas, choose_canvas, letterbox, parse_canvas, to_original
from creativelens.detections import Detections
from creativelens.errors import UserError
from creativelens.item_result import ItemResult, ModelResult, OcrText, OcrWord, split_item_name
from creativelens.formats import (SEED_CSV_COLUMNS, from_record, to_azure_xywh, to_coco_xywh, to_ocr_csv_row,
                                  to_record, to_seed_csv_row, to_tesseract_boxes)


@pytest.fixture
def detections():
    return Detections(
        [[10.2, 20.7, 110.0, 220.5], [0.0, 0.0, 640.0, 480.0], [600.5, 470.1, 650.0, 490.0]],
        [0.97, 0.86, 0.5], [0, 2, 67], ("person", "car", "cell phone"), width=640, height=480,
    )


def test_arrays_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        Detections([[0, 0, 1, 1]], [0.5, 0.6], [1], ("a",))


def test_threshold_with_per_class_overrides(detections):
    assert detections.above(0.85).labels == ("person", "car")
    kept = detections.above(0.85, {"car": 0.9, "cell phone": 0.4})
    assert kept.labels == ("person", "cell phone") and (kept.width, kept.height) == (640, 480)
    assert len(Detections.empty(640, 480).above(0.85)) == 0


def test_coco_and_azure_boxes(detections):
    np.testing.assert_allclose(to_coco_xywh(detections)[0], [10.2, 20.7, 99.8, 199.8], rtol=1e-5)
    np.testing.assert_allclose(to_azure_xywh(detections)[1], [0, 0, 1, 1])
    with pytest.raises(ValueError, match="width and height"):
        to_azure_xywh(Detections([[0, 0, 1, 1]], [1], [0], ("a",)))


def test_tesseract_boxes_are_whole_pixels_inside_the_image(detections):
    assert to_tesseract_boxes(detections) == [(10, 20, 110, 221), (0, 0, 640, 480), (600, 470, 640, 480)]


def test_seed_csv_row_has_the_seeds_columns_and_readable_lists(detections):
    row = to_seed_csv_row("ads/spot.mp4#frame=30", detections)
    assert tuple(row) == SEED_CSV_COLUMNS
    assert row["file_name"] == "ads/spot.mp4#frame=30"
    assert json.loads(row["class_indexes"]) == [0, 2, 67]
    assert json.loads(row["prediction_boxes"])[0] == [10.2, 20.7, 110.0, 220.5]
    assert json.loads(row["class_labels"])[2] == "cell phone"
    buffer = io.StringIO()
    csv.DictWriter(buffer, SEED_CSV_COLUMNS).writerow(row)
    assert next(csv.reader(io.StringIO(buffer.getvalue())))[0] == "ads/spot.mp4#frame=30"


def test_record_round_trip_keeps_everything(detections):
    ocr = OcrText("SALE", (OcrWord("SALE", (1, 2, 30, 12), 91.5),))
    item = ItemResult("ads/spot.mp4", 30, 1.2, 640, 480, (ModelResult("r50", "abc123", detections, None, 12.5),),
                      warning="frame rate missing", reused_from=20, ocr=ocr)
    record = to_record(item)
    assert record["models"]["r50"]["detections"][1] == {"class_id": 2, "label": "car", "score": 0.86,
                                                        "box": [0.0, 0.0, 640.0, 480.0]}
    back = from_record(json.loads(json.dumps(record)))
    found = back.model("r50")
    np.testing.assert_allclose(found.detections.xyxy, detections.xyxy, atol=0.01)
    assert found.detections.labels == detections.labels and found.version == "abc123" and found.latency_ms == 12.5
    assert back == item.with_models(back.models) and back.ocr == ocr and back.reused_from == 20
    row = to_ocr_csv_row(back)
    assert row["file_name"] == "ads/spot.mp4#frame=30" and row["ocr_text"] == "SALE"
    assert json.loads(row["ocr_words"]) == [{"text": "SALE", "box": [1, 2, 30, 12], "confidence": 91.5}]
    assert to_ocr_csv_row(ItemResult("a.jpg")) is None  # OCR did not read it
    assert set(to_record(ItemResult("a.jpg"))) == {"source", "frame_index", "timestamp_s", "width", "height", "error",
                                                   "models"}  # unset fields are not written


def test_item_names_split_back_into_source_and_frame():
    assert split_item_name(ItemResult("ads/spot#frame=1.mp4", 30).key) == ("ads/spot#frame=1.mp4", 30)
    assert split_item_name(ItemResult("ads/a.jpg").key) == ("ads/a.jpg", None)


def test_canvas_parsing_and_buckets():
    assert parse_canvas("800x1344") == Canvas(800, 1344)
    for bad in ("800", "0x32", "300x320", "axb"):
        with pytest.raises(UserError):
            parse_canvas(bad)
    # GPU: Detectron2's shortest edge 800 / longest 1333 rule, in multiples of 32; one square and both orientations
    assert {min(c.height, c.width) for c in GPU_CANVASES} == {800}
    assert {max(c.height, c.width) for c in GPU_CANVASES} == {800, -(-1333 // 32) * 32}
    assert {c.aspect > 1 for c in GPU_CANVASES} == {True, False} and any(c.aspect == 1 for c in GPU_CANVASES)
    assert all(c.height % 32 == 0 and c.width % 32 == 0 for c in CPU_CANVASES + GPU_CANVASES)
    assert choose_canvas(1080, 1920, GPU_CANVASES) == Canvas(800, 1344)
    assert choose_canvas(1920, 1080, GPU_CANVASES) == Canvas(1344, 800)
    assert choose_canvas(500, 520, GPU_CANVASES) == Canvas(800, 800)


def test_letterbox_and_back_to_original_pixels():
    image = np.full((1080, 1920, 3), 200, np.uint8)
    boxed = letterbox(image, Canvas(480, 800))
    assert boxed.pixels.shape == (480, 800, 3)
    assert (boxed.valid_height, boxed.valid_width) == (450, 800)
    assert boxed.pixels[:450].min() == 200 and boxed.pixels[450:].max() == 0
    back = to_original(np.array([[0, 0, 800, 450], [400, 225, 900, 500]]), boxed)
    np.testing.assert_allclose(back, [[0, 0, 1920, 1080], [960, 540, 1920, 1080]], atol=0.01)
