"""Read a results folder for the report, whatever state it is in, without changing it.

Two layouts: `creativelens stream`'s (`detections.jsonl` + derived tables + `summary.json`) and
`creativelens spark`'s (`detections/detector=*/run_date=*/` Parquet only). The stream ledger is
read line by line here rather than through `client.ledger.Ledger`, because opening a Ledger
repairs (truncates) a half-written last line, and a report must never change what it reports
on. Each line becomes an `ItemResult` through `formats.from_record`; Spark's rows are grouped
per item and turned into a record first, so both layouts end in the same `ItemResult`s.

Whatever is wrong (a truncated last line, a line that is no record, a table that cannot be
read, a Parquet file that is damaged) becomes a sentence in `ResultsFolder.problems`, never
an exception: the report shows what there is and says what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from creativelens import formats
from creativelens.client.ledger import RESULTS_FILE
from creativelens.client.recorded_settings import RUN_FILE
from creativelens.client.screen_time import SCREEN_TIME_PARQUET, TRACKS_PARQUET
from creativelens.client.sinks import PARQUET_FILE, SUMMARY_FILE
from creativelens.errors import UserError
from creativelens.item_result import ItemResult
from creativelens.spark.output import DETECTIONS_DIR as SPARK_DETECTIONS_DIR

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # how Spark names the partition of a null model (bad inputs)


@dataclass
class ResultsFolder:
    path: Path
    layout: str  # "stream" or "spark"
    items: list[ItemResult] = field(default_factory=list)  # one per still or frame, every model merged
    problems: list[str] = field(default_factory=list)
    summary: dict | None = None
    settings: dict | None = None  # run.json
    tracks: list[dict] = field(default_factory=list)
    screen_time: list[dict] = field(default_factory=list)
    track_ids: dict[tuple, list] = field(default_factory=dict)  # (escaped source, frame, model) -> per detection


def read_results(path: str | Path) -> ResultsFolder:
    """The folder's current results (the last answer of each (item, model)), with its tables."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path} is not a results folder (no such directory)")
    if (path / RESULTS_FILE).is_file():
        folder = ResultsFolder(path, "stream")
        _read_ledger(folder)
    elif (path / SPARK_DETECTIONS_DIR).is_dir():
        folder = ResultsFolder(path, "spark")
        _read_spark(folder)
    elif (path / PARQUET_FILE).is_file():
        folder = ResultsFolder(path, "stream")
        folder.problems.append(f"{RESULTS_FILE} is missing: read {PARQUET_FILE} instead (no OCR words' record lines)")
        _read_parquet_rows(folder, [path / PARQUET_FILE])
    else:
        raise UserError(f"{path} holds no results: neither {RESULTS_FILE} (creativelens stream) "
                        f"nor {SPARK_DETECTIONS_DIR}/ (creativelens spark)")
    folder.summary = _read_json(folder, path / SUMMARY_FILE, required=folder.layout == "stream")
    folder.settings = _read_json(folder, path / RUN_FILE, required=False)
    folder.tracks = _read_table(folder, path / TRACKS_PARQUET)
    folder.screen_time = _read_table(folder, path / SCREEN_TIME_PARQUET)
    if folder.layout == "stream" and (path / PARQUET_FILE).is_file() and (path / RESULTS_FILE).is_file():
        _read_track_ids(folder, path / PARQUET_FILE)
    return folder


def _read_ledger(folder: ResultsFolder) -> None:
    """Every complete line, merged per item at the record level (the on-disk form, which stays
    put while the types change): a later line's models replace the earlier answers of those
    models, its other fields win where it has them (text read again after a transient OCR
    failure); then one `formats.from_record` per item."""
    merged: dict[tuple, dict] = {}
    with open(folder.path / RESULTS_FILE, "rb") as handle:
        lines = handle.read().split(b"\n")
    if lines and lines[-1].strip():
        folder.problems.append(f"{RESULTS_FILE}: the last line is cut short ({len(lines[-1])} bytes, a run killed "
                               "while writing): that item is left out; a re-run of stream completes it")
    bad = []
    for number, raw in enumerate(lines[:-1], 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            formats.from_record(record)  # refuses what is not a record, naming what is wrong
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as error:
            bad.append(f"line {number}: {str(error)[:120]}")
            continue
        key = (record["source"], record.get("frame_index"))
        merged[key] = record if key not in merged else _merge(merged[key], record)
    if bad:
        folder.problems.append(f"{RESULTS_FILE}: {len(bad)} lines are not records and are left out ("
                               + "; ".join(bad[:3]) + (" ..." if len(bad) > 3 else "") + ")")
    folder.items = [formats.from_record(record) for record in merged.values()]


def _merge(earlier: dict, later: dict) -> dict:
    if later.get("error") is not None or earlier.get("error") is not None:
        return later
    models = {**(earlier.get("models") or {}), **(later.get("models") or {})}
    merged = dict(earlier)
    if later.get("models") or "ocr_text" in later:
        merged.update({k: v for k, v in later.items() if k != "models"})
    merged["models"] = models
    return merged


def _read_spark(folder: ResultsFolder) -> None:
    root = folder.path / SPARK_DETECTIONS_DIR
    files = sorted(p for p in root.rglob("*.parquet") if "_temporary" not in p.parts and not p.name.startswith((".", "_")))
    if (root / "_temporary").exists():
        folder.problems.append(f"{SPARK_DETECTIONS_DIR}/_temporary exists: a job was killed before it committed; "
                               "its uncommitted rows are not results and are left out")
    if not files:
        folder.problems.append(f"{SPARK_DETECTIONS_DIR}/ holds no committed Parquet file yet")
        return
    _read_parquet_rows(folder, files)


def _partition(path: Path, name: str) -> str | None:
    for part in path.parts:
        if part.startswith(name + "="):
            value = part.split("=", 1)[1]
            return None if value == HIVE_NULL else value
    return None


def _read_parquet_rows(folder: ResultsFolder, files: list[Path]) -> None:
    """Rows of the Parquet schema (`formats.parquet_schema`), one per (item, model), grouped
    into one record per item and read through `formats.from_record`."""
    import pyarrow.parquet as pq

    records: dict[tuple, dict] = {}
    for file in files:
        try:
            table = pq.read_table(file)
        except Exception as error:  # a damaged file is one problem, the rest still reads
            folder.problems.append(f"{file.relative_to(folder.path)}: unreadable Parquet ({str(error)[:120]})")
            continue
        model_from_path = _partition(file, "model")
        for row in table.to_pylist():
            model = row.get("model", model_from_path)
            key = (row["source"], row.get("frame_index"))
            record = records.setdefault(key, {
                "source": row["source"], "frame_index": row.get("frame_index"), "timestamp_s": row.get("timestamp_s"),
                "width": row.get("width"), "height": row.get("height"), "error": None, "models": {}})
            if row.get("extra"):
                try:
                    record.update(json.loads(row["extra"]))
                except json.JSONDecodeError:
                    folder.problems.append(f"{row['source']}: its 'extra' column is not JSON")
            if model is None:
                record["error"] = row.get("error") or "bad input"
                continue
            detections = [{k: v for k, v in d.items() if v is not None} for d in row.get("detections") or []]
            record["models"][model] = {"version": row.get("model_version") or "", "detections": detections,
                                       "error": row.get("error"), "latency_ms": row.get("latency_ms")}
            tracks = [d.get("track_id") for d in row.get("detections") or []]
            if tracks and all(t is not None for t in tracks):
                folder.track_ids[(row["source"], row.get("frame_index"), model)] = tracks
    for record in records.values():
        if record["error"] is not None:
            record["models"] = {}
        try:
            folder.items.append(formats.from_record(record))
        except ValueError as error:
            folder.problems.append(f"{record['source']}: rows that are not results ({error})")


def _read_track_ids(folder: ResultsFolder, path: Path) -> None:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=["source", "frame_index", "model", "detections"])
    except Exception as error:
        folder.problems.append(f"{PARQUET_FILE}: unreadable ({str(error)[:120]}); track ids are not shown")
        return
    for row in table.to_pylist():
        if row["frame_index"] is None or row["model"] is None:
            continue
        tracks = [d.get("track_id") for d in row["detections"] or []]
        if tracks and all(t is not None for t in tracks):
            folder.track_ids[(row["source"], row["frame_index"], row["model"])] = tracks


def _read_json(folder: ResultsFolder, path: Path, required: bool) -> dict | None:
    if not path.is_file():
        if required:
            folder.problems.append(f"{path.name} is missing (a run that was killed before its end): "
                                   "no speed summary or model metadata from the run")
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        folder.problems.append(f"{path.name}: unreadable ({str(error)[:120]})")
        return None
    if not isinstance(value, dict):
        folder.problems.append(f"{path.name}: not a JSON object")
        return None
    return value


def _read_table(folder: ResultsFolder, path: Path) -> list[dict]:
    if not path.is_file():
        return []
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as error:
        folder.problems.append(f"{path.name}: unreadable ({str(error)[:120]})")
        return []
