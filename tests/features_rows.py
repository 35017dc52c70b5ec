"""Results rows for the features tests, written with the project's own Parquet schema
(`formats.parquet_schema()`), as stream's `detections.parquet` or Spark's partitioned layout."""

from __future__ import annotations

import json
from pathlib import Path


def detection(label: str, box, score: float = 0.95, class_id: int = 0, track_id=None) -> dict:
    return {"class_id": class_id, "label": label, "score": score, "box": [float(v) for v in box], "track_id": track_id}


def row(source: str, model: str, detections=(), *, frame_index=None, timestamp_s=None, width=1000, height=500,
        extra=None, error=None, version="v1") -> dict:
    return {"source": source, "frame_index": frame_index, "timestamp_s": timestamp_s, "width": width, "height": height,
            "model": model, "model_version": version, "detections": list(detections), "error": error,
            "latency_ms": 1.0, "extra": None if extra is None else json.dumps(extra)}


def ocr(*words, boxes=None) -> dict:
    boxes = boxes or [[0, 0, 10, 10]] * len(words)
    return {"ocr_text": " ".join(words),
            "ocr_words": [{"text": w, "box": b, "confidence": 90.0} for w, b in zip(words, boxes)]}


def write_stream(folder: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from creativelens.client.sinks import PARQUET_FILE
    from creativelens.formats import parquet_schema

    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, parquet_schema()), folder / PARQUET_FILE)
    return folder


def write_spark(folder: Path, rows: list[dict], run_date: str = "2026-12-01") -> Path:
    """Spark's layout: detections/model=M/run_date=D/part-*.parquet, without the partition
    columns in the files, a null model as __HIVE_DEFAULT_PARTITION__, boxes as plain lists."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from creativelens.formats import parquet_schema
    from creativelens.spark.output import DETECTIONS_DIR

    schema = parquet_schema()
    box = pa.struct([f if f.name != "box" else pa.field("box", pa.list_(pa.float32())) for f in schema.field("detections").type.value_type])
    plain = pa.schema([f if f.name != "detections" else pa.field("detections", pa.list_(box)) for f in schema
                       if f.name != "model"])
    for model in sorted({r["model"] for r in rows}, key=str):
        part = folder / DETECTIONS_DIR / f"model={model or '__HIVE_DEFAULT_PARTITION__'}" / f"run_date={run_date}"
        part.mkdir(parents=True, exist_ok=True)
        mine = [{k: v for k, v in r.items() if k != "model"} for r in rows if r["model"] == model]
        pq.write_table(pa.Table.from_pylist(mine, plain), part / "part-00000.snappy.parquet")
    return folder


def write_shots_video(path: Path, shot_frames, fps: int = 10, size=(160, 96)) -> Path:
    """A video of shots of `shot_frames` frames each, every shot one flat colour far from the
    last (hue, saturation and brightness all change), written with OpenCV."""
    import cv2
    import numpy as np

    colours = [(0, 0, 255), (255, 255, 0), (0, 128, 0), (255, 0, 255), (40, 40, 40), (255, 255, 255), (0, 200, 255)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for shot, frames in enumerate(shot_frames):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        image[:] = colours[shot % len(colours)]
        for _ in range(frames):
            writer.write(image)
    writer.release()
    return path
