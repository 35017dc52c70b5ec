"""One bench run: the seed loop, the served pipeline and the runtimes called directly, on the
same media, model, weights and input size; then the sweeps and perf_analyzer; then the report.

The baseline runs clean: the seed loop and every direct runtime in a fresh process of its own
(`fresh_process.run_fresh`: no server up, no other runtime imported there, this process holds
none), each served config with only its own tritonserver up. Order: `rounds` rounds of [seed
loop, each served config and direct runtime at every concurrency], the order reversed every other
round, so that the machine's drift falls on every pipeline alike; warm-ups (one image per bucket)
are not timed. Each pipeline's numbers add up its passes over all rounds. CPU: a fresh process's
own over its timed pass; a served pass's, the whole process tree's (this process, tritonserver and
its python stubs, the stream client). Once, the seed loop is also timed as the old bench ran it
(beside the runtimes and both servers) and the difference goes to the report: `baseline_check`.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from creativelens.benchmarks.comparison import baseline_comparison, headline, speedup, triton_overhead_pct
from creativelens.benchmarks.fresh_process import DIRECT_RUNTIMES
from creativelens.machine import describe_machine
from creativelens.benchmarks.measurement import Measurement
from creativelens.benchmarks.media import bench_media
from creativelens.benchmarks.model_cache import (exported_repository, read_cpu_config, weights_match,
                                                  with_max_batch_size)
from creativelens.benchmarks.plan import BenchPlan
from creativelens.benchmarks.process_cpu import machine_busy_cpu_seconds, tree_cpu_seconds
from creativelens.errors import UserError

# pipeline -> Triton config name; served_bf16 only where `creativelens serve` would serve it by default
SERVED_CONFIGS = {"served": "cpu", "served_bf16": "cpu_bf16", "served_onnxruntime": "cpu_onnxruntime"}
COMPARED = (*SERVED_CONFIGS, *DIRECT_RUNTIMES)  # measured at every concurrency, interleaved


def compared_here(bf16_served: bool = False) -> tuple[str, ...]:
    """COMPARED less BF16 direct on a CPU without native BF16 (emulated there: slower, not worth a
    row), less served BF16 unless `bf16_served` (see `bf16_served_choice`)."""
    from creativelens.export.reduced_precision import bf16_refusal

    return tuple(kind for kind in COMPARED
                 if (kind != "openvino_bf16_direct" or bf16_refusal() is None)
                 and (kind != "served_bf16" or bf16_served))


def bf16_served_choice(repository: Path, model: str, cpuinfo: str | None = None) -> dict | None:
    """The BF16 gate of `model` in `repository` when `creativelens serve` serves it at BF16 by default
    here (native BF16 on this CPU, configs/cpu_bf16.pbtxt written, parity.json's gate passed), else None."""
    from creativelens.serve.bf16_default import bf16_gate, default_cpu_configs

    choice = next((c for c in default_cpu_configs(repository, cpuinfo) if c.model == model), None)
    if choice is None or not choice.bf16:
        return None
    gate = bf16_gate(repository / model)
    return {"serve_line": choice.line, "gate": gate}  # gate: parity.json's record, as the export wrote it
PIPELINE_DESCRIPTIONS = {
    "served": "creativelens stream -> tritonserver, configs/cpu.pbtxt (python backend, OpenVINO FP32), dynamic batching",
    "served_bf16": "creativelens stream -> tritonserver, configs/cpu_bf16.pbtxt (python backend, OpenVINO "
                   "INFERENCE_PRECISION_HINT=bf16): REDUCED PRECISION, what `creativelens serve` serves by "
                   "default on this CPU because the export's BF16 gate passed",
    "served_onnxruntime": "creativelens stream -> tritonserver, configs/cpu_onnxruntime.pbtxt (python backend, "
                          "ONNX Runtime), dynamic batching",
    "onnx_direct": "client decode + letterbox -> ONNX Runtime in process, batch of one",
    "openvino_direct": "client decode + letterbox -> OpenVINO FP32 in process (compiled per bucket), batch of one",
    "openvino_bf16_direct": "the same with INFERENCE_PRECISION_HINT=bf16: REDUCED PRECISION, speed only here "
                            "(its accuracy gate: export --precision bf16)",
}

INPUT_SIZE_MATCHING = (
    "The served client letterboxes each image onto the canvas bucket nearest its aspect, scaled by "
    "min(canvas_h / h, canvas_w / w). DefaultPredictor resizes by min(MIN_SIZE_TEST / short side, "
    "MAX_SIZE_TEST / long side); the seed loop runs one DefaultPredictor per bucket with "
    "MIN_SIZE_TEST = the bucket's short side and MAX_SIZE_TEST = its long side, which gives the same "
    "scale for every image oriented like its bucket (every image, for a square bucket). "
    "DefaultPredictor pads only to a multiple of 32, the served model computes over the whole canvas."
)


@dataclass
class _Totals:
    """Per pipeline and setting: the measurement so far and Triton's counters."""

    measurement: Measurement | None = None
    inference_count: int = 0
    execution_count: int = 0
    pass_rates: list[float] = field(default_factory=list)  # images/s of each pass, in run order

    def add(self, measurement: Measurement, inferences: int = 0, executions: int = 0) -> None:
        self.measurement = measurement if self.measurement is None else self.measurement + measurement
        self.inference_count += inferences
        self.execution_count += executions
        self.pass_rates.append(measurement.summary()["images_per_s"])

    def summary(self) -> dict:
        summary = self.measurement.summary()
        summary["images_per_s_per_pass"] = [round(rate, 3) for rate in self.pass_rates]
        if self.execution_count:
            summary["average_batch_size"] = self.inference_count / self.execution_count
            summary["triton_inferences"] = self.inference_count
            summary["triton_executions"] = self.execution_count
        return summary


class BenchRun:
    def __init__(self, plan: BenchPlan, out_dir: Path, work_dir: Path, cache_dir: Path,
                 repository: Path | None = None, progress: bool = True, ads_repository: Path | None = None):
        self.plan, self.out_dir, self.work_dir, self.cache_dir = plan, out_dir, work_dir, cache_dir
        self.repository = repository
        self.ads_repository = ads_repository
        self.bf16: dict | None = None  # the BF16 gate when served_bf16 is measured
        self.progress_enabled = progress
        self._bar = None
        self._loads: list[float] = []  # 1-minute load average at the start of every pass
        self._others: list[tuple[float, float]] = []  # other processes' CPU seconds, wall seconds per pass

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> dict:
        from creativelens.export.zoo import load_detector

        plan = self.plan
        machine = describe_machine()
        started_at = datetime.now(timezone.utc)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        bench_set = bench_media(self.work_dir / "media", stills=plan.stills, video_frames=plan.video_frames,
                                frame_stride=plan.frame_stride)
        media = bench_set.paths
        detector = load_detector(plan.model, random_weights=plan.random_weights, **self._detector_files())
        if plan.from_training and self.repository is None:
            raise UserError(f"--from-training {plan.from_training}: give the repository its export went to "
                            f"(creativelens export --from-training {plan.from_training} [--precision bf16 ...] "
                            f"--out R, then --repository R)")
        if self.repository is None:
            repository = exported_repository(detector, plan.canvases, self.cache_dir)
        elif weights_match(self.repository / plan.model, detector):
            repository = self.repository
        else:
            raise UserError(f"{self.repository / plan.model} was exported from other weights than the "
                            f"{detector.weights} the seed loop would run: re-export it")
        canvas_repositories = [exported_repository(detector, group, self.cache_dir) for group in plan.canvas_sweep]
        if self.ads_repository is not None and not weights_match(self.ads_repository / plan.model, detector):
            raise UserError(f"{self.ads_repository / plan.model} was exported from other weights than "
                            f"{detector.weights}: re-export it")
        self.bf16 = bf16_served_choice(repository, plan.model)
        self._open_progress(len(media), read_cpu_config(repository / plan.model).max_batch_size)
        # An export just now (ours) raises the load: say what the measurements started under.
        machine["load_average_before_measuring"] = [round(value, 2) for value in os.getloadavg()]
        comparison = self._compare(repository, detector, media)
        max_batch = self._max_batch_sweep(repository, media, comparison["concurrency_rows"])
        canvas_sweep = [comparison["canvas_row"]] + [
            self._canvas_row(group_repository, detector, media, comparison["best_served_concurrency"])
            for group_repository in canvas_repositories
        ]
        ads = None
        if self.ads_repository is not None:
            ads = self._ads_section(repository, detector, comparison["pipelines"], bench_set)
        gpu = self._gpu_sweep(repository / plan.model, media)
        self._close_progress()
        machine["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
        machine["load_average_1min_max_during_run"] = round(max(self._loads + [os.getloadavg()[0]]), 2)
        machine["other_processes_during_passes"] = _disturbance(self._others)

        pipelines = comparison["pipelines"]
        return {
            "schema": 1,
            "mode": plan.mode,
            "started_at": started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine,
            "plan": plan.describe(),
            "model": comparison["model"],
            "media": bench_set.describe(),
            "pipelines": pipelines,
            "comparison": headline(pipelines),
            "baseline_check": comparison["baseline_check"],
            "client_cost": comparison["client_cost"],
            "sweeps": {
                "concurrency": comparison["concurrency_rows"],
                "max_batch_size": max_batch,
                "canvas": canvas_sweep,
                "gpu": gpu,
            },
            "perf_analyzer": comparison["perf_analyzer"],
            "reduced_precision_served": self.bf16,
            "ads": ads,
        }

    def _detector_files(self) -> dict:
        """load_detector's config/weights/labels for a `creativelens train` folder (--from-training)."""
        if not self.plan.from_training:
            return {}
        from creativelens.train.outputs import from_training

        config_file, weights, labels, _ = from_training(self.plan.from_training)
        return {"config_file": str(config_file), "weights": str(weights), "labels_file": str(labels)}

    def _compare(self, repository: Path, detector, media: list[Path]) -> dict:
        from creativelens.benchmarks.seed_loop import predictor_input_size

        plan = self.plan
        model_dir = repository / plan.model
        compared = compared_here(self.bf16 is not None)
        canvases = _canvases_of(repository, plan.model)
        warmup = _one_per_bucket(media, canvases)
        totals: dict[tuple[str, int], _Totals] = defaultdict(_Totals)
        config = read_cpu_config(model_dir)
        isolation: dict[str, dict] = {}

        # Every pipeline alone: the seed loop and each direct runtime in a fresh process of its own
        # (no server up, no other runtime imported), each served config with only its own server up.
        for round_index in range(plan.rounds):
            steps = ["seed_loop", *compared]
            if round_index % 2:
                steps.reverse()
            for kind in steps:
                concurrencies = [0] if kind == "seed_loop" else list(plan.concurrencies)
                label = f"round{round_index + 1}-{kind}"
                if kind in SERVED_CONFIGS:
                    with self._server(repository, kind, label) as server:
                        self._served(server, warmup, f"warmup-{label}", 1, timed=False)
                        for concurrency in concurrencies:
                            totals[kind, concurrency].add(*self._served_step(server, concurrency, round_index,
                                                                             media, kind))
                    isolation[kind] = {"process": "the stream client, one server up: its own", "servers_up": 1}
                    continue
                fresh = self._fresh(kind, detector, model_dir, canvases, media, warmup, concurrencies, label)
                for concurrency, measurement in zip(concurrencies, fresh.measurements):
                    totals[kind, concurrency].add(measurement)
                isolation[kind] = _isolation(fresh)
        from creativelens.benchmarks.fresh_process import runtime_modules_loaded

        bench_process_runtimes = runtime_modules_loaded()  # none: the bench process itself stays clean
        client_cost = _client_cost(media, canvases)
        baseline_check = self._baseline_check(repository, detector, model_dir, canvases, media, warmup, compared,
                                              bench_process_runtimes)
        with self._server(repository, "served", "perf_analyzer") as server:
            perf = self._perf_analyzer(server, plan.model, canvases, media)

        rows = []
        for concurrency in plan.concurrencies:
            row = {"concurrency": concurrency, **{kind: totals[kind, concurrency].summary() for kind in compared}}
            row["triton_overhead_pct"] = triton_overhead_pct(row["served"]["images_per_s"],
                                                             row["openvino_direct"]["images_per_s"])
            rows.append(row)
        best = {kind: max(rows, key=lambda row: row[kind]["images_per_s"]) for kind in compared}
        best_served = best["served"]
        seed_summary = totals["seed_loop", 0].summary()
        pipelines = {"seed_loop": dict(seed_summary, description="cv2.imread -> Detectron2 DefaultPredictor, "
                                                                 "one image at a time", isolation=isolation["seed_loop"])}
        for kind in compared:
            pipelines[kind] = dict(best[kind][kind], concurrency=best[kind]["concurrency"],
                                   description=PIPELINE_DESCRIPTIONS[kind], isolation=isolation[kind])
            if kind in SERVED_CONFIGS:
                pipelines[kind]["max_batch_size"] = config.max_batch_size
                if kind == "served_bf16":
                    pipelines[kind]["reduced_precision"] = "bf16"
                    pipelines[kind]["gate"] = self.bf16
            else:
                pipelines[kind]["threads"] = isolation[kind]["runtime_threads"]
        names = [canvas.name for canvas in canvases]
        return {
            "pipelines": pipelines,
            "baseline_check": baseline_check,
            "client_cost": client_cost,
            "concurrency_rows": rows,
            "best_served_concurrency": best_served["concurrency"],
            "perf_analyzer": perf,
            "canvas_row": {
                "canvases": names,
                "seed_loop": seed_summary,
                "served": best_served["served"],
                "concurrency": best_served["concurrency"],
                "speedup_served_over_seed": speedup(best_served["served"]["images_per_s"],
                                                    seed_summary["images_per_s"]),
            },
            "model": {
                "name": plan.model,
                "from_training": plan.from_training,
                "class_names": list(detector.class_names),
                "weights": detector.weights,
                "random_weights": detector.random_weights,
                "canvases": names,
                "repository": str(repository),
                "max_batch_size": config.max_batch_size,
                "input_size_matching": INPUT_SIZE_MATCHING,
                "seed_loop_input_sizes": {canvas.name: list(predictor_input_size(canvas)) for canvas in canvases},
            },
        }

    def _baseline_check(self, repository: Path, detector, model_dir: Path, canvases, media, warmup,
                        compared, bench_process_runtimes: list[str]) -> dict:
        """The seed loop once clean and once as the old bench ran it (the direct runtimes loaded and
        warmed in its process, both served configs up and warmed), back to back: what the clean
        baseline changed, and where the difference went."""
        self._status("baseline check")
        clean = self._fresh("seed_loop", detector, model_dir, canvases, media, warmup, [0], "baseline-clean")
        beside = [kind for kind in compared if kind in DIRECT_RUNTIMES]
        with self._server(repository, "served", "baseline-beside") as server, \
                self._server(repository, "served_onnxruntime", "baseline-beside") as server_onnxruntime:
            for each in (server, server_onnxruntime):
                self._served(each, warmup, f"warmup-baseline-beside-{each.pid}", 1, timed=False)
            loaded = self._fresh("seed_loop", detector, model_dir, canvases, media, warmup, [0],
                                 "baseline-beside", beside=beside,
                                 watch={"tritonserver cpu": server.pid,
                                        "tritonserver cpu_onnxruntime": server_onnxruntime.pid})
        return baseline_comparison(clean, loaded, bench_process_runtimes)

    def _fresh(self, kind: str, detector, model_dir: Path, canvases, media, warmup, concurrencies, label: str,
               beside: list[str] = (), watch: dict[str, int] | None = None):
        from creativelens.benchmarks.fresh_process import PassSpec, run_fresh

        self._status(label)
        spec = PassSpec(kind=kind, media=[str(p) for p in media], warmup=[str(p) for p in warmup],
                        concurrencies=list(concurrencies), out_dir=str(self.work_dir / "fresh"), label=label,
                        model=detector.name, random_weights=detector.random_weights, **self._detector_files(),
                        canvases=[canvas.name for canvas in canvases], model_dir=str(model_dir),
                        beside=list(beside), watch=dict(watch or {}))
        fresh = run_fresh(spec)
        for measurement, observed in zip(fresh.measurements, fresh.passes):
            self._others.append((observed["other_processes_cpu_s"], measurement.wall_s))
            self._advance(measurement.images + measurement.errors)
        return fresh

    def _server(self, repository: Path, kind: str, label: str):
        from creativelens.serve.tritonserver import TritonServer

        return TritonServer(repository, SERVED_CONFIGS[kind], log_path=self.work_dir / f"tritonserver-{label}-{kind}.log")

    def _served_step(self, server, concurrency: int, round_index: int, media, kind: str = "served"):
        """One timed served pass: (measurement, inferences, executions); CPU of the whole tree."""
        label = f"round{round_index + 1}-{kind}-c{concurrency}"
        self._status(label)
        cpu_before, machine_before, started = tree_cpu_seconds(), machine_busy_cpu_seconds(), time.perf_counter()
        run = self._served(server, media, label, concurrency)
        ours = tree_cpu_seconds() - cpu_before
        self._others.append((machine_busy_cpu_seconds() - machine_before - ours, time.perf_counter() - started))
        return replace(run.measurement, cpu_s=ours), run.inference_count, run.execution_count

    def _served(self, server, paths, label: str, concurrency: int, *, timed: bool = True):
        from creativelens.benchmarks.served import run_stream

        return run_stream(paths, server.grpc_url, self.work_dir / label, model=self.plan.model,
                          concurrency=concurrency, on_progress=self._advance if timed else None)

    def _perf_analyzer(self, server, model: str, canvases, media: list[Path]) -> dict:
        from creativelens.benchmarks.perf_analyzer import run_perf_analyzer, write_input_data
        from creativelens.client.decode import prepare
        from creativelens.client.sources import Item

        self._status("perf_analyzer")
        boxed = prepare(Item(str(media[0])), canvases).boxed
        input_data = write_input_data(self.work_dir / "perf_analyzer_input.json", boxed)
        result = run_perf_analyzer(model=model, grpc_url=server.grpc_url,
                                   concurrencies=self.plan.concurrencies, input_data=input_data,
                                   out_dir=self.out_dir / "perf_analyzer", settings=self.plan.perf_analyzer)
        result["input"] = {"image": media[0].name, "canvas": boxed.canvas.name}
        return result

    def _max_batch_sweep(self, repository: Path, media: list[Path], concurrency_rows: list[dict]) -> list[dict]:
        """Served at the highest concurrency (the most chance to batch) per Triton max batch size.

        The repository's own max batch size was measured by the concurrency sweep: reused.
        """
        from creativelens.serve.tritonserver import TritonServer

        concurrency = max(self.plan.concurrencies)
        exported_max_batch = read_cpu_config(repository / self.plan.model).max_batch_size
        rows = []
        for max_batch_size in self.plan.max_batch_sizes:
            if max_batch_size == exported_max_batch:
                measured = next(row["served"] for row in concurrency_rows if row["concurrency"] == concurrency)
                rows.append({"max_batch_size": max_batch_size, "concurrency": concurrency, "served": measured,
                             "measured_in": "concurrency sweep"})
                continue
            variant = with_max_batch_size(repository, self.plan.model, max_batch_size,
                                          self.work_dir / f"repository-max-batch-{max_batch_size}")
            with TritonServer(variant, log_path=self.work_dir / f"tritonserver-mb{max_batch_size}.log") as server:
                self._served(server, _one_per_bucket(media, _canvases_of(repository, self.plan.model)),
                             f"warmup-mb{max_batch_size}", 1, timed=False)
                totals = _Totals()
                totals.add(*self._served_step(server, concurrency, 0, media, f"served-mb{max_batch_size}"))
            rows.append({"max_batch_size": max_batch_size, "concurrency": concurrency, "served": totals.summary(),
                         "measured_in": "own server"})
        return rows

    def _canvas_row(self, repository: Path, detector, media: list[Path], concurrency: int) -> dict:
        """The seed loop (its own process) and the served pipeline (its own server) at other buckets."""
        canvases = _canvases_of(repository, self.plan.model)
        names = "_".join(canvas.name for canvas in canvases)
        warmup = _one_per_bucket(media, canvases)
        seed_totals, served_totals = _Totals(), _Totals()
        fresh = self._fresh("seed_loop", detector, repository / self.plan.model, canvases, media, warmup, [0],
                            f"seed_loop-{names}")
        seed_totals.add(fresh.measurements[0])
        with self._server(repository, "served", names) as server:
            self._served(server, warmup, f"warmup-{names}", 1, timed=False)
            served_totals.add(*self._served_step(server, concurrency, 0, media, f"served-{names}"))
        seed_summary, served_summary = seed_totals.summary(), served_totals.summary()
        return {
            "canvases": [canvas.name for canvas in canvases],
            "seed_loop": dict(seed_summary, isolation=_isolation(fresh)),
            "served": served_summary,
            "concurrency": concurrency,
            "speedup_served_over_seed": speedup(served_summary["images_per_s"], seed_summary["images_per_s"]),
        }

    def _ads_section(self, repository: Path, detector, pipelines: dict, bench_set) -> dict:
        """Creative-shaped inputs on two canvas sets: the headline's (the exporter's default) and the
        ad-shaped export (--ads-repository). Per set: the padding share (geometry), the seed loop in
        its own process at that set's input sizes, the served FP32 config and, where gated, the
        served BF16 one, each with only its own server up, at the concurrency each did best at in
        the headline comparison; `ad_rounds` rounds, the order of the sets reversed every other."""
        import cv2

        from creativelens.benchmarks.media import ad_shaped_media
        from creativelens.benchmarks.padding_share import per_canvas_set

        plan = self.plan
        ads = ad_shaped_media(self.work_dir / "media", plan.ad_images)
        ad_sizes = [cv2.imread(str(path)).shape[:2] for path in ads.paths]
        bench_sizes = [cv2.imread(str(path)).shape[:2] for path in bench_set.paths]
        sets = {"cpu defaults": repository, "ad-shaped": self.ads_repository}
        gates = {label: (self.bf16 if label == "cpu defaults" else bf16_served_choice(repo, plan.model))
                 for label, repo in sets.items()}
        kinds = ["seed_loop", "served", *(["served_bf16"] if self.bf16 is not None else [])]
        totals: dict[tuple[str, str], _Totals] = defaultdict(_Totals)
        for round_index in range(plan.ad_rounds):
            order = list(sets) if round_index % 2 == 0 else list(reversed(sets))
            for label in order:
                repo = sets[label]
                canvases = _canvases_of(repo, plan.model)
                warmup = _one_per_bucket(ads.paths, canvases)
                tag = f"ads-r{round_index + 1}-{'defaults' if label == 'cpu defaults' else 'ads'}"
                for kind in kinds:
                    if kind == "seed_loop":
                        fresh = self._fresh("seed_loop", detector, repo / plan.model, canvases, ads.paths, warmup,
                                            [0], f"{tag}-seed_loop")
                        totals[label, kind].add(fresh.measurements[0])
                        continue
                    if kind == "served_bf16" and gates[label] is None:
                        continue  # that export's BF16 gate did not pass: nothing to serve at BF16
                    with self._server(repo, kind, tag) as server:
                        self._served(server, warmup, f"warmup-{tag}-{kind}", 1, timed=False)
                        totals[label, kind].add(*self._served_step(server, pipelines[kind]["concurrency"],
                                                                   round_index, ads.paths, f"{tag}-{kind}"))
        rows = []
        for label, repo in sets.items():
            row = {"canvas_set": label, "canvases": [c.name for c in _canvases_of(repo, plan.model)],
                   "repository": str(repo), "bf16_gate": gates[label]}
            for kind in kinds:
                if (label, kind) in totals:
                    row[kind] = totals[label, kind].summary()
                    if kind != "seed_loop":
                        row[kind]["concurrency"] = pipelines[kind]["concurrency"]
            seed = row["seed_loop"]["images_per_s"]
            row["speedup_over_own_seed_loop"] = {kind: speedup(row[kind]["images_per_s"], seed)
                                                 for kind in kinds if kind != "seed_loop" and kind in row}
            rows.append(row)
        default_seed = rows[0]["seed_loop"]["images_per_s"]
        for row in rows:  # against the seed loop at the default canvases, the user's baseline today
            row["speedup_over_default_seed_loop"] = {kind: speedup(row[kind]["images_per_s"], default_seed)
                                                     for kind in kinds if kind != "seed_loop" and kind in row}
        return {
            "media": ads.describe(),
            "padding": {"ad-shaped media": per_canvas_set(ad_sizes), "bench media": per_canvas_set(bench_sizes)},
            "rounds": plan.ad_rounds,
            "rows": rows,
        }

    def _gpu_sweep(self, model_dir: Path, media: list[Path]) -> dict:
        from creativelens.benchmarks.gpu_sweep import gpu_runtime_sweep, gpu_unavailable_reason
        from creativelens.client.decode import prepare
        from creativelens.client.sources import Item

        reason = gpu_unavailable_reason()
        if reason:
            return {"skipped": reason}
        self._status("GPU runtimes")
        canvases = _canvases_of(model_dir.parent, self.plan.model)
        boxed = prepare(Item(str(media[0])), canvases).boxed
        return gpu_runtime_sweep(model_dir, boxed, self.plan.gpu_batch_sizes, self.plan.gpu_repeats,
                                 self.cache_dir / "tensorrt")

    # --- progress ----------------------------------------------------------------------------

    def _open_progress(self, images: int, exported_max_batch: int) -> None:
        if not self.progress_enabled:
            return
        from tqdm import tqdm

        plan = self.plan
        passes = plan.rounds * (1 + len(compared_here(self.bf16 is not None)) * len(plan.concurrencies)) \
            + len(plan.max_batch_sizes) + 2 * len(plan.canvas_sweep) - (exported_max_batch in plan.max_batch_sizes) \
            + 2  # + the baseline check
        ad_passes = 2 * (2 + (self.bf16 is not None)) * plan.ad_rounds if self.ads_repository is not None else 0
        self._bar = tqdm(total=passes * images + ad_passes * plan.ad_images, unit="img", desc="bench",
                         dynamic_ncols=True)

    def _advance(self, count: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def _status(self, text: str) -> None:
        self._loads.append(os.getloadavg()[0])
        if self._bar is not None:
            self._bar.set_description(text)

    def _close_progress(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _client_cost(media: list[Path], canvases) -> dict:
    """The client's own work per image before any model runs: decode + letterbox (the gRPC cost is
    the served latency minus the direct one, at one in flight)."""
    from creativelens.client.decode import prepare
    from creativelens.client.sources import Item

    cpu_before, started = time.process_time(), time.perf_counter()
    for path in media:
        prepare(Item(str(path)), canvases)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    return {"images": len(media), "decode_letterbox_ms_per_image": round(wall * 1000 / len(media), 2),
            "decode_letterbox_cpu_ms_per_image": round(cpu * 1000 / len(media), 2)}


def _isolation(fresh) -> dict:
    """How a fresh-process pipeline was kept apart, as its child saw it."""
    facts = fresh.process
    return {"process": "fresh", "pid": facts["pid"], "runtime_modules": facts["runtime_modules"],
            "beside": facts["beside"], "servers_up": len(facts["watched"]),
            "torch_threads": facts.get("torch_threads"), "cpu_affinity": facts["cpu_affinity"],
            "runtime_threads": facts.get("runtime_threads"),
            "bench_process_cpu_s": round(sum(p["bench_process_cpu_s"] for p in fresh.passes), 3)}


def _disturbance(others: list[tuple[float, float]]) -> dict:
    """CPU that processes outside the bench took while it timed passes, in cores."""
    cpu_s, wall_s = sum(cpu for cpu, _ in others), sum(wall for _, wall in others)
    return {
        "cpu_s": round(cpu_s, 1),
        "cores_busy_mean": round(cpu_s / wall_s, 3) if wall_s else None,
        "cores_busy_max_pass": round(max((cpu / wall for cpu, wall in others if wall), default=0.0), 3),
    }


def _canvases_of(repository: Path, model: str):
    from creativelens.canvas import parse_canvas

    config = read_cpu_config(repository / model)
    return tuple(parse_canvas(name) for name in config.parameters["canvases"].string_value.split(","))


def _one_per_bucket(media: list[Path], canvases) -> list[Path]:
    """The first image of each bucket the media falls into: enough to warm every shape up."""
    import cv2

    from creativelens.canvas import choose_canvas

    chosen: dict = {}
    for path in media:
        image = cv2.imread(str(path))
        if image is not None:
            chosen.setdefault(choose_canvas(*image.shape[:2], canvases), path)
    return list(chosen.values())
