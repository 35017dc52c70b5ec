"""Parity: does an exported model detect what eager Detectron2 detects on the same input?

The reference is Detectron2's own inference path (backbone, `proposal_generator`,
`roi_heads`) run one image at a time on the same canvas pixels. Detections are matched per
image (same class, best IoU); the report gives the largest box and score differences and
what was left unmatched, and whether a batch of N gives what N batches of one give.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

BOX_TOLERANCE_PX = 0.5
SCORE_TOLERANCE = 1e-3
MATCH_DISTANCE_PX = 2.0
NMS_TIE_TOLERANCE = 1e-3  # IoU this close to the NMS threshold: float noise decides suppression
BATCH_SIZES = (1, 2, 4)


@dataclass
class Comparison:
    matched: int = 0
    unmatched_reference: int = 0
    unmatched_export: int = 0
    borderline: int = 0  # unmatched but within SCORE_TOLERANCE of the score threshold or the top-K cut
    max_box_diff_px: float = 0.0
    max_score_diff: float = 0.0

    def add(self, other: "Comparison") -> None:
        self.matched += other.matched
        self.unmatched_reference += other.unmatched_reference
        self.unmatched_export += other.unmatched_export
        self.borderline += other.borderline
        self.max_box_diff_px = max(self.max_box_diff_px, other.max_box_diff_px)
        self.max_score_diff = max(self.max_score_diff, other.max_score_diff)

    @property
    def ok(self) -> bool:
        return (
            self.unmatched_reference == self.unmatched_export == 0
            and self.max_box_diff_px <= BOX_TOLERANCE_PX
            and self.max_score_diff <= SCORE_TOLERANCE
        )


@dataclass
class FormatParity:
    format: str
    file: str
    versus_eager: Comparison = field(default_factory=Comparison)
    batch_consistency: Comparison = field(default_factory=Comparison)
    batch_sizes: tuple[int, ...] = BATCH_SIZES
    seconds_per_image: float = 0.0

    @property
    def ok(self) -> bool:
        return self.versus_eager.ok and self.batch_consistency.ok


def reference_detections(model, images: np.ndarray, sizes: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Detectron2's own modules, one image at a time: (boxes, scores, classes) per image."""
    from detectron2.structures import ImageList

    from creativelens.export.batched_rcnn import BatchedFasterRCNN

    normaliser = BatchedFasterRCNN(model).eval()
    results = []
    with torch.no_grad():
        for image, size in zip(images, sizes):
            tensor = normaliser.normalise(torch.from_numpy(image[None]), torch.from_numpy(size[None]).float())
            batch = ImageList(tensor, [tuple(int(v) for v in size)])
            features = model.backbone(tensor)
            proposals, _ = model.proposal_generator(batch, features)
            instances = model.roi_heads(batch, features, proposals)[0][0]
            results.append((instances.pred_boxes.tensor.numpy(), instances.scores.numpy(),
                            instances.pred_classes.numpy()))
    return results


def split_outputs(outputs) -> list[tuple[np.ndarray, ...]]:
    """Contract outputs [N, K, ...] -> (boxes, scores, classes) per image, valid rows only."""
    boxes, scores, classes, counts = outputs
    counts = np.asarray(counts).reshape(-1)
    return [(boxes[i, :n], scores[i, :n], classes[i, :n]) for i, n in enumerate(counts)]


def compare(reference, candidate, score_threshold: float, top_k: int, nms_threshold: float | None = None) -> Comparison:
    """Greedy match, best reference scores first, to the nearest box of the same class.

    A match needs IoU >= 0.5 or corners within MATCH_DISTANCE_PX (clipped boxes at the
    border can have zero area, where IoU says nothing).

    A detection left unmatched only because its score sits at the score threshold or at the
    top-K cut (where a 1e-4 difference decides whether it is reported at all) counts as
    borderline, not as a mismatch; so does one whose IoU with a higher-scored detection of its
    class sits at `nms_threshold` (an NMS tie: the same noise decides whether it is suppressed).
    """
    ref_boxes, ref_scores, ref_classes = reference
    boxes, scores, classes = candidate
    used = np.zeros(len(boxes), bool)
    result = Comparison()
    lost = []
    for i in np.argsort(-ref_scores, kind="stable"):
        candidates = np.flatnonzero((classes == ref_classes[i]) & ~used)
        if not len(candidates):
            lost.append(i)
            continue
        distance = np.abs(boxes[candidates] - ref_boxes[i]).max(axis=1)
        j = candidates[int(np.argmin(distance))]
        if _iou(ref_boxes[i], boxes[j:j + 1])[0] < 0.5 and distance.min() > MATCH_DISTANCE_PX:
            lost.append(i)
            continue
        used[j] = True
        result.matched += 1
        result.max_box_diff_px = max(result.max_box_diff_px, float(distance.min()))
        result.max_score_diff = max(result.max_score_diff, float(abs(ref_scores[i] - scores[j])))
    full = max(len(scores), len(ref_scores)) >= top_k
    cut = min(ref_scores.min(initial=1.0), scores.min(initial=1.0)) if full else None

    def borderline(score, box, label, detections) -> bool:
        if abs(score - score_threshold) <= SCORE_TOLERANCE or (cut is not None and abs(score - cut) <= SCORE_TOLERANCE):
            return True
        if nms_threshold is None:
            return False
        all_boxes, all_scores, all_classes = detections
        stronger = (all_classes == label) & (all_scores > score)
        return bool((np.abs(_iou(box, all_boxes[stronger]) - nms_threshold) <= NMS_TIE_TOLERANCE).any())

    for index in lost:
        if borderline(ref_scores[index], ref_boxes[index], ref_classes[index], reference):
            result.borderline += 1
        else:
            result.unmatched_reference += 1
    for index in np.flatnonzero(~used):
        if borderline(scores[index], boxes[index], classes[index], candidate):
            result.borderline += 1
        else:
            result.unmatched_export += 1
    return result


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    if not len(boxes):
        return np.zeros(0)
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def check_format(name: str, file: Path, runner, reference, images, sizes, score_threshold: float,
                 top_k: int, nms_threshold: float | None = None) -> FormatParity:
    """Compare one exported runner with the eager reference, and batches with single images."""
    parity = FormatParity(name, file.name)
    started = time.perf_counter()
    singles = [split_outputs(runner(images[i:i + 1], sizes[i:i + 1]))[0] for i in range(len(images))]
    parity.seconds_per_image = round((time.perf_counter() - started) / len(images), 3)
    for ref, single in zip(reference, singles):
        parity.versus_eager.add(compare(ref, single, score_threshold, top_k, nms_threshold))
    for n in BATCH_SIZES[1:]:
        for start in range(0, len(images) - n + 1, n):
            batched = split_outputs(runner(images[start:start + n], sizes[start:start + n]))
            for single, in_batch in zip(singles[start:start + n], batched):
                parity.batch_consistency.add(compare(single, in_batch, score_threshold, top_k, nms_threshold))
    return parity


@dataclass
class ParityReport:
    model: str
    weights: str
    random_weights: bool
    canvases: list[str]
    images: list[str]
    formats: list[FormatParity]
    weights_sha256: str = ""  # of the checkpoint the export was made from ("" for random weights)
    # REDUCED PRECISION variants (export --precision): their gates against FP32, passed or refused
    reduced_precision: list = field(default_factory=list)
    tolerances: dict = field(default_factory=lambda: {
        "box_px": BOX_TOLERANCE_PX, "score": SCORE_TOLERANCE, "match_iou": 0.5,
        "match_distance_px": MATCH_DISTANCE_PX, "nms_tie_iou": NMS_TIE_TOLERANCE})

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.formats)

    def to_json(self) -> dict:
        data = asdict(self)
        data["reduced_precision"] = [gate.to_json() for gate in self.reduced_precision]
        data["ok"] = self.ok
        for entry, parity in zip(data["formats"], self.formats):
            entry["ok"] = parity.ok
        return data

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def summary(self) -> str:
        lines = [f"parity of {self.model} ({'RANDOM WEIGHTS' if self.random_weights else self.weights}) "
                 f"on {len(self.images)} images x canvases {', '.join(self.canvases)}:"]
        for f in self.formats:
            v, b = f.versus_eager, f.batch_consistency
            lines.append(
                f"  {f.format:<11} {'PASS' if f.ok else 'FAIL'}  vs eager: {v.matched} matched, "
                f"{v.unmatched_reference}+{v.unmatched_export} unmatched ({v.borderline} borderline), "
                f"max box diff {v.max_box_diff_px:.3f} px, max score diff {v.max_score_diff:.1e}; "
                f"batch {'/'.join(map(str, f.batch_sizes))} vs 1: "
                f"{'consistent' if b.ok else 'INCONSISTENT'} (max box diff {b.max_box_diff_px:.3f} px); "
                f"{f.seconds_per_image:.2f} s/image"
            )
        if self.reduced_precision:
            lines.append("reduced precision (judged on detections against FP32, not on bits; FP32 above is unaffected):")
            lines += [gate.summary() for gate in self.reduced_precision]
        return "\n".join(lines)
