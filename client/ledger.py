"""The resume ledger: `detections.jsonl` itself says which items are finished.

Each finished item (success or bad-input error) is one JSON line, appended with a single
`write` after its result is known. A process killed at any moment (SIGKILL included) leaves
at most one partial last line; opening the ledger cuts it off, so an item is either recorded
whole (and skipped by the next run) or not at all (and done again): none lost, none twice.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Iterator

from creativelens.errors import UserError
from creativelens.formats import item_name

RESULTS_FILE = "detections.jsonl"
LOCK_FILE = ".lock"


def record_key(record: dict) -> str:
    return item_name(record.get("source", ""), record.get("frame_index"))


class Ledger:
    """Keys of the items already in `<out>/detections.jsonl`, after repairing its tail."""

    def __init__(self, out_dir: str | Path) -> None:
        self.path = Path(out_dir) / RESULTS_FILE
        self.done: set[str] = set()
        self.records = 0
        self.errors = 0
        self.repaired_bytes = 0
        if self.path.exists():
            self.repaired_bytes = _cut_partial_last_line(self.path)
            for record in self.iter_records():
                self.done.add(record_key(record))
                self.records += 1
                self.errors += record.get("error") is not None

    def is_done(self, key: str) -> bool:
        return key in self.done

    def iter_records(self) -> Iterator[dict]:
        """Every complete record in file order, streamed (memory independent of file size)."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if line:
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line damaged by hand; its item is done again


def lock_results(out_dir: str | Path) -> int:
    """Hold `<out>/.lock` (released when the process exits, however it exits): two runs
    appending to one ledger would do items twice. Returns the descriptor to close when done."""
    fd = os.open(Path(out_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
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
