"""The creative-features table (`creativelens features`' FEATURES/*.parquet or *.csv, one row
per creative), read generically: whatever columns it has are shown, sortable in the browser.

It is read as a table, not through the features component's code, so the report follows
whatever columns that component writes. A row links to its creative when one of its columns
holds the creatives' paths (or file names): the column whose values match the most results.
"""

from __future__ import annotations

import math
from pathlib import Path

FOUND_AS = ("features", "../features")  # looked for beside the results when --features is not given
LINK_CANDIDATES = ("source", "creative", "video", "file_name", "path", "item")


def find_features(results: Path) -> Path | None:
    for name in FOUND_AS:
        folder = (results / name).resolve()
        if folder.is_dir() and _tables(folder):
            return folder
    return None


def _tables(folder: Path) -> list[Path]:
    parquet = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
    return parquet or sorted(p for p in folder.glob("*.csv") if not p.name.startswith("."))


def read_features(folder: Path, sources: list[str], problems: list[str]) -> dict | None:
    """{"tables": [{"name", "columns", "rows", "link_column"}]}; None when there is nothing."""
    if not folder.is_dir():
        problems.append(f"features: {folder} is not a folder")
        return None
    tables = []
    for path in _tables(folder):
        try:
            rows = _read(path)
        except Exception as error:  # a damaged or half-written table is one problem
            problems.append(f"features: {path.name} is unreadable ({str(error)[:120]})")
            continue
        columns = list(rows[0]) if rows else []
        tables.append({"name": path.name, "columns": columns, "rows": [[_cell(r.get(c)) for c in columns] for r in rows],
                       "link_column": _link_column(columns, rows, sources)})
    if not tables:
        problems.append(f"features: {folder} holds no readable *.parquet or *.csv table")
        return None
    return {"folder": str(folder), "tables": tables}


def _read(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _cell(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    return str(value)


def _link_column(columns: list[str], rows: list[dict], sources: list[str]) -> str | None:
    paths, names = set(sources), {Path(s).name for s in sources}
    best, best_hits = None, 0
    ordered = [c for c in LINK_CANDIDATES if c in columns] + [c for c in columns if c not in LINK_CANDIDATES]
    for column in ordered:
        values = [r.get(column) for r in rows[:500]]
        hits = sum(1 for v in values if isinstance(v, str) and (v in paths or Path(v).name in names))
        if hits > best_hits:
            best, best_hits = column, hits
    return best
