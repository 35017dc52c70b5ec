"""The seeds' accuracy rule on hand-made boxes, and the per-class threshold sweep on a constructed case."""

from __future__ import annotations

import numpy as np
import pytest

from creativelens.detections import Detections
from creativelens.train import accuracy
from creativelens.train.thresholds import SWEEP, sweep_thresholds

LABEL = np.array([[0.0, 0.0, 100.0, 100.0]])


def _det(boxes, scores, classes):
    classes = np.array(classes, np.int32)
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32), classes,
                      tuple(f"c{c}" for c in classes))


@pytest.mark.parametrize("covered, accurate", [(0.59, False), (0.60, True), (1.00, True)])
def test_rule_on_boxes_covering_part_of_the_label(covered, accurate):
    box = [0.0, 0.0, 100.0 * covered, 100.0]
    assert accuracy.covered_fraction(np.array([box]), LABEL)[0, 0] == pytest.approx(covered)
    counts = accuracy.match_image(_det([box], [0.9], [0]), accuracy.Labels(LABEL, np.array([0])), 0, 0.5)
    assert (counts.tp, counts.fp, counts.fn) == ((1, 0, 0) if accurate else (0, 1, 1))


@pytest.mark.parametrize("ratio, accurate", [(0.59, False), (0.60, True), (1.30, True), (1.31, False)])
def test_rule_bounds_inclusive_as_the_seeds_state(ratio, accurate):
    # An intersection never exceeds the labelled area, so 130 %/131 % are checked on the rule's ratio itself.
    assert bool(accuracy.rule_holds(ratio)) is accurate


def test_a_box_four_times_the_label_still_covers_it_fully():
    big = [[-50.0, -50.0, 150.0, 150.0]]
    assert accuracy.covered_fraction(np.array(big), LABEL)[0, 0] == pytest.approx(1.0)
    assert accuracy.match_image(_det(big, [0.9], [0]), accuracy.Labels(LABEL, np.array([0])), 0, 0.5).tp == 1


def test_wrong_class_and_duplicates_are_false_positives_and_confusion_counts_them():
    labels = {"a": accuracy.Labels(LABEL, np.array([0]))}
    predictions = {"a": _det([[0, 0, 100, 100], [1, 1, 99, 99], [0, 0, 100, 100]], [0.9, 0.8, 0.7], [0, 0, 1])}
    counts = accuracy.class_counts(predictions, labels, 0, 0.5)
    assert (counts.tp, counts.fp, counts.fn) == (1, 1, 0)
    assert counts.accuracy == pytest.approx(0.5)
    matrix = accuracy.confusion_matrix(predictions, labels, [0.5, 0.5])
    assert matrix.tolist() == [[1, 0, 0], [0, 0, 0], [1, 1, 0]]


def test_sweep_picks_the_known_best_threshold_per_class():
    # class 0: true boxes score 0.72, a false one 0.55 -> best from 0.56 to 0.72 (lowest: 0.56)
    # class 1: a false box at 0.95 above the true one at 0.90 -> any threshold keeps FP until 0.96 (drops TP): best 0.20..0.90 -> 0.20
    labels = {"a": accuracy.Labels(np.array([[0, 0, 50, 50], [60, 60, 90, 90]]), np.array([0, 1])),
              "b": accuracy.Labels(np.array([[10, 10, 40, 40]]), np.array([0]))}
    predictions = {"a": _det([[0, 0, 50, 50], [100, 0, 120, 20], [60, 60, 90, 90], [0, 100, 20, 120]],
                             [0.72, 0.55, 0.90, 0.95], [0, 0, 1, 1]),
                   "b": _det([[10, 10, 40, 40]], [0.72], [0])}
    assert sweep_thresholds(predictions, labels, ["c0", "c1"]) == {"c0": 0.56, "c1": 0.20}
    assert SWEEP[0] == 0.20 and SWEEP[-1] == 0.99 and len(SWEEP) == 80
