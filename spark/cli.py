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
                    "model and run date. A re-run over the same --out skips the (item, model, model "
                    "version) keys already there. Exit code: 0 all done, 1 some inputs were errors.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run_spark)


def add_arguments(parser: argparse.ArgumentParser, *, master_default: str | None = "local[2]") -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="files, folders, globs, text lists of paths, .csv/.parquet tables with a "
                             "'path' column; local paths or any URI Spark reads (hdfs://, s3a://, ...)")
    parser.add_argument("--servers", "--server", dest="servers", action="append",
                        metavar="HOST:PORT[,HOST:PORT...]",
                        help="Triton gRPC endpoints, comma-separated or repeated; every task spreads its "
                             "requests over them (default 127.0.0.1:8001, where `creativelens serve` listens)")
    parser.add_argument("--out", required=True, help="results folder or URI (re-use it to resume)")
    parser.add_argument("--model", action="append", metavar="NAME",
                        help="model to run, repeatable (default: every ready detector on the servers)")
    parser.add_argument("--every", type=int, default=10, help="every Nth video frame (default %(default)s)")
    parser.add_argument("--fps", type=float, metavar="F",
                        help="instead of --every: F frames per second of video time, as `creativelens stream`")
    parser.add_argument("--repeat-threshold", type=int, default=4, metavar="BITS",
                        help="a video frame within BITS (of 64) of the last inferred frame's pHash reuses "
                             "its detections, as `creativelens stream` (default %(default)s)")
    parser.add_argument("--no-skip-repeats", action="store_true",
                        help="infer every sampled video frame, however similar to the last")
    parser.add_argument("--threshold", type=float, help="score threshold (default 0.85, or the rules file's)")
    parser.add_argument("--rules", metavar="FILE", help="JSON rules file, as `creativelens stream --rules`")
    parser.add_argument("--csv", action="store_true",
                        help="also write the seeds' CSV columns under OUT/csv/model=*/run_date=*/")
    parser.add_argument("--master", default=master_default,
                        help="Spark master (default %(default)s; local[N] retries each task up to 4 "
                             "times, as a cluster does)")
    parser.add_argument("--creatives-per-task", type=int, default=20,
                        help="creatives (files) per Spark task (default %(default)s)")
    parser.add_argument("--commit-every", type=int, default=2000, metavar="N",
                        help="creatives per committed Spark job: a job killed later keeps what earlier "
                             "commits wrote (default %(default)s)")
    parser.add_argument("--max-in-flight", type=int, default=4,
                        help="unanswered requests per task and endpoint (default %(default)s)")
    parser.add_argument("--failover-after", type=float, default=15.0, metavar="SECONDS",
                        help="how long a task waits for an endpoint that broke before moving its "
                             "requests to the others (default %(default)s)")
    parser.add_argument("--max-pixels", type=int, help="refuse larger images/frames (default 100 million)")
    from creativelens.tls import add_tls_arguments

    add_tls_arguments(parser)  # the PEM files must exist at the same paths on every executor


def options_from(args):
    from creativelens.client.endpoints import parse_endpoints
    from creativelens.client.rules import load_rules
    from creativelens.client.sources import DEFAULT_MAX_PIXELS
    from creativelens.errors import UserError
    from creativelens.spark.job import SparkJobOptions
    from creativelens.tls import tls_from_args, triton_client_kwargs

    for name in ("every", "creatives_per_task", "commit_every", "max_in_flight"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    if args.fps is not None and not args.fps > 0:
        raise UserError("--fps must be a positive number of frames per second")
    if not 0 <= args.repeat_threshold <= 64:
        raise UserError("--repeat-threshold is a number of bits, 0 to 64")
    if not args.failover_after > 0:
        raise UserError("--failover-after must be a positive number of seconds")
    return SparkJobOptions(
        servers=parse_endpoints(args.servers, "--servers"), models=tuple(args.model or ()), every=args.every,
        fps=args.fps, repeat_threshold=None if args.no_skip_repeats else args.repeat_threshold,
        rules=load_rules(args.rules, args.threshold), csv=args.csv, master=args.master,
        creatives_per_task=args.creatives_per_task, commit_every=args.commit_every,
        max_in_flight=args.max_in_flight, failover_after_s=args.failover_after,
        max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS, client_kwargs=triton_client_kwargs(tls_from_args(args)),
    )


def run_spark(args) -> int:
    from creativelens.spark.job import run_spark_job

    summary = run_spark_job(args.inputs, args.out, options_from(args))
    for line in summary.lines():
        print(line, file=sys.stderr)
    return 1 if summary.error_rows else 0
