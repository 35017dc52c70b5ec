"""The reduced-precision gate counts what a user keeps: detections at the export's per-class
thresholds (the client's default where it has none), not everything down to the graph's 0.05."""

from __future__ import annotations

import numpy as np

from creativelens.canvas import Canvas
from creativelens.client.rules import DEFAULT_THRESHOLD
from creativelens.export import reduced_precision
from creativelens.model_metadata import ModelMetadata

CLASSES = ("logo", "face", "cta")


def _detections(rng, n, low, high, classes=(0, 1, 2)):
    corners = rng.uniform(0, 300, (n, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + rng.uniform(20, 80, (n, 2)).astype(np.float32)], axis=1)
    return boxes, rng.uniform(low, high, n).astype(np.float32), rng.choice(classes, n)


def _join(*parts):
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def _relabelled(detections):
    boxes, scores, classes = detections
    return boxes, scores, (classes + 1) % len(CLASSES)


def _images(above_agree: bool, seed=0):
    """FP32 and a candidate per image: 3 detections above 0.85 and 30 below; the candidate moves the
    class of those below (above_agree) or of those above (not above_agree)."""
    rng = np.random.default_rng(seed)
    fp32, candidate = [], []
    for _ in range(4):
        above, below = _detections(rng, 3, 0.9, 0.99), _detections(rng, 30, 0.06, 0.5)
        fp32.append(_join(above, below))
        candidate.append(_join(above, _relabelled(below)) if above_agree else _join(_relabelled(above), below))
    return fp32, candidate


def _thresholds(own=None):
    return reduced_precision.user_thresholds(ModelMetadata(CLASSES, (Canvas(320, 320),), thresholds=own or {}), 0.05)


def test_disagreement_below_the_threshold_passes_where_counting_down_to_005_refused():
    fp32, candidate = _images(above_agree=True)
    assert not reduced_precision.gate("bf16", fp32, candidate, 0.05, 100).ok  # the old judgement: ~12 of 132
    result = reduced_precision.gate("bf16", fp32, candidate, 0.05, 100, thresholds=_thresholds())
    assert result.ok and result.matched == result.fp32_detections == result.candidate_detections == 12
    assert result.judged_at == f"the client's default threshold {DEFAULT_THRESHOLD:g} (the export carries no per-class thresholds)"
    floor = result.to_json()["at_graph_threshold"]  # recorded beside it, not gated
    assert floor["fp32_detections"] == 132 and floor["matched"] < 20
    assert f"at the client's default threshold {DEFAULT_THRESHOLD:g}" in result.summary()
    assert "[not gated, score >= 0.05 for every class: " in result.summary()
    assert f"at the client's default threshold {DEFAULT_THRESHOLD:g}" in result.statement


def test_disagreement_above_the_threshold_refuses_where_counting_down_to_005_passed():
    fp32, candidate = _images(above_agree=False)
    fp32 = [_join(image, _detections(np.random.default_rng(i), 400, 0.06, 0.5)) for i, image in enumerate(fp32)]
    candidate = [_join(image, _detections(np.random.default_rng(i), 400, 0.06, 0.5)) for i, image in enumerate(candidate)]
    assert reduced_precision.gate("int8", fp32, candidate, 0.05, 1000).ok  # 1720 of 1732 matched below
    result = reduced_precision.gate("int8", fp32, candidate, 0.05, 1000, thresholds=_thresholds())
    assert not result.ok and result.recall < 0.5 and result.fp32_detections == 12
    assert result.reason.startswith("int8 not written: it finds ")
    assert result.reason.endswith(f"of FP32's detections (needs 95%) at the client's default threshold "
                                  f"{DEFAULT_THRESHOLD:g} (the export carries no per-class thresholds)")
    json = result.to_json()
    assert json["judged_at"] == result.judged_at and json["thresholds"]["per_class"] == [DEFAULT_THRESHOLD] * 3


def test_the_exports_per_class_thresholds_decide_which_detections_count():
    thresholds = _thresholds({"logo": 0.3})
    assert list(thresholds.per_class) == [0.3, DEFAULT_THRESHOLD, DEFAULT_THRESHOLD]
    assert thresholds.described == (f"the export's per-class thresholds (logo 0.3; the client's default "
                                    f"{DEFAULT_THRESHOLD:g} for 2 classes without one)")
    box = np.array([[10, 10, 60, 60]], np.float32)
    moved = box + 200
    logo_at_05 = (box, np.array([0.5], np.float32), np.array([0]))
    face_at_05 = (box, np.array([0.5], np.float32), np.array([1]))
    # a logo at 0.5 is above its 0.3: losing it counts; a face at 0.5 is below 0.85: it does not
    lost_logo = reduced_precision.gate("bf16", [logo_at_05], [(moved, *logo_at_05[1:])], 0.05, 100,
                                       thresholds=thresholds)
    assert lost_logo.fp32_detections == 1 and lost_logo.matched == 0 and not lost_logo.ok
    lost_face = reduced_precision.gate("bf16", [_join(logo_at_05, face_at_05)],
                                       [_join(logo_at_05, (moved, *face_at_05[1:]))], 0.05, 100, thresholds=thresholds)
    assert lost_face.ok and lost_face.matched == lost_face.fp32_detections == 1


def test_thresholds_never_go_below_the_graphs_own():
    thresholds = reduced_precision.user_thresholds(ModelMetadata(("logo",), (Canvas(320, 320),),
                                                                 thresholds={"logo": 0.01}), 0.05)
    assert thresholds.per_class == (0.05,)
    assert list(thresholds.of(np.array([0, 7, -1]))) == [np.float32(0.05)] + [np.float32(DEFAULT_THRESHOLD)] * 2
