"""`creativelens demo`, the README's main command, over the session's exported R50."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

from creativelens.demo import DEMO_CANVASES, DEMO_MODEL, passing_export
from creativelens.sample_media import sample_stills


def test_demo_reuses_a_passing_export_serves_and_streams_the_sample_media(exported_repository, tmp_path):
    assert passing_export(exported_repository / DEMO_MODEL, list(DEMO_CANVASES)), \
        "the session export should match the demo's canvases, so that the demo skips exporting"
    (tmp_path / "repo").symlink_to(exported_repository)
    result = subprocess.run(
        [sys.executable, "-m", "creativelens.cli", "demo", "--work-dir", str(tmp_path), "--every", "200"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already holds a passing export; skipped" in result.stdout
    assert "RANDOM WEIGHTS" in result.stderr and "run complete" in result.stdout
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["complete"] and summary["errors"] == 0 and summary["random_weights"]
    assert (summary["stills"], summary["frames"]) == (len(sample_stills()), 4)  # vtest.avi: 0..600
    model = summary["models"][DEMO_MODEL]
    assert model["triton"]["inference_count"] == model["inferred"] == summary["inferences"]
    records = [json.loads(line) for line in (tmp_path / "results" / "detections.jsonl").read_text().splitlines()]
    assert all("ocr_text" in record for record in records), "the demo reads every image's text too"
    ocr_rows = list(csv.DictReader(open(tmp_path / "results" / "ocr.csv")))
    assert len(ocr_rows) == len(records)


def test_passing_export_needs_parity_ok_and_the_same_canvases(tmp_path):
    model_dir = tmp_path / DEMO_MODEL
    (model_dir / "configs").mkdir(parents=True)
    (model_dir / "configs" / "cpu.pbtxt").write_text("")
    (model_dir / "parity.json").write_text(json.dumps({"ok": True, "canvases": list(DEMO_CANVASES)}))
    assert passing_export(model_dir, list(DEMO_CANVASES))
    assert not passing_export(model_dir, ["320x320"])
    (model_dir / "parity.json").write_text(json.dumps({"ok": False, "canvases": list(DEMO_CANVASES)}))
    assert not passing_export(model_dir, list(DEMO_CANVASES))
