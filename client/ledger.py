"""The resume ledger: `detections.jsonl` itself says which (item, model, version) are finished.

Each line is one item's `ItemResult` record (every model that ran on it in that run), appended
with a single `write` once all its models answered (`Ledger.append`, the run's live sink). A process killed at any moment (SIGKILL
included) leaves at most one partial last line; opening the ledger cuts it off, so a result
is either recorded whole (and skipped by the next run) or not at all (and done again): none
lost, none twice. A later run may add lines for the same item: a model added to the brand, a
model whose version changed, OCR that failed transiently. The current result of (item, model)
is its last line; the derived outputs (CSV, Parquet, OCR CSV, tracks) read `current()`.

An item whose input is bad (error record) is finished for every model. A line that is not a
record (damaged by hand) is reported with its line number and its item done again.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from creativelens.detections import Detections
from creativelens.errors import OutputNotWritable, UserError
from creativelens.formats import from_record, to_record
from creativelens.item_result import ItemResult

RESULTS_FILE = "detections.jsonl"
LOCK_FILE = ".lock"


@dataclass
class _Done:
    versions: dict[str, str] = field(default_factory=dict)  # model -> version of its current result
    bad_input: bool = False
    ocr_done: bool = False
    reused: bool = False  # its latest record took another frame's detections (reused_from)


class Ledger:
    """What `<out>/detections.jsonl` holds, after repairing its tail; `append` adds results
    (fsynced at most every `sync_every_s`, and on `close`)."""

    def __init__(self, out_dir: str | Path, sync_every_s: float = 2.0) -> None:
        self.path = Path(out_dir) / RESULTS_FILE
        self._fd = -1
        self._size = 0
        self._sync_every_s = sync_every_s
        self._synced_at = time.monotonic()
        self._done: dict[str, _Done] = {}
        self._current: dict[tuple[str, str], int] = {}  # (key, model) -> line of its current result
        self._current_ocr: dict[str, int] = {}
        self._offsets = array("q")  # byte offset of each line (line numbers count from 1)
        self.records = 0
        self.errors = 0
        self.bad_lines: list[tuple[int, str]] = []  # (line number, what is wrong)
        self.repaired_bytes = 0
        if self.path.exists():
            self.repaired_bytes = _cut_partial_last_line(self.path)
            for number, result in self._results(report=True):
                self._note(number, result)

    def append(self, result: ItemResult) -> None:
        """Record `result` as the next line (one write: a crash leaves it whole or cut off)."""
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._size = os.fstat(self._fd).st_size
        line = (json.dumps(to_record(result), separators=(",", ":")) + "\n").encode()
        written = os.write(self._fd, line)
        if written != len(line):  # never seen on a local disk; finish the line rather than lose it
            os.write(self._fd, line[written:])
        self._offsets.append(self._size)
        self._size += len(line)
        self._note(len(self._offsets), result)
        if time.monotonic() - self._synced_at > self._sync_every_s:
            os.fsync(self._fd)
            self._synced_at = time.monotonic()

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def _note(self, number: int, result: ItemResult) -> None:
        done = self._done.setdefault(result.key, _Done())
        self.records += 1
        if result.error is not None:
            done.bad_input = True
            self.errors += 1
            self._current[(result.key, "")] = number
        for model in result.models:
            done.versions[model.model] = model.version
            self._current[(result.key, model.model)] = number
        if result.models:
            done.reused = result.reused_from is not None
        if result.ocr_finished:
            done.ocr_done = True
            self._current_ocr[result.key] = number
        elif result.ocr_transient:
            done.ocr_done = False

    def pending_models(self, key: str, wanted: Mapping[str, str]) -> list[str]:
        """Which of `wanted` (model -> version) still have to run on the item `key`."""
        done = self._done.get(key)
        if done is None:
            return list(wanted)
        if done.bad_input:
            return []
        return [model for model, version in wanted.items() if done.versions.get(model) != version]

    def needs_ocr(self, key: str) -> bool:
        done = self._done.get(key)
        return not (done and (done.bad_input or done.ocr_done))

    def is_finished(self, key: str, wanted: Mapping[str, str], ocr: bool) -> bool:
        return not self.pending_models(key, wanted) and not (ocr and self.needs_ocr(key))

    def inferred(self, key: str) -> bool:
        """Whether the item's current detections were inferred (not reused from another frame)."""
        done = self._done.get(key)
        return bool(done and done.versions and not done.bad_input and not done.reused)

    def result(self, key: str, models: Sequence[str]) -> ItemResult | None:
        """The item's current result for `models` (in that order), read back from its lines;
        None unless each of them has one. Its OCR and marks are those of the first model's line."""
        lines = [self._current.get((key, model)) for model in models]
        if not lines or None in lines:
            return None
        with open(self.path, "rb") as handle:
            records = {}
            for number in dict.fromkeys(lines):
                handle.seek(self._offsets[number - 1])
                records[number] = from_record(json.loads(handle.readline()))
        first = records[lines[0]]
        return first.with_models(tuple(records[number].model(model) for model, number in zip(models, lines)))

    def keys(self) -> set[str]:
        return set(self._done)

    def current(self) -> Iterator[ItemResult]:
        """Every item's current results in file order, each (item, model) once: a line yields
        the models whose current result it holds (and its OCR, if it is the item's current OCR).
        One pass over the file."""
        for number, result in self._results():
            if result.error is not None:
                if self._current.get((result.key, "")) == number:
                    yield result
                continue
            models = tuple(m for m in result.models if self._current.get((result.key, m.model)) == number)
            current_ocr = self._current_ocr.get(result.key) == number
            if models or current_ocr:
                result = result.with_models(models)
                yield result if current_ocr else result.without_ocr()

    def awaiting_ocr(self) -> set[str]:
        """Items whose detections are recorded but whose text is not (OCR failed transiently)."""
        return {key for key, done in self._done.items() if done.versions and not done.bad_input and not done.ocr_done}

    def recorded(self, keys: set[str]) -> dict[str, ItemResult]:
        """The current results of these items, each merged over its lines (one pass)."""
        merged: dict[str, ItemResult] = {}
        for result in self.current():
            if result.key in keys:
                earlier = merged.get(result.key)
                merged[result.key] = result if earlier is None else earlier.with_models(earlier.models + result.models)
        return merged

    def _results(self, report: bool = False) -> Iterator[tuple[int, ItemResult]]:
        """(line number, result) of every line that is a record, streamed; others are reported."""
        if not self.path.exists():
            return
        offset = 0
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                if report:
                    self._offsets.append(offset)
                offset += len(raw)
                line = raw.strip()
                if not line:
                    continue
                try:
                    yield number, from_record(json.loads(line))
                except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as error:
                    if report:
                        self.bad_lines.append((number, str(error)[:200]))


def lock_results(out_dir: str | Path) -> int:
    """Hold `<out>/.lock` (released when the process exits, however it exits): two runs
    appending to one ledger would do items twice. Returns the descriptor to close when done."""
    try:
        fd = os.open(Path(out_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise OutputNotWritable(f"cannot write to the results folder {out_dir}: {error.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UserError(f"another run is writing to {out_dir}: wait for it, or choose another --out") from None
    return fd


def _cut_partial_last_line(path: Path) -> int:
    """Truncate after the last newline; returns how many bytes were cut."""
    size = path.stat().st_size
    with open(path, "rb+") as handle:
        position = size
        block = 1 << 16
        while position > 0:
            start = max(0, position - block)
            handle.seek(start)
            chunk = handle.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            position = start
        else:
            keep = 0
        if keep < size:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
    return size - keep


def read_detections(out_dir: str | Path, model: str) -> dict[str, Detections]:
    """The current detections of one model in a results folder, by item key."""
    return {result.key: found.detections for result in Ledger(out_dir).current()
            if (found := result.model(model)) is not None and found.error is None}
