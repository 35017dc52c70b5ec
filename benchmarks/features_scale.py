"""`creativelens features` at scale (issue 23): about a million frame rows, synthesised by
repeating the rows of a real results folder (each copy a new set of creatives, the same
frames, boxes and OCR text), with their tracks; the features table and the impressions join
are timed over them in one DuckDB process.

    flock /tmp/cpu.lock .venv/bin/python -m creativelens.benchmarks.features_scale --from build/features-demo/results

Shot detection is not in the row-scaling measurement (the copies name video files that do
not exist; PySceneDetect decodes each video once, whatever its rows): it is timed on the
source folder's own videos. Writes benchmarks/results/features_scale_<machine>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def synthesise(source: Path, out: Path, target_rows: int) -> dict:
    """`out` as a stream results folder of about `target_rows` rows: copies of `source`'s rows."""
    import duckdb

    from creativelens.client.screen_time import TRACKS_PARQUET
    from creativelens.client.sinks import PARQUET_FILE

    con = duckdb.connect()
    rows = con.execute("SELECT count(*) FROM read_parquet(?)", [str(source / PARQUET_FILE)]).fetchone()[0]
    copies = max(1, round(target_rows / rows))
    out.mkdir(parents=True, exist_ok=True)
    for name, column in ((PARQUET_FILE, "source"), (TRACKS_PARQUET, "video")):
        if (source / name).is_file():
            con.execute(f"""COPY (SELECT r.* REPLACE ('/copy' || c.i || '/' || parse_filename(r.{column}) AS {column})
                                 FROM read_parquet('{source / name}') r, range({copies}) c(i))
                            TO '{out / name}' (FORMAT PARQUET)""")
    return {"source_rows": rows, "copies": copies, "rows": rows * copies}


def synthetic_impressions(con, path: Path, days: int) -> int:
    """A synthetic impressions CSV: every creative on `days` days, made-up numbers."""
    con.execute(f"""COPY (SELECT creative AS creative_id, DATE '2026-01-01' + d.i::INTEGER AS date,
                                 (hash(creative, d.i) % 10000)::BIGINT AS impressions
                          FROM features, range({days}) d(i) WHERE format IS NOT NULL)
                    TO '{path}' (FORMAT CSV, HEADER)""")
    return con.execute(f"SELECT count(*) FROM read_csv('{path}')").fetchone()[0]


def time_features(folder: Path, work: Path, days: int) -> dict:
    """Seconds for the features table (read, compute, write) and for the impressions join."""
    import duckdb

    from creativelens.features import Brand, Thresholds
    from creativelens.features.run import run_features

    con = duckdb.connect()
    brand = Brand(names=("CreativeLens", "Coffee"))
    start = time.perf_counter()
    summary = run_features([folder], work / "features", brand, Thresholds(), shots=False, con=con)
    features_s = time.perf_counter() - start
    impressions = work / "impressions.csv"
    lines = synthetic_impressions(con, impressions, days)
    start = time.perf_counter()
    joined = run_features([folder], work / "joined", brand, Thresholds(), impressions=impressions, shots=False,
                          con=duckdb.connect())
    join_s = time.perf_counter() - start
    return {"features_s": round(features_s, 2), "creatives": summary["creatives"], "by_format": summary["by_format"],
            "feature_columns": len(con.sql("SELECT * FROM features LIMIT 0").columns),
            "features_and_impressions_s": round(join_s, 2), "impression_lines": lines,
            "modelling_long_rows": con_rows(work / "joined" / "modelling_long.parquet"),
            "matched_creatives": joined["impressions"]["matched_creatives"]}


def con_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def time_shots(source: Path) -> list[dict]:
    """PySceneDetect over each video of the source folder: seconds and shots."""
    import duckdb

    from creativelens.client.sinks import PARQUET_FILE
    from creativelens.features.shots import detect_shots
    from creativelens.features.thresholds import Thresholds

    videos = [r[0] for r in duckdb.connect().execute(
        "SELECT DISTINCT source FROM read_parquet(?) WHERE frame_index IS NOT NULL", [str(source / PARQUET_FILE)]).fetchall()]
    timed = []
    for video in videos:
        start = time.perf_counter()
        shots = detect_shots(video, Thresholds())
        timed.append({"video": video, "seconds": round(time.perf_counter() - start, 2), "duration_s": shots.duration_s,
                      "shots": len(shots.starts), "warning": shots.warning})
    return timed


def write_results(record: dict) -> Path:
    from creativelens.machine import machine_slug

    slug = machine_slug(record["machine"])
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"features_scale_{slug}.json").write_text(json.dumps(record, indent=2) + "\n")
    path = RESULTS_DIR / f"features_scale_{slug}.md"
    path.write_text(markdown(record))
    return path


def markdown(r: dict) -> str:
    m, t = r["machine"], r["timing"]
    shots = "\n".join(f"| {Path(s['video']).name} | {s['duration_s']} | {s['shots']} | {s['seconds']} |" for s in r["shots"])
    return f"""# `creativelens features` at scale

Machine: {m['cpu_model']}, {m['cpu_cores_usable']} usable cores, {m['memory_gib']} GiB; load at start
{m['load_average_at_start']}; DuckDB {r['duckdb']}; commit {m['git_commit']}. Run under `flock /tmp/cpu.lock`.

Rows: {r['synthesis']['source_rows']} real rows of `{r['source']}` (a `creativelens stream` results
folder) repeated {r['synthesis']['copies']} times, each copy new creatives: **{r['synthesis']['rows']:,} rows**
(one per item and model), {t['creatives']:,} creatives ({t['by_format']}), {t['feature_columns']} columns.

| step | seconds |
|---|---|
| features table (read, compute, write Parquet + CSV), shots off | **{t['features_s']}** |
| the same + a synthetic impressions file of {t['impression_lines']:,} lines (checked line by line, long + wide tables, {t['modelling_long_rows']:,} long rows) | {t['features_and_impressions_s']} |

Peak memory of the process: {r['peak_rss_mib']} MiB.

Shots (PySceneDetect over every frame of the source's videos; per video, not per row):

| video | duration s | shots | seconds |
|---|---|---|---|
{shots}
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, required=True, help="a stream results folder (real rows)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7, help="days of synthetic impressions per creative")
    args = parser.parse_args(argv)
    import duckdb

    from creativelens.machine import describe_machine

    machine = describe_machine()
    with tempfile.TemporaryDirectory(prefix="features_scale_") as work:
        folder = Path(work) / "results"
        synthesis = synthesise(args.source, folder, args.rows)
        timing = time_features(folder, Path(work), args.days)
    record = {"machine": machine, "duckdb": duckdb.__version__, "source": str(args.source), "synthesis": synthesis,
              "timing": timing, "shots": time_shots(args.source),
              "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(write_results(record).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
