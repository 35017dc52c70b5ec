"""The Spark job: creatives → tasks → the client's pipeline against many Triton endpoints →
rows committed by Spark, in commits of `commit_every` creatives; resumable by anti-join.

    summary = run_spark_job(["ads/", "spots/*.mp4"], "results/", SparkJob(servers=("gpu1:8001", "gpu2:8001")),
                            RunSettings(every=5))

How each item is analysed is the run's `RunSettings`, the same type `creativelens stream`
takes (and records in `OUT/run.json`, checked on every re-run as stream checks its folder);
`SparkJob` says only how the work is spread and written.
"""

from __future__ import annotations

import datetime
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from creativelens.client.endpoints import DEFAULT_ENDPOINT
from creativelens.client.settings import RunSettings
from creativelens.errors import UserError


@dataclass(frozen=True)
class SparkJob:
    servers: tuple[str, ...] = (DEFAULT_ENDPOINT,)
    csv: bool = False  # also the published pipeline's CSV columns under OUT/csv
    master: str | None = "local[2]"  # None: the master spark-submit (or an active session) set
    creatives_per_task: int = 20
    commit_every: int = 2000

    def __post_init__(self) -> None:
        for flag, value in (("--creatives-per-task", self.creatives_per_task), ("--commit-every", self.commit_every)):
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{flag} must be a whole number, at least 1 (got {value!r})")


@dataclass
class JobSummary:
    out: str
    models: dict = field(default_factory=dict)  # name -> version
    random_weights: bool = False
    servers: tuple = ()
    creatives: int = 0
    commits: int = 0
    tasks: int = 0
    rows_before: int = 0
    rows_written: int = 0  # (item, model) rows this run committed (bad inputs: one row, no model)
    error_rows: int = 0  # of those, rows with an error (bad input, or a server error)
    rows_total: int = 0
    duplicate_keys: int = 0  # keys present more than once in the whole output: 0, always
    wall_s: float = 0.0
    rows_per_s: float = 0.0

    def to_dict(self) -> dict:
        return dict(self.__dict__, servers=list(self.servers))

    def lines(self) -> list[str]:
        return [
            f"spark job complete: {self.creatives} creatives in {self.commits} commits ({self.tasks} tasks)",
            f"  {self.rows_written} rows written ({self.error_rows} errors), {self.rows_before} were already "
            f"there; {self.rows_total} rows in {self.out}, {self.duplicate_keys} keys twice",
            f"  {self.wall_s:.1f} s = {self.rows_per_s:.2f} rows/s; models "
            + ", ".join(f"{name} ({version})" for name, version in self.models.items()),
        ]


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def run_spark_job(inputs: Iterable[str], out: str, job: SparkJob | None = None, settings: RunSettings | None = None,
                  *, log: Callable[[str], None] = _to_stderr, partition_function=None, spark=None) -> JobSummary:
    """Analyse every creative of `inputs` into `out` (resumable). `partition_function` replaces
    `partition.analyse_creatives` (tests inject faults through it); `spark` an existing session."""
    from creativelens.client.recorded_settings import RUN_FILE, merged_settings
    from creativelens.client.served_models import fetch_from_endpoints, random_weights_banner
    from creativelens.spark import output
    from creativelens.spark.creatives import creatives_frame, list_inputs
    from creativelens.spark.java import require_java
    from creativelens.spark.partition import TaskPlan, analyse_creatives
    from creativelens.spark.session import spark_session

    job, settings = job or SparkJob(), settings or RunSettings()
    require_java()
    models = fetch_from_endpoints(job.servers, settings.models or settings.rules.models,
                                  client_kwargs=settings.client_kwargs, log=log)
    summary = JobSummary(out=out, models={model.name: model.version for model in models},
                         random_weights=any(model.metadata.random_weights for model in models),
                         servers=job.servers)
    banner = random_weights_banner(models)
    if banner:
        log(banner)
    plan = TaskPlan(servers=tuple(job.servers), models=tuple(models), settings=settings, seed_csv=job.csv)
    spark = spark or spark_session(job.master)
    run_file = output.join_path(out, RUN_FILE)
    recorded = output.read_text(spark, run_file)
    output.write_text(spark, run_file, json.dumps(merged_settings(
        json.loads(recorded) if recorded else {}, settings.recorded(),
        {model.name: {"version": model.version, "thresholds": model.metadata.thresholds} for model in models},
        out), indent=2) + "\n")
    started = time.monotonic()
    entries = list_inputs(spark, list(inputs))
    summary.creatives = len(entries)
    before = output.output_counts(spark, out)
    summary.rows_before = before["rows"]
    existing = output.existing_results(spark, out)
    done = None if existing is None else output.done_items(existing, list(summary.models.items()))
    if existing is not None:
        log(f"resuming: {before['rows']} rows already in {out}")
    run_date = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    task = _task(partition_function or analyse_creatives, plan)
    result_schema = output.result_schema(job.csv)
    for start in range(0, len(entries), job.commit_every):
        wave = entries[start:start + job.commit_every]
        tasks = max(spark.sparkContext.defaultParallelism, math.ceil(len(wave) / job.creatives_per_task))
        tasks = min(tasks, len(wave))
        creatives = creatives_frame(spark, wave, tasks)
        if done is not None:
            creatives = creatives.join(done, "source", "left")
        else:
            from pyspark.sql import functions as F

            creatives = creatives.withColumn("done", F.lit(None).cast("array<string>"))
        results = creatives.repartition(tasks).mapInArrow(task, result_schema)
        if existing is not None:
            results = output.without_existing(results, existing)
        output.write_results(results, out, run_date, job.csv)
        summary.commits += 1
        summary.tasks += tasks
        log(f"committed {start + len(wave)}/{len(entries)} creatives")
    after = output.output_counts(spark, out)
    summary.wall_s = round(time.monotonic() - started, 3)
    summary.rows_total = after["rows"]
    summary.rows_written = after["rows"] - before["rows"]
    summary.error_rows = after["error_rows"] - before["error_rows"]
    summary.duplicate_keys = after["duplicate_keys"]
    summary.rows_per_s = round(summary.rows_written / summary.wall_s, 3) if summary.wall_s else 0.0
    return summary


def _task(partition_function, plan):
    """The function Spark runs on each partition: Arrow batches of creatives in, of rows out."""
    from creativelens.spark.output import arrow_schema

    def run(batches):
        import pyarrow as pa

        from creativelens.spark.partition import Creative

        schema = arrow_schema(plan.seed_csv)
        creatives = (Creative(row["source"], row["error"], row["content"], frozenset(row["done"] or ()))
                     for batch in batches for row in batch.to_pylist())
        for rows in partition_function(creatives, plan):
            yield pa.RecordBatch.from_pylist(rows, schema=schema)

    return run
