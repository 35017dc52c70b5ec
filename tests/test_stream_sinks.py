"""Ledger, sinks, record conversions and rules of the streaming client (no server)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest

from creativelens.client.ledger import Ledger, read_detections
from creativelens.client.rules import ModelRules, Rules, load_rules
from creativelens.client.sinks import derived_sinks, write_derived_outputs
from creativelens.detections import Detections
from creativelens.errors import UserError
from creativelens.formats import SEED_CSV_COLUMNS, from_record, to_record
from creativelens.item_result import ItemResult, ModelResult, OcrText, escape_name, item_name, unescape_name


def result(index: int, error: str | None = None, models=("m",), version: str = "v1", source=None) -> ItemResult:
    source = source or f"/m/{index}.jpg"
    if error:
        return ItemResult(source, error=error)
    answers = tuple(ModelResult(name, version, Detections([[1, 2, 30, 40]], [0.9], [3], [f"car-{name}"], 64, 48),
                                None, 12.5)
                    for name in models)
    return ItemResult(source, width=64, height=48, models=answers)


def write(tmp_path, results) -> None:
    ledger = Ledger(tmp_path)
    for value in results:
        ledger.append(value)
    ledger.close()


def csv_rows(folder) -> list[dict]:
    rows = []
    for path in sorted(folder.iterdir()):
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            assert tuple(reader.fieldnames) == SEED_CSV_COLUMNS
            rows += list(reader)
    return rows


def test_record_round_trip_keeps_every_model_and_its_text():
    value = replace(result(0, models=("coco", "logos")), ocr=OcrText("SALE"))
    back = from_record(json.loads(json.dumps(to_record(value))))
    assert back.model_names == ("coco", "logos") and back.ocr == OcrText("SALE")
    assert back.model("logos").detections.labels == ("car-logos",)
    assert back.model("logos").detections.xyxy.tolist() == [[1, 2, 30, 40]]


@pytest.mark.parametrize("line", [{"note": 1}, [1, 2, 3], {"source": "/a.jpg", "models": {"m": {"detections": "x"}}},
                                  {"source": "/a.jpg", "models": []}, "text"])
def test_a_line_that_is_not_a_record_is_refused_by_name(line):
    with pytest.raises(ValueError):
        from_record(line)


def test_non_utf8_names_are_escaped_reversibly_in_every_sink(tmp_path):
    name = "/m/ad-\udcff\udcfe\\x.jpg"  # bytes \xff\xfe (not UTF-8) and a backslash
    assert unescape_name(escape_name(name)) == name and escape_name("/plain/é.jpg") == "/plain/é.jpg"
    assert escape_name(name) == "/m/ad-\\xff\\xfe\\\\x.jpg"
    write(tmp_path, [result(0, source=name)])
    ledger = Ledger(tmp_path)
    assert ledger.keys() == {escape_name(name)} and not ledger.pending_models(item_name(name, None), {"m": "v1"})
    write_derived_outputs(ledger, derived_sinks(tmp_path))
    assert csv_rows(tmp_path / "csv" / "m")[0]["file_name"] == escape_name(name)
    assert pq.read_table(tmp_path / "detections.parquet").to_pylist()[0]["source"] == escape_name(name)


def test_ledger_cuts_a_partial_last_line_and_knows_what_is_done(tmp_path):
    write(tmp_path, [result(i) for i in range(3)])
    with open(tmp_path / "detections.jsonl", "ab") as handle:
        handle.write(b'{"source": "/m/3.jpg", "frame_in')  # killed in the middle of a write
    ledger = Ledger(tmp_path)
    assert ledger.repaired_bytes == len(b'{"source": "/m/3.jpg", "frame_in')
    assert ledger.records == 3
    assert ledger.pending_models("/m/2.jpg", {"m": "v1"}) == [] and ledger.pending_models("/m/3.jpg", {"m": "v1"}) == ["m"]
    assert (tmp_path / "detections.jsonl").read_bytes().endswith(b"}\n")


def test_ledger_knows_models_and_versions_per_item(tmp_path):
    write(tmp_path, [result(0, models=("a",)), result(1, models=("a", "b")), result(2, error="bad input")])
    ledger = Ledger(tmp_path)
    assert ledger.pending_models("/m/0.jpg", {"a": "v1", "b": "v1"}) == ["b"]
    assert ledger.pending_models("/m/1.jpg", {"a": "v1", "b": "v1"}) == []
    assert ledger.pending_models("/m/1.jpg", {"a": "v2", "b": "v1"}) == ["a"]  # a new version re-runs
    assert ledger.pending_models("/m/2.jpg", {"a": "v1", "c": "v1"}) == []  # a bad input stays done


def test_ledger_lines_that_are_not_records_are_reported_and_their_items_done_again(tmp_path):
    write(tmp_path, [result(0)])
    with open(tmp_path / "detections.jsonl", "a") as handle:
        handle.write('{"note": 1}\n[1, 2, 3]\n{"source": "/m/1.jpg", "models": {"m": {"detections": "x"}}}\n')
    write(tmp_path, [result(2)])
    ledger = Ledger(tmp_path)
    assert [number for number, _ in ledger.bad_lines] == [2, 3, 4]
    assert ledger.keys() == {"/m/0.jpg", "/m/2.jpg"}
    assert write_derived_outputs(ledger, derived_sinks(tmp_path)) == 2
    assert pq.read_table(tmp_path / "detections.parquet").num_rows == 2


def test_derived_outputs_hold_the_current_result_of_each_item_and_model(tmp_path):
    results = [result(i, error="bad" if i == 2 else None) for i in range(8)]
    results.append(result(0, models=("b",)))  # a model added later
    results.append(result(1, version="v2"))  # a model's new version re-done
    write(tmp_path, results)
    ledger = Ledger(tmp_path)
    assert write_derived_outputs(ledger, derived_sinks(tmp_path, csv_chunk_size=3)) == 9
    assert sorted(p.name for p in (tmp_path / "csv" / "m").iterdir()) == ["part-00000.csv", "part-00001.csv",
                                                                          "part-00002.csv"]
    rows = csv_rows(tmp_path / "csv" / "m")
    assert [r["file_name"] for r in rows] == [f"/m/{i}.jpg" for i in (0, 3, 4, 5, 6, 7, 1)]
    assert json.loads(rows[0]["prediction_boxes"]) == [[1.0, 2.0, 30.0, 40.0]]
    assert [r["file_name"] for r in csv_rows(tmp_path / "csv" / "b")] == ["/m/0.jpg"]
    table = pq.read_table(tmp_path / "detections.parquet").to_pylist()
    keys = [(r["source"], r["model"], r["model_version"]) for r in table]
    assert len(keys) == len(set(keys)) == 9  # 7 (m) + 1 (b) + 1 bad input, each once
    assert ("/m/1.jpg", "m", "v2") in keys and ("/m/1.jpg", "m", "v1") not in keys
    assert [r["error"] for r in table if r["source"] == "/m/2.jpg"] == ["bad"]
    assert set(read_detections(tmp_path, "b")) == {"/m/0.jpg"}


def test_parquet_carries_the_items_text(tmp_path):
    write(tmp_path, [replace(result(0), ocr=OcrText("SALE")), result(1, error="bad")])
    write_derived_outputs(Ledger(tmp_path), derived_sinks(tmp_path))
    table = pq.read_table(tmp_path / "detections.parquet").to_pylist()
    assert table[0]["detections"][0]["label"] == "car-m"
    assert table[0]["detections"][0]["box"] == pytest.approx([1, 2, 30, 40])
    assert json.loads(table[0]["extra"]) == {"ocr_text": "SALE", "ocr_words": []}
    assert table[1]["error"] == "bad" and table[1]["extra"] is None and table[1]["model"] is None
    assert list(csv.DictReader(open(tmp_path / "ocr.csv")))[0]["ocr_text"] == "SALE"


def test_item_names_name_frames():
    assert item_name("/v.mp4", 30) == "/v.mp4#frame=30"
    assert item_name("/a.jpg", None) == "/a.jpg"


def detections(labels, scores, boxes) -> Detections:
    return Detections(np.array(boxes, np.float32), scores, range(len(labels)), labels)


def test_threshold_precedence_per_model_and_class():
    found = {"m": detections(["person", "tie", "cup"], [0.9, 0.6, 0.5], [[0, 0, 1, 1]] * 3)}
    assert Rules().apply(found)["m"].labels == ("person",)
    assert Rules(per_class={"tie": 0.55}).apply(found)["m"].labels == ("person", "tie")
    assert Rules(threshold=0.0).apply(found)["m"].labels == ("person", "tie", "cup")
    own = {"m": {"cup": 0.4, "tie": 0.7}}  # the model's own thresholds, from its training
    assert Rules().apply(found, own)["m"].labels == ("person", "cup")
    assert Rules(threshold=0.55).apply(found, own)["m"].labels == ("person", "tie")  # --threshold wins
    per_model = Rules(per_model={"m": ModelRules(per_class={"person": 0.95})})
    assert per_model.apply(found, own)["m"].labels == ("cup",)


def test_smile_counts_only_inside_a_face_from_another_model():
    found = {"faces": detections(["face"], [0.95], [[10, 10, 50, 50]]),
             "smiles": detections(["smile", "smile"], [0.9, 0.9], [[20, 30, 40, 45], [60, 60, 80, 70]])}
    kept = Rules(only_inside={"smile": ("face",)}).apply(found)["smiles"]
    assert kept.labels == ("smile",) and kept.xyxy[0].tolist() == [20, 30, 40, 45]
    no_face = Rules(per_model={"faces": ModelRules(threshold=0.99)}, only_inside={"smile": ("face",)})
    assert [len(d) for d in no_face.apply(found).values()] == [0, 0]


def test_rules_file(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"models": ["coco", "faces"], "threshold": 0.7, "per_class": {"tie": 0.5},
                                "per_model": {"faces": {"threshold": 0.6}}, "only_inside": {"smile": "face"},
                                "ocr_exclude": ["logo"]}))
    rules = load_rules(path)
    assert rules.threshold == 0.7 and rules.per_class == {"tie": 0.5} and rules.models == ("coco", "faces")
    assert rules.per_model["faces"].threshold == 0.6 and rules.ocr_exclude == ("logo",)
    assert rules.only_inside == {"smile": ("face",)}
    assert load_rules(path, threshold=0.3).threshold == 0.3
    path.write_text(json.dumps({"treshold": 0.7}))
    with pytest.raises(UserError, match="unknown keys"):
        load_rules(path)
    path.write_text(json.dumps({"per_model": {"faces": {"threshold": 2}}}))
    with pytest.raises(UserError, match="between 0 and 1"):
        load_rules(path)
    with pytest.raises(UserError, match="between 0 and 1"):
        load_rules(None, threshold=85)
