"""Writing the features' tables: Parquet and CSV by DuckDB's COPY, each file written beside
its final name and renamed into place, so a reader never sees half a file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from creativelens.errors import OutputNotWritable
from creativelens.features.frames import sql_text


def prepare_out(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_probe"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise OutputNotWritable(f"--out {out}: cannot write there ({error.strerror or error})") from None
    return out


def write_table(con, table: str, out: Path, stem: str, csv_only: bool = False) -> list[str]:
    """`out/stem.parquet` and `out/stem.csv` from `table`; their paths."""
    written = []
    for suffix, options in (("parquet", "FORMAT PARQUET"), ("csv", "FORMAT CSV, HEADER")):
        if csv_only and suffix == "parquet":
            continue
        final = out / f"{stem}.{suffix}"
        partial = out / f".{stem}.{suffix}.partial"
        con.execute(f"COPY {table} TO {sql_text(str(partial))} ({options})")
        os.replace(partial, final)
        written.append(str(final))
    return written


def write_json(path: Path, value) -> str:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(value, indent=2, default=str) + "\n")
    os.replace(partial, path)
    return str(path)
