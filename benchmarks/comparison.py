"""The derived numbers: speedup, Triton's overhead, the seed job projected, targets met or not.

Computed here only, from measured rates, so that the report and its consistency test agree.
"""

from __future__ import annotations

from creativelens.benchmarks.plan import SEED_JOB_HOURS, TARGET_SPEEDUP, TARGET_TRITON_OVERHEAD_PCT


def speedup(faster_images_per_s: float, baseline_images_per_s: float) -> float:
    return faster_images_per_s / baseline_images_per_s


def triton_overhead_pct(served_images_per_s: float, direct_images_per_s: float) -> float:
    """Extra time per image through Triton, relative to the same runtime called directly."""
    return (direct_images_per_s / served_images_per_s - 1.0) * 100.0


def headline(pipelines: dict) -> dict:
    """From the pipelines' summaries (each with `images_per_s`): the served default config (OpenVINO)
    against the seed loop, and against OpenVINO called directly (what Triton costs)."""
    seed = pipelines["seed_loop"]["images_per_s"]
    gain = speedup(pipelines["served"]["images_per_s"], seed)
    overhead = triton_overhead_pct(pipelines["served"]["images_per_s"], pipelines["openvino_direct"]["images_per_s"])
    return {
        "speedup_served_over_seed": gain,
        "speedup_over_seed": {name: speedup(p["images_per_s"], seed) for name, p in pipelines.items() if name != "seed_loop"},
        "triton_overhead_pct": overhead,
        "seed_job_hours": SEED_JOB_HOURS,
        "projected_job_hours": SEED_JOB_HOURS / gain,
        "targets": {
            "speedup_min": TARGET_SPEEDUP,
            "speedup_met": gain >= TARGET_SPEEDUP,
            "triton_overhead_max_pct": TARGET_TRITON_OVERHEAD_PCT,
            "triton_overhead_met": overhead < TARGET_TRITON_OVERHEAD_PCT,
        },
    }
