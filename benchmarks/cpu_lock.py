"""One lock for CPU-heavy work on a shared machine: a benchmark holds it per run, so other work
(a test run, another benchmark) goes between its runs, never beside one."""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path


@contextlib.contextmanager
def held(lock: Path | None):
    """Hold `lock` (flock(2), as the `flock` command takes it); no lock: nothing to hold."""
    if lock is None:
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
