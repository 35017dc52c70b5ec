"""The served pipeline as a user runs it: the real `creativelens stream` command against a real
tritonserver, timed by the client's own summary (wall seconds of the streaming phase, latency
per image from request to answer) and Triton's own counters (average batch size).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from creativelens.benchmarks.measurement import Measurement
from creativelens.errors import UserError

ACCEPTED_EXIT_CODES = (0, 1)  # 1: the run finished and some inputs were errors (counted)


@dataclass
class ServedRun:
    measurement: Measurement
    inference_count: int
    execution_count: int


def run_stream(paths: Sequence[Path], server_url: str, out_dir: Path, *, model: str, concurrency: int,
               on_progress: Callable[[int], None] | None = None) -> ServedRun:
    """`creativelens stream PATHS --server URL --out OUT_DIR --max-in-flight CONCURRENCY`."""
    if out_dir.exists():
        shutil.rmtree(out_dir)  # the client resumes from an existing folder; every run starts clean
    out_dir.mkdir(parents=True)
    command = [
        sys.executable, "-m", "creativelens.cli", "stream", *map(str, paths),
        "--server", server_url, "--out", str(out_dir), "--model", model,
        "--max-in-flight", str(concurrency), "--no-progress",
    ]
    log_path = out_dir.parent / f"{out_dir.name}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        reported = 0
        while process.poll() is None:
            time.sleep(0.5)
            reported = _report_progress(out_dir, reported, on_progress)
    _report_progress(out_dir, reported, on_progress)
    summary_path = out_dir / "summary.json"
    if process.returncode not in ACCEPTED_EXIT_CODES or not summary_path.is_file():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise UserError(f"creativelens stream failed (exit {process.returncode}):\n{tail}")
    summary = json.loads(summary_path.read_text())
    served = summary["models"][model]  # per model since the multi-model client; bad inputs are run-level
    latencies = [answer["latency_ms"] for answer in _answers(out_dir, model) if not answer.get("error")]
    triton = served.get("triton") or {}
    measurement = Measurement(served["inferred"], summary["errors"] + served["errors"], summary["wall_s"], 0.0,
                              latencies)
    return ServedRun(measurement, int(triton.get("inference_count", 0)), int(triton.get("execution_count", 0)))


def _answers(out_dir: Path, model: str) -> list[dict]:
    """`model`'s answer in each record of the ledger (records without it: bad inputs)."""
    path = out_dir / "detections.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [record["models"][model] for record in records if model in record.get("models", {})]


def _report_progress(out_dir: Path, reported: int, on_progress: Callable[[int], None] | None) -> int:
    path = out_dir / "detections.jsonl"
    if on_progress is None or not path.is_file():
        return reported
    done = path.read_bytes().count(b"\n")
    if done > reported:
        on_progress(done - reported)
    return max(done, reported)
