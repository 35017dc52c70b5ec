"""Grid search as the seeds ran it: train every combination of `--grid KEY=v1,v2,...`, evaluate
each on validation, keep the best by the seeds' accuracy (at its swept per-class thresholds).

OUT/grid/<combination>/ holds each run; the winner's files are copied to OUT itself. Heat maps
(first key x second key) of accuracy at uniform confidence thresholds 20/40/60/80 % go to
OUT/grid_heatmap_<t>.png, the table to OUT/grid.json.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil

import numpy as np

from creativelens.errors import UserError
from creativelens.train.evaluation import REPORT_THRESHOLDS, finish_training

WINNER_FILES = ("model_final.pth", "config.yaml", "labels.txt", "thresholds.json", "evaluation.json",
                "evaluation.md", "confusion_matrix.png")


WINNER_RULE = ("the highest validation accuracy (the seeds' rule, at each run's swept per-class thresholds); "
               "a tie goes to the higher validation AP, then to the first combination in grid order "
               "(the values as given, the first --grid key slowest)")


def winner(runs: list[dict]) -> dict:
    """The grid's winner by WINNER_RULE (`runs` in grid order)."""
    return min(enumerate(runs), key=lambda item: (-item[1]["accuracy"], -item[1]["AP"], item[0]))[1]


def parse_grid(items) -> list[tuple[str, list[str]]]:
    grid = []
    for item in items:
        key, sep, values = item.partition("=")
        options = [v for v in values.split(",") if v]
        if not sep or not key or not options:
            raise UserError(f"--grid {item!r}: expected KEY=v1,v2,... (a Detectron2 config key)")
        if key in (k for k, _ in grid):
            raise UserError(f"--grid {key}: given twice (one --grid per key, its values comma-separated)")
        if len(set(options)) != len(options):
            raise UserError(f"--grid {item!r}: a value is repeated")
        grid.append((key, options))
    if len(grid) > 2:
        raise UserError("--grid: at most two keys (the heat maps are two-dimensional)")
    return grid


def combinations(spec, grid) -> list[tuple[str, tuple[str, ...], object]]:
    """(name, values, run spec) for every combination of the grid."""
    keys = [key for key, _ in grid]
    runs = []
    for values in itertools.product(*[options for _, options in grid]):
        name = "_".join(f"{key.split('.')[-1]}={value}" for key, value in zip(keys, values))
        runs.append((name, values, dataclasses.replace(spec, out=spec.out / "grid" / name,
                                                      grid=tuple(f"{k}={v}" for k, v in zip(keys, values)))))
    return runs


def check_combinations(spec, runs) -> None:
    """Every combination's config merged, checked and its model built, before any training: a bad
    key or value in the last combination is refused before the first one trains."""
    from detectron2.modeling import build_model

    from creativelens.train.labels import class_names_of, read_coco
    from creativelens.train.training import configure

    classes = class_names_of(read_coco(spec.train_json, spec.train_images, spec.labels_format, spec.max_labels_mb,
                                             spec.max_boxes_per_image))
    for name, _, run_spec in runs:
        cfg = configure(run_spec, len(classes))
        try:
            build_model(cfg)
        except (KeyError, ValueError, AssertionError, TypeError, NotImplementedError, RuntimeError) as error:
            reason = " ".join(str(error.args[0] if error.args else error).split())
            raise UserError(f"--grid {name}: the model cannot be built ({type(error).__name__}: {reason})") from None


def grid_search(spec, items, log=print) -> dict:
    from creativelens.train.training import train

    grid = parse_grid(items)
    keys = [key for key, _ in grid]
    combined = combinations(spec, grid)
    check_combinations(spec, combined)
    log(f"grid: {len(combined)} combinations checked")
    runs = []
    for name, values, run_spec in combined:
        log(f"grid: {name}")
        train(run_spec, log)
        result = finish_training(run_spec, log)
        runs.append({"name": name, "values": dict(zip(keys, values)), "accuracy": result["accuracy"],
                     "AP": result["AP"], "AP50": result["AP50"],
                     "at_uniform_threshold": {t: r["accuracy"] for t, r in result["at_uniform_threshold"].items()}})
    best = winner(runs)
    for name in WINNER_FILES:
        shutil.copyfile(spec.out / "grid" / best["name"] / name, spec.out / name)
    _heat_maps(grid, runs, spec.out)
    table = {"keys": keys, "runs": runs, "winner": best["name"], "criterion": WINNER_RULE}
    (spec.out / "grid.json").write_text(json.dumps(table, indent=2) + "\n")
    log(f"grid winner: {best['name']} (validation accuracy {best['accuracy']}, AP {best['AP']}; rule: {WINNER_RULE}); "
        f"its files copied to {spec.out}")
    return table


def _heat_maps(grid, runs, out) -> None:
    from creativelens.train.plots import plot_heat_map

    rows = grid[0][1]
    columns = grid[1][1] if len(grid) > 1 else [""]
    for t in REPORT_THRESHOLDS:
        values = np.array([run["at_uniform_threshold"][f"{t:.2f}"] for run in runs], np.float64).reshape(len(rows), len(columns))
        plot_heat_map(values, rows, columns, grid[0][0], grid[1][0] if len(grid) > 1 else "", out / f"grid_heatmap_{int(t * 100)}.png",
                      f"validation accuracy at confidence {int(t * 100)}%")
