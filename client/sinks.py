"""Where results go: the JSONL ledger, and the outputs derived from it after every run.

`JsonlSink` appends each finished item as it completes. The derived outputs are pure functions
of the ledger's current results, rebuilt at the end of every run (interrupted runs included)
through one method, `add(result)`, by `write_derived_outputs`: the seeds' CSV per model in
chunks of 200 (`csv/<model>/part-NNNNN.csv`), `detections.parquet` (one row per item and
model, with each video detection's track id), `ocr.csv`, and for videos the tracks and screen
time (`tracks.*`, `screen_time.*`, see screen_time.py). Each file is written to a temporary name
and renamed, so after any crash a re-run rebuilds exactly what the ledger holds.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from pathlib import Path
from typing import Iterable, Protocol

from creativelens.client.ledger import RESULTS_FILE, Ledger
from creativelens.formats import (OCR_CSV_COLUMNS, SEED_CSV_COLUMNS, parquet_schema, to_ocr_csv_row,
                                  to_parquet_rows, to_record, to_seed_csv_row)
from creativelens.item_result import ItemResult

CSV_DIR = "csv"
PARQUET_FILE = "detections.parquet"
OCR_CSV_FILE = "ocr.csv"
SUMMARY_FILE = "summary.json"


def write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_json_atomic(path: Path, value) -> None:
    write_atomic(path, (json.dumps(value, indent=2) + "\n").encode())


class JsonlSink:
    """Appends one record per line with a single write; fsyncs at most every `sync_every_s`."""

    def __init__(self, out_dir: Path, sync_every_s: float = 2.0) -> None:
        self.path = out_dir / RESULTS_FILE
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._sync_every_s = sync_every_s
        self._synced_at = time.monotonic()

    def write(self, result: ItemResult) -> None:
        line = (json.dumps(to_record(result), separators=(",", ":")) + "\n").encode()
        written = os.write(self._fd, line)
        if written != len(line):  # never seen on a local disk; finish the line rather than lose it
            os.write(self._fd, line[written:])
        if time.monotonic() - self._synced_at > self._sync_every_s:
            os.fsync(self._fd)
            self._synced_at = time.monotonic()

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


class DerivedSink(Protocol):
    def add(self, result: ItemResult) -> None: ...

    def close(self) -> None: ...


class SeedCsvSink:
    """The seeds' CSV columns per model, `chunk_size` successful results per file."""

    def __init__(self, out_dir: Path, chunk_size: int = 200) -> None:
        self.folder = out_dir / CSV_DIR
        self.chunk_size = chunk_size
        self._rows: dict[str, list[dict]] = {}
        self._chunks: dict[str, int] = {}
        self._staging = out_dir / f".{CSV_DIR}.tmp-{os.getpid()}"
        shutil.rmtree(self._staging, ignore_errors=True)

    def add(self, result: ItemResult) -> None:
        for model in result.models:
            if model.error is None:
                rows = self._rows.setdefault(model.model, [])
                rows.append(to_seed_csv_row(model.detections))
                if len(rows) == self.chunk_size:
                    self._flush(model.model)

    def close(self) -> None:
        for model in list(self._rows):
            if self._rows[model]:
                self._flush(model)
        self._staging.mkdir(parents=True, exist_ok=True)
        old = self.folder.with_name(f".{CSV_DIR}.old-{os.getpid()}")
        if self.folder.exists():
            os.replace(self.folder, old)
        os.replace(self._staging, self.folder)
        shutil.rmtree(old, ignore_errors=True)

    def _flush(self, model: str) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=SEED_CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(self._rows[model])
        folder = self._staging / model
        folder.mkdir(parents=True, exist_ok=True)
        chunk = self._chunks.get(model, 0)
        (folder / f"part-{chunk:05d}.csv").write_bytes(text.getvalue().encode())
        self._rows[model], self._chunks[model] = [], chunk + 1


class ParquetSink:
    """`detections.parquet`: one row per (item, model), the schema of `formats.parquet_schema`."""

    def __init__(self, path: Path, batch_rows: int = 2000) -> None:
        import pyarrow.parquet as pq

        self.path, self.batch_rows, self.rows = path, batch_rows, 0
        self._temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self._writer = pq.ParquetWriter(self._temporary, parquet_schema())
        self._batch: list[dict] = []

    def add(self, result: ItemResult) -> None:
        self._batch.extend(to_parquet_rows(result))
        if len(self._batch) >= self.batch_rows:
            self._write()

    def close(self) -> None:
        if self._batch or not self.rows:
            self._write()
        self._writer.close()
        os.replace(self._temporary, self.path)

    def _write(self) -> None:
        import pyarrow as pa

        self._writer.write_table(pa.Table.from_pylist(self._batch, parquet_schema()))
        self.rows += len(self._batch)
        self._batch = []


class OcrCsvSink:
    """`ocr.csv` (file_name, ocr_text, ocr_words as JSON) of every item whose text was read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._text = io.StringIO()
        self._writer = csv.DictWriter(self._text, fieldnames=OCR_CSV_COLUMNS)
        self._writer.writeheader()
        self.rows = 0

    def add(self, result: ItemResult) -> None:
        row = to_ocr_csv_row(result)
        if row is not None:
            self._writer.writerow(row)
            self.rows += 1

    def close(self) -> None:
        if self.rows or self.path.exists():
            write_atomic(self.path, self._text.getvalue().encode())


def derived_sinks(out_dir: Path, csv_chunk_size: int = 200) -> list:
    return [SeedCsvSink(out_dir, csv_chunk_size), ParquetSink(out_dir / PARQUET_FILE),
            OcrCsvSink(out_dir / OCR_CSV_FILE)]


def write_derived_outputs(ledger: Ledger, sinks: Iterable[DerivedSink]) -> int:
    """Track every video's detections (first pass: tracks need each video's frames in order),
    then feed the ledger's current results, with their track ids, to every sink once and close
    them; the tracks and screen-time tables are written last. Returns how many results (item
    lines) there were."""
    from creativelens.client.screen_time import VideoTracks

    tracks = VideoTracks()
    for result in ledger.current():
        tracks.add(result)
    tracks.finish()
    sinks = list(sinks)
    count = 0
    for result in ledger.current():
        count += 1
        result = tracks.attach(result)
        for sink in sinks:
            sink.add(result)
    for sink in sinks:
        sink.close()
    if tracks.track_rows or tracks.screen_time_rows:
        tracks.write(ledger.path.parent)
    return count
