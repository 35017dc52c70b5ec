"""`creativelens stream INPUT... --server HOST:PORT --out DIR`: the streaming client."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

EXIT_ITEM_ERRORS = 1  # the run finished, some inputs were bad (see summary.json)
EXIT_INCOMPLETE = 3  # the server went away for good; finished results are kept, re-run to resume


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "stream", help="stream stills and video frames through a Triton detector",
        description="Detect objects in stills (any format Pillow/OpenCV reads, sniffed by content) "
                    "and every Nth video frame, through a Triton server over gRPC streaming. "
                    "Results go to OUT/detections.jsonl, OUT/csv/part-*.csv (the seeds' columns), "
                    "OUT/detections.parquet and OUT/summary.json; a re-run with the same --out "
                    "resumes. Exit code: 0 all done, 1 some inputs were errors, 3 server gone.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="files, folders (recursive), globs, or text files listing paths")
    parser.add_argument("--server", default="127.0.0.1:8001", help="Triton gRPC HOST:PORT (default %(default)s)")
    parser.add_argument("--out", required=True, help="results folder (re-use it to resume)")
    parser.add_argument("--model", help="model name (default: the server's only ready model)")
    parser.add_argument("--every", type=int, default=10, help="every Nth video frame (default %(default)s)")
    parser.add_argument("--threshold", type=float, help="score threshold (default 0.85, or the rules file's)")
    parser.add_argument("--rules", metavar="FILE",
                        help='JSON: {"threshold": .., "per_class": {label: score}, "only_inside": {label: [labels]}}')
    parser.add_argument("--max-in-flight", type=int, default=16, help="requests awaiting answers (default %(default)s)")
    parser.add_argument("--workers", type=int, help="decode threads (default min(4, cores))")
    parser.add_argument("--retry-for", type=float, default=120.0, metavar="SECONDS",
                        help="how long to wait for a server that went away (default %(default)s)")
    parser.add_argument("--max-pixels", type=int, help="refuse larger images/frames (default 100 million)")
    parser.add_argument("--ocr", metavar="HOST:PORT",
                        help="also read each image's text with the OCR sidecar (creativelens ocr serve) at "
                             "this address: into the JSONL record and OUT/ocr.csv")
    parser.add_argument("--ocr-exclude", action="append", metavar="LABEL",
                        help="labels whose boxes OCR leaves out, repeatable (default: logo, product)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar (default: only on a terminal outside CI)")
    parser.set_defaults(handler=run_stream)


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_stream(args) -> int:
    from creativelens.client.rules import load_rules
    from creativelens.client.sources import DEFAULT_MAX_PIXELS
    from creativelens.client.stream import StreamOptions, stream
    from creativelens.errors import UserError

    if args.every < 1:
        raise UserError("--every must be at least 1")
    if args.max_in_flight < 1:
        raise UserError("--max-in-flight must be at least 1")
    options = StreamOptions(
        model=args.model, every=args.every, rules=load_rules(args.rules, args.threshold),
        max_in_flight=args.max_in_flight, retry_for_s=args.retry_for,
        max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS, progress=args.progress,
    )
    if args.workers:
        options.workers = args.workers
    ocr = None
    if args.ocr:
        from creativelens.client.ocr import DEFAULT_EXCLUDED_LABELS, OcrEnricher

        ocr = OcrEnricher(args.ocr, args.ocr_exclude or DEFAULT_EXCLUDED_LABELS)
        options.enrichers = (ocr,)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # save results, then exit 130
    try:
        summary = stream(args.inputs, args.server, args.out, options)
    finally:
        if ocr is not None:
            from creativelens.client.ledger import Ledger
            from creativelens.client.ocr import write_ocr_csv

            ocr.close()
            if Path(args.out).is_dir():  # not when the run failed before creating it
                write_ocr_csv(Ledger(args.out))
    for line in summary.lines():
        print(line)
    if not summary.complete:
        print(f"creativelens stream: error: {summary.failure}; re-run the same command to resume",
              file=sys.stderr)
        return EXIT_INCOMPLETE
    return EXIT_ITEM_ERRORS if summary.errors else 0
