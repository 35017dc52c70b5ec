"""`creativelens evaluate`: COCO AP (pycocotools) + the seeds' accuracy rule, for a checkpoint,
an ONNX export or a served model, on one labelled split.

All three run on the same pixels: each image decoded by the client's decoder and letterboxed
onto the model's canvas, so eager, ONNX Runtime and Triton answers are comparable number for
number; every model output becomes `Detections` through `formats.from_model_outputs`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from creativelens import formats
from creativelens.canvas import buckets, choose_canvas, letterbox, parse_canvas
from creativelens.detections import Detections
from creativelens.errors import UserError
from creativelens.item_result import unescape_name
from creativelens.train import accuracy, thresholds as sweep
from creativelens.train.labels import class_names_of, read_coco

REPORT_THRESHOLDS = (0.2, 0.4, 0.6, 0.8)
AREA_RANGES = ("small", "medium", "large")  # COCO's: under 32 x 32 px, up to 96 x 96 px, above


def labels_by_file(dataset: dict) -> dict[str, accuracy.Labels]:
    order = {c["id"]: i for i, c in enumerate(sorted(dataset["categories"], key=lambda c: c["id"]))}
    by_image = {image["id"]: ([], []) for image in dataset["images"]}
    for a in dataset["annotations"]:
        x, y, w, h = a["bbox"]
        by_image[a["image_id"]][0].append([x, y, x + w, y + h])
        by_image[a["image_id"]][1].append(order[a["category_id"]])
    return {image["file_name"]: accuracy.Labels(np.array(by_image[image["id"]][0], np.float64).reshape(-1, 4),
                                                np.array(by_image[image["id"]][1], np.int32))
            for image in dataset["images"]}


def run_on_canvases(runner, images_dir: Path, dataset: dict, canvases, class_names) -> dict[str, Detections]:
    from creativelens.client.decode import decode_still

    found = {}
    for image in dataset["images"]:
        pixels = decode_still(images_dir / image["file_name"])
        boxed = letterbox(pixels, choose_canvas(*pixels.shape[:2], canvases))
        boxes, scores, classes, count = runner(boxed.pixels[None], np.array([[boxed.valid_height, boxed.valid_width]], np.int32))
        found[image["file_name"]] = formats.from_model_outputs(boxes[0], scores[0], classes[0], count[0], class_names,
                                                               boxed)
    return found


def predict_checkpoint(config_file: Path, weights: Path, images_dir: Path, dataset: dict, canvas: str | None = None):
    """Eager Detectron2 (the modules the exporter wraps), on letterboxed canvases."""
    from creativelens.export.parity import reference_detections
    from creativelens.export.zoo import load_detector

    labels = Path(config_file).parent / "labels.txt"
    detector = load_detector(config_file=config_file, weights=weights, labels_file=labels if labels.is_file() else None)
    cfg = detector.cfg
    canvases = [parse_canvas(canvas)] if canvas else sorted(set(buckets(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)))
    keep = int(cfg.TEST.DETECTIONS_PER_IMAGE)

    def runner(images, sizes):
        boxes, scores, classes = reference_detections(detector.model, images, sizes)[0]
        n = min(len(scores), keep)
        return boxes[None, :n], scores[None, :n], classes[None, :n], np.array([n])

    return run_on_canvases(runner, images_dir, dataset, canvases, detector.class_names), detector.class_names


def predict_onnx(path: Path, images_dir: Path, dataset: dict, canvas: str | None = None):
    """An exported model folder (config.pbtxt + 1/model.onnx) or its model.onnx, through ONNX Runtime."""
    from creativelens.export.model_files import OnnxRunner
    from creativelens.model_metadata import read_model_metadata

    path = Path(path)
    model_dir = path if path.is_dir() else path.parent.parent
    onnx_file = path if path.is_file() else next(iter(sorted(path.glob("*/model.onnx"))), None)
    if onnx_file is None or not onnx_file.is_file():
        raise UserError(f"--onnx {path}: no model.onnx (expected MODEL_DIR/1/model.onnx or the file)")
    try:
        metadata = read_model_metadata(model_dir)
    except (OSError, ValueError) as error:
        raise UserError(f"--onnx {path}: cannot read the export's config.pbtxt in {model_dir} ({error})") from None
    canvases = [parse_canvas(canvas)] if canvas else list(metadata.canvases)
    runner = OnnxRunner(onnx_file)
    return run_on_canvases(runner, images_dir, dataset, canvases, list(metadata.class_names)), list(metadata.class_names)


def predict_served(server: str, model: str, images_dir: Path, dataset: dict):
    """Through the real client: `stream()` with every score kept, then the results folder read back."""
    from creativelens.client.rules import Rules
    from creativelens.client.served_models import fetch_served_models
    from creativelens.client.settings import RunSettings
    from creativelens.client.stream import stream

    names = list(fetch_served_models(server, [model])[0].metadata.class_names)
    with tempfile.TemporaryDirectory(prefix="creativelens-evaluate-") as out:
        paths = [str((images_dir / image["file_name"]).resolve()) for image in dataset["images"]]
        summary = stream(paths, server, out, RunSettings(models=(model,), rules=Rules(threshold=0.0)),
                         log=lambda message: None)
        found = served_detections(out, model)
    if summary.failure or not summary.complete:
        raise UserError(f"--server {server}: the run did not finish ({summary.failure or 'incomplete'})")
    return {Path(key).name: det for key, det in found.items()}, names


def served_detections(results_dir: str | Path, model: str) -> dict[str, Detections]:
    """The one place that reads served results (the client's results folder) back."""
    from creativelens.client.ledger import read_detections

    return {unescape_name(key): det for key, det in read_detections(results_dir, model).items()}


def coco_metrics(dataset: dict, predictions: dict[str, Detections], class_names) -> dict:
    """COCO AP / AP50 / AP75 and per-class AP with pycocotools."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ids = [c["id"] for c in sorted(dataset["categories"], key=lambda c: c["id"])]
    image_ids = {image["file_name"]: image["id"] for image in dataset["images"]}
    results = []
    for name, det in predictions.items():
        for box, score, class_id in zip(formats.to_coco_xywh(det), det.scores, det.class_ids):
            results.append({"image_id": image_ids[name], "category_id": ids[int(class_id)],
                            "bbox": [float(v) for v in box], "score": float(score)})
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {**dataset, "annotations": [{**a, "area": a["bbox"][2] * a["bbox"][3]} for a in dataset["annotations"]]}
        truth.createIndex()
        if not results:
            return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0, "per_class": {n: 0.0 for n in class_names},
                    "AP_by_size": {size: 0.0 for size in AREA_RANGES}}
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    precision = evaluation.eval["precision"]  # [T, R, K, A, M]
    per_class = {}
    for k, name in enumerate(class_names):
        values = precision[:, :, k, 0, -1]
        values = values[values > -1]
        per_class[name] = round(float(values.mean()), 4) if values.size else 0.0
    stats = evaluation.stats
    return {"AP": round(float(stats[0]), 4), "AP50": round(float(stats[1]), 4), "AP75": round(float(stats[2]), 4),
            "per_class": per_class,
            "AP_by_size": {size: (round(float(stats[3 + i]), 4) if stats[3 + i] > -1 else None)
                           for i, size in enumerate(AREA_RANGES)}}


def evaluate(dataset: dict, predictions: dict[str, Detections], class_names, thresholds: dict[str, float]) -> dict:
    labels = labels_by_file(dataset)
    if tuple(class_names) != class_names_of(dataset):
        raise UserError(f"the model's classes {tuple(class_names)} differ from the labels' {class_names_of(dataset)}")
    result = coco_metrics(dataset, predictions, class_names)
    per_threshold = [thresholds.get(name, 0.5) for name in class_names]
    total, per_class_counts = accuracy.Counts(), {}
    for k, name in enumerate(class_names):
        counts = accuracy.class_counts(predictions, labels, k, per_threshold[k])
        per_class_counts[name] = counts.as_dict()
        total.add(counts)
    uniform = {}
    for t in REPORT_THRESHOLDS:
        at = accuracy.Counts()
        for k in range(len(class_names)):
            at.add(accuracy.class_counts(predictions, labels, k, t))
        uniform[f"{t:.2f}"] = at.as_dict()
    matrix = accuracy.confusion_matrix(predictions, labels, per_threshold)
    result.update({
        "accuracy": round(total.accuracy, 4), "precision": round(total.precision, 4), "recall": round(total.recall, 4),
        "f1": round(total.f1, 4), "counts": total.as_dict(), "thresholds": dict(zip(class_names, per_threshold)),
        "per_class_accuracy": per_class_counts, "at_uniform_threshold": uniform,
        "confusion_matrix": {"rows_labelled": [*class_names, "background"], "columns_predicted": [*class_names, "missed"],
                             "counts": matrix.tolist()},
        "images": len(dataset["images"]), "labels": len(dataset["annotations"]),
        "accuracy_rule": "intersection / labelled area in [0.60, 1.30] (upper bound never binds)",
    })
    return result


def write_report(result: dict, out: Path, title: str) -> None:
    from creativelens.train.plots import plot_confusion

    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_confusion(result["confusion_matrix"], out / "confusion_matrix.png", title)
    lines = [f"# {title}", "", f"{result['images']} images, {result['labels']} labelled boxes. "
             f"Accuracy rule: {result['accuracy_rule']}.", "",
             "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {result[k]} |" for k in ("AP", "AP50", "AP75", "accuracy", "precision", "recall", "f1")]
    lines += ["", "| class | AP | threshold | accuracy | precision | recall |", "|---|---|---|---|---|---|"]
    for name, ap in result["per_class"].items():
        c = result["per_class_accuracy"][name]
        lines.append(f"| {name} | {ap} | {result['thresholds'][name]:.2f} | {c['accuracy']} | {c['precision']} | {c['recall']} |")
    lines += ["", "![confusion matrix](confusion_matrix.png)", ""]
    (out / "evaluation.md").write_text("\n".join(lines))


def finish_training(spec, log=print) -> dict:
    """After `train`: eager predictions on validation, per-class threshold sweep, evaluation."""
    dataset = read_coco(spec.val_json, spec.val_images, spec.labels_format, spec.max_labels_mb, spec.max_boxes_per_image)
    predictions, names = predict_checkpoint(spec.out / "config.yaml", spec.out / "model_final.pth", spec.val_images, dataset)
    chosen = sweep.sweep_thresholds(predictions, labels_by_file(dataset), names)
    (spec.out / "thresholds.json").write_text(json.dumps(chosen, indent=2) + "\n")
    result = evaluate(dataset, predictions, names, chosen)
    write_report(result, spec.out, f"Validation of {spec.out.name}")
    log(f"validation: AP {result['AP']}, AP50 {result['AP50']}, accuracy {result['accuracy']} at thresholds "
        + ", ".join(f"{k} {v:.2f}" for k, v in chosen.items()))
    return result


def evaluate_command(args) -> dict:
    if not args.max_labels_mb > 0 or args.max_boxes_per_image < 1:
        raise UserError("--max-labels-mb and --max-boxes-per-image must be positive")
    dataset = read_coco(args.coco_json, args.images, args.labels_format, args.max_labels_mb, args.max_boxes_per_image)
    chosen = [bool(args.weights or args.config_file), bool(args.onnx), bool(args.server or args.model)]
    if sum(chosen) != 1:
        raise UserError("evaluate one model: --config-file C --weights W, or --onnx PATH, or --server HOST:PORT --model NAME")
    if chosen[0]:
        if not (args.config_file and args.weights):
            raise UserError("a checkpoint needs both --config-file and --weights")
        predictions, names = predict_checkpoint(args.config_file, args.weights, args.images, dataset, args.canvas)
        what = f"checkpoint {args.weights}"
    elif chosen[1]:
        predictions, names = predict_onnx(args.onnx, args.images, dataset, args.canvas)
        what = f"ONNX {args.onnx}"
    else:
        if not (args.server and args.model):
            raise UserError("a served model needs both --server and --model")
        predictions, names = predict_served(args.server, args.model, args.images, dataset)
        what = f"served {args.model} at {args.server}"
    thresholds = {}
    if args.thresholds:
        try:
            thresholds = {str(k): float(v) for k, v in json.loads(Path(args.thresholds).read_text()).items()}
        except (OSError, ValueError, AttributeError) as error:
            raise UserError(f"--thresholds {args.thresholds}: not a JSON object of class -> threshold ({error})") from None
    result = evaluate(dataset, predictions, names, thresholds)
    result["evaluated"] = what
    write_report(result, args.out, f"Evaluation of {what}")
    print(f"{what}: AP {result['AP']}, AP50 {result['AP50']}, AP75 {result['AP75']}, accuracy {result['accuracy']}, "
          f"precision {result['precision']}, recall {result['recall']} -> {args.out / 'evaluation.json'}")
    return result
