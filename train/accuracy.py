"""The seeds' accuracy rule, and precision / recall / F1 / confusion matrix built on it.

The rule, as the seeds state it: a prediction is accurate when its intersection with the
labelled box is between 60 % and 130 % of the labelled box's area. An intersection can never
exceed the labelled box, so the 130 % bound never binds: in effect a prediction of the right
class is accurate when it covers at least 60 % of the labelled box (a box much larger than the
label still counts, as in the seeds). Implemented exactly so, bounds inclusive.

Matching: per image, predictions at or above the class's threshold, highest score first, each
take the unmatched label of their class that they cover most (if the rule holds). Matched
predictions are true positives, the rest false positives, unmatched labels false negatives.
accuracy = TP / (TP + FP + FN) (detection has no true negatives), precision = TP / (TP + FP),
recall = TP / (TP + FN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from creativelens.detections import Detections

RULE_LOW, RULE_HIGH = 0.60, 1.30


def covered_fraction(predicted_xyxy: np.ndarray, labelled_xyxy: np.ndarray) -> np.ndarray:
    """[P, L] intersection area / labelled box area."""
    p = np.asarray(predicted_xyxy, np.float64).reshape(-1, 1, 4)
    g = np.asarray(labelled_xyxy, np.float64).reshape(1, -1, 4)
    w = np.clip(np.minimum(p[..., 2], g[..., 2]) - np.maximum(p[..., 0], g[..., 0]), 0, None)
    h = np.clip(np.minimum(p[..., 3], g[..., 3]) - np.maximum(p[..., 1], g[..., 1]), 0, None)
    area = np.clip((g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1]), 1e-9, None)
    return w * h / area


def rule_holds(fraction) -> np.ndarray:
    fraction = np.round(np.asarray(fraction, np.float64), 9)
    return (fraction >= RULE_LOW) & (fraction <= RULE_HIGH)


@dataclass
class Labels:
    """One image's labelled boxes (x1, y1, x2, y2 pixels) and contiguous class ids."""

    xyxy: np.ndarray
    class_ids: np.ndarray


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: "Counts") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def accuracy(self) -> float:
        total = self.tp + self.fp + self.fn
        return self.tp / total if total else 1.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "accuracy": round(self.accuracy, 4),
                "precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


def match_image(pred: Detections, labels: Labels, class_id: int, threshold: float) -> Counts:
    """TP/FP/FN of one class in one image at one score threshold."""
    keep = (pred.class_ids == class_id) & (pred.scores >= threshold)
    boxes, scores = pred.xyxy[keep], pred.scores[keep]
    truth = labels.xyxy[labels.class_ids == class_id]
    if len(truth) == 0 or len(boxes) == 0:
        return Counts(0, len(boxes), len(truth))
    fraction = covered_fraction(boxes, truth)
    free = np.ones(len(truth), bool)
    tp = 0
    for p in np.argsort(-scores, kind="stable"):
        candidates = np.where(free & rule_holds(fraction[p]))[0]
        if len(candidates):
            free[candidates[np.argmax(fraction[p, candidates])]] = False
            tp += 1
    return Counts(tp, len(boxes) - tp, len(truth) - tp)


def class_counts(predictions: dict[str, Detections], labels: dict[str, Labels], class_id: int,
                 threshold: float) -> Counts:
    total = Counts()
    for key, truth in labels.items():
        total.add(match_image(predictions.get(key, _empty()), truth, class_id, threshold))
    return total


def _empty() -> Detections:
    return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), ())


def confusion_matrix(predictions: dict[str, Detections], labels: dict[str, Labels], thresholds: list[float]) -> np.ndarray:
    """[C+1, C+1]: rows the labelled class (last: background = an unmatched prediction), columns
    the predicted class (last: missed). A label pairs with the prediction of any class, above
    that class's threshold, that covers it most under the rule."""
    n = len(thresholds)
    matrix = np.zeros((n + 1, n + 1), np.int64)
    for key, truth in labels.items():
        pred = predictions.get(key, _empty())
        keep = pred.scores >= np.array(thresholds, np.float32)[pred.class_ids] if len(pred) else np.zeros(0, bool)
        boxes, classes = pred.xyxy[keep], pred.class_ids[keep]
        used = np.zeros(len(boxes), bool)
        if len(boxes) and len(truth.xyxy):
            fraction = covered_fraction(boxes, truth.xyxy)
            ok = rule_holds(fraction)
        for li, true_class in enumerate(truth.class_ids):
            candidates = np.where(~used & ok[:, li])[0] if len(boxes) and len(truth.xyxy) else []
            if len(candidates):
                best = candidates[np.argmax(fraction[candidates, li])]
                used[best] = True
                matrix[true_class, classes[best]] += 1
            else:
                matrix[true_class, n] += 1
        for c in classes[~used]:
            matrix[n, c] += 1
    return matrix
