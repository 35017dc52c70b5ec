"""What one bench run measures: quick (CI, a few minutes) or full (real measurements)."""

from __future__ import annotations

from dataclasses import dataclass, field

from creativelens.benchmarks.perf_analyzer import PerfAnalyzerSettings
from creativelens.canvas import CPU_CANVASES, Canvas, parse_canvas
from creativelens.demo import DEMO_CANVASES

SEED_JOB_HOURS = 210.0  # the seeds' DefaultPredictor loop over all brands
TARGET_SPEEDUP = 2.0  # served FP32 pipeline over the seed loop, same input size, on the 2-core CPU (issue 11)
TARGET_BF16_SPEEDUP = 3.0  # served BF16 over the seed loop where the CPU has BF16 and the gate passed (issue 26)
TARGET_TRITON_OVERHEAD_PCT = 10.0  # served pipeline against its runtime called directly, best concurrency


@dataclass(frozen=True)
class BenchPlan:
    mode: str
    model: str = "faster_rcnn_R_50_FPN_1x"
    random_weights: bool = True
    canvases: tuple[Canvas, ...] = tuple(parse_canvas(name) for name in DEMO_CANVASES)  # the headline's
    stills: int | None = None  # None: every sample still
    video_frames: int = 12
    frame_stride: int = 60
    rounds: int = 2  # the interleaved comparison is repeated, order reversed each round
    concurrencies: tuple[int, ...] = (1, 2, 4)  # 8 measured worst on 2 cores (2026-11-23); four pipelines each
    max_batch_sizes: tuple[int, ...] = (1, 4, 8)
    canvas_sweep: tuple[tuple[Canvas, ...], ...] = (CPU_CANVASES,)  # besides `canvases`
    perf_analyzer: PerfAnalyzerSettings = field(default_factory=PerfAnalyzerSettings)
    gpu_batch_sizes: tuple[int, ...] = (1, 4, 8)
    gpu_repeats: int = 20
    # a `creativelens train` folder whose model the rows run instead of the zoo's (its export: --repository)
    from_training: str | None = None
    ad_images: int = 15  # creative-shaped images for the ad-shaped canvas rows (with --ads-repository)
    ad_rounds: int = 1

    def describe(self) -> dict:
        return {
            "mode": self.mode,
            "model": self.model,
            "random_weights": self.random_weights,
            "canvases": [canvas.name for canvas in self.canvases],
            "stills": self.stills,
            "video_frames": self.video_frames,
            "frame_stride": self.frame_stride,
            "rounds": self.rounds,
            "concurrencies": list(self.concurrencies),
            "max_batch_sizes": list(self.max_batch_sizes),
            "canvas_sweep": [[canvas.name for canvas in group] for group in self.canvas_sweep],
            "perf_analyzer": dict(self.perf_analyzer.__dict__),
            "from_training": self.from_training,
            "ad_images": self.ad_images,
            "ad_rounds": self.ad_rounds,
        }


def quick_plan() -> BenchPlan:
    """For CI: tiny, a few minutes on 2 cores; exercises every path, proves no number."""
    return BenchPlan(
        mode="quick",
        canvases=(parse_canvas("320x320"),),
        stills=3,
        video_frames=2,
        frame_stride=100,
        rounds=1,
        concurrencies=(1, 2),
        max_batch_sizes=(1,),
        canvas_sweep=(),
        # A smoke test of the tool: CI's shared cores can keep three 4-request windows from
        # agreeing within 100 % (seen once), so any window counts as stable here.
        perf_analyzer=PerfAnalyzerSettings(requests_per_window=4, stability_percentage=1000, max_trials=4),
        gpu_repeats=3,
    )


def full_plan() -> BenchPlan:
    """Real measurements: the demo's CPU canvases, every sample still and vtest.avi frames;
    the canvas sweep adds Detectron2-style CPU buckets (480 short side, 800 long)."""
    return BenchPlan(mode="full", perf_analyzer=PerfAnalyzerSettings(requests_per_window=6))


def cpu_defaults_plan() -> BenchPlan:
    """The headline at the exporter's default CPU canvases (480x480, 480x800, 800x480): what a user
    gets from `creativelens export` without --canvas; no sweeps, a light perf_analyzer."""
    return BenchPlan(mode="cpu-defaults", canvases=CPU_CANVASES, concurrencies=(1, 2), max_batch_sizes=(),
                     canvas_sweep=(), perf_analyzer=PerfAnalyzerSettings(requests_per_window=4, max_trials=4))
