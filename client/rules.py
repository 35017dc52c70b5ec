"""Which detections count: a score threshold, per-class overrides and containment rules.

A rules file is JSON:

    {"threshold": 0.85,
     "per_class": {"person": 0.6, "tie": 0.95},
     "only_inside": {"smile": ["face"]}}

`only_inside` keeps a detection of the key class only when most of its box (`inside_fraction`,
0.8 by default) lies inside a kept box of one of the listed classes: a smile counts only
inside a face. Thresholds apply first, so a face below its threshold contains nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from creativelens.detections import Detections
from creativelens.errors import UserError

DEFAULT_THRESHOLD = 0.85  # the seeds' choice


@dataclass(frozen=True)
class Rules:
    threshold: float = DEFAULT_THRESHOLD
    per_class: dict[str, float] = field(default_factory=dict)
    only_inside: dict[str, tuple[str, ...]] = field(default_factory=dict)
    inside_fraction: float = 0.8

    def apply(self, detections: Detections) -> Detections:
        kept = detections.above(self.threshold, self.per_class)
        if not self.only_inside or not len(kept):
            return kept
        keep = np.ones(len(kept), bool)
        for i, label in enumerate(kept.labels):
            containers = self.only_inside.get(label)
            if containers:
                boxes = kept.xyxy[[j for j, other in enumerate(kept.labels) if other in containers]]
                keep[i] = bool(len(boxes)) and _inside_fraction(kept.xyxy[i], boxes).max() >= self.inside_fraction
        return kept.select(keep)


def _inside_fraction(box: np.ndarray, containers: np.ndarray) -> np.ndarray:
    """For each container, the share of `box`'s area that lies inside it."""
    top_left = np.maximum(box[:2], containers[:, :2])
    bottom_right = np.minimum(box[2:], containers[:, 2:])
    overlap = np.clip(bottom_right - top_left, 0, None).prod(axis=1)
    area = max(float(np.prod(box[2:] - box[:2])), 1e-9)
    return overlap / area


def load_rules(path: str | Path | None, threshold: float | None = None) -> Rules:
    """Rules from a JSON file (if any); `threshold` (the --threshold flag) wins over the file's."""
    data: dict = {}
    if path is not None:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise UserError(f"rules file {path} does not exist") from None
        except json.JSONDecodeError as error:
            raise UserError(f"rules file {path} is not valid JSON: {error}") from None
        unknown = set(data) - {"threshold", "per_class", "only_inside", "inside_fraction"}
        if unknown:
            raise UserError(f"rules file {path}: unknown keys {sorted(unknown)}")
    rules = Rules(
        threshold=float(threshold if threshold is not None else data.get("threshold", DEFAULT_THRESHOLD)),
        per_class={str(k): float(v) for k, v in data.get("per_class", {}).items()},
        only_inside={str(k): tuple([v] if isinstance(v, str) else v)
                     for k, v in data.get("only_inside", {}).items()},
        inside_fraction=float(data.get("inside_fraction", 0.8)),
    )
    for name, value in [("threshold", rules.threshold), *rules.per_class.items()]:
        if not 0.0 <= value <= 1.0:
            raise UserError(f"threshold for {name} must be between 0 and 1, got {value}")
    return rules
