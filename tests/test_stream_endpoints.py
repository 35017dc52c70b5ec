"""`creativelens stream` over several Triton endpoints (issue 13): requests spread over two real
tritonservers, one killed mid-run, every item recorded exactly once; misuse of --server is one
line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from creativelens.item_result import item_name
from creativelens.sample_media import sample_stills
from serving_fixtures import GEOMETRY_MODEL, write_geometry_repository, write_video

pytestmark = pytest.mark.timeout(300)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "creativelens.cli", "stream", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_endpoint_killed_mid_run_every_item_once(geometry_server, tmp_path):
    from creativelens.serve.tritonserver import TritonServer

    video = write_video(tmp_path / "clip.avi", 90)
    stills = [str(p) for p in sample_stills()[:3]]
    expected = {item_name(str(video), i) for i in range(90)} | {item_name(s, None) for s in stills}
    out = tmp_path / "out"
    killed = threading.Event()
    with TritonServer(write_geometry_repository(tmp_path / "slow", delay_s=0.2), ready_timeout_s=120) as doomed:
        def kill_when_busy() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                stats = doomed.model_statistics(GEOMETRY_MODEL).get(GEOMETRY_MODEL)
                if stats and stats.inference_count >= 3:
                    doomed._process.kill()
                    killed.set()
                    return
                time.sleep(0.1)

        killer = threading.Thread(target=kill_when_busy)
        killer.start()
        started = time.monotonic()
        result = run_cli(str(video), *stills, "--every", "1", "--no-skip-repeats", "--out", str(out),
                         "--server", f"{doomed.grpc_url},{geometry_server.grpc_url}", "--failover-after", "2",
                         "--max-in-flight", "2", timeout=240)
        wall = time.monotonic() - started
        killer.join()
    assert killed.is_set(), "the endpoint was not killed during the run"
    assert result.returncode == 0, result.stderr
    assert f"endpoint {doomed.grpc_url} left" in result.stderr
    records = [json.loads(line) for line in (out / "detections.jsonl").read_text().splitlines()]
    keys = [item_name(r["source"], r["frame_index"]) for r in records]
    assert len(keys) == len(set(keys)) and set(keys) == expected  # every item once: none lost, none twice
    assert all(r["error"] is None and r["models"][GEOMETRY_MODEL]["error"] is None for r in records)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["failovers"] == 1 and summary["items_done"] == len(expected)
    assert summary["server"] == f"{doomed.grpc_url},{geometry_server.grpc_url}"
    print(f"two endpoints, one killed: {len(expected)} items once in {wall:.1f} s")


@pytest.mark.parametrize("value, message", [
    ("127.0.0.1", "'127.0.0.1' is not HOST:PORT"),
    ("127.0.0.1:8001,", "'' is not HOST:PORT"),
    ("a:99999", "'a:99999' is not HOST:PORT"),
    (",", "--server names no HOST:PORT"),
])
def test_bad_server_is_one_line_and_exit_2(value, message, tmp_path):
    result = run_cli(str(tmp_path), "--out", str(tmp_path / "out"), "--server", value)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
