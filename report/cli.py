"""`creativelens report RESULTS --out REPORT/`: the static HTML report of a results folder."""

from __future__ import annotations

from pathlib import Path


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="a static HTML report of a results folder (boxes on creatives, video timelines, filters)",
        description="Writes REPORT/index.html (+ images) from a `creativelens stream` or `creativelens spark` "
                    "results folder; open it in a browser, no server needed.")
    parser.add_argument("results", type=Path, help="the results folder (stream's --out or spark's --out)")
    parser.add_argument("--out", type=Path, required=True, help="the report folder (new, empty, or an earlier report)")
    parser.add_argument("--features", type=Path, help="creativelens features' output folder (default: RESULTS/features "
                                                      "or a features/ folder beside RESULTS, when there)")
    parser.add_argument("--evaluation", type=Path, help="creativelens evaluate's output folder (evaluation.json)")
    parser.add_argument("--coco-json", type=Path, help="with --evaluation: the labels it was run on, to draw TP/FP/misses")
    parser.add_argument("--images", type=Path, help="with --coco-json: the labelled images' folder")
    parser.add_argument("--evaluation-model", help="with --evaluation: the evaluated model (when RESULTS has several)")
    parser.add_argument("--title", help="the report's title")
    parser.add_argument("--workers", type=int, help="processes making thumbnails (default: the usable cores, up to 8)")
    parser.set_defaults(handler=run_report)


def run_report(args) -> int:
    from creativelens.errors import UserError
    from creativelens.report.build import build_report

    if (args.coco_json is None) != (args.images is None):
        raise UserError("--coco-json and --images go together")
    if args.coco_json is not None and args.evaluation is None:
        raise UserError("--coco-json/--images need --evaluation (creativelens evaluate's output folder)")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers}: at least 1")
    summary = build_report(args.results, args.out, features=args.features, evaluation=args.evaluation,
                           coco_json=args.coco_json, images_dir=args.images, evaluation_model=args.evaluation_model,
                           title=args.title, workers=args.workers)
    for line in summary.lines():
        print(line)
    return 0
