"""Every conversion between `Detections` and another format lives here, and only here."""

from __future__ import annotations

import json

import numpy as np

from creativelens.canvas import Letterboxed, to_original
from creativelens.detections import Detections

SEED_CSV_COLUMNS = ("file_name", "class_indexes", "prediction_boxes", "class_labels", "class_scores")


def from_detectron2(instances, class_names, **provenance) -> Detections:
    """From a Detectron2 `Instances` (pred_boxes, scores, pred_classes), e.g. DefaultPredictor's."""
    instances = instances.to("cpu")
    class_ids = instances.pred_classes.numpy()
    height, width = instances.image_size
    provenance.setdefault("width", int(width))
    provenance.setdefault("height", int(height))
    return Detections(
        instances.pred_boxes.tensor.numpy(), instances.scores.numpy(), class_ids,
        tuple(class_names[i] for i in class_ids), **provenance,
    )


def from_model_outputs(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, count: int,
                       class_names, boxed: Letterboxed, **provenance) -> Detections:
    """From one image's rows of the exported-detector contract (canvas pixels, `count` valid rows)
    to original-image pixels. A class id outside the model's labels keeps its number as label."""
    count = int(count)
    class_ids = np.asarray(classes[:count]).astype(np.int32)
    names = tuple(class_names[c] if 0 <= c < len(class_names) else str(int(c)) for c in class_ids)
    provenance.setdefault("width", boxed.original_width)
    provenance.setdefault("height", boxed.original_height)
    return Detections(to_original(boxes[:count], boxed), scores[:count], class_ids, names, **provenance)


def to_coco_xywh(det: Detections) -> np.ndarray:
    """COCO boxes: x, y of the top-left corner, width, height, in pixels."""
    xywh = det.xyxy.copy()
    xywh[:, 2:] -= xywh[:, :2]
    return xywh


def to_azure_xywh(det: Detections) -> np.ndarray:
    """Azure-style boxes: COCO x, y, w, h divided by the image width/height (0..1)."""
    if not det.width or not det.height:
        raise ValueError("Azure-normalised boxes need the image width and height")
    return to_coco_xywh(det) / np.array([det.width, det.height, det.width, det.height], np.float32)


def to_tesseract_boxes(det: Detections) -> list[tuple[int, int, int, int]]:
    """Integer x1, y1, x2, y2 pixel boxes, widened to whole pixels and clipped to the image."""
    boxes = []
    for x1, y1, x2, y2 in det.xyxy:
        x1, y1 = int(np.floor(x1)), int(np.floor(y1))
        x2, y2 = int(np.ceil(x2)), int(np.ceil(y2))
        if det.width and det.height:
            x1, x2 = max(0, x1), min(det.width, x2)
            y1, y2 = max(0, y1), min(det.height, y2)
        boxes.append((x1, y1, x2, y2))
    return boxes


def item_name(source: str, frame_index: int | None) -> str:
    """The name of one still or frame in every sink: the path, plus '#frame=N' for video frames."""
    return source if frame_index is None else f"{source}#frame={frame_index}"


def to_seed_csv_row(det: Detections) -> dict[str, str]:
    """The seeds' CSV columns; list-valued cells are JSON lists (which Python also reads)."""
    return {
        "file_name": item_name(det.source, det.frame_index),
        "class_indexes": json.dumps(det.class_ids.tolist()),
        "prediction_boxes": json.dumps(np.round(det.xyxy.astype(np.float64), 2).tolist()),
        "class_labels": json.dumps(list(det.labels)),
        "class_scores": json.dumps(np.round(det.scores.astype(np.float64), 4).tolist()),
    }


def to_record(det: Detections, error: str | None = None) -> dict:
    """One JSONL record (one still or frame). `det.data` entries (e.g. OCR text) are added as-is."""
    record = {
        "source": det.source,
        "frame_index": det.frame_index,
        "timestamp_s": det.timestamp_s,
        "width": det.width,
        "height": det.height,
        "model": det.model,
        "detections": [
            {"class_id": int(c), "label": label, "score": round(float(s), 5),
             "box": [round(float(v), 2) for v in box]}
            for box, s, c, label in zip(det.xyxy, det.scores, det.class_ids, det.labels)
        ],
        "error": error,
    }
    record.update(det.data)
    return record


def from_record(record: dict) -> Detections:
    """The inverse of `to_record` (extra keys go back into `data`)."""
    rows = record.get("detections") or []
    known = {"source", "frame_index", "timestamp_s", "width", "height", "model", "detections", "error"}
    return Detections(
        np.array([r["box"] for r in rows], np.float32).reshape(-1, 4),
        np.array([r["score"] for r in rows], np.float32),
        np.array([r["class_id"] for r in rows], np.int32),
        tuple(r["label"] for r in rows),
        source=record.get("source", ""), frame_index=record.get("frame_index"),
        timestamp_s=record.get("timestamp_s"), width=record.get("width") or 0,
        height=record.get("height") or 0, model=record.get("model") or "",
        data={k: v for k, v in record.items() if k not in known},
    )


OCR_CSV_COLUMNS = ("file_name", "ocr_text", "ocr_words")


def to_ocr_csv_row(det: Detections) -> dict[str, str] | None:
    """The OCR CSV row of an image whose `data` holds OCR fields; None when OCR did not run."""
    if "ocr_text" not in det.data:
        return None
    return {
        "file_name": item_name(det.source, det.frame_index),
        "ocr_text": det.data["ocr_text"],
        "ocr_words": json.dumps(det.data.get("ocr_words", [])),
    }
