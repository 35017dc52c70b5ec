"""Which detections count: thresholds per model and class, and containment rules across models.

A rules file (`--rules`), or a brand file (`--models`) that also names the brand's models, is
JSON:

    {"models": ["coco_x101", "acme_logo", "faces"],
     "threshold": 0.85,
     "per_class": {"person": 0.6},
     "per_model": {"faces": {"threshold": 0.7, "per_class": {"smile": 0.6}}},
     "only_inside": {"smile": ["face"]},
     "ocr_exclude": ["logo", "product"]}

Every key is optional. The threshold of a detection of class `c` from model `m` is the first
of: `per_model[m].per_class[c]`, `per_class[c]`, `per_model[m].threshold`, `threshold` (or the
`--threshold` flag), the model's own per-class threshold (chosen on validation data and carried
in its config, see `creativelens train`), and 0.85 (the seeds' choice).

`only_inside` keeps a detection of the key class only when most of its box (`inside_fraction`,
0.8 by default) lies inside a kept box of one of the listed classes, from any model: a smile
counts only inside a face, even when faces and smiles come from different detectors.
Thresholds apply first, so a face below its threshold contains nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from creativelens.detections import Detections
from creativelens.errors import UserError

DEFAULT_THRESHOLD = 0.85  # the seeds' choice
FILE_KEYS = {"models", "threshold", "per_class", "per_model", "only_inside", "inside_fraction", "ocr_exclude"}


@dataclass(frozen=True)
class ModelRules:
    threshold: float | None = None
    per_class: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    threshold: float | None = None  # None: each model's own thresholds, else DEFAULT_THRESHOLD
    per_class: dict[str, float] = field(default_factory=dict)
    per_model: dict[str, ModelRules] = field(default_factory=dict)
    only_inside: dict[str, tuple[str, ...]] = field(default_factory=dict)
    inside_fraction: float = 0.8
    models: tuple[str, ...] = ()  # the brand's models; empty: whatever the run is given
    ocr_exclude: tuple[str, ...] | None = None

    def threshold_for(self, model: str, label: str, model_thresholds: Mapping[str, float]) -> float:
        own = self.per_model.get(model, ModelRules())
        for value in (own.per_class.get(label), self.per_class.get(label), own.threshold, self.threshold,
                      model_thresholds.get(label)):
            if value is not None:
                return value
        return DEFAULT_THRESHOLD

    def apply(self, detections: Mapping[str, Detections],
              model_thresholds: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, Detections]:
        """Each model's detections (model name -> detections) above its thresholds, then
        containment across all of them."""
        model_thresholds = model_thresholds or {}
        kept = {}
        for model, det in detections.items():
            own = model_thresholds.get(model, {})
            limits = np.array([self.threshold_for(model, label, own) for label in det.labels], np.float32)
            kept[model] = det.select(det.scores >= limits) if len(det) else det
        if not self.only_inside:
            return kept
        everything = [(label, box) for det in kept.values() for label, box in zip(det.labels, det.xyxy)]
        return {model: det.select(np.array([self._contained(label, box, everything)
                                            for label, box in zip(det.labels, det.xyxy)], bool))
                if len(det) else det for model, det in kept.items()}

    def _contained(self, label: str, box: np.ndarray, everything: list) -> bool:
        containers = self.only_inside.get(label)
        if not containers:
            return True
        boxes = np.array([other for name, other in everything if name in containers], np.float32)
        return bool(len(boxes)) and _inside_fraction(box, boxes.reshape(-1, 4)).max() >= self.inside_fraction

    def to_dict(self) -> dict:
        """The settings these rules stand for (recorded with a run, compared on resume)."""
        return json.loads(json.dumps(asdict(self), sort_keys=True))


def _inside_fraction(box: np.ndarray, containers: np.ndarray) -> np.ndarray:
    """For each container, the share of `box`'s area that lies inside it."""
    top_left = np.maximum(box[:2], containers[:, :2])
    bottom_right = np.minimum(box[2:], containers[:, 2:])
    overlap = np.clip(bottom_right - top_left, 0, None).prod(axis=1)
    area = max(float(np.prod(box[2:] - box[:2])), 1e-9)
    return overlap / area


def load_rules(path: str | Path | None, threshold: float | None = None) -> Rules:
    """Rules from a rules or brand file (if any); `threshold` (the --threshold flag) wins over
    the file's."""
    data: dict = {}
    if path is not None:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise UserError(f"rules file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"rules file {path} cannot be read: {error}") from None
        except json.JSONDecodeError as error:
            raise UserError(f"rules file {path} is not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise UserError(f"rules file {path} must hold a JSON object")
        unknown = set(data) - FILE_KEYS
        if unknown:
            raise UserError(f"rules file {path}: unknown keys {sorted(unknown)} (known: {sorted(FILE_KEYS)})")
    try:
        rules = _rules_from(data, threshold)
    except (TypeError, ValueError, AttributeError) as error:
        raise UserError(f"rules file {path}: {error}") from None
    values = [("threshold", rules.threshold), *rules.per_class.items()]
    for model, own in rules.per_model.items():
        values += [(f"{model} threshold", own.threshold), *((f"{model} {k}", v) for k, v in own.per_class.items())]
    for name, value in values:
        if value is not None and not 0.0 <= value <= 1.0:
            raise UserError(f"threshold for {name} must be between 0 and 1, got {value}")
    return rules


def _rules_from(data: dict, threshold: float | None) -> Rules:
    def scores(mapping) -> dict[str, float]:
        return {str(k): float(v) for k, v in (mapping or {}).items()}

    file_threshold = data.get("threshold")
    models = data.get("models", [])
    if isinstance(models, str) or not all(isinstance(m, str) for m in models):
        raise ValueError("'models' must be a list of model names")
    exclude = data.get("ocr_exclude")
    return Rules(
        threshold=float(threshold) if threshold is not None else
        (float(file_threshold) if file_threshold is not None else None),
        per_class=scores(data.get("per_class")),
        per_model={str(name): ModelRules(None if own.get("threshold") is None else float(own["threshold"]),
                                         scores(own.get("per_class")))
                   for name, own in (data.get("per_model") or {}).items()},
        only_inside={str(k): tuple([v] if isinstance(v, str) else v) for k, v in (data.get("only_inside") or {}).items()},
        inside_fraction=float(data.get("inside_fraction", 0.8)),
        models=tuple(models),
        ocr_exclude=None if exclude is None else tuple([exclude] if isinstance(exclude, str) else exclude),
    )
