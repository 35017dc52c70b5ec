"""Issue 21's benchmark: three ways to a brand detector on the SYNTHETIC brand set, side by side.

    python -m creativelens.benchmarks.training_recipes [--out benchmarks/results]

(a) from scratch with the old recipe: the issue-9 run recorded in
    benchmarks/results/training_amd-epyc-2c/results.json (same dataset bytes; measured on a 2-core
    AMD EPYC, so its times are that machine's; its checkpoint is not kept, so it is quoted, not re-run;
    recipe_search.md times the old recipe's step on this machine beside the new one);
(b) from scratch with the scratch recipe: `train/train_synthetic.sh scratch N`;
(c) fine-tuned from the locally made base: `train/train_synthetic.sh base M`, then
    `train/train_synthetic.sh finetune N` (the published pipeline's way, COCO replaced by the base);
plus the published grid run from the fine-tuned path (`--grid` folder), when given.

Each trained folder is judged on the test split, eagerly, at its per-class thresholds chosen on
validation: nothing here chooses anything on the test split. Training speed comes from each
run's own Detectron2 log. Results: OUT/training_recipe_<machine>/ (README.md, results.json, PNGs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from creativelens.benchmarks.training import CANVAS, grid_lines, max_iter, training_speed
from creativelens.machine import describe_machine, machine_slug

RECORDED_OLD = Path("benchmarks/results/training_amd-epyc-2c/results.json")
GOALS = {"fine_tuned_AP": 0.6, "fine_tuned_accuracy": 0.8, "scratch_AP_over_old": 2.0}


def judge(trained: Path, dataset_root: Path, split: str = "test") -> dict:
    from creativelens.train import evaluation
    from creativelens.train.labels import read_coco

    images = dataset_root / "images" / split
    dataset = read_coco(dataset_root / "coco" / f"{split}.json", images, "coco")
    thresholds = json.loads((trained / "thresholds.json").read_text())
    predictions, names = evaluation.predict_checkpoint(trained / "config.yaml", trained / "model_final.pth", images,
                                                       dataset, CANVAS)
    return evaluation.evaluate(dataset, predictions, names, thresholds)


def run_row(label: str, trained: Path, dataset_root: Path, start: str) -> dict:
    config = (trained / "config.yaml").read_text()
    batch = int(next(line.split(":")[1] for line in config.splitlines() if line.strip().startswith("IMS_PER_BATCH")))
    row = {"label": label, "folder": str(trained), "start": start, "iterations": max_iter(trained),
           "ims_per_batch": batch, "training": training_speed([trained / "log.txt"]),
           "test": judge(trained, dataset_root), "validation": json.loads((trained / "evaluation.json").read_text())}
    test = row["test"]
    print(f"{label}: test AP {test['AP']}, AP50 {test['AP50']}, accuracy {test['accuracy']}, "
          f"{row['training']['seconds_per_iteration']} s/it, {row['training']['train_loop_s'] / 60:.1f} min", flush=True)
    return row


def old_row() -> dict:
    recorded = json.loads(RECORDED_OLD.read_text())
    return {"label": "(a) scratch, old recipe (recorded, 2-core AMD EPYC)", "folder": "not kept (issue 9)", "start": "random (GN, 4conv1fc head)",
            "iterations": recorded["training"]["max_iter"], "ims_per_batch": 2, "training": recorded["training"],
            "test": recorded["test"]["eager"], "recorded": str(RECORDED_OLD)}


def _size_ap(test: dict, size: str) -> str:
    value = test.get("AP_by_size", {}).get(size)
    return "-" if value is None else str(value)


def where_the_loss_goes(test: dict) -> str:
    """From the confusion matrix and the uniform-threshold counts: what a run's errors are."""
    names = test["confusion_matrix"]["rows_labelled"][:-1]
    counts = test["confusion_matrix"]["counts"]
    background = dict(zip(names, counts[-1][:-1]))
    confused = sum(counts[i][j] for i in range(len(names)) for j in range(len(names)) if i != j)
    missed = sum(row[-1] for row in counts[:-1])
    low = test["at_uniform_threshold"]["0.20"]
    sizes = test.get("AP_by_size", {})
    found = sum(counts[i][i] for i in range(len(names)))
    return (f"confusion matrix at the validation thresholds: of {found + confused + missed} labelled marks {found} found "
            f"as their class, {confused} as another, {missed} missed; {sum(background.values())} detections of "
            f"unlabelled things (" + ", ".join(f"{k} {v}" for k, v in background.items() if v)
            + f"); at a 20 % threshold recall {low['recall']} with {low['fp']} false detections; AP small/medium/large {sizes.get('small')}/{sizes.get('medium')}/{sizes.get('large')}")


def write_report(report: dict, folder: Path) -> None:
    rows = report["rows"]
    lines = [f"# Three ways to a brand detector: SYNTHETIC brand set ({report['machine']['cpu_model']}, "
             f"{report['machine']['cpu_cores']} cores, no GPU)", "",
             "**SYNTHETIC data and weights trained here**: five made-up brand classes with look-alike distractors "
             "and occlusion (`creativelens train dataset --seed 0`); the base is trained on ten other made-up "
             "classes (`--marks base`), standing in for COCO. R18 Faster R-CNN, 320 px.", "",
             "**The test split chose nothing**: every threshold was swept on validation, the grid's winner is "
             "chosen by validation accuracy, and the test split is read only here, once per model.", "",
             "| run | start | iterations x batch | s/iteration | training min | test AP | AP50 | AP75 | AP small | "
             "AP medium | AP large | accuracy (seeds' rule) | precision | recall |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        t, s = row["test"], row["training"]
        lines.append(f"| {row['label']} | {row['start']} | {row['iterations']} x {row['ims_per_batch']} | "
                     f"{s['seconds_per_iteration']} | {s['train_loop_s'] / 60:.1f} | **{t['AP']}** | {t['AP50']} | "
                     f"{t['AP75']} | {_size_ap(t, 'small')} | {_size_ap(t, 'medium')} | {_size_ap(t, 'large')} | "
                     f"**{t['accuracy']}** | {t['precision']} | {t['recall']} |")
    if "base" in report:
        base = report["base"]
        lines += ["", f"The base: {base['iterations']} iterations x {base['ims_per_batch']} from scratch with the recipe, "
                      f"{base['training']['seconds_per_iteration']} s/iteration, {base['training']['train_loop_s'] / 60:.1f} min; "
                      f"its own validation (10 base classes): AP {base['validation']['AP']}, AP50 "
                      f"{base['validation']['AP50']}, accuracy {base['validation']['accuracy']}."]
    lines += ["", "Per class, test AP (accuracy at the validation thresholds):", "",
              "| class | " + " | ".join(row["label"] for row in rows) + " |", "|---|" + "---|" * len(rows)]
    for name in rows[0]["test"]["per_class"]:
        cells = []
        for row in rows:
            accuracy = row["test"].get("per_class_accuracy", {}).get(name, {}).get("accuracy", "-")
            cells.append(f"{row['test']['per_class'][name]} ({accuracy})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Where the loss goes (test split):", ""]
    lines += [f"- {row['label']}: {where_the_loss_goes(row['test'])}." for row in rows if "AP_by_size" in row["test"]]
    lines += ["", "Goals: " + "; ".join(f"{goal}: {'met' if met else 'MISSED'}" for goal, met in report["goals"].items()),
              "", *[f"![confusion matrix, test split, {row['label']}](confusion_{index}.png)"
                    for index, row in enumerate(rows) if "confusion_png" in row], ""]
    if "grid" in report:
        lines += ["## The published grid, from the base (validation)", "", *grid_lines(report["grid"])]
    lines += ["Reproduce: `train/train_synthetic.sh base M`, `train/train_synthetic.sh scratch N`, "
              "`train/train_synthetic.sh finetune N` (and `OUT=... train/train_synthetic.sh finetune N --grid ...`), "
              "then `python -m creativelens.benchmarks.training_recipes`.", ""]
    (folder / "README.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("build/datasets/synthetic-brand"))
    parser.add_argument("--base", type=Path, default=Path("build/trained/synthetic-base"))
    parser.add_argument("--scratch", type=Path, default=Path("build/trained/synthetic-brand-scratch"))
    parser.add_argument("--fine-tuned", type=Path, default=Path("build/trained/synthetic-brand"))
    parser.add_argument("--grid", type=Path, help="a `train --grid` output folder (fine-tuned from the base)")
    parser.add_argument("--also", action="append", default=[], metavar="LABEL=FOLDER",
                        help="another trained brand folder as a row of its own (e.g. a fine-tuning variant)")
    parser.add_argument("--conditions", default="", help="what else ran on the machine while they trained (reported)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)

    print("!!! SYNTHETIC data: made-up brand and base classes, to measure recipes, not real detectors !!!", flush=True)
    machine = describe_machine()
    folder = args.out / f"training_recipe_{machine_slug(machine)}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [old_row(),
            run_row("(b) scratch, new recipe", args.scratch, args.dataset, "random (the scratch recipe)"),
            run_row("(c) fine-tuned from the base", args.fine_tuned, args.dataset, f"{args.base.name}/model_final.pth")]
    for item in args.also:
        label, _, trained = item.partition("=")
        rows.append(run_row(label, Path(trained), args.dataset, f"{args.base.name}/model_final.pth"))
    from creativelens.train.plots import plot_confusion

    for index, row in enumerate(rows):
        if "confusion_matrix" in row["test"] and index > 0:
            plot_confusion(row["test"]["confusion_matrix"], folder / f"confusion_{index}.png", f"Test split, {row['label']}")
            row["confusion_png"] = f"confusion_{index}.png"
    old, scratch, tuned = (row["test"] for row in rows[:3])
    report = {"what": "issue 21: old scratch recipe vs new scratch recipe vs fine-tuned from a local base, test split",
              "synthetic": True, "machine": machine, "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
              "training_conditions": args.conditions, "rows": rows,
              "goals": {f"(c) test AP >= {GOALS['fine_tuned_AP']}": tuned["AP"] >= GOALS["fine_tuned_AP"],
                        f"(c) accuracy >= {GOALS['fine_tuned_accuracy']}": tuned["accuracy"] >= GOALS["fine_tuned_accuracy"],
                        f"(c) trained in <= 60 min": rows[2]["training"]["train_loop_s"] <= 3600,
                        "(b) AP >= 2 x (a)": scratch["AP"] >= GOALS["scratch_AP_over_old"] * old["AP"]}}
    if (args.base / "model_final.pth").is_file():
        report["base"] = {"iterations": max_iter(args.base), "ims_per_batch": 4,
                          "training": training_speed([args.base / "log.txt"]),
                          "validation": json.loads((args.base / "evaluation.json").read_text())}
    if args.grid:
        report["grid"] = json.loads((args.grid / "grid.json").read_text())
        for t in (20, 40, 60, 80):
            shutil.copyfile(args.grid / f"grid_heatmap_{t}.png", folder / f"grid_heatmap_{t}.png")
    (folder / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    write_report(report, folder)
    print((folder / "README.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
