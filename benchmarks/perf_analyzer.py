"""Triton's own load generator, perf_analyzer, against the served model over gRPC.

A standard tool no one here wrote, measuring the same server: model-only throughput and latency
at each concurrency, with Triton's server-side split (queue, compute). The binary ships in the
`tritonclient==2.51.0` wheel (`bin/perf_analyzer`); it links `libb64.so.0d` and
`libcudart.so.12`, which ship inside `nvidia_pytriton.libs` under hashed names, so a private
library folder links them under the names the binary asks for.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from creativelens.canvas import Letterboxed

WANTED_LIBRARIES = {"libb64.so.0d": "libb64-", "libcudart.so.12": "libcudart-"}


@dataclass(frozen=True)
class PerfAnalyzerSettings:
    # A window closes after this many answers, not after a fixed time: at seconds per image on a
    # CPU, perf_analyzer's time windows often hold no request at all.
    requests_per_window: int = 10
    stability_percentage: int = 50  # 2 shared cores never hold the default 10 %
    max_trials: int = 5


def perf_analyzer_binary() -> Path | None:
    """The perf_analyzer of this environment's tritonclient wheel, if installed."""
    candidate = Path(sys.executable).parent / "perf_analyzer"
    if candidate.is_file():
        return candidate
    found = shutil.which("perf_analyzer")
    return Path(found) if found else None


def library_folder(destination: Path) -> Path:
    """`destination` holding links named as perf_analyzer needs, to nvidia_pytriton's copies."""
    import pytriton

    bundled = Path(pytriton.__file__).parent.parent / "nvidia_pytriton.libs"
    destination.mkdir(parents=True, exist_ok=True)
    for wanted, prefix in WANTED_LIBRARIES.items():
        matches = sorted(bundled.glob(f"{prefix}*"))
        if not matches:
            raise FileNotFoundError(f"{bundled} has no {prefix}* library (needed as {wanted})")
        link = destination / wanted
        link.unlink(missing_ok=True)
        link.symlink_to(matches[0])
    return destination


def write_input_data(path: Path, boxed: Letterboxed) -> Path:
    """perf_analyzer's --input-data JSON: one real letterboxed image and its valid size."""
    pixels = np.ascontiguousarray(boxed.pixels, np.uint8)
    sizes = np.array([boxed.valid_height, boxed.valid_width], "<i4")
    data = {"data": [{
        "images": {"b64": base64.b64encode(pixels.tobytes()).decode(), "shape": list(pixels.shape)},
        "image_sizes": {"b64": base64.b64encode(sizes.tobytes()).decode(), "shape": [2]},
    }]}
    path.write_text(json.dumps(data))
    return path


def run_perf_analyzer(
    *,
    model: str,
    grpc_url: str,
    concurrencies: Sequence[int],
    input_data: Path,
    out_dir: Path,
    settings: PerfAnalyzerSettings,
    timeout_s: float = 600,
) -> dict:
    """One perf_analyzer run per concurrency; its tables and CSVs are kept under `out_dir`.

    Returns {"rows": [one parsed CSV row per concurrency], "files": [...], "settings": {...}},
    or {"skipped": reason} when the tool is not installed.
    """
    binary = perf_analyzer_binary()
    if binary is None:
        return {"skipped": "perf_analyzer is not installed (it ships in the tritonclient==2.51.0 wheel)"}
    out_dir.mkdir(parents=True, exist_ok=True)
    base_command = [
        str(binary), "-m", model, "-i", "grpc", "-u", grpc_url,
        "--input-data", str(input_data),
        "--measurement-mode", "count_windows",
        "--measurement-request-count", str(settings.requests_per_window),
        "--stability-percentage", str(settings.stability_percentage),
        "--max-trials", str(settings.max_trials),
        "--percentile", "95",
    ]
    rows, files = [], []
    with tempfile.TemporaryDirectory(prefix="perf-analyzer-lib-") as lib_dir:
        env = dict(os.environ)
        libraries = str(library_folder(Path(lib_dir)))
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [libraries, env.get("LD_LIBRARY_PATH")]))
        for concurrency in concurrencies:
            csv_path = out_dir / f"perf_analyzer_c{concurrency}.csv"
            table_path = out_dir / f"perf_analyzer_c{concurrency}.txt"
            command = base_command + ["--concurrency-range", str(concurrency), "-f", str(csv_path)]
            completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_s)
            table_path.write_text(f"$ {' '.join(command)}\n\n{completed.stdout}{completed.stderr}")
            files.append(table_path)
            if completed.returncode != 0 or not csv_path.is_file():
                rows.append({"concurrency": concurrency, "error": _last_line(completed)})
                continue
            files.append(csv_path)
            rows.extend(parse_csv(csv_path))
    return {"rows": rows, "files": [path.name for path in files], "settings": dict(settings.__dict__)}


def parse_csv(path: Path) -> list[dict]:
    """perf_analyzer's CSV (latencies in microseconds) as rows in images/s and milliseconds."""
    rows = []
    with open(path, newline="") as source:
        for row in csv.DictReader(source):
            rows.append({
                "concurrency": int(row["Concurrency"]),
                "inferences_per_s": float(row["Inferences/Second"]),
                "latency_ms_p50": float(row["p50 latency"]) / 1000,
                "latency_ms_p95": float(row["p95 latency"]) / 1000,
                "server_queue_ms": float(row["Server Queue"]) / 1000,
                "server_compute_infer_ms": float(row["Server Compute Infer"]) / 1000,
            })
    return rows


def _last_line(completed: subprocess.CompletedProcess) -> str:
    lines = (completed.stderr or completed.stdout or "").strip().splitlines()
    return f"exit {completed.returncode}: {lines[-1] if lines else 'no output'}"
