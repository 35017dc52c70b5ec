"""What a measurement ran on: CPU model and cores, memory, GPU, load, software, git commit.

Numbers mean little without the machine beside them: the benchmarks, the OCR evaluation and the
demo all describe it with this record.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path


def describe_machine() -> dict:
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": _memory_gib(),
        "gpus": gpu_names(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "git_commit": _git_commit(),
        "software": _software_versions(),
    }


def machine_slug(machine: dict) -> str:
    """A short, path-safe name for the results folder, e.g. 'amd-epyc-2c'."""
    gpu = machine["gpus"][0] if machine["gpus"] else ""
    text = f"{machine['cpu_model']} {machine['cpu_cores']}c {gpu}".lower()
    text = re.sub(r"\((r|tm)\)|\bprocessor\b|\bcpu\b|@.*?ghz", " ", text)
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def gpu_names() -> list[str]:
    """Names of the NVIDIA GPUs `nvidia-smi` sees; empty without a GPU or a driver."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return [line.strip() for line in listing.splitlines() if line.strip()]


def _cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return match[1].strip() if match else platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
    return round(int(match[1]) / 2**20, 1) if match else None


def _git_commit() -> str | None:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
            timeout=10, check=True, cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return None
    return f"{commit}{'+uncommitted' if dirty else ''}"


def _software_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("torch", "sal-detectron2", "onnxruntime", "nvidia-pytriton", "tritonclient", "numpy", "opencv-python-headless"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions
