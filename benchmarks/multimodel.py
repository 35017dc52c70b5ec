"""A brand's detector set: one multi-model run against the seeds' way (one full pass per model).

    python -m creativelens.benchmarks.multimodel [--quick] [--out benchmarks/results]

Three detectors on one CPU tritonserver (R50-FPN COCO and two custom class sets, all with
RANDOM weights: only plumbing and speed are measured), the same media both ways, in one run:

- one run: `stream --model A --model B --model C`: each item decoded once, sent to all three;
- the seeds' way: three runs, one per model, each decoding every item again;
- incremental: a folder finished with two models, then the third added (only it runs).

Reports items x models per second, wall seconds and CPU seconds per item (this process tree:
client + tritonserver + its python stubs), with other processes' CPU during each phase.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from creativelens.benchmarks.process_cpu import machine_busy_cpu_seconds, tree_cpu_seconds
from creativelens.machine import describe_machine, machine_slug
from creativelens.sample_media import sample_stills, sample_video

CANVASES = ("320x320", "320x480", "480x320")
CUSTOM = {"acme_logo": ["logo", "product", "brand_cue"], "acme_faces": ["face", "smile"]}
COCO = "faster_rcnn_R_50_FPN_1x"


def build_repository(work: Path) -> Path:
    """The three models exported with `creativelens export` (random weights) into one repository."""
    from detectron2 import model_zoo

    repository = work / "repository"
    canvas_flags = [flag for canvas in CANVASES for flag in ("--canvas", canvas)]
    exports = [["--model", COCO]]
    for name, classes in CUSTOM.items():
        config, labels = work / f"{name}.yaml", work / f"{name}.txt"
        base = model_zoo.get_config_file("COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml")
        config.write_text(f"_BASE_: {base}\nMODEL:\n  ROI_HEADS:\n    NUM_CLASSES: {len(classes)}\n")
        labels.write_text("\n".join(classes) + "\n")
        exports.append(["--model", name, "--config-file", str(config), "--labels", str(labels)])
    for arguments in exports:
        if (repository / arguments[1] / "parity.json").exists():
            continue
        command = [sys.executable, "-m", "creativelens.cli", "export", *arguments, "--random-weights",
                   *canvas_flags, "--format", "onnx", "--parity-images", "2", "--out", str(repository)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return repository


def timed(label: str, run) -> dict:
    machine_before, ours_before, started = machine_busy_cpu_seconds(), tree_cpu_seconds(), time.monotonic()
    summaries = run()
    wall = time.monotonic() - started
    ours = tree_cpu_seconds() - ours_before
    others = machine_busy_cpu_seconds() - machine_before - ours
    items = max(s.items_done for s in summaries)
    inferences = sum(s.inferences for s in summaries)
    print(f"{label}: {inferences} inferences in {wall:.1f} s = {inferences / wall:.2f} items x models/s "
          f"({ours / max(items, 1):.2f} CPU s/item; other processes {max(others, 0) / wall:.2f} cores)", flush=True)
    return {"wall_s": round(wall, 2), "items": items, "inferences": inferences,
            "inferences_per_s": round(inferences / wall, 3), "cpu_s_per_item": round(ours / max(items, 1), 3),
            "other_processes_cores": round(max(others, 0) / wall, 3),
            "runs": [s.to_dict()["models"] for s in summaries]}


def main(argv: list[str] | None = None) -> int:
    from creativelens.client.settings import RunSettings
    from creativelens.client.stream import stream
    from creativelens.serve.tritonserver import TritonServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 stills + 2 frames (a smoke run)")
    parser.add_argument("--every", type=int, default=80, help="every Nth frame of vtest.avi (default %(default)s)")
    parser.add_argument("--work-dir", type=Path, default=Path("build/bench-multimodel"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)

    work = args.work_dir.absolute()
    work.mkdir(parents=True, exist_ok=True)
    stills = [str(p) for p in sample_stills()[: 4 if args.quick else None]]
    media = stills + [str(sample_video())]
    every = 400 if args.quick else args.every
    models = [COCO, *CUSTOM]
    print("!!! RANDOM WEIGHTS: this measures plumbing and speed, not detections !!!", flush=True)
    repository = build_repository(work)
    results = {}
    with TritonServer(repository, "cpu", ready_timeout_s=600) as server:
        def run(out: str, names, fresh: bool = True):
            folder = work / out
            if fresh and folder.exists():
                import shutil

                shutil.rmtree(folder)
            return stream(media, server.grpc_url, folder, RunSettings(models=tuple(names), every=every))

        run("warmup", models)  # every model loaded and warm before anything is timed
        for round_number in range(1 if args.quick else 2):  # interleaved, so drift hits both ways alike
            results.setdefault("one_run", []).append(timed(f"one run, {len(models)} models", lambda: [run("one", models)]))
            results.setdefault("one_pass_per_model", []).append(
                timed("one pass per model", lambda: [run(f"pass-{name}", [name]) for name in models]))
        run("incremental", models[:2])
        results["incremental_add_one"] = timed(f"add {models[2]} to a finished folder",
                                               lambda: [run("incremental", models, fresh=False)])
        results["single_model_alone"] = timed(f"{models[2]} alone", lambda: [run("alone", [models[2]])])

    one = min(r["wall_s"] for r in results["one_run"])
    per_model = min(r["wall_s"] for r in results["one_pass_per_model"])
    machine = describe_machine()
    report = {"machine": machine, "media": {"stills": len(stills), "video": media[-1], "every": every},
              "models": models, "canvases": CANVASES, "random_weights": True, "results": results,
              "speedup_one_run_vs_one_pass_per_model": round(per_model / one, 3),
              "incremental_vs_single_model": round(results["incremental_add_one"]["wall_s"]
                                                    / results["single_model_alone"]["wall_s"], 3)}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"multimodel_{'quick_' if args.quick else ''}{machine_slug(machine)}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Multi-model run vs one pass per model ({machine['cpu_model']}, {machine['cpu_cores']} cores)", "",
             "RANDOM weights (speed only). Three R50-FPN detectors (COCO 80 classes, acme_logo 3, acme_faces 2) on "
             f"one CPU tritonserver, canvases {', '.join(CANVASES)}; {len(stills)} stills + every {every}th frame of "
             "vtest.avi.", "",
             "| way | wall s | items x models/s | CPU s/item | other processes (cores) |", "|---|---|---|---|---|"]
    for label, key in (("one run, 3 models", "one_run"), ("one pass per model (seeds)", "one_pass_per_model")):
        for entry in results[key]:
            lines.append(f"| {label} | {entry['wall_s']} | {entry['inferences_per_s']} | {entry['cpu_s_per_item']} | "
                         f"{entry['other_processes_cores']} |")
    for label, key in (("add a 3rd model to a finished folder", "incremental_add_one"),
                       ("that model alone, fresh folder", "single_model_alone")):
        entry = results[key]
        lines.append(f"| {label} | {entry['wall_s']} | {entry['inferences_per_s']} | {entry['cpu_s_per_item']} | "
                     f"{entry['other_processes_cores']} |")
    lines += ["", f"Speedup of one run over one pass per model (best of rounds): "
                  f"{report['speedup_one_run_vs_one_pass_per_model']}x; adding a model costs "
                  f"{report['incremental_vs_single_model']}x that model alone."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
