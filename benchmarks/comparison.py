"""The derived numbers: speedup, Triton's overhead, the seed job projected, targets met or not.

Computed here only, from measured rates, so that the report and its consistency test agree.
"""

from __future__ import annotations

from creativelens.benchmarks.plan import (SEED_JOB_HOURS, TARGET_BF16_SPEEDUP, TARGET_SPEEDUP,
                                          TARGET_TRITON_OVERHEAD_PCT)


def speedup(faster_images_per_s: float, baseline_images_per_s: float) -> float:
    return faster_images_per_s / baseline_images_per_s


def triton_overhead_pct(served_images_per_s: float, direct_images_per_s: float) -> float:
    """Extra time per image through Triton, relative to the same runtime called directly."""
    return (direct_images_per_s / served_images_per_s - 1.0) * 100.0


def headline(pipelines: dict) -> dict:
    """From the pipelines' summaries (each with `images_per_s`): the served default config (OpenVINO)
    against the seed loop, and against OpenVINO called directly (what Triton costs).

    Only against a clean baseline: a seed loop not run alone (`isolation`) is refused."""
    if not is_clean(pipelines["seed_loop"].get("isolation")):
        raise ValueError(f"the headline needs the seed loop run alone in a fresh process, got "
                         f"{pipelines['seed_loop'].get('isolation')}")
    seed = pipelines["seed_loop"]["images_per_s"]
    gain = speedup(pipelines["served"]["images_per_s"], seed)
    overhead = triton_overhead_pct(pipelines["served"]["images_per_s"], pipelines["openvino_direct"]["images_per_s"])
    numbers = {
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
        # what `creativelens serve` serves by default here: BF16 where it measured a served_bf16 row
        # (native BF16 and the export's gate passed), else the FP32 config
        "default_served": "served_bf16" if "served_bf16" in pipelines else "served",
    }
    if "served_bf16" in pipelines:
        bf16_gain = speedup(pipelines["served_bf16"]["images_per_s"], seed)
        numbers["speedup_served_bf16_over_seed"] = bf16_gain
        numbers["projected_job_hours_bf16"] = SEED_JOB_HOURS / bf16_gain
        numbers["targets"]["bf16_speedup_min"] = TARGET_BF16_SPEEDUP
        numbers["targets"]["bf16_speedup_met"] = bf16_gain >= TARGET_BF16_SPEEDUP
    return numbers


def is_clean(isolation: dict | None) -> bool:
    """Whether a pipeline ran alone: a fresh process with no runtime module and no server beside it."""
    return bool(isolation) and isolation.get("process") == "fresh" and not isolation.get("runtime_modules") \
        and not isolation.get("beside") and not isolation.get("servers_up")


def baseline_comparison(clean, beside, bench_process_runtimes: list[str]) -> dict:
    """The seed loop clean against beside the runtimes and servers (two `FreshPass`es of one pass each,
    back to back): the slowdown and where the CPU went meanwhile."""
    clean_rate = clean.measurements[0].summary()["images_per_s"]
    beside_rate = beside.measurements[0].summary()["images_per_s"]
    observed = beside.passes[0]
    return {
        "clean": dict(clean.measurements[0].summary(), **{"process": clean.process, "observed": clean.passes[0]}),
        "beside": dict(beside.measurements[0].summary(), **{"process": beside.process, "observed": observed}),
        "clean_images_per_s": clean_rate,
        "beside_images_per_s": beside_rate,
        "slowdown_pct": (1 - beside_rate / clean_rate) * 100,
        "bench_process_runtime_modules": list(bench_process_runtimes),
        # CPU seconds during the beside pass that were not the seed loop's own threads
        "beside_cpu_s": {
            "seed_loop_threads": observed["pipeline_threads_cpu_s"],
            "runtime_threads_in_its_process": observed["runtime_threads_cpu_s"],
            **{name: cpu for name, cpu in observed["watched_cpu_s"].items()},
            "bench_process": observed["bench_process_cpu_s"],
            "other_processes": observed["other_processes_cpu_s"],
        },
    }
