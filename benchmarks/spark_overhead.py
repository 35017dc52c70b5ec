"""Spark's overhead per item, and a replica killed mid-job (issue 13), on this machine.

    flock /work/coord/cpu.lock .venv/bin/python -m creativelens.benchmarks.spark_overhead REPOSITORY

Two tritonserver replicas (the CPU configs of REPOSITORY's one model, e.g. an export with
--random-weights --canvas 320x320,...) serve the sample media (stills + every Nth frame of
vtest.avi). In one run: `creativelens stream` against replica A; the Spark job (local[2])
against replica A alone (same media, model, server: the difference is Spark's overhead); the
Spark job against A and B with B killed mid-job (the output is then counted: every key once).
Results: benchmarks/results/spark_<machine>.{json,md}, with other processes' CPU while timed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

from creativelens.benchmarks.process_cpu import machine_busy_cpu_seconds, tree_cpu_seconds
from creativelens.machine import describe_machine, machine_slug

RESULTS = Path(__file__).parent / "results"


class Phase:
    def __enter__(self):
        self.wall, self.busy, self.ours = time.monotonic(), machine_busy_cpu_seconds(), tree_cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.wall_s = time.monotonic() - self.wall
        ours = tree_cpu_seconds() - self.ours
        self.other_cores = max(0.0, (machine_busy_cpu_seconds() - self.busy) - ours) / self.wall_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("repository", type=Path)
    parser.add_argument("--every", type=int, default=40)
    args = parser.parse_args()

    import pyarrow.dataset as ds

    from creativelens.client.stream import StreamOptions, stream
    from creativelens.sample_media import sample_stills, sample_video
    from creativelens.serve.tritonserver import TritonServer
    from creativelens.spark import SparkJobOptions, run_spark_job
    from creativelens.spark.session import spark_session

    work = Path(tempfile.mkdtemp(prefix="spark-bench-"))
    media = [str(p) for p in sample_stills()] + [str(sample_video())]
    quiet = dict(log=lambda message: None)
    with TritonServer(args.repository, ready_timeout_s=300) as a, TritonServer(args.repository, ready_timeout_s=300) as b:
        model = next(iter(a.model_statistics()))
        started = time.monotonic()
        spark = spark_session("local[2]")
        session_s = time.monotonic() - started
        with Phase() as warm:  # the first job pays Python workers' start-up and imports
            run_spark_job(media[:1], str(work / "warm"), SparkJobOptions(servers=(a.grpc_url,), **quiet), spark=spark)
        with Phase() as streamed:
            summary = stream(media, a.grpc_url, work / "stream",
                             StreamOptions(models=(model,), every=args.every, progress=False, **quiet))
        stream_items = summary.items_done
        with Phase() as sparked:
            one = run_spark_job(media, str(work / "spark1"),
                                SparkJobOptions(servers=(a.grpc_url,), every=args.every, **quiet), spark=spark)

        killed_at = {}

        def kill_b() -> None:
            while True:
                stats = b.model_statistics(model).get(model)
                if stats and stats.inference_count >= 5:
                    killed_at["inferences_on_b"] = stats.inference_count
                    killed_at["after_s"] = round(time.monotonic() - kill_phase.wall, 2)
                    b._process.kill()
                    return
                time.sleep(0.2)

        with Phase() as kill_phase:
            killer = threading.Thread(target=kill_b, daemon=True)
            killer.start()
            two = run_spark_job(media, str(work / "spark2"),
                                SparkJobOptions(servers=(a.grpc_url, b.grpc_url), every=args.every,
                                                failover_after_s=5.0, **quiet), spark=spark)
        rows = ds.dataset(work / "spark2" / "detections", format="parquet", partitioning="hive").to_table()
        keys = list(zip(*(rows.column(c).to_pylist() for c in ("source", "frame_index", "model", "model_version"))))
        spark.stop()

    result = {
        "machine": describe_machine(),
        "random_weights": True,
        "model": model, "every": args.every, "media": media,
        "spark_session_start_s": round(session_s, 2),
        "spark_warmup_job_s": round(warm.wall_s, 2),
        "stream": {"items": stream_items, "wall_s": round(streamed.wall_s, 2),
                   "items_per_s": round(stream_items / streamed.wall_s, 3),
                   "other_processes_cores": round(streamed.other_cores, 2)},
        "spark_one_replica": {"rows": one.rows_written, "wall_s": round(sparked.wall_s, 2),
                              "items_per_s": round(one.rows_written / sparked.wall_s, 3),
                              "other_processes_cores": round(sparked.other_cores, 2)},
        "spark_overhead_per_item_s": round((sparked.wall_s - streamed.wall_s) / max(1, stream_items), 3),
        "replica_killed": {"rows": len(keys), "distinct_keys": len(set(keys)), "expected": stream_items,
                           "duplicate_keys": two.duplicate_keys, "error_rows": two.error_rows,
                           "wall_s": round(kill_phase.wall_s, 2), "killed": killed_at,
                           "other_processes_cores": round(kill_phase.other_cores, 2)},
    }
    RESULTS.mkdir(exist_ok=True)
    slug = machine_slug(result["machine"])
    (RESULTS / f"spark_{slug}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"spark_{slug}.md").write_text(report(result))
    print(report(result))
    shutil.rmtree(work, ignore_errors=True)


def report(r: dict) -> str:
    s, o, k = r["stream"], r["spark_one_replica"], r["replica_killed"]
    return f"""# Spark job vs `creativelens stream` ({r['machine'].get('cpu_model', '')}, {r['machine'].get('cpu_count', '?')} cores)

**RANDOM WEIGHTS** ({r['model']}): speed and plumbing only. Media: sample stills + vtest.avi every {r['every']}th frame.

| run | items | wall s | items/s | other processes (cores) |
|---|---|---|---|---|
| `creativelens stream`, replica A | {s['items']} | {s['wall_s']} | {s['items_per_s']} | {s['other_processes_cores']} |
| Spark local[2], replica A | {o['rows']} | {o['wall_s']} | {o['items_per_s']} | {o['other_processes_cores']} |
| Spark local[2], A + B, B killed after {k['killed'].get('after_s')} s | {k['rows']} | {k['wall_s']} | {round(k['rows'] / k['wall_s'], 3)} | {k['other_processes_cores']} |

Spark overhead per item (same server, same media): {r['spark_overhead_per_item_s']} s
(plus {r['spark_session_start_s']} s to start the session and {r['spark_warmup_job_s']} s for the first, one-item job).

Replica killed mid-job: {k['rows']} rows, {k['distinct_keys']} distinct keys of {k['expected']} expected,
{k['duplicate_keys']} keys twice, {k['error_rows']} error rows.
"""


if __name__ == "__main__":
    main()
