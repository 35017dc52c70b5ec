"""Results folders of `creativelens stream` and `creativelens spark` as DuckDB views.

Both write rows of `formats.parquet_schema()`: stream one `detections.parquet`, Spark a Hive
layout `detections/detector=*/run_date=*/` (the rows carry their own `model`; a box is a plain
list there). Both are read by the same engine into one view, `items`: one row
per (item, model), the latest when a key is present more than once (a later folder on the
command line, or a later Spark run date). Stream's `tracks.parquet` becomes the view `tracks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from creativelens.client.screen_time import TRACKS_PARQUET
from creativelens.client.sinks import PARQUET_FILE
from creativelens.errors import UserError
from creativelens.formats import parquet_schema, tracks_schema
from creativelens.spark.output import DETECTIONS_DIR

SPARK_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
DETECTION_TYPE = "STRUCT(class_id INTEGER, label VARCHAR, score FLOAT, box FLOAT[], track_id BIGINT)[]"


@dataclass
class Results:
    """What was read: each folder's kind, the rows, and the keys given more than once."""
    kinds: dict[str, str] = field(default_factory=dict)  # folder -> "stream" | "spark"
    rows: int = 0
    duplicate_keys: int = 0
    tracked_folders: int = 0


def results_kind(folder: Path) -> str:
    if (folder / PARQUET_FILE).is_file():
        return "stream"
    if (folder / DETECTIONS_DIR).is_dir():
        return "spark"
    raise UserError(f"{folder}: not a results folder (no {PARQUET_FILE} of stream, no {DETECTIONS_DIR}/ of spark)")


def register_results(con, folders) -> Results:
    """Views `items` (current rows, every folder) and `tracks` over `folders`."""
    import duckdb

    try:
        return _register(con, folders)
    except duckdb.Error as error:  # a damaged or foreign Parquet file: DuckDB names it
        raise UserError(f"cannot read the results: {str(error).splitlines()[0]}") from None


def _register(con, folders) -> Results:
    results = Results()
    selects, tracks = [], []
    for index, folder in enumerate(Path(f) for f in folders):
        kind = results_kind(folder)
        results.kinds[str(folder)] = kind
        selects.append(_register_folder(con, folder, kind, index))
        if kind == "stream" and (folder / TRACKS_PARQUET).is_file():
            con.read_parquet(str(folder / TRACKS_PARQUET)).create_view(f"tracks_{index}")
            tracks.append(f"SELECT * FROM tracks_{index}")
    con.execute("CREATE OR REPLACE VIEW all_rows AS " + " UNION ALL ".join(selects))
    con.execute("""CREATE OR REPLACE TABLE items AS SELECT * EXCLUDE (folder_index, run_date) FROM all_rows
                   QUALIFY row_number() OVER (PARTITION BY source, frame_index, model
                                              ORDER BY folder_index DESC, run_date DESC NULLS LAST) = 1""")
    results.rows, keys = con.execute("SELECT (SELECT count(*) FROM all_rows), count(*) FROM items").fetchone()
    results.duplicate_keys = results.rows - keys
    results.tracked_folders = len(tracks)
    _register_tracks(con, tracks)
    return results


def _register_folder(con, folder: Path, kind: str, index: int) -> str:
    columns = ", ".join(_column(name) for name in parquet_schema().names)
    if kind == "stream":
        con.read_parquet(str(folder / PARQUET_FILE)).create_view(f"rows_{index}")
        return f"SELECT {columns}, {index} AS folder_index, NULL::VARCHAR AS run_date FROM rows_{index}"
    files = sorted((folder / DETECTIONS_DIR).glob("*/*/*.parquet"))
    if not files:
        raise UserError(f"{folder}: {DETECTIONS_DIR}/ holds no committed Parquet file (a job that never finished?)")
    con.read_parquet([str(f) for f in files], hive_partitioning=True).create_view(f"rows_{index}")
    return f"SELECT {columns}, {index} AS folder_index, run_date::VARCHAR AS run_date FROM rows_{index}"


def _column(name: str) -> str:
    if name == "model":
        return f"nullif(model::VARCHAR, '{SPARK_NULL_PARTITION}') AS model"
    if name == "detections":
        return f"detections::{DETECTION_TYPE} AS detections"
    return name


def _register_tracks(con, views: list[str]) -> None:
    import pyarrow as pa

    con.register("no_tracks", pa.Table.from_pylist([], tracks_schema()))
    con.execute("CREATE OR REPLACE VIEW tracks AS " + " UNION ALL BY NAME ".join(["SELECT * FROM no_tracks", *views]))
