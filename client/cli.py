"""`creativelens stream INPUT... [--model A --model B | --models brand.json] --out DIR`."""

from __future__ import annotations

import argparse
import signal
import sys

from creativelens.client.settings import add_run_arguments

EXIT_ITEM_ERRORS = 1  # the run finished, some inputs were bad (see summary.json)
EXIT_INCOMPLETE = 3  # the server (or OCR) went away; finished results are kept, re-run to resume
# 2: usage error; 4: the results folder cannot be written (creativelens.errors.OutputNotWritable)


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "stream", help="stream stills and video frames through every detector of a brand on Triton",
        description="Detect objects in stills (any format Pillow/OpenCV reads, sniffed by content) "
                    "and every Nth video frame, with every model named (default: every ready "
                    "detector on the server), each item decoded once, over gRPC streaming. Results "
                    "go to OUT/detections.jsonl (one record per item, every model), "
                    "OUT/csv/<model>/part-*.csv (the seeds' columns), OUT/detections.parquet (a row per "
                    "item and model) and OUT/summary.json; a re-run with the same --out resumes and "
                    "runs only what is missing (e.g. a model added later). Exit code: 0 all done, "
                    "1 some inputs were errors, 2 usage error, 3 incomplete (server or OCR gone: "
                    "re-run), 4 results folder not writable.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="files, folders (recursive), globs, or text files listing paths")
    parser.add_argument("--out", required=True, help="results folder (re-use it to resume)")
    add_run_arguments(parser)
    parser.add_argument("--ocr", metavar="HOST:PORT",
                        help="also read each image's text with the OCR sidecar (creativelens ocr serve) at "
                             "this address: into the JSONL record and OUT/ocr.csv")
    parser.add_argument("--ocr-exclude", action="append", metavar="LABEL",
                        help="labels (of any model) whose boxes OCR leaves out, repeatable "
                             "(default: the rules' ocr_exclude, else logo, product)")
    parser.add_argument("--ocr-concurrency", type=int, default=2,
                        help="OCR requests in flight beside detection (default %(default)s)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar (default: only on a terminal outside CI)")
    parser.set_defaults(handler=run_stream)


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_stream(args) -> int:
    from creativelens.client.endpoints import parse_endpoints
    from creativelens.client.settings import settings_from_args
    from creativelens.client.stream import stream
    from creativelens.errors import UserError
    from creativelens.tls import tls_from_args

    if args.ocr_concurrency < 1:
        raise UserError("--ocr-concurrency must be at least 1")
    servers = parse_endpoints(args.servers)
    settings = settings_from_args(args)
    enrichers = ()
    if args.ocr:
        from creativelens.client.ocr import DEFAULT_EXCLUDED_LABELS, OcrEnricher

        excluded = args.ocr_exclude or settings.rules.ocr_exclude or DEFAULT_EXCLUDED_LABELS
        enrichers = (OcrEnricher(args.ocr, excluded, retry_for_s=settings.retry_for_s,
                                 concurrency=args.ocr_concurrency, tls=tls_from_args(args)),)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # save results, then exit 130
    try:
        summary = stream(args.inputs, servers, args.out, settings, enrichers=enrichers, progress=args.progress)
    finally:
        for enricher in enrichers:
            enricher.close()
    for line in summary.lines():
        print(line)
    if not summary.complete:
        print(f"creativelens stream: error: {summary.failure}; re-run the same command to resume",
              file=sys.stderr)
        return EXIT_INCOMPLETE
    return EXIT_ITEM_ERRORS if summary.errors else 0
