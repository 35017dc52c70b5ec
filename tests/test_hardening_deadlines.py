"""A server that stops answering (issue 25, defect 1): a SIGSTOPped tritonserver or OCR sidecar
sends no RST and no FIN, so only deadlines notice it. Each test stops a real server mid-run and
bounds how long `creativelens stream` may take to fail over, give up, or obey SIGTERM; every
stopped process is resumed and ended in a `finally`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from serving_fixtures import GEOMETRY_MODEL, write_geometry_repository, write_video

pytestmark = pytest.mark.timeout(240)

FRAMES = 60


class _Run:
    """`creativelens stream ARGS` in a subprocess; its stderr lines are kept with the time each arrived."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "creativelens.cli", "stream", *args, "--no-progress"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    @property
    def stderr(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def when(self, fragment: str) -> float | None:
        """When the first stderr line holding `fragment` arrived."""
        return next((at for at, line in self.lines if fragment in line), None)

    def wait_for_records(self, out: Path, count: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while len(_records(out)) < count:
            assert self.process.poll() is None, self.stderr
            assert time.monotonic() < deadline, "the run did not get going"
            time.sleep(0.05)

    def finish(self, timeout_s: float) -> float:
        """Seconds until the process exited; fails (after killing it) past `timeout_s`."""
        started = time.monotonic()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self._reader.join(5)
            pytest.fail(f"still running {timeout_s:.0f} s later (hung); stderr: {self.stderr[-1500:]}")
        took = time.monotonic() - started
        self._reader.join(5)
        return took

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _records(out: Path) -> list[dict]:
    path = out / "detections.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


class _Stopped:
    """SIGSTOP a process for the block; SIGCONT on the way out, whatever happened."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> "_Stopped":
        os.kill(self.pid, signal.SIGSTOP)
        self.at = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        try:
            os.kill(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


@pytest.fixture
def slow_server(tmp_path):
    """A tritonserver whose batches take 0.1 s, so that a run over FRAMES frames is still going
    when it is stopped."""
    from creativelens.serve.tritonserver import TritonServer

    server = TritonServer(write_geometry_repository(tmp_path / "slow", delay_s=0.1), ready_timeout_s=120)
    server.start()
    try:
        yield server
    finally:
        try:
            os.kill(server.pid, signal.SIGCONT)
        except (ProcessLookupError, TypeError):
            pass
        server.stop()


def test_a_stopped_server_is_left_for_the_other_within_failover_after(slow_server, geometry_server, tmp_path):
    video = write_video(tmp_path / "clip.avi", FRAMES)
    out = tmp_path / "out"
    run = _Run(str(video), "--every", "1", "--no-skip-repeats", "--max-in-flight", "2", "--out", str(out),
               "--server", f"{slow_server.grpc_url},{geometry_server.grpc_url}",
               "--failover-after", "3", "--retry-for", "20")
    try:
        run.wait_for_records(out, 4)
        with _Stopped(slow_server.pid) as stopped:
            run.finish(90)
    finally:
        run.kill()
    assert run.process.returncode == 0, run.stderr[-2000:]
    left = run.when(f"endpoint {slow_server.grpc_url} left")
    assert left is not None, run.stderr
    keys = [(r["source"], r["frame_index"]) for r in _records(out)]
    assert sorted(keys) == [(str(video), i) for i in range(FRAMES)]  # each once: none lost, none twice
    assert all(r["models"][GEOMETRY_MODEL]["error"] is None for r in _records(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["failovers"] == 1
    # --failover-after 3, counted from the last answer; noticing takes a liveness probe (1.5 s deadline)
    assert left - stopped.at < 8, f"left {left - stopped.at:.1f} s after the stop"
    print(f"stopped endpoint left {left - stopped.at:.1f} s after the SIGSTOP (--failover-after 3)")


def test_a_stopped_single_server_is_given_up_within_retry_for(slow_server, tmp_path):
    video = write_video(tmp_path / "clip.avi", FRAMES)
    out = tmp_path / "out"
    run = _Run(str(video), "--every", "1", "--no-skip-repeats", "--max-in-flight", "2", "--out", str(out),
               "--server", slow_server.grpc_url, "--retry-for", "4")
    try:
        run.wait_for_records(out, 4)
        with _Stopped(slow_server.pid) as stopped:
            run.finish(90)
            exited = time.monotonic() - stopped.at
    finally:
        run.kill()
    assert run.process.returncode == 3, run.stderr[-2000:]
    errors = [line for _, line in run.lines if line.startswith("creativelens stream: error:")]
    assert len(errors) == 1 and "re-run the same command to resume" in errors[0], run.stderr
    assert "has not served" in errors[0] and "Traceback" not in run.stderr
    summary = json.loads((out / "summary.json").read_text())
    records = _records(out)
    assert not summary["complete"] and summary["items_done"] == len(records) >= 4
    # --retry-for 4 from the last answer, then the end-of-run bookkeeping (statistics from each server)
    assert exited < 45, f"exited {exited:.1f} s after the stop"
    print(f"single stopped server: exit 3 {exited:.1f} s after the SIGSTOP, {len(records)} items saved")


@pytest.mark.parametrize("servers", [1, 2])
def test_sigterm_ends_a_run_whose_server_stopped_answering(servers, slow_server, geometry_server, tmp_path):
    video = write_video(tmp_path / "clip.avi", FRAMES)
    out = tmp_path / "out"
    endpoints = slow_server.grpc_url if servers == 1 else f"{slow_server.grpc_url},{geometry_server.grpc_url}"
    run = _Run(str(video), "--every", "1", "--no-skip-repeats", "--max-in-flight", "2", "--out", str(out),
               "--server", endpoints, "--retry-for", "120", "--failover-after", "100")
    try:
        run.wait_for_records(out, 4)
        with _Stopped(slow_server.pid):
            time.sleep(2)  # requests are now in flight to a server that will not answer
            run.process.send_signal(signal.SIGTERM)
            took = run.finish(60)
    finally:
        run.kill()
    assert run.process.returncode == 130, run.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert not summary["complete"] and summary["items_done"] == len(_records(out)) >= 4
    assert took < 10, f"exited {took:.1f} s after SIGTERM"
    print(f"SIGTERM with {servers} server(s), one stopped: exited in {took:.1f} s")
