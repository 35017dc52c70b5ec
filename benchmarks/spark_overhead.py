"""Spark's overhead per item, and a replica killed mid-job (issue 13), on this machine.

    .venv/bin/python -m creativelens.benchmarks.spark_overhead REPOSITORY [--every 10] [--rounds 2]

Two tritonserver replicas (the CPU config of REPOSITORY's one model: the trained synthetic-brand
export, or an export with --random-weights at a small canvas) serve the sample media (stills +
every Nth frame of vtest.avi). In one run, in rounds that alternate their order (drift in the
machine's load falls on both): `creativelens stream` against replica A, and the Spark job
(local[2], two tasks) against replica A alone, with the same requests in flight (stream's CPU
default, 2; the Spark task holding the video keeps 2 in flight as well) — the difference is
Spark's overhead. Then the Spark job against A and B with B SIGKILLed mid-job, its output
counted key by key. Spark's rows are compared with stream's (same keys, same detections).
Results: benchmarks/results/spark_<machine>.{json,md}, with other processes' CPU while timed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from creativelens.benchmarks.process_cpu import machine_busy_cpu_seconds, tree_cpu_seconds
from creativelens.machine import describe_machine, machine_slug

RESULTS = Path(__file__).parent / "results"
IN_FLIGHT = 2  # stream's default against a CPU server, and each Spark task's per endpoint


class Phase:
    def __enter__(self):
        self.wall, self.busy, self.ours = time.monotonic(), machine_busy_cpu_seconds(), tree_cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.wall_s = time.monotonic() - self.wall
        self.cpu_s = tree_cpu_seconds() - self.ours
        self.other_cores = max(0.0, (machine_busy_cpu_seconds() - self.busy) - self.cpu_s) / self.wall_s

    def record(self, items: int) -> dict:
        return {"items": items, "wall_s": round(self.wall_s, 2), "items_per_s": round(items / self.wall_s, 3),
                "cpu_s_per_item": round(self.cpu_s / max(1, items), 3),
                "other_processes_cores": round(self.other_cores, 2)}


def detections_by_key(rows) -> dict:
    """(source, frame_index, model, model_version) -> the row's size and rounded detections."""
    return {(r["source"], r["frame_index"], r["model"], r["model_version"]):
            (r["width"], r["height"], r["error"],
             sorted((d["class_id"], d["label"], round(d["score"], 4), tuple(round(v, 1) for v in d["box"]))
                    for d in r["detections"] or ()))
            for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repository", type=Path)
    parser.add_argument("--every", type=int, default=10, help="every Nth frame of vtest.avi (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="stream/Spark pairs, order alternating")
    parser.add_argument("--conditions", default="", help="what else ran on the machine (reported)")
    args = parser.parse_args()

    import pyarrow.dataset as ds

    from creativelens.client.settings import RunSettings
    from creativelens.client.stream import stream
    from creativelens.sample_media import sample_stills, sample_video
    from creativelens.serve.tritonserver import TritonServer
    from creativelens.spark import SparkJob, run_spark_job
    from creativelens.spark.session import spark_session

    work = Path(tempfile.mkdtemp(prefix="spark-bench-"))
    media = [str(p) for p in sample_stills()] + [str(sample_video())]
    quiet = dict(log=lambda message: None)

    def spark_rows(out: Path) -> list[dict]:
        return ds.dataset(out / "detections", format="parquet", partitioning="hive").to_table().to_pylist()

    with TritonServer(args.repository, ready_timeout_s=300) as a, TritonServer(args.repository, ready_timeout_s=300) as b:
        model = next(iter(a.model_statistics()))
        started = time.monotonic()
        spark = spark_session("local[2]")
        session_s = time.monotonic() - started
        with Phase() as warm:  # the first job pays Python workers' start-up and imports
            run_spark_job(media[:1], str(work / "warm"), SparkJob(servers=(a.grpc_url,)), RunSettings(), **quiet,
                          spark=spark)

        def run_stream(index: int) -> dict:
            with Phase() as phase:
                summary = stream(media, a.grpc_url, work / f"stream{index}",
                                 RunSettings(models=(model,), every=args.every, max_in_flight=IN_FLIGHT), **quiet)
            return dict(phase.record(summary.items_done), reused=summary.reused,
                        random_weights=summary.random_weights, version=summary.models[model].version)

        def run_spark(index: int) -> dict:
            with Phase() as phase:
                job = run_spark_job(media, str(work / f"spark{index}"),
                                    SparkJob(servers=(a.grpc_url,)),
                                    RunSettings(every=args.every, max_in_flight=IN_FLIGHT), **quiet, spark=spark)
            return dict(phase.record(job.rows_written), tasks=job.tasks, duplicate_keys=job.duplicate_keys)

        rounds = []
        for index in range(args.rounds):
            first, second = (run_stream, run_spark) if index % 2 == 0 else (run_spark, run_stream)
            done = {first.__name__: first(index), second.__name__: second(index)}
            rounds.append({"order": [first.__name__[4:], second.__name__[4:]],
                           "stream": done["run_stream"], "spark": done["run_spark"]})

        streamed = detections_by_key(ds.dataset(work / "stream0" / "detections.parquet").to_table().to_pylist())
        sparked = detections_by_key(spark_rows(work / "spark0"))
        differing = sorted(str(key) for key in set(streamed) | set(sparked) if streamed.get(key) != sparked.get(key))

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
            two = run_spark_job(media, str(work / "spark-killed"),
                                SparkJob(servers=(a.grpc_url, b.grpc_url)),
                                RunSettings(every=args.every, failover_after_s=5.0), **quiet, spark=spark)
        killed_rows = spark_rows(work / "spark-killed")
        keys = [(r["source"], r["frame_index"], r["model"], r["model_version"]) for r in killed_rows]
        spark.stop()

    overheads = [(r["spark"]["wall_s"] - r["stream"]["wall_s"]) / max(1, r["stream"]["items"]) for r in rounds]
    result = {
        "machine": describe_machine(),
        "conditions": args.conditions,
        "model": model, "model_version": rounds[0]["stream"]["version"],
        "random_weights": rounds[0]["stream"]["random_weights"],
        "every": args.every, "in_flight": IN_FLIGHT, "media": media,
        "spark_session_start_s": round(session_s, 2),
        "spark_warmup_job_s": round(warm.wall_s, 2),
        "rounds": rounds,
        "spark_overhead_per_item_s": [round(value, 3) for value in overheads],
        "spark_overhead_per_item_s_mean": round(statistics.mean(overheads), 3),
        "spark_vs_stream": {"keys_stream": len(streamed), "keys_spark": len(sparked),
                            "keys_differing": len(differing), "examples": differing[:5]},
        "replica_killed": {"rows": len(keys), "distinct_keys": len(set(keys)), "expected": len(streamed),
                           "duplicate_keys": two.duplicate_keys, "error_rows": two.error_rows,
                           "same_as_stream": detections_by_key(killed_rows) == streamed,
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
    machine, k, same = r["machine"], r["replica_killed"], r["spark_vs_stream"]
    weights = ("**RANDOM WEIGHTS**: detections are meaningless, speed and plumbing only" if r["random_weights"]
               else f"trained weights (version {r['model_version']})")
    lines = [f"# Spark job vs `creativelens stream` ({machine['cpu_model']}, {machine['cpu_cores']} cores)", "",
             f"Model `{r['model']}`, {weights}. Media: {len(r['media']) - 1} sample stills + every {r['every']}th "
             f"frame of vtest.avi. One tritonserver replica (CPU config) for the timed runs, {r['in_flight']} "
             f"requests in flight (stream's CPU default; each Spark task's per endpoint). Commit "
             f"{machine['git_commit']}; conditions: {r['conditions'] or 'not stated'}.", "",
             "| round | run | items | wall s | items/s | CPU s/item (client + server) | other processes (cores) |",
             "|---|---|---|---|---|---|---|"]
    for index, one in enumerate(r["rounds"]):
        for name in one["order"]:
            run = one[name]
            label = "`creativelens stream`" if name == "stream" else f"Spark local[2] ({run['tasks']} tasks)"
            lines.append(f"| {index + 1} | {label} | {run['items']} | {run['wall_s']} | {run['items_per_s']} | "
                         f"{run['cpu_s_per_item']} | {run['other_processes_cores']} |")
    lines += [f"| - | Spark local[2], replicas A + B, B SIGKILLed after {k['killed'].get('after_s')} s | "
              f"{k['rows']} | {k['wall_s']} | {round(k['rows'] / k['wall_s'], 3)} | - | {k['other_processes_cores']} |",
              "",
              f"Spark's overhead per item (Spark wall - stream wall, over items), per round: "
              f"{', '.join(f'{v} s' for v in r['spark_overhead_per_item_s'])}; mean {r['spark_overhead_per_item_s_mean']} s. "
              f"Not counted there: {r['spark_session_start_s']} s to start the SparkSession (JVM) and "
              f"{r['spark_warmup_job_s']} s for its first, one-item job (Python workers, imports).", "",
              f"Spark's rows vs stream's: {same['keys_spark']} keys vs {same['keys_stream']}, "
              f"{same['keys_differing']} differing (same keys, sizes and detections: "
              f"{'yes' if same['keys_differing'] == 0 else 'NO: ' + ', '.join(same['examples'])}).", "",
              f"Replica killed mid-job (after {k['killed'].get('inferences_on_b')} inferences on it): {k['rows']} rows, "
              f"{k['distinct_keys']} distinct keys of {k['expected']} expected, {k['duplicate_keys']} keys twice, "
              f"{k['error_rows']} error rows; equal to stream's rows: {'yes' if k['same_as_stream'] else 'NO'}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
