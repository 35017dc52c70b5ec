"""The evaluation section: what `creativelens evaluate` measured, and where, drawn on the images.

`creativelens evaluate OUT` writes `evaluation.json` (AP, the seeds' accuracy rule per class,
counts at uniform thresholds, the confusion matrix), `evaluation.md` and `confusion_matrix.png`
(and `train` adds grid heat maps), but no per-box verdicts. Given the labels it was run on
(`--coco-json`, `--images`) and a results folder of the same images, this module matches each
image's predictions to its labels with the evaluation's own rule (`train.accuracy`'s covered
fraction and bounds, greedy by score, at the evaluation's per-class thresholds) and draws true
positives, false positives and misses in three colours (supervision, see drawing.py). The
per-class counts, confusion matrix and threshold plot come from evaluation.json itself.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from creativelens.detections import Detections
from creativelens.errors import UserError
from creativelens.item_result import ItemResult

EVALUATION_FILE = "evaluation.json"  # written by creativelens.train.evaluation.write_report


@dataclass
class ImageOutcome:
    file_name: str
    tp: list = field(default_factory=list)  # (box, text)
    fp: list = field(default_factory=list)
    miss: list = field(default_factory=list)


def box_outcomes(pred: Detections, labelled_xyxy: np.ndarray, labelled_classes: np.ndarray, class_id: int,
                 threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which predictions of one class (at or above `threshold`) are true positives, and which labels
    of that class are missed, by `train.accuracy.match_image`'s rule and order. Returns (indices of
    kept predictions that matched, indices of kept predictions that did not, indices of missed labels)."""
    from creativelens.train.accuracy import covered_fraction, rule_holds

    kept = np.where((pred.class_ids == class_id) & (pred.scores >= threshold))[0]
    truth = np.where(labelled_classes == class_id)[0]
    if len(truth) == 0 or len(kept) == 0:
        return kept[:0], kept, truth
    fraction = covered_fraction(pred.xyxy[kept], labelled_xyxy[truth])
    free = np.ones(len(truth), bool)
    matched = np.zeros(len(kept), bool)
    for p in np.argsort(-pred.scores[kept], kind="stable"):
        candidates = np.where(free & rule_holds(fraction[p]))[0]
        if len(candidates):
            free[candidates[np.argmax(fraction[p, candidates])]] = False
            matched[p] = True
    return kept[matched], kept[~matched], truth[free]


def build_evaluation(evaluation_dir: Path, coco_json: Path | None, images_dir: Path | None, items: list[ItemResult],
                     model: str | None, out: Path, problems: list[str]) -> dict:
    """Writes `out/evaluation/` (drawn images, plots) and returns the section's data."""
    path = evaluation_dir / EVALUATION_FILE
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"--evaluation {evaluation_dir}: no readable {EVALUATION_FILE} ({error})") from None
    folder = out / "evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    plots = []
    for png in sorted(evaluation_dir.glob("*.png")):
        shutil.copyfile(png, folder / png.name)
        plots.append(f"evaluation/{png.name}")
    if result.get("at_uniform_threshold"):
        _threshold_plot(result["at_uniform_threshold"], folder / "threshold_plot.png")
        plots.insert(0, "evaluation/threshold_plot.png")
    section = {"metrics": {k: result.get(k) for k in ("AP", "AP50", "AP75", "accuracy", "precision", "recall", "f1")},
               "evaluated": result.get("evaluated", ""), "thresholds": result.get("thresholds", {}),
               "per_class": {name: {"AP": result.get("per_class", {}).get(name), **counts}
                             for name, counts in result.get("per_class_accuracy", {}).items()},
               "confusion_matrix": result.get("confusion_matrix"), "plots": plots, "images": [],
               "rule": result.get("accuracy_rule", ""), "colours": None, "drawn_counts": None}
    if coco_json is None:
        problems.append("evaluation: no --coco-json/--images given, so true and false positives are not drawn "
                        "on the images (evaluation.json holds counts only)")
        return section
    section["images"], section["drawn_counts"] = _draw(result, coco_json, images_dir, items, model, folder, problems)
    from creativelens.report.drawing import OUTCOME_COLOURS

    section["colours"] = OUTCOME_COLOURS
    return section


def _draw(result, coco_json, images_dir, items, model, folder, problems):
    import cv2

    from creativelens.client.decode import decode_still
    from creativelens.client.sources import MediaError
    from creativelens.train.evaluation import labels_by_file
    from creativelens.train.labels import class_names_of, read_coco
    from creativelens.report.drawing import draw_outcomes
    from creativelens.report.images import VIEW_EDGE

    dataset = read_coco(coco_json, images_dir)
    names = list(class_names_of(dataset))
    thresholds = [float(result.get("thresholds", {}).get(n, 0.5)) for n in names]
    labels = labels_by_file(dataset)
    models = sorted({m.model for item in items for m in item.models})
    if model is None:
        if len(models) != 1:
            raise UserError(f"--evaluation: the results hold {len(models)} models ({', '.join(models) or 'none'}): "
                            "name the evaluated one with --evaluation-model")
        model = models[0]
    by_path = {str(Path(item.source).resolve()): item for item in items if item.frame_index is None}
    by_name: dict[str, list[ItemResult]] = {}
    for item in items:
        if item.frame_index is None:
            by_name.setdefault(Path(item.source).name, []).append(item)
    images, totals, unmatched = [], {"tp": 0, "fp": 0, "miss": 0}, []
    for n, (file_name, truth) in enumerate(sorted(labels.items())):
        item = by_path.get(str((Path(images_dir) / file_name).resolve()))
        if item is None and len(by_name.get(Path(file_name).name, [])) == 1:
            item = by_name[Path(file_name).name][0]
        answer = item.model(model) if item is not None else None
        if answer is None or answer.error is not None:
            unmatched.append(file_name)
            continue
        pred = answer.detections
        drawn = {"tp": ([], []), "fp": ([], []), "miss": ([], [])}
        counts = {"tp": 0, "fp": 0, "miss": 0}
        for k, name in enumerate(names):
            tp, fp, missed = box_outcomes(pred, truth.xyxy, truth.class_ids, k, thresholds[k])
            for outcome, rows, boxes, text in (("tp", tp, pred.xyxy, "TP"), ("fp", fp, pred.xyxy, "FP"),
                                               ("miss", missed, truth.xyxy, "MISS")):
                for row in rows:
                    drawn[outcome][0].append(boxes[row])
                    score = f" {pred.scores[row]:.2f}" if outcome != "miss" else ""
                    drawn[outcome][1].append(f"{text} {name}{score}")
                counts[outcome] += len(rows)
        for key in totals:
            totals[key] += counts[key]
        try:
            pixels = decode_still(Path(images_dir) / file_name)
        except (MediaError, OSError) as error:
            problems.append(f"evaluation: {file_name} cannot be drawn ({error})")
            continue
        scale = min(1.0, VIEW_EDGE / max(pixels.shape[:2]))
        if scale < 1:
            pixels = cv2.resize(pixels, (round(pixels.shape[1] * scale), round(pixels.shape[0] * scale)),
                                interpolation=cv2.INTER_AREA)
        picture = draw_outcomes(pixels, {k: (np.array(v[0], np.float32).reshape(-1, 4) * scale, v[1])
                                         for k, v in drawn.items()})
        name = f"evaluation/{n}.jpg"
        cv2.imwrite(str(folder.parent / name), picture, [cv2.IMWRITE_JPEG_QUALITY, 85])
        images.append({"file_name": file_name, "image": name, **counts})
    if unmatched:
        problems.append(f"evaluation: {len(unmatched)} labelled images have no result of {model} in the results folder "
                        f"(e.g. {unmatched[0]}): stream the labelled images into it")
    return images, totals


def _threshold_plot(uniform: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thresholds = sorted(uniform, key=float)
    xs = [float(t) for t in thresholds]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for key in ("precision", "recall", "accuracy", "f1"):
        ax.plot(xs, [uniform[t].get(key, 0) for t in thresholds], marker="o", label=key)
    ax.set_xlabel("score threshold (every class)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("the evaluation at uniform thresholds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
