"""Ledger, sinks and rules of the streaming client (no server)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from creativelens.client.ledger import Ledger, record_key
from creativelens.client.rules import Rules, load_rules
from creativelens.client.sinks import CsvChunkSink, JsonlSink, write_parquet
from creativelens.detections import Detections
from creativelens.errors import UserError
from creativelens.formats import SEED_CSV_COLUMNS, to_record


def record(index: int, error: str | None = None) -> dict:
    det = Detections([[1, 2, 30, 40]], [0.9], [3], ["car"], source=f"/m/{index}.jpg",
                     width=64, height=48, model="m")
    value = to_record(Detections.empty(source=f"/m/{index}.jpg"), error) if error else to_record(det)
    value["latency_ms"] = None if error else 12.5
    return value


def test_ledger_cuts_a_partial_last_line_and_knows_what_is_done(tmp_path):
    sink = JsonlSink(tmp_path)
    for i in range(3):
        sink.write(record(i))
    sink.close()
    with open(tmp_path / "detections.jsonl", "ab") as handle:
        handle.write(b'{"source": "/m/3.jpg", "frame_in')  # killed in the middle of a write
    ledger = Ledger(tmp_path)
    assert ledger.repaired_bytes == len(b'{"source": "/m/3.jpg", "frame_in')
    assert ledger.records == 3 and ledger.is_done("/m/2.jpg") and not ledger.is_done("/m/3.jpg")
    assert (tmp_path / "detections.jsonl").read_bytes().endswith(b"}\n")


def test_csv_chunks_are_rebuilt_from_the_ledger(tmp_path):
    sink = JsonlSink(tmp_path)
    records = [record(i, error="bad" if i == 2 else None) for i in range(8)]
    for value in records:
        sink.write(value)
    sink.close()
    chunks = CsvChunkSink(tmp_path, chunk_size=3)
    chunks.restore(Ledger(tmp_path).iter_records())  # 7 successes: chunks 0, 1 full, 1 row pending
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == ["part-00000.csv", "part-00001.csv"]
    chunks.write(record(8))
    chunks.close()
    rows = []
    for path in sorted((tmp_path / "csv").iterdir()):
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            assert tuple(reader.fieldnames) == SEED_CSV_COLUMNS
            rows += list(reader)
    assert [r["file_name"] for r in rows] == [f"/m/{i}.jpg" for i in (0, 1, 3, 4, 5, 6, 7, 8)]
    assert json.loads(rows[0]["prediction_boxes"]) == [[1.0, 2.0, 30.0, 40.0]]
    assert json.loads(rows[0]["class_labels"]) == ["car"]


def test_parquet_holds_every_record(tmp_path):
    records = [record(0), record(1, error="bad")]
    records[0]["ocr_text"] = "SALE"
    write_parquet(records, tmp_path / "d.parquet")
    table = pq.read_table(tmp_path / "d.parquet").to_pylist()
    assert [row["source"] for row in table] == ["/m/0.jpg", "/m/1.jpg"]
    assert table[0]["detections"][0]["label"] == "car"
    assert table[0]["detections"][0]["box"] == pytest.approx([1, 2, 30, 40])
    assert json.loads(table[0]["extra"]) == {"ocr_text": "SALE"}
    assert table[1]["error"] == "bad" and table[1]["extra"] is None


def test_record_key_names_frames():
    assert record_key({"source": "/v.mp4", "frame_index": 30}) == "/v.mp4#frame=30"
    assert record_key({"source": "/a.jpg", "frame_index": None}) == "/a.jpg"


def detections(labels, scores, boxes) -> Detections:
    return Detections(np.array(boxes, np.float32), scores, range(len(labels)), labels)


def test_threshold_and_per_class_overrides():
    found = detections(["person", "tie", "cup"], [0.9, 0.6, 0.5], [[0, 0, 1, 1]] * 3)
    assert Rules().apply(found).labels == ("person",)
    assert Rules(per_class={"tie": 0.55}).apply(found).labels == ("person", "tie")
    assert Rules(threshold=0.0).apply(found).labels == ("person", "tie", "cup")


def test_smile_counts_only_inside_a_face():
    found = detections(["face", "smile", "smile"], [0.95, 0.9, 0.9],
                       [[10, 10, 50, 50], [20, 30, 40, 45], [60, 60, 80, 70]])
    kept = Rules(only_inside={"smile": ("face",)}).apply(found)
    assert kept.labels == ("face", "smile") and kept.xyxy[1].tolist() == [20, 30, 40, 45]
    no_face = Rules(per_class={"face": 0.99}, only_inside={"smile": ("face",)}).apply(found)
    assert no_face.labels == ()


def test_rules_file(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"threshold": 0.7, "per_class": {"tie": 0.5}, "only_inside": {"smile": "face"}}))
    rules = load_rules(path)
    assert rules.threshold == 0.7 and rules.per_class == {"tie": 0.5}
    assert rules.only_inside == {"smile": ("face",)}
    assert load_rules(path, threshold=0.3).threshold == 0.3
    path.write_text(json.dumps({"treshold": 0.7}))
    with pytest.raises(UserError, match="unknown keys"):
        load_rules(path)
    with pytest.raises(UserError, match="between 0 and 1"):
        load_rules(None, threshold=85)
