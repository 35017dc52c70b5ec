"""Per-class score thresholds: a sweep from 20 % to 99 % in 1 % steps on validation data, each
class's threshold the one that maximises the seeds' accuracy for that class (the lowest such
threshold on a tie)."""

from __future__ import annotations

import numpy as np

from creativelens.train import accuracy

SWEEP = tuple(round(t, 2) for t in np.arange(0.20, 0.995, 0.01))


def sweep_class(predictions, labels, class_id: int, candidates=SWEEP) -> tuple[float, float]:
    """(best threshold, its accuracy) for one class."""
    best = (candidates[0], -1.0)
    for t in candidates:
        value = accuracy.class_counts(predictions, labels, class_id, t).accuracy
        if value > best[1] + 1e-12:
            best = (t, value)
    return best


def sweep_thresholds(predictions, labels, class_names, candidates=SWEEP) -> dict[str, float]:
    return {name: sweep_class(predictions, labels, k, candidates)[0] for k, name in enumerate(class_names)}
