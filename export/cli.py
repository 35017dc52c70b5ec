"""`creativelens export`: Detectron2 detector -> ONNX + TorchScript -> Triton model repository."""

from __future__ import annotations

import argparse
import sys
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
    source.add_argument("--allow-unused-weights", action="store_true",
                        help="export although the checkpoint holds tensors the model does not have (e.g. the mask "
                        "head of a Mask R-CNN checkpoint, exported as a box detector); they are named on stderr. "
                        "Missing tensors and tensors of other shapes are always refused")
    source.add_argument("--random-weights", action="store_true",
                        help="random weights, for machines that cannot download the zoo's (says so everywhere)")
    parser.add_argument("--canvas", action="append", metavar="HxW",
                        help="canvas bucket, repeatable (default: CPU buckets 480x480, 480x800, 800x480; "
                        "with --device cuda, Detectron2's 800x800, 800x1344, 1344x800)")
    parser.add_argument("--canvas-set", choices=("cpu", "ads", "gpu"),
                        help="a named set of buckets instead of --canvas: cpu (480x480, 480x800, 800x480), ads "
                             "(shaped like ad creatives 1:1, 4:5, 9:16, 16:9, 1.91:1 under the same 480/800 rule: "
                             "480x480, 608x480, 800x448, 448x800, 416x800; less padding on creatives, see "
                             "benchmarks/results) or gpu (800x800, 800x1344, 1344x800)")
    parser.add_argument("--format", action="append", choices=("onnx", "torchscript"),
                        help="formats to write (default: both)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 16; default 17)")
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (export and parity run there)")
    parser.add_argument("--parity-images", type=int, default=4,
                        help="how many bundled real photos the parity check uses (default 4)")
    parser.add_argument("--out", required=True, type=Path, help="model repository folder")
    reduced = parser.add_argument_group(
        "reduced precision (CPU, OpenVINO)",
        "After the FP32 export passes parity, also build a REDUCED-PRECISION variant and gate it against FP32 "
        "OpenVINO on the parity photos and the labelled set's images (>= 95% of FP32's detections found again, "
        ">= 95% of its own known to FP32, counted at the export's per-class thresholds, else the client's default) and, with --gate-coco-json/--gate-images, on COCO AP (at most 0.5 points below FP32). configs/cpu_bf16.pbtxt "
        "or configs/cpu_int8.pbtxt is written only when "
        "the gate passes (`creativelens serve` then serves BF16 by default on a CPU with native BF16; INT8 with "
        "`--config-name cpu_int8`); parity.json records the gate either way. A refused variant is one line on stderr and "
        "exit status 1 (the FP32 export is in place); a variant this machine cannot build at all (BF16 on a CPU "
        "without avx512_bf16/amx_bf16, INT8 without nncf) is refused before anything is exported (exit 2).")
    reduced.add_argument("--precision", action="append", choices=("bf16", "int8"),
                         help="bf16: OpenVINO BF16 inference of model.onnx; int8: NNCF post-training "
                         "quantization to 1/model_int8.xml (needs --calibration-images). Repeatable")
    reduced.add_argument("--calibration-images", type=Path, metavar="DIR",
                         help="int8: media to calibrate on (read as `creativelens stream` reads a folder, "
                         "letterboxed onto the canvases as the client does; the first 32 images)")
    reduced.add_argument("--gate-coco-json", type=Path, metavar="J", help="labelled set (COCO JSON) for the AP gate")
    reduced.add_argument("--gate-images", type=Path, metavar="D", help="its image folder")
    parser.set_defaults(handler=run_export)


def check_precision_flags(args) -> tuple[str, ...]:
    """The --precision flags, checked before any export work: each misuse is one UserError line;
    a precision this machine cannot build (BF16 without native BF16, INT8 without nncf) too."""
    from creativelens.errors import UserError
    from creativelens.export import reduced_precision

    precisions = tuple(dict.fromkeys(args.precision or ()))
    if not precisions:
        if args.calibration_images or args.gate_coco_json or args.gate_images:
            raise UserError("--calibration-images/--gate-coco-json/--gate-images need --precision bf16 or int8")
        return ()
    if args.device != "cpu":
        raise UserError("--precision builds CPU (OpenVINO) variants: export with --device cpu")
    for precision in precisions:
        reason = reduced_precision.refusal(precision)
        if reason:
            raise UserError(reason)
    if "int8" in precisions and not args.calibration_images:
        raise UserError("--precision int8 needs --calibration-images DIR (images like those it will serve)")
    if args.calibration_images and "int8" not in precisions:
        raise UserError("--calibration-images is for --precision int8 only")
    if args.calibration_images and not args.calibration_images.is_dir():
        raise UserError(f"--calibration-images {args.calibration_images}: not a folder")
    if bool(args.gate_coco_json) != bool(args.gate_images):
        raise UserError("the AP gate needs both --gate-coco-json J and --gate-images D")
    return precisions


def reduced_precision_request(args, precisions, class_names, canvases):
    """What add_reduced_precision needs: the labelled set read and checked against the model's
    classes, the calibration images decoded and letterboxed (still before the export)."""
    from creativelens.errors import UserError
    from creativelens.export import reduced_precision

    if not precisions:
        return None
    request = reduced_precision.Request(precisions)
    if args.gate_coco_json:
        from creativelens.train.labels import class_names_of, read_coco

        dataset = read_coco(args.gate_coco_json, args.gate_images)
        if class_names_of(dataset) != tuple(class_names):
            raise UserError(f"--gate-coco-json {args.gate_coco_json}: its classes {class_names_of(dataset)} are not "
                            f"the model's {tuple(class_names)}")
        request.labelled = (dataset, args.gate_images)
    if "int8" in precisions:
        request.calibration = reduced_precision.calibration_inputs(args.calibration_images, canvases)
        request.calibration_source = str(args.calibration_images)
    return request


def run_export(args: argparse.Namespace) -> int:
    import warnings

    # Deprecation notices from detectron2/torch internals that a user can do nothing about.
    for message in ("pkg_resources is deprecated", "`torch.jit", "torch.meshgrid"):
        warnings.filterwarnings("ignore", message=message)

    import torch

    from creativelens.canvas import CPU_CANVASES, GPU_CANVASES, parse_canvas
    from creativelens.errors import UserError
    from creativelens.export import triton_config
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
    if args.canvas and args.canvas_set:
        raise UserError("--canvas and --canvas-set both name the buckets: give one")
    if args.canvas_set:
        from creativelens.canvas import CANVAS_SETS

        default_canvases = CANVAS_SETS[args.canvas_set]
    canvases = [parse_canvas(text) for text in args.canvas] if args.canvas else list(default_canvases)
    images = sample_stills()[: args.parity_images]
    if len(images) < 2:
        raise UserError("parity needs at least 2 bundled photos (is scikit-image installed?)")

    precisions = check_precision_flags(args)
    if args.format and "onnx" not in args.format:
        raise UserError("--format: the ONNX export is required (every served config runs it); add --format onnx")

    detector = load_detector(
        args.model, config_file=args.config_file, weights=args.weights,
        random_weights=args.random_weights, labels_file=args.labels,
        allow_unused_weights=args.allow_unused_weights,
        log=lambda message: print(f"creativelens export: warning: {message}", file=sys.stderr),
    )
    reduced = reduced_precision_request(args, precisions, detector.class_names, canvases)
    result = export_to_repository(
        detector, canvases, args.out, images, torchscript=not args.format or "torchscript" in args.format,
        opset=args.opset, max_batch_size=args.max_batch_size, device=args.device,
        **({"thresholds": thresholds} if thresholds else {}), reduced=reduced,
    )
    sizes = ", ".join(f"{name} {mb} MB" for name, mb in result.sizes_mb.items())
    print(f"{detector.name}: written to {result.model_dir} ({sizes}); parity.json: PASS")
    refused = 0
    for gate in result.report.reduced_precision:
        if gate.ok:
            print(f"{detector.name}: {gate.precision} REDUCED PRECISION gate passed: "
                  f"{triton_config.REDUCED_PRECISION_CONFIGS[gate.precision]} written "
                  + ("(creativelens serve serves it by default on this CPU; --fp32 does not)" if gate.precision == "bf16"
                     else f"(creativelens serve --config-name cpu_{gate.precision})"))
        else:
            refused += 1
            print(f"creativelens export: {gate.reason}", file=sys.stderr)
    return 1 if refused else 0
