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
    parser.add_argument("--from-training", type=Path, metavar="DIR",
                        help="run every row on a `creativelens train` folder's model (its config.yaml, "
                             "model_final.pth, labels.txt) instead of the zoo's random-weight R50; needs "
                             "--repository holding its export (creativelens export --from-training DIR ...), "
                             "whose BF16 config, where its gate passed, adds the served BF16 row")
    parser.add_argument("--ads-repository", type=Path, metavar="R",
                        help="the same model exported at the ad-shaped canvases (export --canvas-set ads): adds "
                             "rows on creative-shaped images (1:1, 4:5, 9:16, 16:9, 1.91:1) at both canvas sets "
                             "and their padding shares")
    parser.add_argument("--stills", type=int, help="sample stills in the bench media (default: the mode's)")
    parser.add_argument("--video-frames", type=int, help="video frames in the bench media (default: the mode's)")
    parser.add_argument("--rounds", type=int, help="rounds of the interleaved comparison (default: the mode's)")
    parser.add_argument("--ad-images", type=int, help="creative-shaped images for --ads-repository (default 15)")
    parser.add_argument("--ad-rounds", type=int, help="rounds of the ad-shaped rows (default 1)")
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
    plan = _sized(plan, args)
    if args.repository is not None and not (args.repository / plan.model).is_dir():
        raise UserError(f"{args.repository} holds no {plan.model}/ model folder")
    out_dir = args.out or DEFAULT_RESULTS_ROOT / (
        f"{date.today().isoformat()}-{machine_slug(describe_machine())}" + ("" if plan.mode == "full" else f"-{plan.mode}")
    )
    if args.ads_repository is not None and not (args.ads_repository / plan.model).is_dir():
        raise UserError(f"{args.ads_repository} holds no {plan.model}/ model folder")
    try:
        results = BenchRun(plan, out_dir, args.work / plan.mode, args.cache, repository=args.repository,
                           progress=args.progress, ads_repository=args.ads_repository).run()
    except ServerStartError as error:
        raise UserError(f"tritonserver did not start: {error}") from None
    write_results(results, out_dir)
    for line in render_summary_lines(results):
        print(line)
    print(f"report: {out_dir / REPORT_FILE}")
    return 0


def _sized(plan, args):
    """The mode's plan with the command line's model (--from-training) and sizes."""
    from dataclasses import replace

    from creativelens.errors import UserError

    changes = {}
    if args.from_training is not None:
        from creativelens.train.outputs import from_training

        from_training(args.from_training)  # a finished train folder, or one UserError line
        if args.repository is None:
            raise UserError("--from-training needs --repository: the folder its export went to "
                            f"(creativelens export --from-training {args.from_training} --out R)")
        # the exporter's served name for a train folder: the folder's name
        changes.update(model=args.from_training.resolve().name, random_weights=False,
                       from_training=str(args.from_training))
    for field in ("stills", "video_frames", "rounds", "ad_images", "ad_rounds"):
        value = getattr(args, field)
        if value is not None:
            if value < (0 if field in ("stills", "video_frames") else 1):
                raise UserError(f"--{field.replace('_', '-')} {value}: too small")
            changes[field] = value
    return replace(plan, **changes) if changes else plan
