"""Where results go: JSONL (the ledger), the seeds' CSV in chunks, Parquet, summary.json.

The CSV chunks and the Parquet file are pure functions of `detections.jsonl` (chunk k holds
its successful records 200k .. 200k+199 in file order), written to a temporary name and
renamed, so after any crash a re-run rebuilds exactly what is missing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Iterable

from creativelens.formats import SEED_CSV_COLUMNS, from_record, to_seed_csv_row
from creativelens.client.ledger import RESULTS_FILE

CSV_DIR = "csv"
PARQUET_FILE = "detections.parquet"
SUMMARY_FILE = "summary.json"
RECORD_COLUMNS = ("source", "frame_index", "timestamp_s", "width", "height", "model",
                  "detections", "error", "latency_ms")


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

    def write(self, record: dict) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
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


class CsvChunkSink:
    """The seeds' CSV columns, `chunk_size` successful records per file `csv/part-NNNNN.csv`."""

    def __init__(self, out_dir: Path, chunk_size: int = 200) -> None:
        self.folder = out_dir / CSV_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.chunk_size = chunk_size
        self._rows: list[dict] = []
        self._chunk = 0

    def chunk_path(self, index: int) -> Path:
        return self.folder / f"part-{index:05d}.csv"

    def restore(self, records: Iterable[dict]) -> None:
        """Catch up with existing records: write missing full chunks, keep the partial tail."""
        for record in records:
            if record.get("error") is None:
                self._rows.append(to_seed_csv_row(from_record(record)))
                if len(self._rows) == self.chunk_size:
                    if not self.chunk_path(self._chunk).exists():
                        self._flush()
                    self._rows, self._chunk = [], self._chunk + 1

    def write(self, record: dict) -> None:
        if record.get("error") is not None:
            return
        self._rows.append(to_seed_csv_row(from_record(record)))
        if len(self._rows) == self.chunk_size:
            self._flush()
            self._rows, self._chunk = [], self._chunk + 1

    def close(self) -> None:
        if self._rows:
            self._flush()

    def _flush(self) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=SEED_CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(self._rows)
        write_atomic(self.chunk_path(self._chunk), text.getvalue().encode())


def parquet_schema():
    import pyarrow as pa

    detection = pa.struct([("class_id", pa.int32()), ("label", pa.string()),
                           ("score", pa.float32()), ("box", pa.list_(pa.float32(), 4))])
    return pa.schema([
        ("source", pa.string()), ("frame_index", pa.int64()), ("timestamp_s", pa.float64()),
        ("width", pa.int32()), ("height", pa.int32()), ("model", pa.string()),
        ("detections", pa.list_(detection)), ("error", pa.string()), ("latency_ms", pa.float64()),
        ("extra", pa.string()),  # JSON of any further fields (e.g. OCR), null when none
    ])


def write_parquet(records: Iterable[dict], path: Path, batch_rows: int = 2000) -> int:
    """Stream records into one Parquet file (atomic rename); returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    rows = 0
    with pq.ParquetWriter(temporary, schema) as writer:
        batch: list[dict] = []
        for record in records:
            row = {name: record.get(name) for name in RECORD_COLUMNS}
            extra = {k: v for k, v in record.items() if k not in RECORD_COLUMNS}
            row["extra"] = json.dumps(extra) if extra else None
            batch.append(row)
            if len(batch) == batch_rows:
                writer.write_table(pa.Table.from_pylist(batch, schema))
                rows, batch = rows + len(batch), []
        if batch or not rows:
            writer.write_table(pa.Table.from_pylist(batch, schema))
            rows += len(batch)
    os.replace(temporary, path)
    return rows
