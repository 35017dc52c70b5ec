"""Where results go: the outputs derived from the ledger after every run.

A sink is a callable, `sink(result)` for each current `ItemResult`, then `close()`. The derived
outputs are pure functions of the ledger's current results, rebuilt at the end of every run
(interrupted runs included) in one pass over the ledger (`write_derived_outputs`): the seeds'
CSV per model in chunks of 200 (`csv/<model>/part-NNNNN.csv`), `ocr.csv`, and for videos the
tracks and screen time (`tracks.*`, `screen_time.*`, screen_time.py), which hands every result
on, with its detections' track ids, to `detections.parquet` (one row per item and model). Each
file is written to a temporary name and renamed, so after any crash a re-run rebuilds exactly
what the ledger holds. The ledger itself is the run's live sink (`Ledger.append`).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path
from typing import Protocol, Sequence

from creativelens.atomic_files import write_atomic
from creativelens.client.ledger import Ledger
from creativelens.client.screen_time import VideoTracks
from creativelens.formats import (OCR_CSV_COLUMNS, SEED_CSV_COLUMNS, parquet_schema, to_ocr_csv_row,
                                  to_parquet_rows, to_seed_csv_row)
from creativelens.item_result import ItemResult

CSV_DIR = "csv"
PARQUET_FILE = "detections.parquet"
OCR_CSV_FILE = "ocr.csv"
SUMMARY_FILE = "summary.json"


class Sink(Protocol):
    def __call__(self, result: ItemResult) -> None: ...

    def close(self) -> None: ...


class MultiSink:
    """Several sinks as one: each result to each, in order; `close` closes them all."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = tuple(sinks)

    def __call__(self, result: ItemResult) -> None:
        for sink in self.sinks:
            sink(result)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


class SeedCsvSink:
    """The seeds' CSV columns per model, `chunk_size` successful results per file."""

    def __init__(self, out_dir: Path, chunk_size: int = 200) -> None:
        self.folder = out_dir / CSV_DIR
        self.chunk_size = chunk_size
        self._rows: dict[str, list[dict]] = {}
        self._chunks: dict[str, int] = {}
        self._staging = out_dir / f".{CSV_DIR}.tmp-{os.getpid()}"
        shutil.rmtree(self._staging, ignore_errors=True)

    def __call__(self, result: ItemResult) -> None:
        for model in result.models:
            if model.error is None:
                rows = self._rows.setdefault(model.model, [])
                rows.append(to_seed_csv_row(result.key, model.detections))
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

    def __call__(self, result: ItemResult) -> None:
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

    def __call__(self, result: ItemResult) -> None:
        row = to_ocr_csv_row(result)
        if row is not None:
            self._writer.writerow(row)
            self.rows += 1

    def close(self) -> None:
        if self.rows or self.path.exists():
            write_atomic(self.path, self._text.getvalue().encode())


def derived_sinks(out_dir: Path, csv_chunk_size: int = 200) -> MultiSink:
    return MultiSink([SeedCsvSink(out_dir, csv_chunk_size), OcrCsvSink(out_dir / OCR_CSV_FILE),
                      VideoTracks(out_dir, then=ParquetSink(out_dir / PARQUET_FILE))])


def write_derived_outputs(ledger: Ledger, sinks: Sink | None = None) -> int:
    """Feed the ledger's current results to `sinks` (default: `derived_sinks` of the ledger's
    folder) in one pass and close them. Returns how many results (item lines) there were."""
    sinks = sinks if sinks is not None else derived_sinks(ledger.path.parent)
    count = 0
    for result in ledger.current():
        count += 1
        sinks(result)
    sinks.close()
    return count
