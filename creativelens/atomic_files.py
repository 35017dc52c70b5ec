"""Files written whole or not at all: a temporary name in the same folder, fsync, rename.

After a crash at any moment a reader finds the old file or the new one, never half of one;
every derived output of a results folder (CSV chunks, Parquet, tracks, run.json,
summary.json) is written this way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_json_atomic(path: Path, value) -> None:
    write_atomic(path, (json.dumps(value, indent=2) + "\n").encode())
