"""`creativelens train`, `creativelens train dataset`, `creativelens evaluate`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a Faster R-CNN on COCO / Azure ML labels (Detectron2 DefaultTrainer)",
        description="Train with Detectron2's DefaultTrainer; OUT gets model_final.pth, config.yaml, labels.txt, "
        "evaluation.json (validation) and thresholds.json (per-class sweep). `creativelens train dataset` "
        "writes the SYNTHETIC brand dataset instead.",
    )
    parser.add_argument("action", nargs="?", choices=("dataset",), help="dataset: write the synthetic dataset")
    parser.add_argument("--config", default="faster_rcnn_X_101_32x8d_FPN_3x",
                        help="model-zoo name or Detectron2 YAML (default: X101-32x8d-FPN-3x, as the seeds)")
    parser.add_argument("--train-json", type=Path)
    parser.add_argument("--train-images", type=Path)
    parser.add_argument("--val-json", type=Path)
    parser.add_argument("--val-images", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--ims-per-batch", type=int, default=4)
    parser.add_argument("--from-scratch", action="store_true",
                        help="no pretrained weights: the scratch recipe measured on CPU (GroupNorm, 128-channel FPN, "
                        "2fc head, anchors from 16 px, LR 0.08 x B / 16 with a 200-iteration warm-up); printed at start")
    parser.add_argument("--weights", help="start checkpoint, e.g. a base detector's model_final.pth with its "
                        "config.yaml as --config; class-dependent layers are re-initialised when its labels.txt "
                        "differs (default: the zoo's for a zoo --config)")
    parser.add_argument("--freeze", choices=("trunk", "proposals", "box-features"),
                        help="train on a frozen base (with --weights): trunk = backbone + FPN; proposals = + RPN; "
                        "box-features = + the box head's fc layers; frozen tensors stay bit-identical (OUT/frozen.json)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any Detectron2 config key, repeatable (e.g. MODEL.RESNETS.DEPTH=18)")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=v1,v2",
                        help="grid search: train every combination, keep the best by the seeds' accuracy")
    parser.add_argument("--resume", action="store_true", help="continue from OUT's last checkpoint")
    parser.add_argument("--labels-format", default="auto", choices=("auto", "coco", "azure"))
    parser.add_argument("--seed", type=int, default=0, help="dataset: the generator's seed")
    parser.add_argument("--marks", default="brand", choices=("brand", "base"),
                        help="dataset: the five brand classes, or the ten base classes that stand in for COCO")
    _max_labels_flag(parser)
    parser.set_defaults(handler=run_train)

    evaluate = subparsers.add_parser(
        "evaluate", help="COCO AP + the seeds' accuracy rule of a checkpoint, an ONNX export or a served model",
    )
    evaluate.add_argument("--coco-json", type=Path, required=True, help="labels (COCO json or Azure export)")
    evaluate.add_argument("--images", type=Path, required=True)
    evaluate.add_argument("--labels-format", default="auto", choices=("auto", "coco", "azure"))
    evaluate.add_argument("--config-file", type=Path, help="checkpoint's config (with --weights)")
    evaluate.add_argument("--weights", type=Path)
    evaluate.add_argument("--onnx", type=Path, help="exported model folder or model.onnx")
    evaluate.add_argument("--server", help="Triton HOST:PORT (with --model)")
    evaluate.add_argument("--model", help="served model name")
    evaluate.add_argument("--thresholds", type=Path, help="thresholds.json (per class) for precision/recall")
    evaluate.add_argument("--canvas", help="checkpoint/ONNX input canvas HxW (default: from the model)")
    evaluate.add_argument("--out", type=Path, required=True)
    _max_labels_flag(evaluate)
    evaluate.set_defaults(handler=run_evaluate)


def _max_labels_flag(parser) -> None:
    from creativelens.train.labels import LABELS_MEMORY_FACTOR, MAX_BOXES_PER_IMAGE, MAX_LABELS_MB

    parser.add_argument("--max-labels-mb", type=float, default=MAX_LABELS_MB, metavar="MB",
                        help=f"refuse a labels file larger than this before reading it (default {MAX_LABELS_MB:g} MB; "
                        f"reading takes about {LABELS_MEMORY_FACTOR}x the file in memory, and a file that would not "
                        "fit the memory available is refused whatever the limit)")
    parser.add_argument("--max-boxes-per-image", type=int, default=MAX_BOXES_PER_IMAGE, metavar="N",
                        help=f"refuse labels with more boxes on one image (default {MAX_BOXES_PER_IMAGE}; training "
                        "matches every box against every anchor)")


def run_train(args: argparse.Namespace) -> int:
    from creativelens.errors import UserError

    if args.action == "dataset":
        from creativelens.train.synthetic_dataset import MARK_SETS, generate

        files = generate(args.out, seed=args.seed, marks=args.marks)
        print(f"{MARK_SETS[args.marks].notice}\nwritten to {files.root}: images/<split>/, coco/<split>.json, azure/<split>.json")
        return 0
    missing = [flag for flag in ("train_json", "train_images", "val_json", "val_images") if getattr(args, flag) is None]
    if missing:
        raise UserError("train needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
    if args.freeze and args.from_scratch:
        raise UserError(f"--freeze {args.freeze} keeps a base's parts as they are: it needs --weights BASE.pth, "
                        "not --from-scratch")
    if args.iterations < 1 or args.ims_per_batch < 1:
        raise UserError("--iterations and --ims-per-batch must be at least 1")
    if not args.max_labels_mb > 0 or args.max_boxes_per_image < 1:
        raise UserError("--max-labels-mb and --max-boxes-per-image must be positive")
    from creativelens.train.training import TrainSpec

    spec = TrainSpec(args.config, args.train_json, args.train_images, args.val_json, args.val_images, args.out,
                     args.iterations, args.ims_per_batch, args.from_scratch, args.weights, tuple(args.set),
                     args.resume, args.labels_format, max_labels_mb=args.max_labels_mb,
                     max_boxes_per_image=args.max_boxes_per_image, freeze=args.freeze)
    if args.grid:
        from creativelens.train.grid import grid_search

        grid_search(spec, args.grid)
        return 0
    from creativelens.train.training import train
    from creativelens.train.evaluation import finish_training

    train(spec)
    finish_training(spec)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from creativelens.train.evaluation import evaluate_command

    evaluate_command(args)
    return 0
