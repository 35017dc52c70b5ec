"""Issue 26's bench additions without a server or a model: which export gets a served BF16 row (only
where `creativelens serve` would serve it at BF16), the report's loud reduced-precision lines and
gate numbers, the headline's BF16 numbers, the creative-shaped media and the ad-shaped canvases'
padding. The served rows themselves are timed by `creativelens bench` (benchmarks/results)."""

from __future__ import annotations

import json
import math

import cv2
import pytest

from creativelens.benchmarks.comparison import headline
from creativelens.benchmarks.media import AD_SPEC_SIZES, ad_shaped_media
from creativelens.benchmarks.padding_share import per_canvas_set
from creativelens.benchmarks.plan import SEED_JOB_HOURS, TARGET_BF16_SPEEDUP
from creativelens.benchmarks.report import ads_lines, reduced_precision_lines
from creativelens.benchmarks.suite import bf16_served_choice, compared_here
from creativelens.canvas import AD_CANVASES, CANVAS_SETS, CPU_CANVASES, STRIDE, choose_canvas
from creativelens.export import reduced_precision, triton_config

CPUINFO_WITH_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f amx_bf16\n"
CPUINFO_WITHOUT_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n"
CLEAN = {"process": "fresh", "runtime_modules": [], "beside": [], "servers_up": 0}


def _gate(matched: int = 97) -> dict:
    return reduced_precision.ReducedPrecisionGate(
        "bf16", matched=matched, fp32_detections=100, candidate_detections=99, fp32_ap=40.0, candidate_ap=39.89,
        how="OpenVINO, INFERENCE_PRECISION_HINT=bf16", judged_at="the export's per-class thresholds (a 0.6)").to_json()


def _model(repository, name: str, gate: dict | None):
    folder = repository / name
    (folder / "configs").mkdir(parents=True)
    (folder / triton_config.REDUCED_PRECISION_CONFIGS["bf16"]).write_text("# written when the gate passed\n")
    (folder / "parity.json").write_text(json.dumps({"ok": True, "reduced_precision": [gate] if gate else []}))


def test_a_served_bf16_row_only_where_serve_would_serve_bf16(tmp_path):
    _model(tmp_path, "gated", _gate())
    _model(tmp_path, "refused", _gate(matched=50))
    chosen = bf16_served_choice(tmp_path, "gated", CPUINFO_WITH_BF16)
    assert chosen["gate"]["matched"] == 97 and "REDUCED PRECISION BF16" in chosen["serve_line"]
    assert bf16_served_choice(tmp_path, "refused", CPUINFO_WITH_BF16) is None
    assert bf16_served_choice(tmp_path, "gated", CPUINFO_WITHOUT_BF16) is None
    assert "served_bf16" not in compared_here() and "served_bf16" in compared_here(True)


def _pipelines() -> dict:
    return {"seed_loop": {"images_per_s": 1.0, "isolation": CLEAN},
            "served": {"images_per_s": 1.8, "cpu_s_per_image": 1.0},
            "served_bf16": {"images_per_s": 3.3, "cpu_s_per_image": 0.5, "gate": {"gate": _gate()}},
            "openvino_direct": {"images_per_s": 1.9}}


def test_the_headline_names_the_default_path_and_gives_bf16_its_own_target():
    numbers = headline(_pipelines())
    assert numbers["default_served"] == "served_bf16"
    assert numbers["speedup_served_over_seed"] == pytest.approx(1.8)
    assert numbers["targets"]["speedup_met"] is False
    assert numbers["speedup_served_bf16_over_seed"] == pytest.approx(3.3)
    assert numbers["projected_job_hours_bf16"] == pytest.approx(SEED_JOB_HOURS / 3.3)
    assert numbers["targets"]["bf16_speedup_met"] is (3.3 >= TARGET_BF16_SPEEDUP)
    without = {name: p for name, p in _pipelines().items() if name != "served_bf16"}
    assert headline(without)["default_served"] == "served" and "bf16_speedup_met" not in headline(without)["targets"]


def test_the_report_says_reduced_precision_loudly_with_the_gate_numbers():
    results = {"pipelines": _pipelines(), "reduced_precision_served": {"serve_line": "m: serving REDUCED ...",
                                                                      "gate": _gate()}}
    text = "\n".join(reduced_precision_lines(results))
    assert text.startswith("## Reduced precision served\n\n**REDUCED PRECISION.**")
    assert "97.0 % of FP32's detections found, 98.0 % of its own are FP32's at the export's per-class" in text
    assert "AP 39.89 (BF16) vs 40.00 (FP32)" in text and "(1.83×)" in text
    assert "Not measured" in "\n".join(reduced_precision_lines({"reduced_precision_served": None}))


def test_ad_canvases_fit_the_ratios_at_the_default_rule_and_pad_less():
    assert all(c.height % STRIDE == 0 and c.width % STRIDE == 0 for c in AD_CANVASES)
    assert CANVAS_SETS["cpu"] == CPU_CANVASES  # the exporter's default is unchanged
    for height, width in AD_SPEC_SIZES.values():
        canvas = choose_canvas(height, width, AD_CANVASES)
        default = choose_canvas(height, width, CPU_CANVASES)
        ad_scale = min(canvas.height / height, canvas.width / width)
        rule_scale = min(480 / min(height, width), 800 / max(height, width))  # the defaults' 480/800 rule
        assert ad_scale == pytest.approx(rule_scale, rel=0.02), (height, width, canvas)
        assert abs(math.log(canvas.aspect / (width / height))) < 0.04
        assert canvas.height * canvas.width <= default.height * default.width * 1.6
    shares = per_canvas_set(list(AD_SPEC_SIZES.values()))
    assert shares["ad-shaped"]["padding_share"] < 0.01 < shares["cpu defaults"]["padding_share"]


def test_creative_shaped_media_have_the_spec_sizes(tmp_path):
    media = ad_shaped_media(tmp_path, 7)
    assert media.ratios == ["1:1", "4:5", "9:16", "16:9", "1.91:1", "1:1", "4:5"]
    for path, ratio in zip(media.paths, media.ratios):
        assert cv2.imread(str(path)).shape[:2] == AD_SPEC_SIZES[ratio]
    described = media.describe()
    assert described["per_ratio"]["1:1"] == 2 and "sample stills" in described["made_from"]


def test_the_ads_section_says_when_it_was_not_run_and_tables_both_sets():
    assert "Not run" in "\n".join(ads_lines({"ads": None}))
    padding = per_canvas_set(list(AD_SPEC_SIZES.values()))
    row = lambda label, seed, served: {  # noqa: E731
        "canvas_set": label, "canvases": ["480x480"], "seed_loop": {"images_per_s": seed},
        "served": {"images_per_s": served}, "speedup_over_own_seed_loop": {"served": served / seed},
        "speedup_over_default_seed_loop": {"served": served / 1.0}}
    ads = {"media": {"images": 5, "per_ratio": {"1:1": 1}, "sizes_hw": {"1:1": [1080, 1080]}, "made_from": "photos"},
           "padding": {"ad-shaped media": padding}, "rounds": 1,
           "rows": [row("cpu defaults", 1.0, 1.5), row("ad-shaped", 0.9, 1.6)]}
    text = "\n".join(ads_lines({"ads": ads}))
    assert "| ad-shaped | ad-shaped media | 0.6 % |" in text
    assert "| ad-shaped | 480x480 | 0.90 | 1.60 | 1.78× | 1.60× |" in text
