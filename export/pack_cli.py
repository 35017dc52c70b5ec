"""`creativelens pack`: a base detector and the detectors trained on it -> one Triton model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "pack", help="export several detectors as one Triton model that runs their shared parts once",
        description="Export detectors trained from one base (`creativelens train --weights BASE --freeze ...`), and "
        "the base itself, as one Triton model. Parts whose weights are identical (compared by digest, not "
        "trusted from a flag) run once per image: the trunk (backbone + FPN), the proposals (RPN), the box "
        "features (box head); each detector's own parts run after them. `creativelens stream` sees every "
        "detector of the pack as a model of its own, with its own labels, thresholds and version.",
    )
    parser.add_argument("--detector", action="append", required=True, metavar="[NAME=]FOLDER",
                        help="a `creativelens train` output folder (config.yaml, model_final.pth, labels.txt, "
                        "thresholds.json); NAME defaults to the folder's name. Repeat for each detector")
    parser.add_argument("--name", required=True, help="the pack's served name (a Triton model)")
    parser.add_argument("--canvas", action="append", metavar="HxW",
                        help="canvas bucket, repeatable (default: the CPU buckets 480x480, 480x800, 800x480)")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--parity-images", type=int, default=4)
    parser.add_argument("--out", required=True, type=Path, help="model repository folder")
    parser.set_defaults(handler=run_pack)


def named_folders(values: list[str]) -> list[tuple[str, Path]]:
    named = []
    for value in values:
        name, separator, folder = value.partition("=")
        if not separator:
            folder, name = value, Path(value).resolve().name
        named.append((name, Path(folder)))
    return named


def run_pack(args: argparse.Namespace) -> int:
    import warnings

    for message in ("pkg_resources is deprecated", "`torch.jit", "torch.meshgrid"):
        warnings.filterwarnings("ignore", message=message)

    from creativelens.canvas import CPU_CANVASES, parse_canvas
    from creativelens.errors import UserError
    from creativelens.export.pack import members
    from creativelens.export.pack_repository import export_pack
    from creativelens.export.zoo import load_detector
    from creativelens.sample_media import sample_stills
    from creativelens.train.outputs import from_training

    if args.max_batch_size < 1:
        raise UserError("--max-batch-size must be at least 1")
    canvases = [parse_canvas(text) for text in args.canvas] if args.canvas else list(CPU_CANVASES)
    images = sample_stills()[: args.parity_images]
    if len(images) < 2:
        raise UserError("parity needs at least 2 bundled photos (is scikit-image installed?)")
    named, thresholds = [], {}
    for name, folder in named_folders(args.detector):
        config, weights, labels, thresholds[name] = from_training(folder)
        named.append((name, load_detector(name, config_file=config, weights=weights, labels_file=labels,
                                          log=lambda m: print(f"creativelens pack: warning: {m}", file=sys.stderr))))
    result = export_pack(args.name, members(named), canvases, args.out, images, thresholds=thresholds,
                         opset=args.opset, max_batch_size=args.max_batch_size)
    print(f"{args.name}: {len(named)} detectors written to {result.model_dir} ({result.size_mb} MB); parity.json: PASS")
    return 0
