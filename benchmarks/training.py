"""Issue 9's benchmark: the SYNTHETIC brand detector trained here, judged on its test split
through every path it can take to a user.

    python -m creativelens.benchmarks.training [--training-log LOG] [--grid] [--out benchmarks/results]

1. Training (`train/train_synthetic.sh finetune`: R18 Faster R-CNN fine-tuned from the
   locally made base, CPU) unless `--trained` already holds `model_final.pth`; its speed is
   read from Detectron2's own log (`--training-log`, or the log this run writes).
2. `creativelens export --from-training` of the result (ONNX, the 320x320 canvas of the data).
3. The test split evaluated four ways on the same pixels: eager Detectron2 (the checkpoint),
   ONNX Runtime on the exported file, and through the real client against tritonserver with
   the CPU config (python backend -> OpenVINO FP32) and the ONNX Runtime config. They must agree
   within 0.005 AP.
4. `--grid`: the seeds' grid (SOLVER.MAX_ITER x MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE), 2 x 2,
   each combination fine-tuned from the base (as the seeds fine-tuned from COCO), its heat maps.

Everything lands in OUT/training_<machine>/: results.json, README.md and the PNGs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from creativelens.benchmarks.process_cpu import machine_busy_cpu_seconds, tree_cpu_seconds
from creativelens.machine import describe_machine, machine_slug

AGREEMENT_AP = 0.005
CANVAS = "320x320"
SERVED_CONFIGS = {"served_openvino": "cpu", "served_onnxruntime": "cpu_onnxruntime"}
GRID = ("SOLVER.MAX_ITER=100,200", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE=64,256")
SPEED = re.compile(r"Overall training speed: (\d+) iterations in ([\d:]+) \(([\d.]+) s / it\)")
TOTAL = re.compile(r"Total training time: ([\d:]+)")


def _seconds(clock: str) -> int:
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def training_speed(logs: list[Path]) -> dict:
    """Detectron2's own account of a training, from its log(s): one per segment when it was
    interrupted and resumed (or continued to more iterations)."""
    segments = []
    for log in logs:
        text = log.read_text(errors="replace")
        speed, total = SPEED.findall(text), TOTAL.findall(text)
        if not speed:
            raise SystemExit(f"{log}: no 'Overall training speed' line (did the training finish?)")
        iterations, clock, per_iteration = speed[-1]
        segments.append({"log": str(log), "iterations_timed": int(iterations), "train_loop_s": _seconds(clock),
                         "seconds_per_iteration": float(per_iteration),
                         "total_training_s": _seconds(total[-1]) if total else None})
    timed = sum(s["iterations_timed"] for s in segments)
    loop = sum(s["train_loop_s"] for s in segments)
    return {"segments": segments, "iterations_timed": timed, "train_loop_s": loop,
            "seconds_per_iteration": round(loop / timed, 3),
            "total_training_s": sum(s["total_training_s"] or s["train_loop_s"] for s in segments)}


def max_iter(trained: Path) -> int:
    return int(re.search(r"^  MAX_ITER: (\d+)", (trained / "config.yaml").read_text(), re.M).group(1))


def train(trained: Path, dataset_root: Path, iterations: int, log: Path) -> None:
    """The one-command training; its speed is read back from `log` (Detectron2's own timer)."""
    with log.open("w") as sink:
        subprocess.run(["train/train_synthetic.sh", "finetune", str(iterations)], check=True, stdout=sink, stderr=subprocess.STDOUT,
                       env={**os.environ, "OUT": str(trained), "BRAND_DATA": str(dataset_root)})


def export(trained: Path, repository: Path) -> dict:
    subprocess.run([sys.executable, "-m", "creativelens.cli", "export", "--from-training", str(trained),
                    "--canvas", CANVAS, "--format", "onnx", "--out", str(repository)], check=True)
    return json.loads((repository / trained.name / "parity.json").read_text())


def evaluate_everywhere(trained: Path, repository: Path, dataset_root: Path) -> dict:
    from creativelens.serve.tritonserver import TritonServer
    from creativelens.train import evaluation
    from creativelens.train.labels import read_coco

    images = dataset_root / "images" / "test"
    dataset = read_coco(dataset_root / "coco" / "test.json", images, "coco")
    thresholds = json.loads((trained / "thresholds.json").read_text())

    def judged(label: str, predict) -> dict:
        cpu_before, started = tree_cpu_seconds(), time.monotonic()
        predictions, names = predict()
        wall = time.monotonic() - started
        result = evaluation.evaluate(dataset, predictions, names, thresholds)
        result["timing"] = {"wall_s": round(wall, 2), "cpu_s": round(tree_cpu_seconds() - cpu_before, 2)}
        print(f"{label}: AP {result['AP']}, AP50 {result['AP50']}, AP75 {result['AP75']}, accuracy {result['accuracy']}, "
              f"precision {result['precision']}, recall {result['recall']} ({wall:.1f} s)", flush=True)
        return result

    paths = {
        "eager": judged("eager Detectron2", lambda: evaluation.predict_checkpoint(
            trained / "config.yaml", trained / "model_final.pth", images, dataset, CANVAS)),
        "onnxruntime": judged("ONNX Runtime", lambda: evaluation.predict_onnx(repository / trained.name, images, dataset)),
    }
    for key, config_name in SERVED_CONFIGS.items():
        with TritonServer(repository, config_name, ready_timeout_s=600) as server:
            paths[key] = judged(f"served ({config_name})", lambda: evaluation.predict_served(
                server.grpc_url, trained.name, images, dataset))
    return paths


def grid_search(trained: Path, dataset_root: Path, work: Path) -> dict:
    out = work / "grid"
    if out.exists():
        shutil.rmtree(out)
    started = time.monotonic()
    subprocess.run(["train/train_synthetic.sh", "finetune", "200", *[a for g in GRID for a in ("--grid", g)]],
                   check=True, env={**os.environ, "OUT": str(out), "BRAND_DATA": str(dataset_root)})
    table = json.loads((out / "grid.json").read_text())
    table.update({"start_weights": "the base", "wall_s": round(time.monotonic() - started, 1)})
    return table


def write_report(report: dict, folder: Path) -> None:
    paths = report["test"]
    lines = [f"# Training benchmark: SYNTHETIC brand detector ({report['machine']['cpu_model']}, "
             f"{report['machine']['cpu_cores']} cores, no GPU)", "",
             "**SYNTHETIC data** (`creativelens train dataset --seed 0`: five made-up logo/product classes pasted on the "
             "bundled real photos and video frames, look-alike distractors, occlusion). R18 Faster R-CNN fine-tuned from "
             f"the base, batch 4, 320 px, `train/train_synthetic.sh finetune` to {report['training']['max_iter']} iterations "
             f"({len(report['training']['segments'])} segment(s): the commands are in train/README.md).", ""]
    t = report["training"]
    lines += [f"Training: {t['iterations_timed']} timed iterations at **{t['seconds_per_iteration']} s/iteration**, "
              f"train loop {t['train_loop_s'] / 60:.1f} min, total {t['total_training_s'] / 60:.1f} min "
              f"(Detectron2's own timer, {len(t['segments'])} segment(s)). Conditions: {report['training_conditions'] or 'not stated'}; "
              f"load average when this benchmark started evaluating {report['load_average_at_benchmark_start']}.", "",
              f"Test split ({paths['eager']['images']} images, {paths['eager']['labels']} labelled boxes), "
              "per-class thresholds from the validation sweep:", "",
              "| path | AP | AP50 | AP75 | accuracy (seeds' rule) | precision | recall | wall s |",
              "|---|---|---|---|---|---|---|---|"]
    for key, result in paths.items():
        lines.append(f"| {key} | {result['AP']} | {result['AP50']} | {result['AP75']} | {result['accuracy']} | "
                     f"{result['precision']} | {result['recall']} | {result['timing']['wall_s']} |")
    agreement = report["agreement"]
    lines += ["", f"Largest AP difference from eager: **{agreement['max_ap_difference']}** "
                  f"(limit {AGREEMENT_AP}): {'PASS' if agreement['pass'] else 'FAIL'}.", "",
              "| class | AP (eager) | threshold |", "|---|---|---|"]
    for name, ap in paths["eager"]["per_class"].items():
        lines.append(f"| {name} | {ap} | {paths['eager']['thresholds'][name]:.2f} |")
    lines += ["", "![confusion matrix, test split, eager](confusion_matrix_test.png)", ""]
    if "grid" in report:
        grid = report["grid"]
        lines += ["## Grid search (2 x 2)", "",
                  f"Each combination fine-tuned from {grid['start_weights']}; {grid['wall_s'] / 60:.1f} min in all.", "",
                  *grid_lines(grid)]
    (folder / "README.md").write_text("\n".join(lines))


def grid_lines(grid: dict) -> list[str]:
    """A grid's winner, its table (validation) and its heat maps, as Markdown lines."""
    lines = [f"Winner: **{grid['winner']}** ({grid['criterion']}).", "",
             "| combination | val accuracy | val AP | val AP50 | acc @20% | @40% | @60% | @80% |",
             "|---|---|---|---|---|---|---|---|"]
    for run in grid["runs"]:
        u = run["at_uniform_threshold"]
        lines.append(f"| {run['name']} | {run['accuracy']} | {run['AP']} | {run['AP50']} | {u['0.20']} | {u['0.40']} | "
                     f"{u['0.60']} | {u['0.80']} |")
    return lines + [""] + [f"![accuracy at {t}%](grid_heatmap_{t}.png)" for t in (20, 40, 60, 80)] + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trained", type=Path, default=Path("build/trained/synthetic-brand"))
    parser.add_argument("--dataset", type=Path, default=Path("build/datasets/synthetic-brand"))
    parser.add_argument("--iterations", type=int, default=600, help="when training here (default %(default)s)")
    parser.add_argument("--training-log", type=Path, action="append", default=[],
                        help="the log of a finished training of --trained (repeat for each resumed segment)")
    parser.add_argument("--conditions", default="", help="what else ran on the machine while it trained (reported)")
    parser.add_argument("--grid", action="store_true", help="also the 2 x 2 grid search (~16 min on 2 cores)")
    parser.add_argument("--work-dir", type=Path, default=Path("build/bench-training"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)

    print("!!! SYNTHETIC data: a made-up brand, to prove the pipeline, not a real detector !!!", flush=True)
    work = args.work_dir.absolute()
    work.mkdir(parents=True, exist_ok=True)
    training_load = [round(v, 2) for v in os.getloadavg()]
    logs = args.training_log
    if not (args.trained / "model_final.pth").is_file():
        logs = [work / "train.log"]
        train(args.trained, args.dataset, args.iterations, logs[0])
    elif not logs:
        raise SystemExit(f"{args.trained} is already trained: name its log with --training-log (or remove it to retrain)")
    machine_before, ours_before = machine_busy_cpu_seconds(), tree_cpu_seconds()
    repository = work / "repository"
    if repository.exists():
        shutil.rmtree(repository)
    parity = export(args.trained, repository)
    paths = evaluate_everywhere(args.trained, repository, args.dataset)
    differences = {key: round(abs(result["AP"] - paths["eager"]["AP"]), 4) for key, result in paths.items() if key != "eager"}
    report = {"what": "issue 9: SYNTHETIC brand detector trained from scratch on CPU, judged eager / ONNX Runtime / served",
              "synthetic": True, "machine": describe_machine(), "load_average_at_benchmark_start": training_load,
              "training_conditions": args.conditions,
              "training": {**training_speed(logs), "max_iter": max_iter(args.trained)}, "export_parity": parity, "test": paths,
              "agreement": {"ap_difference_from_eager": differences, "max_ap_difference": max(differences.values()),
                            "limit": AGREEMENT_AP, "pass": max(differences.values()) <= AGREEMENT_AP}}
    if args.grid:
        report["grid"] = grid_search(args.trained, args.dataset.absolute(), work)
    ours = tree_cpu_seconds() - ours_before
    report["other_processes_cpu_s_during_evaluation"] = round(max(machine_busy_cpu_seconds() - machine_before - ours, 0), 1)
    folder = args.out / f"training_{machine_slug(report['machine'])}"
    folder.mkdir(parents=True, exist_ok=True)
    from creativelens.train.plots import plot_confusion

    plot_confusion(paths["eager"]["confusion_matrix"], folder / "confusion_matrix_test.png", "Test split, eager")
    if args.grid:
        for t in (20, 40, 60, 80):
            shutil.copyfile(work / "grid" / f"grid_heatmap_{t}.png", folder / f"grid_heatmap_{t}.png")
    (folder / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    write_report(report, folder)
    print((folder / "README.md").read_text())
    return 0 if report["agreement"]["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
