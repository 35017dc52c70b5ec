"""A tiny real training run (DefaultTrainer, a few iterations, 96 px images): SIGTERM saves a
checkpoint that --resume continues to model_final.pth; then the same checkpoint evaluated
eagerly and through its ONNX export gives the same numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from creativelens.cli import main
from creativelens.train.synthetic_dataset import generate

from training_fixtures import TINY


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data = generate(root / "data", seed=1, splits={"train": 4, "val": 3}, image_size=96)
    out = root / "out"
    args = [sys.executable, "-m", "creativelens.cli", "train", *TINY,
            "--train-json", str(data.coco_json("train")), "--train-images", str(data.images("train")),
            "--val-json", str(data.azure_json("val")), "--val-images", str(data.images("val")), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([*args, "--iterations", "1000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env=env)
    lines = []
    for line in first.stdout:
        lines.append(line)
        if "Starting training from iteration" in line:
            break
    first.send_signal(signal.SIGTERM)
    rest, _ = first.communicate(timeout=120)
    lines.append(rest)
    log = "".join(lines)
    assert first.returncode == 130, log[-3000:]
    assert "continue with --resume" in log.splitlines()[-1]
    saved = (out / "last_checkpoint").read_text().strip()
    stopped_at = int(saved.removeprefix("model_").removesuffix(".pth"))
    assert stopped_at < 1000 and not (out / "model_final.pth").exists()
    resumed = subprocess.run([*args, "--iterations", str(stopped_at + 3), "--resume"], capture_output=True, text=True,
                             env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"resuming at iteration {stopped_at + 1}" in resumed.stdout
    return data, out


def test_interrupted_run_resumes_to_a_complete_output_folder(trained):
    _, out = trained
    for name in ("model_final.pth", "config.yaml", "labels.txt", "thresholds.json", "evaluation.json"):
        assert (out / name).is_file(), name
    iterations = [json.loads(line)["iteration"] for line in (out / "metrics.json").read_text().splitlines()]
    assert iterations == sorted(iterations)
    evaluation = json.loads((out / "evaluation.json").read_text())
    for key in ("AP", "AP50", "per_class", "accuracy", "precision", "recall", "thresholds"):
        assert key in evaluation
    assert (out / "labels.txt").read_text().split() == list(json.loads((out / "thresholds.json").read_text()))


@pytest.fixture(scope="module")
def evaluated(trained, tmp_path_factory):
    """The checkpoint evaluated eagerly, and exported (ONNX) for the other two paths."""
    data, out = trained
    root = tmp_path_factory.mktemp("evaluate")
    repo = root / "repo"
    assert main(["export", "--from-training", str(out), "--canvas", "96x96", "--format", "onnx",
                 "--parity-images", "2", "--out", str(repo)]) == 0
    common = ["--coco-json", str(data.coco_json("val")), "--images", str(data.images("val")),
              "--thresholds", str(out / "thresholds.json")]
    assert main(["evaluate", *common, "--canvas", "96x96", "--config-file", str(out / "config.yaml"),
                 "--weights", str(out / "model_final.pth"), "--out", str(root / "eager")]) == 0
    return out, repo, common, json.loads((root / "eager" / "evaluation.json").read_text())


def _same_numbers(eager, other):
    """AP within 0.005; the counts at the swept thresholds may differ by one detection at most: the
    runtimes agree on scores within parity's 1e-3, and the sweep puts a class's threshold just above
    one of its scores, so a nearly untrained model's borderline detection can fall either side."""
    for key in ("AP", "AP50", "AP75"):
        assert other[key] == pytest.approx(eager[key], abs=0.005), key
    moved = sum(abs(other["counts"][k] - eager["counts"][k]) for k in ("tp", "fp", "fn"))
    assert moved <= 2, (eager["counts"], other["counts"])  # one flip moves a TP to FN (or an FP away)
    matrix_moved = sum(abs(a - b) for row_a, row_b in zip(eager["confusion_matrix"]["counts"],
                                                          other["confusion_matrix"]["counts"])
                       for a, b in zip(row_a, row_b))
    assert matrix_moved <= 2, (eager["confusion_matrix"], other["confusion_matrix"])


def test_checkpoint_and_its_onnx_export_evaluate_the_same(evaluated, tmp_path):
    from creativelens.model_metadata import read_model_metadata

    out, repo, common, eager = evaluated
    assert read_model_metadata(repo / "out").thresholds == json.loads((out / "thresholds.json").read_text())
    assert main(["evaluate", *common, "--onnx", str(repo / "out"), "--out", str(tmp_path / "onnx")]) == 0
    _same_numbers(eager, json.loads((tmp_path / "onnx" / "evaluation.json").read_text()))


def test_the_served_model_through_the_client_evaluates_the_same(evaluated, tmp_path):
    from creativelens.serve.tritonserver import TritonServer

    _, repo, common, eager = evaluated
    with TritonServer(repo, ready_timeout_s=300) as server:
        assert main(["evaluate", *common, "--server", server.grpc_url, "--model", "out",
                     "--out", str(tmp_path / "served")]) == 0
    _same_numbers(eager, json.loads((tmp_path / "served" / "evaluation.json").read_text()))
