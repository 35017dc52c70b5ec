"""`creativelens spark INPUT... [--servers HOST:PORT[,HOST:PORT...]] --out PATH`: the labelling
job on Apache Spark (also the spark-submit entry point: `python -m creativelens.spark`)."""

from __future__ import annotations

import argparse
import sys


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "spark", help="run the labelling job on Apache Spark against one or many Triton servers",
        description="Detect objects in stills and every Nth video frame as a Spark job: the creatives "
                    "are split into tasks, each task decodes its creatives and calls the Triton servers "
                    "(spread over --servers, moving off one that fails), and the results are written "
                    "through Spark's commit protocol as Parquet under OUT/detections, partitioned by "
                    "detector (the model, or _bad_inputs) and run date. A re-run over the same --out skips the (item, model, model "
                    "version) keys already there. Exit code: 0 all done, 1 some inputs were errors.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run_spark)


def add_arguments(parser: argparse.ArgumentParser, *, master_default: str | None = "local[2]") -> None:
    from creativelens.client.settings import add_run_arguments

    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="files, folders, globs, text lists of paths, .csv/.parquet tables with a "
                             "'path' column; local paths or any URI Spark reads (hdfs://, s3a://, ...)")
    parser.add_argument("--out", required=True, help="results folder or URI (re-use it to resume)")
    # the TLS PEM files must exist at the same paths on every executor; a task's last endpoint
    # left gets --failover-after, then the task fails and Spark retries it (no --retry-for)
    add_run_arguments(parser, brand_file=False, waits=False)
    parser.add_argument("--csv", action="store_true",
                        help="also write the published pipeline's CSV columns under OUT/csv/model=*/run_date=*/")
    parser.add_argument("--master", default=master_default,
                        help="Spark master (default %(default)s; local[N] retries each task up to 4 "
                             "times, as a cluster does)")
    parser.add_argument("--creatives-per-task", type=int, default=20,
                        help="creatives (files) per Spark task (default %(default)s)")
    parser.add_argument("--commit-every", type=int, default=2000, metavar="N",
                        help="creatives per committed Spark job: a job killed later keeps what earlier "
                             "commits wrote (default %(default)s)")


def job_from(args):
    """(SparkJob, RunSettings) of the parsed flags; UserError for a bad one."""
    from creativelens.client.endpoints import parse_endpoints
    from creativelens.client.settings import settings_from_args
    from creativelens.spark.job import SparkJob

    job = SparkJob(servers=parse_endpoints(args.servers, "--servers"), csv=args.csv, master=args.master,
                   creatives_per_task=args.creatives_per_task, commit_every=args.commit_every)
    return job, settings_from_args(args)


def run_spark(args) -> int:
    from creativelens.spark.job import run_spark_job

    summary = run_spark_job(args.inputs, args.out, *job_from(args))
    for line in summary.lines():
        print(line, file=sys.stderr)
    return 1 if summary.error_rows else 0
