"""Results folders for the report tests: constructed ItemResults written in the project's own
record format and derived outputs, and the counts the gallery should show for them (a creative
shows when one of its boxes passes model, label and score)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from creativelens import formats
from creativelens.sample_media import sample_stills
from serving_fixtures import write_video

MODELS = ("logos", "faces")


def _det(label: str, class_id: int, score: float, box) -> dict:
    return {"class_id": class_id, "label": label, "score": score, "box": list(box)}


def constructed_records(folder: Path) -> list[dict]:
    """Stills, a moved still, a bad input, an unknown model and a video with reused frames."""
    stills = []
    for n, photo in enumerate(sample_stills()[:3]):
        copy = folder / f"still_{n}{photo.suffix}"
        shutil.copyfile(photo, copy)
        stills.append(copy)
    from PIL import Image

    records = []
    for n, path in enumerate(stills):
        w, h = Image.open(path).size
        logos = [_det("logo", 0, 0.9 - 0.3 * n, (10, 10, w / 2, h / 2))]
        if n == 0:
            logos.append(_det("product", 1, 0.55, (w / 2, h / 2, w - 5, h - 5)))
        faces = [_det("face", 0, 0.95, (w / 4, h / 4, 3 * w / 4, 3 * h / 4))] if n != 2 else []
        record = {"source": str(path), "frame_index": None, "timestamp_s": None, "width": w, "height": h, "error": None,
                  "models": {"logos": {"version": "random-aaaaaa", "error": None, "latency_ms": 40.0 + n, "detections": logos},
                             "faces": {"version": "bbbbbbbbbbbb", "error": None, "latency_ms": 30.0 + n, "detections": faces}}}
        if n == 0:
            record["ocr_text"] = "BIG SALE"
            record["ocr_words"] = [{"text": "BIG", "box": [20, 30, 60, 50], "confidence": 91.0},
                                   {"text": "SALE", "box": [70, 30, 120, 50], "confidence": 88.5}]
        records.append(record)
    moved = {"source": str(folder / "moved_away.jpg"), "frame_index": None, "timestamp_s": None, "width": 400,
             "height": 300, "error": None,
             "models": {"logos": {"version": "random-aaaaaa", "error": None, "latency_ms": 41.0,
                                  "detections": [_det("logo", 0, 0.99, (50, 50, 200, 150))]},
                        "mystery": {"version": "zzz", "error": None, "latency_ms": 10.0,
                                    "detections": [_det("thing", 0, 0.7, (0, 0, 100, 100))]}}}
    bad = {"source": str(folder / "notes.txt"), "frame_index": None, "timestamp_s": None, "width": 0, "height": 0,
           "error": "not an image or a video (nothing decodes it)", "models": {}}
    records += [moved, bad]
    video = write_video(folder / "spot.mp4", 12)
    for frame in range(0, 12, 2):
        x = 10 + 10 * frame
        faces = [_det("face", 0, 0.9, (x, 20, x + 40, 70))]
        record = {"source": str(video), "frame_index": frame, "timestamp_s": frame / 10, "width": 160, "height": 96,
                  "error": None, "models": {"faces": {"version": "bbbbbbbbbbbb", "error": None, "latency_ms": 20.0,
                                                      "detections": faces if frame < 8 else []},
                                            "logos": {"version": "random-aaaaaa", "error": None, "latency_ms": 20.0,
                                                      "detections": [_det("logo", 0, 0.8, (100, 50, 150, 90))]}}}
        if frame in (4, 10):
            record["reused_from"] = frame - 2
        records.append(record)
    return records


def write_results(folder: Path, records: list[dict], truncated_tail: bool = True) -> Path:
    """The records through `formats` (from_record/to_record, as the stream writes them), then the
    derived outputs (Parquet, tracks, screen time) by the client's own sinks."""
    from creativelens.client.ledger import Ledger
    from creativelens.client.sinks import write_derived_outputs

    out = folder / "results"
    out.mkdir()
    lines = [json.dumps(formats.to_record(formats.from_record(r))) + "\n" for r in records]
    (out / "detections.jsonl").write_text("".join(lines))
    write_derived_outputs(Ledger(out))
    (out / "summary.json").write_text(json.dumps({
        "complete": True, "wall_s": 12.5, "items_per_s": 0.8, "inferences_per_s": 1.6, "random_weights": True,
        "models": {"logos": {"version": "random-aaaaaa", "random_weights": True},
                   "faces": {"version": "bbbbbbbbbbbb", "random_weights": False}}}))
    if truncated_tail:
        with open(out / "detections.jsonl", "a") as handle:
            handle.write('{"source": "/killed/mid/write.jpg", "frame_ind')
    return out


def expected_visible(records: list[dict], model: str | None = None, label: str | None = None, score: float = 0.0) -> int:
    """The gallery's rule: with no filter every item; else items with a box passing all three."""
    if model is None and label is None and score == 0:
        return len(records)
    count = 0
    for r in records:
        boxes = [(m, d) for m, answer in r["models"].items() for d in answer["detections"]]
        if any((model is None or m == model) and (label is None or d["label"] == label) and d["score"] >= score
               for m, d in boxes):
            count += 1
    return count


def read_data(report: Path) -> dict:
    text = (report / "data.js").read_text()
    return json.loads(text[text.index("=") + 1:].rstrip().rstrip(";"))
