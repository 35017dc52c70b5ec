"""Every conversion between `Detections` and another format lives here, and only here."""

from __future__ import annotations

import json

import numpy as np

from creativelens.canvas import Letterboxed, to_original
from creativelens.detections import Detections
from creativelens.item_result import ItemResult, ModelResult, OcrText, OcrWord, escape_name, unescape_name

SEED_CSV_COLUMNS = ("file_name", "class_indexes", "prediction_boxes", "class_labels", "class_scores")


def from_detectron2(instances, class_names) -> Detections:
    """From a Detectron2 `Instances` (pred_boxes, scores, pred_classes), e.g. DefaultPredictor's."""
    instances = instances.to("cpu")
    class_ids = instances.pred_classes.numpy()
    height, width = instances.image_size
    return Detections(instances.pred_boxes.tensor.numpy(), instances.scores.numpy(), class_ids,
                      tuple(class_names[i] for i in class_ids), int(width), int(height))


def from_model_outputs(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, count: int,
                       class_names, boxed: Letterboxed) -> Detections:
    """From one image's rows of the exported-detector contract (canvas pixels, `count` valid rows)
    to original-image pixels. A class id outside the model's labels keeps its number as label."""
    count = int(count)
    class_ids = np.asarray(classes[:count]).astype(np.int32)
    names = tuple(class_names[c] if 0 <= c < len(class_names) else str(int(c)) for c in class_ids)
    return Detections(to_original(boxes[:count], boxed), scores[:count], class_ids, names,
                      boxed.original_width, boxed.original_height)


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


def to_seed_csv_row(key: str, det: Detections) -> dict[str, str]:
    """The seeds' CSV columns of one item (named `key`, `item_name`'s form) and one model's
    detections; list-valued cells are JSON lists (which Python also reads)."""
    return {
        "file_name": key,
        "class_indexes": json.dumps(det.class_ids.tolist()),
        "prediction_boxes": json.dumps(np.round(det.xyxy.astype(np.float64), 2).tolist()),
        "class_labels": json.dumps(list(det.labels)),
        "class_scores": json.dumps(np.round(det.scores.astype(np.float64), 4).tolist()),
    }


def _detection_rows(det: Detections) -> list[dict]:
    rows = [{"class_id": int(c), "label": label, "score": round(float(s), 5),
             "box": [round(float(v), 2) for v in box]}
            for box, s, c, label in zip(det.xyxy, det.scores, det.class_ids, det.labels)]
    if det.track_ids is not None:
        for row, track in zip(rows, det.track_ids):
            row["track_id"] = int(track)
    return rows


def _detections_from_rows(rows: list, width: int, height: int) -> Detections:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("'detections' is not a list of detections")
    try:
        tracks = [r["track_id"] for r in rows] if rows and all("track_id" in r for r in rows) else None
        return Detections(
            np.array([r["box"] for r in rows], np.float32).reshape(-1, 4),
            np.array([r["score"] for r in rows], np.float32),
            np.array([r["class_id"] for r in rows], np.int32),
            tuple(str(r["label"]) for r in rows), width, height,
            track_ids=None if tracks is None else np.array(tracks, np.int64),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"a detection lacks or mangles box/score/class_id/label ({error})") from None


def _item_fields(result: ItemResult) -> dict:
    """What an item carries besides its provenance and models, under the record's key names
    (absent when unset, so a plain item's record has none of them)."""
    fields = {"warning": result.warning, "reused_from": result.reused_from, "ocr_error": result.ocr_error}
    if result.ocr is not None:
        fields["ocr_text"] = result.ocr.text
        fields["ocr_words"] = [{"text": w.text, "box": list(w.box), "confidence": w.confidence}
                               for w in result.ocr.words]
    if result.ocr_transient:
        fields["ocr_transient"] = True
    return {key: value for key, value in fields.items() if value is not None}


def _item_fields_from(record: dict) -> dict:
    """The inverse of `_item_fields`: ItemResult keyword arguments."""
    fields = {"warning": record.get("warning"), "reused_from": record.get("reused_from"),
              "ocr_error": record.get("ocr_error"), "ocr_transient": bool(record.get("ocr_transient"))}
    if fields["reused_from"] is not None and not isinstance(fields["reused_from"], int):
        raise ValueError("'reused_from' is not a frame index")
    if "ocr_text" in record:
        try:
            words = tuple(OcrWord(str(w["text"]), tuple(int(v) for v in w["box"]), float(w["confidence"]))
                          for w in record.get("ocr_words") or [])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"'ocr_words' holds a word without text/box/confidence ({error})") from None
        fields["ocr"] = OcrText(str(record["ocr_text"]), words)
    return fields


def to_record(result: ItemResult) -> dict:
    """One JSONL line: an item with every model's detections, its text and warnings."""
    record = {
        "source": escape_name(result.source),
        "frame_index": result.frame_index,
        "timestamp_s": result.timestamp_s,
        "width": result.width,
        "height": result.height,
        "error": result.error,
        "models": {
            m.model: {"version": m.version, "detections": _detection_rows(m.detections),
                      "error": m.error, "latency_ms": m.latency_ms}
            for m in result.models
        },
    }
    record.update(_item_fields(result))
    return record


def from_record(record) -> ItemResult:
    """The inverse of `to_record`; ValueError (naming what is wrong) for anything else."""
    if not isinstance(record, dict):
        raise ValueError(f"a record is a JSON object, this is {type(record).__name__}")
    if not isinstance(record.get("source"), str) or not record["source"]:
        raise ValueError("no 'source'")
    models = record.get("models", {})
    if not isinstance(models, dict):
        raise ValueError("'models' is not an object")
    frame_index = record.get("frame_index")
    if frame_index is not None and not isinstance(frame_index, int):
        raise ValueError("'frame_index' is not an integer")
    width, height = int(record.get("width") or 0), int(record.get("height") or 0)
    results = []
    for name, answer in models.items():
        if not isinstance(answer, dict):
            raise ValueError(f"model {name!r}: not an object")
        results.append(ModelResult(
            model=name, version=str(answer.get("version", "")),
            detections=_detections_from_rows(answer.get("detections") or [], width, height),
            error=answer.get("error"), latency_ms=answer.get("latency_ms"),
        ))
    return ItemResult(unescape_name(record["source"]), frame_index, record.get("timestamp_s"), width, height,
                      models=tuple(results), error=record.get("error"), **_item_fields_from(record))


def parquet_schema():
    """One row per (item, model): the single-machine Parquet file and the Spark job's output."""
    import pyarrow as pa

    detection = pa.struct([("class_id", pa.int32()), ("label", pa.string()), ("score", pa.float32()),
                           ("box", pa.list_(pa.float32(), 4)), ("track_id", pa.int64())])
    return pa.schema([
        ("source", pa.string()), ("frame_index", pa.int64()), ("timestamp_s", pa.float64()),
        ("width", pa.int32()), ("height", pa.int32()), ("model", pa.string()), ("model_version", pa.string()),
        ("detections", pa.list_(detection)), ("error", pa.string()), ("latency_ms", pa.float64()),
        ("extra", pa.string()),  # JSON of the item's other fields (OCR text, reused_from, ...), null when none
    ])


def parquet_columns() -> tuple[str, ...]:
    return tuple(parquet_schema().names)


def to_parquet_rows(result: ItemResult) -> list[dict]:
    """The rows of `result`, one per model; a bad input is one row with no model."""
    fields = _item_fields(result)
    base = {"source": escape_name(result.source), "frame_index": result.frame_index,
            "timestamp_s": result.timestamp_s, "width": result.width, "height": result.height,
            "extra": json.dumps(fields) if fields else None}
    if result.error is not None:
        return [dict(base, model=None, model_version=None, detections=[], error=result.error, latency_ms=None)]
    return [dict(base, model=m.model, model_version=m.version, detections=_detection_rows(m.detections),
                 error=m.error, latency_ms=m.latency_ms)
            for m in result.models]


OCR_CSV_COLUMNS = ("file_name", "ocr_text", "ocr_words")


def to_ocr_csv_row(result: ItemResult) -> dict[str, str] | None:
    """The OCR CSV row of an item whose text was read; None when OCR did not read it."""
    if result.ocr is None:
        return None
    return {
        "file_name": result.key,
        "ocr_text": result.ocr.text,
        "ocr_words": json.dumps(_item_fields(result)["ocr_words"]),
    }


def azure_bbox_to_coco(bbox, width: float, height: float) -> list[float]:
    """An Azure ML Studio COCO-export box (x, y, w, h normalised to 0..1) -> absolute COCO XYWH pixels."""
    x, y, w, h = (float(v) for v in bbox)
    return [x * width, y * height, w * width, h * height]


def coco_bbox_to_azure(bbox, width: float, height: float) -> list[float]:
    """Absolute COCO XYWH pixels -> Azure ML Studio's normalised x, y, w, h (0..1)."""
    x, y, w, h = (float(v) for v in bbox)
    return [x / width, y / height, w / width, h / height]


def azure_dataset_to_coco(dataset: dict) -> dict:
    """An Azure ML Studio COCO export (normalised boxes) -> the COCO json Detectron2 reads:
    absolute XYWH boxes, `area` in pixels and `iscrowd: 0`, as the seeds converted it."""
    sizes = {image["id"]: (image["width"], image["height"]) for image in dataset.get("images", [])}
    annotations = []
    for annotation in dataset.get("annotations", []):
        width, height = sizes[annotation["image_id"]]
        box = azure_bbox_to_coco(annotation["bbox"], width, height)
        annotations.append({**annotation, "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    return {**dataset, "annotations": annotations}


def coco_dataset_to_azure(dataset: dict) -> dict:
    """COCO json (absolute boxes) -> an Azure-ML-style export of the same labels (normalised boxes)."""
    sizes = {image["id"]: (image["width"], image["height"]) for image in dataset.get("images", [])}
    annotations = []
    for annotation in dataset.get("annotations", []):
        width, height = sizes[annotation["image_id"]]
        box = coco_bbox_to_azure(annotation["bbox"], width, height)
        annotations.append({key: value for key, value in annotation.items() if key not in ("iscrowd", "area")}
                           | {"bbox": box, "area": box[2] * box[3]})
    return {**dataset, "annotations": annotations}


def to_norfair_detections(det: Detections) -> list:
    """One Norfair `Detection` per box (its two corners as points, the label, `data` = row index)."""
    from norfair import Detection

    return [Detection(np.array([[x1, y1], [x2, y2]], np.float64), scores=np.array([score, score], np.float64),
                      label=label, data=row)
            for row, ((x1, y1, x2, y2), score, label) in enumerate(zip(det.xyxy, det.scores, det.labels))]


def tracks_schema():
    """`tracks.parquet`: one row per track of a video (client/screen_time.py)."""
    import pyarrow as pa

    return pa.schema([
        ("video", pa.string()), ("model", pa.string()), ("label", pa.string()), ("track_id", pa.int64()),
        ("first_s", pa.float64()), ("last_s", pa.float64()), ("seconds_on_screen", pa.float64()),
        ("frames_seen", pa.int64()), ("max_score", pa.float32()), ("mean_score", pa.float32()),
        ("largest_box", pa.list_(pa.float32(), 4)), ("largest_box_share", pa.float64()),
    ])


def screen_time_schema():
    """`screen_time.parquet`: one row per (video, model, label) (client/screen_time.py)."""
    import pyarrow as pa

    return pa.schema([
        ("video", pa.string()), ("model", pa.string()), ("label", pa.string()), ("seconds_on_screen", pa.float64()),
        ("share_of_spot", pa.float64()), ("first_appearance_s", pa.float64()), ("tracks", pa.int64()),
        ("frames_seen", pa.int64()), ("spot_seconds", pa.float64()),
    ])
