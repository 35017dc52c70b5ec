"""`creativelens stream INPUT... [--model A --model B | --models brand.json] --out DIR`."""

from __future__ import annotations

import argparse
import signal
import sys

from creativelens.tls import add_tls_arguments

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
    parser.add_argument("--server", "--servers", dest="server", action="append", metavar="HOST:PORT[,HOST:PORT...]",
                        help="Triton gRPC endpoint(s), comma-separated or repeated: requests spread over them, "
                             "and one that fails is left, its unanswered requests sent to the others "
                             "(default 127.0.0.1:8001, where `creativelens serve` listens)")
    parser.add_argument("--out", required=True, help="results folder (re-use it to resume)")
    parser.add_argument("--model", action="append", metavar="NAME",
                        help="a model to run, repeatable (default: the --models file's, else every "
                             "ready detector on the server)")
    parser.add_argument("--models", metavar="FILE",
                        help='a brand file: JSON naming the brand\'s models and its rules, e.g. '
                             '{"models": ["coco", "acme_logo", "faces"], "only_inside": {"smile": ["face"]}} '
                             "(see client/README.md)")
    parser.add_argument("--every", type=int, default=10, help="every Nth video frame (default %(default)s)")
    parser.add_argument("--fps", type=float, metavar="F",
                        help="instead of --every: F frames per second of video time (the same moments at "
                             "24, 25, 30 or 60 fps; a video without a plausible frame rate falls back to --every)")
    parser.add_argument("--repeat-threshold", type=int, default=4, metavar="BITS",
                        help="a video frame whose perceptual hash (pHash, 64 bits) differs from the last "
                             "inferred frame's by at most BITS reuses its detections (default %(default)s)")
    parser.add_argument("--no-skip-repeats", action="store_true",
                        help="infer every sampled video frame, however similar to the last")
    parser.add_argument("--threshold", type=float,
                        help="score threshold for every model and class (default: each model's own "
                             "per-class thresholds, else 0.85)")
    parser.add_argument("--rules", metavar="FILE",
                        help="JSON rules (same keys as --models files: threshold, per_class, per_model, "
                             "only_inside, ocr_exclude)")
    parser.add_argument("--max-in-flight", type=int,
                        help="requests awaiting answers per server (default: 16 per model on a GPU server, 2 on CPU)")
    parser.add_argument("--workers", type=int, help="decode threads (default min(4, cores))")
    parser.add_argument("--retry-for", type=float, default=120.0, metavar="SECONDS",
                        help="how long to wait for a server that went away (the last one, with several; "
                             "default %(default)s)")
    parser.add_argument("--failover-after", type=float, default=15.0, metavar="SECONDS",
                        help="with several servers: how long one that broke is waited for before its "
                             "requests move to the others (default %(default)s)")
    parser.add_argument("--max-pixels", type=int, help="refuse larger images/frames (default 100 million)")
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
    add_tls_arguments(parser)
    parser.set_defaults(handler=run_stream)


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_stream(args) -> int:
    from creativelens.client.endpoints import parse_endpoints
    from creativelens.client.rules import load_rules
    from creativelens.client.sources import DEFAULT_MAX_PIXELS
    from creativelens.client.stream import StreamOptions, stream
    from creativelens.errors import UserError
    from creativelens.tls import tls_from_args, triton_client_kwargs

    if args.every < 1:
        raise UserError("--every must be at least 1")
    if args.fps is not None and not args.fps > 0:
        raise UserError("--fps must be a positive number of frames per second")
    if not 0 <= args.repeat_threshold <= 64:
        raise UserError("--repeat-threshold is a number of bits, 0 to 64")
    if args.max_in_flight is not None and args.max_in_flight < 1:
        raise UserError("--max-in-flight must be at least 1")
    if args.models and args.rules:
        raise UserError("--models and --rules both hold rules: put the rules in the --models file")
    if args.ocr_concurrency < 1:
        raise UserError("--ocr-concurrency must be at least 1")
    if not args.retry_for > 0 or not args.failover_after > 0:
        raise UserError("--retry-for and --failover-after are positive numbers of seconds")
    servers = parse_endpoints(args.server)
    rules = load_rules(args.models or args.rules, args.threshold)
    tls = tls_from_args(args)
    options = StreamOptions(
        models=tuple(args.model or ()), every=args.every, fps=args.fps, rules=rules,
        repeat_threshold=None if args.no_skip_repeats else args.repeat_threshold,
        max_in_flight=args.max_in_flight, retry_for_s=args.retry_for, failover_after_s=args.failover_after,
        max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS, progress=args.progress,
        client_kwargs=triton_client_kwargs(tls),
    )
    if args.workers:
        options.workers = args.workers
    ocr = None
    if args.ocr:
        from creativelens.client.ocr import DEFAULT_EXCLUDED_LABELS, OcrEnricher

        excluded = args.ocr_exclude or rules.ocr_exclude or DEFAULT_EXCLUDED_LABELS
        ocr = OcrEnricher(args.ocr, excluded, retry_for_s=args.retry_for, concurrency=args.ocr_concurrency, tls=tls)
        options.enrichers = (ocr,)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # save results, then exit 130
    try:
        summary = stream(args.inputs, servers, args.out, options)
    finally:
        if ocr is not None:
            ocr.close()
    for line in summary.lines():
        print(line)
    if not summary.complete:
        print(f"creativelens stream: error: {summary.failure}; re-run the same command to resume",
              file=sys.stderr)
        return EXIT_INCOMPLETE
    return EXIT_ITEM_ERRORS if summary.errors else 0
