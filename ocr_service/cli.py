"""`creativelens ocr serve` and `creativelens ocr eval`."""

from __future__ import annotations

import argparse
import os

from creativelens.errors import UserError
from creativelens.ocr_service.engines import DEFAULT_ENGINE, ENGINES
from creativelens.ocr_service.options import EXCLUSION_MODES, THRESHOLDING_METHODS, RecognitionOptions
from creativelens.tls import add_tls_arguments, tls_from_args, warn_if_exposed

def add_commands(subparsers) -> None:
    ocr = subparsers.add_parser("ocr", help="the Tesseract OCR sidecar: serve it, evaluate it")
    commands = ocr.add_subparsers(dest="ocr_command", required=True, metavar="OCR_COMMAND")

    serve = commands.add_parser("serve", help="run the OCR gRPC service until SIGTERM/Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serve.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                       help="regions: text detector + Tesseract per line (default, measured); tesseract: page mode; "
                            "rapidocr: PP-OCRv4 end to end")
    serve.add_argument("--model-dir", default=None,
                       help="folder with the PP-OCR ONNX files (default: those inside rapidocr-onnxruntime)")
    serve.add_argument("--port", type=int, default=50051)
    serve.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="engine processes, one Tesseract each (default: one per core)")
    serve.add_argument("--max-queue", type=int, default=None,
                       help="requests that may wait for an engine before RESOURCE_EXHAUSTED (default: 2 per worker)")
    serve.add_argument("--metrics-port", type=int, default=None,
                       help="serve Prometheus metrics at http://HOST:PORT/metrics (default: off)")
    serve.add_argument("--max-message-mb", type=float, default=32.0, help="largest request accepted")
    serve.add_argument("--max-megapixels", type=float, default=40.0, help="largest image accepted")
    serve.add_argument("--exclusion-mode", choices=EXCLUSION_MODES, default=RecognitionOptions.exclusion_mode,
                       help="default way to keep text inside exclusion boxes out (requests may choose)")
    serve.add_argument("--thresholding", choices=tuple(THRESHOLDING_METHODS), default=RecognitionOptions.thresholding,
                       help="default Tesseract thresholding (requests may choose); see `ocr eval` for which reads better")
    add_tls_arguments(serve, server=True)
    serve.set_defaults(handler=run_serve)

    check = commands.add_parser("check", help="exit 0 when an OCR server answers its health check as SERVING")
    check.add_argument("--address", default="127.0.0.1:50051", help="HOST:PORT of the server")
    check.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    add_tls_arguments(check)
    check.set_defaults(handler=run_check)

    evaluate = commands.add_parser(
        "eval", help="score word recall/precision and speed: pytesseract vs the service, Otsu vs Sauvola"
    )
    evaluate.add_argument("--out", default=None,
                          help="path prefix of the results, PREFIX.json and PREFIX.md "
                               "(default: benchmarks/results/ocr_eval_<machine>)")
    evaluate.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    evaluate.add_argument("--rendered", type=int, default=24, help="how many ad-like images to render (tuning split)")
    evaluate.add_argument("--split", default="both", choices=("tuning", "held-out", "both"),
                          help="the tuning split (defaults are chosen on it), the held-out split (other fonts, "
                               "layouts, backgrounds; judged on only), or both side by side (default)")
    evaluate.add_argument("--held-out-images", type=int, default=64, metavar="N",
                          help="how many held-out creatives to render (default 64: 8 of each kind)")
    evaluate.add_argument("--note", default="", help="a line about the conditions, kept in the results")
    evaluate.add_argument("--configurations", default=None, metavar="KEY,...",
                          help="which engines/settings to run side by side, in this order (default: all), "
                               "e.g. pytesseract,tesseract,rapidocr,regions; an unknown key lists them all")
    evaluate.set_defaults(handler=run_eval)


def run_serve(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from creativelens.ocr_service.engines import engine_factory
    from creativelens.ocr_service.server import OcrServer, ServerConfig

    factory = engine_factory(args.engine, args.model_dir)  # missing model files: one line, before any worker
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    if args.max_queue is not None and args.max_queue < 0:
        raise UserError("--max-queue cannot be negative")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(
        host=args.host, port=args.port, workers=args.workers, max_queue=args.max_queue,
        max_message_bytes=int(args.max_message_mb * 1024 * 1024),
        max_pixels=int(args.max_megapixels * 1_000_000), metrics_port=args.metrics_port,
        defaults=RecognitionOptions(thresholding=args.thresholding, exclusion_mode=args.exclusion_mode),
        tls=tls_from_args(args),
    )
    warn_if_exposed(args.host, config.tls, "the OCR service")
    stop_requested = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop_requested.set())
    try:
        server = OcrServer(config, engine_factory=factory).start()
    except OSError as error:
        raise UserError(f"cannot serve on {args.host}:{args.port}: {error}") from None
    metrics = f", metrics on http://{args.host}:{server.metrics_port}/metrics" if server.metrics_port else ""
    print(f"ocr: serving on {server.address} with {args.workers} {args.engine} workers{metrics}", flush=True)
    stop_requested.wait()
    print("ocr: stopping (finishing requests in flight)", flush=True)
    server.stop()
    print("ocr: stopped", flush=True)
    return 0


def run_check(args: argparse.Namespace) -> int:
    from creativelens.ocr_service.client import OcrClient
    from creativelens.ocr_service.failures import OcrFailure

    with OcrClient(args.address, tls=tls_from_args(args)) as client:
        try:
            client.wait_ready(timeout=args.timeout)
        except OcrFailure as failure:
            raise UserError(f"{args.address}: {failure}") from None
    print(f"ocr: {args.address} is serving")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from creativelens.ocr_service.evaluate import run_evaluation

    from creativelens.ocr_service.evaluate import configurations_named

    run_evaluation(out_prefix=args.out, workers=args.workers, rendered=args.rendered, note=args.note,
                   configurations=configurations_named(args.configurations), split=args.split,
                   held_out=args.held_out_images)
    return 0
