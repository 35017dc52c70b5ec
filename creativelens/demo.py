"""`creativelens demo` (`make demo`): the main job, end to end, on any machine.

1. export Faster R-CNN R50-FPN with RANDOM weights (no weights can be downloaded here) into
   `build/demo/repo` at small CPU canvases, unless a passing export is already there;
2. start the real tritonserver over it (CPU configs);
3. stream the real media that ships with packages (scikit-image photos, Debian opencv-doc
   stills and every 10th frame of vtest.avi) into `build/demo/results`, reading each image's
   text with the OCR sidecar (started in process, on loopback) as well;
4. print the summary (images/s, Triton's average batch) and stop the server;
5. write the static HTML report of the results (`creativelens report`) into `build/demo/report`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DEMO_MODEL = "faster_rcnn_R_50_FPN_1x"
DEMO_CANVASES = ("320x320", "320x480", "480x320")  # small CPU canvases: ~1-2 s/image on 2 cores


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="the main job: export R50 (random weights), serve it, stream the sample media",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--work-dir", type=Path, default=Path("build/demo"),
                        help="repository, results and server log go here (default %(default)s)")
    parser.add_argument("--canvas", action="append", metavar="HxW",
                        help=f"canvas buckets (default {', '.join(DEMO_CANVASES)})")
    parser.add_argument("--every", type=int, default=10, help="every Nth video frame (default %(default)s)")
    parser.add_argument("--resume", action="store_true",
                        help="keep earlier results and resume (default: start the results afresh)")
    parser.set_defaults(handler=run_demo)


def passing_export(model_dir: Path, canvases: list[str]) -> bool:
    """A model folder whose parity.json passed, for these canvases (then export is skipped)."""
    try:
        parity = json.loads((model_dir / "parity.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return (parity.get("ok") is True and sorted(parity.get("canvases", [])) == sorted(canvases)
            and (model_dir / "configs" / "cpu.pbtxt").is_file())


def export_demo_model(repository: Path, canvases: list[str]) -> None:
    model_dir = repository / DEMO_MODEL
    if passing_export(model_dir, canvases):
        print(f"[1/4] export: {model_dir} already holds a passing export; skipped", flush=True)
        return
    print(f"[1/4] export: {DEMO_MODEL} with RANDOM weights at canvases {', '.join(canvases)} "
          f"(ONNX + TorchScript + parity against eager Detectron2; a few minutes on CPU)", flush=True)
    command = [sys.executable, "-m", "creativelens.cli", "export", "--model", DEMO_MODEL,
               "--random-weights", "--out", str(repository)]
    for canvas in canvases:
        command += ["--canvas", canvas]
    if subprocess.run(command).returncode != 0:
        from creativelens.errors import UserError

        raise UserError(f"the export failed (command: {' '.join(command)})")


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_demo(args) -> int:
    import shutil
    import signal

    from creativelens.canvas import parse_canvas
    from creativelens.client.ocr import OcrEnricher
    from creativelens.client.settings import RunSettings
    from creativelens.client.stream import stream
    from creativelens.errors import UserError
    from creativelens.machine import describe_machine
    from creativelens.ocr_service.engines import engine_factory
    from creativelens.ocr_service.server import OcrServer, ServerConfig
    from creativelens.sample_media import sample_stills, sample_video
    from creativelens.serve.tritonserver import ServerStartError, TritonServer

    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # stop the server, keep results
    canvases = [parse_canvas(text).name for text in (args.canvas or DEMO_CANVASES)]
    try:
        media = [str(path) for path in sample_stills()] + [str(sample_video())]
    except FileNotFoundError as error:
        raise UserError(str(error)) from None
    work = args.work_dir.absolute()
    repository, results = work / "repo", work / "results"
    machine = describe_machine()
    gpus = ", ".join(machine["gpus"]) or "no GPU"
    print(f"CreativeLens demo on {machine['cpu_model']}, {machine['cpu_cores']} cores, {gpus}", flush=True)

    export_demo_model(repository, canvases)

    log_path = work / "tritonserver.log"
    print(f"[2/4] serve: tritonserver over {repository} (CPU configs; log {log_path})", flush=True)
    try:
        server = TritonServer(repository, "cpu", log_path=log_path, ready_timeout_s=600).start()
    except ServerStartError as error:
        raise UserError(str(error)) from None
    ocr_server = ocr = None
    try:
        print(f"      ready on gRPC {server.grpc_url}", flush=True)
        ocr_server = OcrServer(ServerConfig(port=0, workers=1), engine_factory=engine_factory()).start()
        ocr = OcrEnricher(ocr_server.address)
        print(f"      OCR sidecar (PP-OCR text regions + Tesseract, as `ocr serve`) on {ocr_server.address}",
              flush=True)
        if results.exists() and not args.resume:
            shutil.rmtree(results)
        print(f"[3/4] stream: {len(media) - 1} stills + every {args.every}th frame of "
              f"{Path(media[-1]).name} -> {results}, with OCR", flush=True)
        summary = stream(media, server.grpc_url, results,
                         RunSettings(models=(DEMO_MODEL,), every=args.every), enrichers=(ocr,))
    finally:
        if ocr is not None:
            ocr.close()
        if ocr_server is not None:
            ocr_server.stop(grace_s=1.0)
        server.stop()
    print(f"      OCR text: {results / 'ocr.csv'}", flush=True)
    print("[4/4] summary (server stopped)", flush=True)
    for line in summary.lines():
        print(line)
    if summary.random_weights:
        print("NOTE: random weights - the boxes show the plumbing and the speed, not real objects")
    from creativelens.report import build_report

    report = build_report(results, work / "report", title="CreativeLens demo: the main job's results")
    print(f"report: {report.out / 'index.html'} ({report.items} items, {report.seconds:.0f} s): open it in a browser")
    return 0 if summary.complete and not summary.errors else 1
