"""`creativelens features` as one library call: results folders in, the features table (and
with impressions the modelling table) written to `out`, a summary returned and saved.

Files in `out`: `features.parquet`/`.csv` (one row per creative), `summary.json`; with
impressions: `impressions_checked.csv` (every line, its status), `modelling_long.parquet`/`.csv`,
`modelling_wide.parquet`/`.csv`, `modelling_columns.json` (which wide columns are which).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from creativelens.features.brand import Brand
from creativelens.features.impressions import check_impressions
from creativelens.features.modelling import build_modelling
from creativelens.features.output import prepare_out, write_json, write_table
from creativelens.features.table import build_features
from creativelens.features.thresholds import Thresholds


def run_features(folders, out: Path, brand: Brand, thresholds: Thresholds, impressions: Path | None = None,
                 shots: bool = True, con=None) -> dict:
    import duckdb

    con = con or duckdb.connect()
    out = prepare_out(Path(out))
    run = build_features(con, folders, brand, thresholds, shots)
    summary = {"folders": run.results.kinds, "rows": run.results.rows, "duplicate_keys": run.results.duplicate_keys,
               "creatives": run.creatives, "by_format": _by_format(con), "labels": run.label_keys,
               "thresholds": thresholds.as_dict(), "brand_names": list(brand.names),
               "warnings": _warnings(con), "outputs": write_table(con, "features", out, "features")}
    if impressions is not None:
        summary["impressions"] = _impressions(con, Path(impressions), out, thresholds, summary["outputs"])
    summary["outputs"].append(write_json(out / "summary.json", summary))
    return summary


def _by_format(con) -> dict:
    return {str(f): n for f, n in con.execute(
        "SELECT coalesce(format, 'bad input'), count(*) FROM features GROUP BY 1 ORDER BY 1").fetchall()}


def _warnings(con) -> list[str]:
    return [f"{creative}: {text}" for creative, text in con.execute(
        "SELECT creative, coalesce(error, warnings) FROM features WHERE error IS NOT NULL OR warnings IS NOT NULL "
        "ORDER BY creative").fetchall()]


def _impressions(con, path: Path, out: Path, thresholds: Thresholds, outputs: list) -> dict:
    check = check_impressions(con, path)
    flagged = build_modelling(con, check, thresholds)
    outputs += write_table(con, "impressions_checked", out, "impressions_checked", csv_only=True)
    outputs += write_table(con, "modelling_long", out, "modelling_long")
    outputs += write_table(con, "modelling_wide", out, "modelling_wide")
    columns = _wide_columns(con, check.dimensions, flagged)
    outputs.append(write_json(out / "modelling_columns.json", columns))
    return {**asdict(check), "flagged": flagged}


def _wide_columns(con, dimensions, flagged: list[str]) -> dict:
    names = [c for c in con.sql("SELECT * FROM modelling_wide LIMIT 0").columns if c not in ("date", *dimensions)]
    features = [c for c in names if c.endswith(("__with", "__without"))]
    return {"date": "date", "dimensions": list(dimensions),
            "totals": [c for c in names if c.endswith("__impressions")],
            "features": [c for c in features if c.rsplit("__", 1)[0] not in flagged],
            "flagged_under_min_share": [c for c in features if c.rsplit("__", 1)[0] in flagged]}
