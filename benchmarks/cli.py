"""`creativelens bench [--quick]`: the seeds' loop against the served pipeline, side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_RESULTS_ROOT = Path("benchmarks/results")
DEFAULT_BUILD_ROOT = Path("build/bench")


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="measure the served pipeline against the seeds' DefaultPredictor loop",
        description="Runs, on the same media, model, weights and input size, the seeds' loop "
                    "(cv2.imread -> DefaultPredictor, one image at a time), the served pipeline "
                    "(creativelens stream -> tritonserver with dynamic batching) and ONNX Runtime "
                    "called directly; sweeps concurrency, Triton's max batch size and the canvas; "
                    "runs perf_analyzer against the same server. Writes results.json, report.md and "
                    "PNG plots.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="a few images at a 320x320 canvas, concurrency 1 and 2 (CI; minutes)")
    size.add_argument("--cpu-defaults", action="store_true",
                      help="the headline at the exporter's default CPU canvases (480x480, 480x800, 800x480), "
                           "concurrency 1 and 2, no sweeps")
    parser.add_argument("--out", type=Path,
                        help=f"results folder (default {DEFAULT_RESULTS_ROOT}/<date>-<machine>[-quick])")
    parser.add_argument("--repository", type=Path,
                        help="an exported model repository to serve for the headline comparison "
                             "(default: export once into --cache and reuse)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_BUILD_ROOT / "models",
                        help="where exports are cached (default %(default)s)")
    parser.add_argument("--work", type=Path, default=DEFAULT_BUILD_ROOT / "work",
                        help="scratch folder: bench media, client outputs, server logs (default %(default)s)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                        help="progress bar (default on)")
    parser.set_defaults(handler=run_bench)


def run_bench(args) -> int:
    from datetime import date

    from creativelens.machine import describe_machine, machine_slug
    from creativelens.benchmarks.plan import cpu_defaults_plan, full_plan, quick_plan
    from creativelens.benchmarks.report import REPORT_FILE, render_summary_lines, write_results
    from creativelens.benchmarks.suite import BenchRun
    from creativelens.errors import UserError
    from creativelens.serve.tritonserver import ServerStartError

    plan = quick_plan() if args.quick else cpu_defaults_plan() if args.cpu_defaults else full_plan()
    if args.repository is not None and not (args.repository / plan.model).is_dir():
        raise UserError(f"{args.repository} holds no {plan.model}/ model folder")
    out_dir = args.out or DEFAULT_RESULTS_ROOT / (
        f"{date.today().isoformat()}-{machine_slug(describe_machine())}" + ("" if plan.mode == "full" else f"-{plan.mode}")
    )
    try:
        results = BenchRun(plan, out_dir, args.work / plan.mode, args.cache, repository=args.repository,
                           progress=args.progress).run()
    except ServerStartError as error:
        raise UserError(f"tritonserver did not start: {error}") from None
    write_results(results, out_dir)
    for line in render_summary_lines(results):
        print(line)
    print(f"report: {out_dir / REPORT_FILE}")
    return 0
