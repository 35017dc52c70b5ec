"""A pipeline pass in a fresh process: the bench's baseline and its direct-runtime rows are timed
with nothing else loaded beside them.

The seed loop (torch) once ran in the bench's own process next to OpenVINO and ONNX Runtime
sessions and two tritonservers; their thread pools share the 2 cores with it and the baseline came
out about a third slower than the same loop run alone (issue 26), which inflated every speedup.
`run_fresh` starts `python -m creativelens.benchmarks.fresh_process SPEC RESULT`: the child loads
only what its pipeline needs (the seed loop: torch/Detectron2, no runtime; a direct row: its own
runtime), warms up (not timed), times one pass per concurrency and reports, besides each
measurement, which runtime modules were imported in it, its CPU affinity and torch's threads,
and the CPU other processes took meanwhile (the bench's process itself, any watched server).

`beside` reproduces the old conditions on purpose, once, for the report: the given direct runtimes
are loaded and warmed up in the child before the seed loop, as they were in the old bench process;
the child then splits its CPU during the timed pass between the threads that existed before the
runtimes were loaded (the seed loop's) and the threads the runtimes started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from creativelens.benchmarks.measurement import Measurement
from creativelens.benchmarks.process_cpu import (machine_busy_cpu_seconds, process_cpu_seconds,
                                                 thread_cpu_seconds, tree_cpu_seconds)
from creativelens.errors import UserError

RUNTIME_MODULES = ("openvino", "onnxruntime")  # must not be imported where the seed loop is timed
DIRECT_RUNTIMES = {"openvino_direct": "openvino", "onnx_direct": "onnxruntime", "openvino_bf16_direct": "openvino-bf16"}


@dataclass(frozen=True)
class PassSpec:
    """What the child runs. `kind`: "seed_loop" or a DIRECT_RUNTIMES key."""

    kind: str
    media: list[str]
    warmup: list[str]
    concurrencies: list[int]  # one timed pass each; the seed loop: [0]
    out_dir: str
    label: str
    model: str = ""  # seed loop: the detector (load_detector) ...
    random_weights: bool = True
    config_file: str = ""  # a trained model (bench --from-training): its config, checkpoint and labels
    weights: str = ""
    labels_file: str = ""
    canvases: list[str] = field(default_factory=list)  # ... and its buckets
    model_dir: str = ""  # direct runtimes: the exported model folder
    beside: list[str] = field(default_factory=list)  # DIRECT_RUNTIMES keys loaded beside the seed loop
    watch: dict[str, int] = field(default_factory=dict)  # name -> pid whose process tree's CPU is read


@dataclass
class FreshPass:
    """The child's measurements (one per concurrency) and what it saw about its surroundings."""

    measurements: list[Measurement]
    process: dict  # pid, parent pid, runtime modules imported, affinity, torch threads, ...
    passes: list[dict]  # per timed pass: other processes' CPU, threads' CPU


def run_fresh(spec: PassSpec, timeout_s: float = 3600) -> FreshPass:
    """Run `spec` in a fresh interpreter and return what it measured."""
    out_dir = Path(spec.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec_path, result_path = out_dir / f"{spec.label}.spec.json", out_dir / f"{spec.label}.result.json"
    log_path = out_dir / f"{spec.label}.log"
    result_path.unlink(missing_ok=True)
    spec_path.write_text(json.dumps(asdict(spec)))
    with open(log_path, "w") as log:
        completed = subprocess.run([sys.executable, "-m", "creativelens.benchmarks.fresh_process",
                                    str(spec_path), str(result_path)], stdout=log, stderr=subprocess.STDOUT,
                                   timeout=timeout_s)
    if completed.returncode != 0 or not result_path.is_file():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise UserError(f"the {spec.kind} pass in its own process failed (exit {completed.returncode}):\n{tail}")
    result = json.loads(result_path.read_text())
    return FreshPass([Measurement(**m) for m in result["measurements"]], result["process"], result["passes"])


# --- the child -----------------------------------------------------------------------------------

def _pipeline(spec: PassSpec):
    """(warm-up, timed pass(concurrency, label) -> Measurement, facts to report) for `spec`."""
    out_dir = Path(spec.out_dir)
    media, warmup = [Path(p) for p in spec.media], [Path(p) for p in spec.warmup]
    if spec.kind == "seed_loop":
        from creativelens.benchmarks.seed_loop import SeedLoop
        from creativelens.canvas import parse_canvas
        from creativelens.export.zoo import load_detector

        trained = {key: value for key, value in (("config_file", spec.config_file), ("weights", spec.weights),
                                                 ("labels_file", spec.labels_file)) if value}
        seed = SeedLoop(load_detector(spec.model, random_weights=spec.random_weights, **trained),
                        [parse_canvas(name) for name in spec.canvases])
        return (lambda: seed.run(warmup, out_dir / f"{spec.label}-warmup.csv"),
                lambda concurrency, label: seed.run(media, out_dir / f"{label}.csv"), {})
    if spec.kind in DIRECT_RUNTIMES:
        direct = _direct(spec.model_dir, spec.kind)
        return (lambda: direct.run(warmup, out_dir / f"{spec.label}-warmup.jsonl", 1),
                lambda concurrency, label: direct.run(media, out_dir / f"{label}.jsonl", concurrency),
                {"runtime_threads": direct.threads})
    raise ValueError(f"unknown pass kind {spec.kind!r}")


def _direct(model_dir: str, kind: str):
    from creativelens.benchmarks.onnx_direct import OnnxDirect

    return OnnxDirect(Path(model_dir), runtime=DIRECT_RUNTIMES[kind])


def runtime_modules_loaded() -> list[str]:
    return sorted(name for name in RUNTIME_MODULES if name in sys.modules)


def _child(spec: PassSpec) -> dict:
    warm, timed, facts = _pipeline(spec)
    warm()
    seed_threads = set(thread_cpu_seconds())  # the pipeline's own threads, after its warm-up
    beside = [_direct(spec.model_dir, kind) for kind in spec.beside]
    for runner in beside:  # loaded and warmed as the old bench process did
        runner.run([Path(p) for p in spec.warmup], Path(spec.out_dir) / f"{spec.label}-beside-{runner.runtime}.jsonl", 1)
    parent = os.getppid()
    measurements, passes = [], []
    for concurrency in spec.concurrencies:
        label = spec.label + (f"-c{concurrency}" if concurrency else "")
        before = _readings(parent, spec.watch)
        measurement = timed(concurrency, label)
        after = _readings(parent, spec.watch)
        spent = {key: after[key] - before[key] for key in ("own", "machine", "parent_process", "bench_tree")}
        threads = {tid: cpu - before["threads"].get(tid, 0.0) for tid, cpu in after["threads"].items()}
        measurements.append(asdict(Measurement(measurement.images, measurement.errors, measurement.wall_s,
                                               spent["own"], measurement.latencies_ms)))
        passes.append({
            "concurrency": concurrency,
            "wall_s": round(measurement.wall_s, 3),
            "cpu_s": round(spent["own"], 3),
            "bench_process_cpu_s": round(spent["parent_process"], 3),  # the idle parent
            "watched_cpu_s": {name: round(after["watched"][name] - before["watched"][name], 3)
                              for name in spec.watch},
            # everything else on the machine: not this child, not the bench, not what it started
            "other_processes_cpu_s": round(spent["machine"] - spent["bench_tree"], 3),
            "threads": len(threads),
            "pipeline_threads_cpu_s": round(sum(cpu for tid, cpu in threads.items() if tid in seed_threads), 3),
            "runtime_threads_cpu_s": round(sum(cpu for tid, cpu in threads.items() if tid not in seed_threads), 3),
        })
    return {"measurements": measurements, "passes": passes, "process": {**_process_facts(spec), **facts}}


def _readings(parent: int, watch: dict[str, int]) -> dict:
    return {
        "own": process_cpu_seconds(),
        "threads": thread_cpu_seconds(),
        "machine": machine_busy_cpu_seconds(),
        "parent_process": process_cpu_seconds(parent),
        "bench_tree": tree_cpu_seconds(parent),
        "watched": {name: tree_cpu_seconds(pid) for name, pid in watch.items()},
    }


def _process_facts(spec: PassSpec) -> dict:
    facts = {
        "pid": os.getpid(),
        "parent_pid": os.getppid(),
        "runtime_modules": runtime_modules_loaded(),
        "beside": list(spec.beside),
        "watched": sorted(spec.watch),
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "threads_alive": len(thread_cpu_seconds()),
    }
    if "torch" in sys.modules:
        facts["torch_threads"] = sys.modules["torch"].get_num_threads()
    return facts


def main(argv: list[str]) -> int:
    spec_path, result_path = (Path(arg) for arg in argv)
    spec = PassSpec(**json.loads(spec_path.read_text()))
    started = time.perf_counter()
    result = _child(spec)
    result["process"]["child_wall_s"] = round(time.perf_counter() - started, 3)
    result_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
