"""`creativelens train --grid`: a real 2 x 2 grid (DefaultTrainer, 1-2 iterations, 96 px images)
trains every combination, keeps the best by validation accuracy (ties: AP, then grid order) and
draws the seeds' heat maps."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from creativelens.train.synthetic_dataset import generate

from training_fixtures import TINY

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    data = generate(root / "data", seed=2, splits={"train": 3, "val": 3}, image_size=96)
    out = root / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "creativelens.cli", "train", *TINY, "--iterations", "2",
         "--train-json", str(data.coco_json("train")), "--train-images", str(data.images("train")),
         "--val-json", str(data.coco_json("val")), "--val-images", str(data.images("val")), "--out", str(out),
         "--grid", "SOLVER.MAX_ITER=1,2", "--grid", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE=16,32"],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=900)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return out, json.loads((out / "grid.json").read_text()), completed.stdout


def test_every_combination_trains_and_the_best_accuracy_wins(grid):
    out, table, stdout = grid
    assert table["keys"] == ["SOLVER.MAX_ITER", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE"]
    assert [run["values"] for run in table["runs"]] == [
        {"SOLVER.MAX_ITER": i, "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE": b} for i in ("1", "2") for b in ("16", "32")]
    for run in table["runs"]:
        config = (out / "grid" / run["name"] / "config.yaml").read_text()
        assert f"MAX_ITER: {run['values']['SOLVER.MAX_ITER']}\n" in config
        assert f"BATCH_SIZE_PER_IMAGE: {run['values']['MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE']}\n" in config
        assert (out / "grid" / run["name"] / "model_final.pth").is_file()
    top = max(run["accuracy"] for run in table["runs"])
    best = max((run for run in table["runs"] if run["accuracy"] == top), key=lambda run: run["AP"])  # first of equals
    assert table["winner"] == best["name"]
    assert f"grid winner: {best['name']}" in stdout
    winner = out / "grid" / best["name"]
    for name in ("model_final.pth", "thresholds.json", "evaluation.json"):
        assert (out / name).read_bytes() == (winner / name).read_bytes(), name


def test_a_heat_map_per_confidence_threshold(grid):
    out, table, _ = grid
    for t in (20, 40, 60, 80):
        assert (out / f"grid_heatmap_{t}.png").read_bytes()[:8] == PNG_MAGIC
        assert all(f"{t / 100:.2f}" in run["at_uniform_threshold"] for run in table["runs"])
    assert (out / "confusion_matrix.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("grid_flag", ["SOLVER.MAX_ITER", "SOLVER.MAX_ITER=", "=1,2", "A=1 B=2 C=3"])
def test_a_malformed_grid_is_one_line_and_exit_2(grid_flag, tmp_path):
    flags = [part for item in grid_flag.split() for part in ("--grid", item)]
    completed = subprocess.run(
        [sys.executable, "-m", "creativelens.cli", "train", "--from-scratch", "--train-json", "x.json",
         "--train-images", ".", "--val-json", "x.json", "--val-images", ".", "--out", str(tmp_path), *flags],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr and len(completed.stderr.strip().splitlines()) == 1
    assert "--grid" in completed.stderr


def _grid_run(tmp_path, capsys, *grid):
    """A real `creativelens train --grid` in process, on the tiny config; (exit code, stderr)."""
    from creativelens.cli import main

    data = generate(tmp_path / "data", seed=5, splits={"train": 2, "val": 2}, image_size=96)
    out = tmp_path / "out"
    code = main(["train", *TINY, "--iterations", "2", "--train-json", str(data.coco_json("train")),
                 "--train-images", str(data.images("train")), "--val-json", str(data.coco_json("val")),
                 "--val-images", str(data.images("val")), "--out", str(out),
                 *[part for item in grid for part in ("--grid", item)]])
    return code, capsys.readouterr().err.strip(), out


@pytest.mark.parametrize("grid, says", [
    (["SOLVER.BASE_LR=0.001,abc"], "--grid SOLVER.BASE_LR=abc:"),
    (["SOLVER.MAX_ITER=2,0"], "--grid SOLVER.MAX_ITER = 0: must be at least 1"),
    (["SOLVER.MAX_ITER=1,2", "SOLVER.IMS_PER_BATCH=1,0"], "--grid SOLVER.IMS_PER_BATCH = 0: must be at least 1"),
    (["SOLVER.MAX_ITER=1", "SOLVER.NO_SUCH_KEY=1,2"], "--grid SOLVER.NO_SUCH_KEY=1: Non-existent key: SOLVER.NO_SUCH_KEY"),
    (["MODEL.RESNETS.DEPTH=18,17"], "--grid DEPTH=17: the model cannot be built"),
    (["SOLVER.MAX_ITER=1", "SOLVER.MAX_ITER=2"], "--grid SOLVER.MAX_ITER: given twice"),
])
def test_every_combination_is_checked_before_the_first_trains(tmp_path, capsys, grid, says):
    code, err, out = _grid_run(tmp_path, capsys, *grid)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and says in err, err
    assert "--set" not in err
    assert not list(out.glob("grid/*/metrics.json")) and not list(out.glob("grid/*/model_final.pth"))
