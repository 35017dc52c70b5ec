"""The reduced-precision gate: detections like FP32's pass, a model that loses or invents them is refused."""

from __future__ import annotations

import numpy as np

from creativelens.export import reduced_precision

CPUINFO_WITH_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n"
CPUINFO_WITHOUT_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n"


def _image(rng, n=20):
    corners = rng.uniform(0, 300, (n, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + rng.uniform(20, 80, (n, 2)).astype(np.float32)], axis=1)
    return boxes, rng.uniform(0.3, 0.99, n).astype(np.float32), rng.integers(0, 5, n)


def _fp32(seed=0):
    rng = np.random.default_rng(seed)
    return [_image(rng) for _ in range(3)]


def test_bf16_like_drift_passes_where_fp32_parity_would_not():
    fp32 = _fp32()
    rng = np.random.default_rng(1)
    # BF16's kind of change: boxes off by up to 1.5 px, scores by up to 0.01
    drifted = [(b + rng.uniform(-1.5, 1.5, b.shape).astype(np.float32), s + rng.uniform(-0.01, 0.01, s.shape), c)
               for b, s, c in fp32]
    result = reduced_precision.gate("bf16", fp32, drifted, score_threshold=0.05, top_k=100)
    assert result.ok and result.reason is None and result.matched == 60 == result.fp32_detections
    assert result.to_json()["reduced_precision"] is True and result.to_json()["ap_gate_run"] is False


def test_a_model_that_loses_detections_is_refused_with_a_reason():
    fp32 = _fp32()
    lossy = [(b[:15], s[:15], c[:15]) for b, s, c in fp32]  # a quarter of the objects gone
    result = reduced_precision.gate("int8", fp32, lossy, score_threshold=0.05, top_k=100)
    assert not result.ok and result.recall == 45 / 60
    assert result.reason.startswith("int8 not written: it finds 75.0% of FP32's detections")


def test_a_model_that_moves_classes_is_refused():
    fp32 = _fp32()
    relabelled = [(b, s, (c + 1) % 5) for b, s, c in fp32]
    assert not reduced_precision.gate("bf16", fp32, relabelled, 0.05, 100).ok


def test_ap_drop_beyond_the_tolerance_is_refused_even_with_matching_detections():
    fp32 = _fp32()
    assert reduced_precision.gate("bf16", fp32, fp32, 0.05, 100, fp32_ap=40.0, candidate_ap=39.6).ok
    refused = reduced_precision.gate("bf16", fp32, fp32, 0.05, 100, fp32_ap=40.0, candidate_ap=39.0)
    assert not refused.ok and "1.00 points below" in refused.reason


def test_bf16_refused_on_a_cpu_without_native_bf16():
    assert reduced_precision.bf16_refusal(CPUINFO_WITH_BF16) is None
    reason = reduced_precision.bf16_refusal(CPUINFO_WITHOUT_BF16)
    assert reason and "\n" not in reason and "avx512_bf16" in reason


def test_this_machines_cpuinfo_is_read():
    assert "fpu" in reduced_precision.cpu_flags() or not reduced_precision.CPUINFO.exists()
