"""`creativelens export`: Detectron2 detector -> ONNX + TorchScript -> Triton model repository."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a Detectron2 Faster R-CNN into a Triton model repository",
        description="Export a Detectron2 Faster R-CNN (model-zoo name, or config + checkpoint) to "
        "ONNX and TorchScript with a batch axis, check parity against eager Detectron2, and write "
        "it into a Triton model repository with GPU and CPU configs.",
    )
    source = parser.add_argument_group("model")
    source.add_argument("--model", help="COCO-Detection model-zoo name (faster_rcnn_R_50_FPN_1x, "
                        "faster_rcnn_R_101_FPN_3x, faster_rcnn_X_101_32x8d_FPN_3x), or the served name "
                        "of a custom model")
    source.add_argument("--config-file", help="a custom-trained Detectron2 config (YAML)")
    source.add_argument("--weights", help="checkpoint path or URL (default: the model zoo's)")
    source.add_argument("--labels", help="class names, one per line (custom models)")
    source.add_argument("--from-training", type=Path, metavar="OUT",
                        help="a `creativelens train` folder: its config.yaml, model_final.pth, labels.txt and "
                        "thresholds.json (served name: the folder's name unless --model)")
    source.add_argument("--random-weights", action="store_true",
                        help="random weights, for machines that cannot download the zoo's (says so everywhere)")
    parser.add_argument("--canvas", action="append", metavar="HxW",
                        help="canvas bucket, repeatable (default: CPU buckets 480x480, 480x800, 800x480; "
                        "with --device cuda, Detectron2's 800x800, 800x1344, 1344x800)")
    parser.add_argument("--format", action="append", choices=("onnx", "torchscript"),
                        help="formats to write (default: both)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 16; default 17)")
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (export and parity run there)")
    parser.add_argument("--parity-images", type=int, default=4,
                        help="how many bundled real photos the parity check uses (default 4)")
    parser.add_argument("--out", required=True, type=Path, help="model repository folder")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    import warnings

    # Deprecation notices from detectron2/torch internals that a user can do nothing about.
    for message in ("pkg_resources is deprecated", "`torch.jit", "torch.meshgrid"):
        warnings.filterwarnings("ignore", message=message)

    import torch

    from creativelens.canvas import CPU_CANVASES, GPU_CANVASES, parse_canvas
    from creativelens.errors import UserError
    from creativelens.export.repository import export_to_repository
    from creativelens.export.zoo import load_detector
    from creativelens.sample_media import sample_stills

    thresholds = None
    if args.from_training:
        from creativelens.train.outputs import from_training

        args.config_file, args.weights, args.labels, thresholds = from_training(args.from_training)
        args.model = args.model or args.from_training.resolve().name
    if not args.model and not args.config_file:
        raise UserError("name a model: --model NAME (model zoo) or --config-file FILE --weights FILE")
    if args.max_batch_size < 1:
        raise UserError("--max-batch-size must be at least 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible to PyTorch here")
    default_canvases = GPU_CANVASES if args.device.startswith("cuda") else CPU_CANVASES
    canvases = [parse_canvas(text) for text in args.canvas] if args.canvas else list(default_canvases)
    images = sample_stills()[: args.parity_images]
    if len(images) < 2:
        raise UserError("parity needs at least 2 bundled photos (is scikit-image installed?)")

    detector = load_detector(
        args.model, config_file=args.config_file, weights=args.weights,
        random_weights=args.random_weights, labels_file=args.labels,
    )
    result = export_to_repository(
        detector, canvases, args.out, images, formats=tuple(args.format or ("onnx", "torchscript")),
        opset=args.opset, max_batch_size=args.max_batch_size, device=args.device,
        **({"thresholds": thresholds} if thresholds else {}),
    )
    sizes = ", ".join(f"{name} {mb} MB" for name, mb in result.sizes_mb.items())
    print(f"{detector.name}: written to {result.model_dir} ({sizes}); parity.json: PASS")
    return 0
