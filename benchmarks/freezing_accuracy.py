"""Issue 22's accuracy table: what freezing the base costs a single-class detector.

    python -m creativelens.benchmarks.freezing_accuracy [--iterations 150] [--out benchmarks/results]

The few-shot literature's base/novel protocol on the SYNTHETIC data: the base
(`train/train_synthetic.sh base`, ten base classes) stands in for COCO; each of the five brand
classes gets its own single-class detector (as the published job trained one per object), trained
from the base four ways with the same iterations, batch and learning rate:

    full          every layer trained (the published way)
    trunk         --freeze trunk         (backbone + FPN frozen)
    proposals     --freeze proposals     (+ RPN)
    box-features  --freeze box-features  (+ the box head's fc layers: only the predictor is trained)

A detector's data is the brand set with only its class's boxes kept (images without one are left out
of training by Detectron2, as it does by default). Each is judged once on the test split at the
per-class threshold its own validation sweep chose. Finished runs are kept under
build/trained/single-class/ and not re-trained (the report can be rebuilt after an interruption).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from creativelens.benchmarks.cpu_lock import held
from creativelens.benchmarks.training import max_iter, training_speed
from creativelens.benchmarks.training_recipes import judge
from creativelens.machine import describe_machine, machine_slug

LEVELS = ("full", "trunk", "proposals", "box-features")
SPLITS = ("train", "val", "test")
GOAL_AP_POINTS = 2.0


def single_class_dataset(brand: Path, name: str, out: Path) -> Path:
    """`out/coco/<split>.json` with only `name`'s boxes; the images stay in the brand set's folders."""
    for split in SPLITS:
        dataset = json.loads((brand / "coco" / f"{split}.json").read_text())
        (category,) = [c for c in dataset["categories"] if c["name"] == name]
        dataset["categories"] = [dict(category, id=1)]
        dataset["annotations"] = [dict(a, category_id=1) for a in dataset["annotations"]
                                  if a["category_id"] == category["id"]]
        target = out / "coco" / f"{split}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(dataset))
        images = out / "images" / split
        if not images.exists():
            images.parent.mkdir(parents=True, exist_ok=True)
            images.symlink_to((brand / "images" / split).resolve(), target_is_directory=True)
    return out


def train(base: Path, data: Path, out: Path, level: str, iterations: int, learning_rate: float) -> None:
    if (out / "model_final.pth").is_file() and (out / "thresholds.json").is_file():
        print(f"{out}: trained already, kept", flush=True)
        return
    command = [str(Path(sys.executable).parent / "creativelens"), "train",
               "--config", str(base / "config.yaml"), "--weights", str(base / "model_final.pth"),
               "--train-json", str(data / "coco/train.json"), "--train-images", str(data / "images/train"),
               "--val-json", str(data / "coco/val.json"), "--val-images", str(data / "images/val"),
               "--out", str(out), "--iterations", str(iterations), "--ims-per-batch", "4",
               "--set", f"SOLVER.BASE_LR={learning_rate}"]
    if level != "full":
        command += ["--freeze", level]
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def write_report(report: dict, folder: Path) -> None:
    rows = report["rows"]
    classes = list(dict.fromkeys(row["class"] for row in rows))
    levels = [level for level in LEVELS if any(row["level"] == level for row in rows)]
    cell = {(row["class"], row["level"]): row for row in rows}
    lines = [f"# What freezing the base costs: single-class detectors, SYNTHETIC brand set "
             f"({report['machine']['cpu_model']}, {report['machine']['cpu_cores']} cores, no GPU)", "",
             "**SYNTHETIC data, weights trained here.** Base: `train/train_synthetic.sh base` (ten base classes, "
             "standing in for COCO). One single-class detector per brand class, fine-tuned from the base "
             f"{report['iterations']} iterations x batch 4 at LR {report['learning_rate']} at every level; judged on "
             "the test split at the threshold its validation sweep chose.", "",
             "Mean over the detectors:", "",
             "| level | frozen | test AP | AP50 | accuracy (seeds' rule) | s/iteration | training min | "
             "AP points vs full |", "|---|---|---|---|---|---|---|---|"]
    frozen = {"full": "nothing", "trunk": "backbone + FPN", "proposals": "+ RPN", "box-features": "+ box head fc1/fc2"}
    for level in levels:
        summary = report["mean"][level]
        lines.append(f"| {level} | {frozen[level]} | **{summary['AP']}** | {summary['AP50']} | {summary['accuracy']} | "
                     f"{summary['seconds_per_iteration']} | {summary['training_min']} | "
                     f"{summary['AP_points_vs_full']:+.1f} |")
    lines += ["", "Per detector, test AP / AP50 / accuracy:", "",
              "| detector | " + " | ".join(levels) + " |", "|---|" + "---|" * len(levels)]
    for name in classes:
        cells = []
        for level in levels:
            row = cell.get((name, level))
            cells.append("-" if row is None else
                         f"{row['test']['AP']} / {row['test']['AP50']} / {row['test']['accuracy']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Goal: at most {GOAL_AP_POINTS:g} AP points lost against full fine-tuning at the recommended "
              "level: " + "; ".join(f"{level} {report['mean'][level]['AP_points_vs_full']:+.1f}"
                                    for level in levels if level != "full"), "",
              "Reproduce: `train/train_synthetic.sh base 1800`, then "
              f"`python -m creativelens.benchmarks.freezing_accuracy --iterations {report['iterations']}`.", ""]
    (folder / "README.md").write_text("\n".join(lines))


def summarise(rows: list[dict]) -> dict:
    mean = {}
    for level in LEVELS:
        chosen = [row for row in rows if row["level"] == level]
        if not chosen:
            continue
        average = lambda values: round(sum(values) / len(values), 3)
        mean[level] = {"detectors": len(chosen),
                       "AP": average([r["test"]["AP"] for r in chosen]),
                       "AP50": average([r["test"]["AP50"] for r in chosen]),
                       "accuracy": average([r["test"]["accuracy"] for r in chosen]),
                       "seconds_per_iteration": average([r["training"]["seconds_per_iteration"] for r in chosen]),
                       "training_min": round(sum(r["training"]["train_loop_s"] for r in chosen) / len(chosen) / 60, 1)}
    full_by_class = {row["class"]: row["test"]["AP"] for row in rows if row["level"] == "full"}
    for level, summary in mean.items():
        paired = [row["test"]["AP"] - full_by_class[row["class"]] for row in rows
                  if row["level"] == level and row["class"] in full_by_class]
        summary["AP_points_vs_full"] = round(100 * sum(paired) / len(paired), 1) if paired else 0.0
    return mean


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brand", type=Path, default=Path("build/datasets/synthetic-brand"))
    parser.add_argument("--base", type=Path, default=Path("build/trained/synthetic-base"))
    parser.add_argument("--work", type=Path, default=Path("build/trained/single-class"))
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--classes", help="comma-separated brand classes (default: all five)")
    parser.add_argument("--levels", default=",".join(LEVELS))
    parser.add_argument("--lock", type=Path, help="a lock file held during each run (training + judging), so that "
                        "other CPU work on a shared machine runs between runs, never beside one")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)

    print("!!! SYNTHETIC data: made-up brand and base classes; the detectors are trained here !!!", flush=True)
    if not (args.base / "model_final.pth").is_file():
        raise SystemExit(f"no base at {args.base}: run train/train_synthetic.sh base 1800 first")
    names = (args.classes.split(",") if args.classes else
             [c["name"] for c in json.loads((args.brand / "coco/train.json").read_text())["categories"]])
    machine = describe_machine()
    folder = args.out / f"freezing_accuracy_{machine_slug(machine)}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        data = single_class_dataset(args.brand, name, args.work / "datasets" / name)
        for level in args.levels.split(","):
            out = args.work / f"{name}-{level}"
            with held(args.lock):
                train(args.base, data, out, level, args.iterations, args.learning_rate)
                row = {"class": name, "level": level, "folder": str(out), "iterations": max_iter(out),
                       "training": training_speed([out / "log.txt"]), "test": judge(out, data)}
            rows.append(row)
            print(f"{name} {level}: test AP {row['test']['AP']}, AP50 {row['test']['AP50']}, accuracy "
                  f"{row['test']['accuracy']}, {row['training']['seconds_per_iteration']} s/it", flush=True)
            report = {"what": "issue 22: single-class detectors from one base, by freezing level, test split",
                      "synthetic": True, "machine": machine, "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
                      "iterations": args.iterations, "learning_rate": args.learning_rate, "rows": rows,
                      "mean": summarise(rows)}
            (folder / "results.json").write_text(json.dumps(report, indent=2) + "\n")
            write_report(report, folder)
    print((folder / "README.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
