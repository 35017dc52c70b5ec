"""`creativelens stream` end to end against a real tritonserver (the geometry model), with
real media, bad input, SIGKILL and a server that dies mid-run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from creativelens.client.rules import Rules
from creativelens.client.settings import RunSettings
from creativelens.client.stream import stream
from creativelens.formats import SEED_CSV_COLUMNS
from creativelens.item_result import item_name
from creativelens.sample_media import sample_stills, sample_video
from creativelens.serve.tritonserver import TritonServer
from serving_fixtures import (GEOMETRY_MODEL, geometry_boxes, write_bad_inputs, write_geometry_repository,
                              write_stills_in_every_format, write_video)


def read_records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "detections.jsonl").read_text().splitlines()]


def labels(record: dict, model: str = GEOMETRY_MODEL) -> list[str]:
    return [d["label"] for d in record["models"][model]["detections"]]


def read_csv_rows(out: Path, model: str = GEOMETRY_MODEL) -> list[dict]:
    rows = []
    for path in sorted((out / "csv" / model).glob("part-*.csv")):
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            assert tuple(reader.fieldnames) == SEED_CSV_COLUMNS
            rows += list(reader)
    return rows


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "creativelens.cli", "stream", *args],
                          capture_output=True, text=True, timeout=timeout)


def assert_each_item_once(out: Path, expected_keys: set[str]) -> list[dict]:
    records = read_records(out)
    keys = [item_name(r["source"], r["frame_index"]) for r in records]
    assert len(keys) == len(set(keys)), "an item was recorded twice"
    assert set(keys) == expected_keys, "an item was lost"
    successes = [r for r in records if r["error"] is None]
    csv_names = [row["file_name"] for row in read_csv_rows(out)]
    assert sorted(csv_names) == sorted(item_name(r["source"], r["frame_index"]) for r in successes)
    table = pq.read_table(out / "detections.parquet").to_pylist()
    assert sorted(item_name(r["source"], r["frame_index"]) for r in table) == sorted(keys)
    return records


@pytest.fixture(scope="module")
def slow_repository(tmp_path_factory) -> Path:
    """The geometry model at ~0.1 s per batch, so that a run lasts long enough to be killed."""
    return write_geometry_repository(tmp_path_factory.mktemp("slow_repository"), delay_s=0.1)


def test_real_media_boxes_come_back_in_original_pixels(geometry_server, tmp_path):
    write_stills_in_every_format(tmp_path / "media")
    video = write_video(tmp_path / "media" / "clip.mp4", 12, size=(192, 108))
    inputs = [str(tmp_path / "media"), *map(str, sample_stills()[:4])]
    out = tmp_path / "out"
    summary = stream(inputs, geometry_server.grpc_url, out,
                     RunSettings(every=5, rules=Rules(threshold=0.0)))
    assert summary.complete and summary.errors == 0
    assert (summary.stills, summary.frames) == (10, 3)
    records = read_records(out)
    assert len(records) == 13
    for r in records:
        assert set(r) >= {"source", "frame_index", "timestamp_s", "width", "height", "models", "error"}
        answer = r["models"][GEOMETRY_MODEL]
        assert list(r["models"]) == [GEOMETRY_MODEL] and answer["latency_ms"] > 0 and answer["version"]
        boxes = np.array([d["box"] for d in answer["detections"]])
        np.testing.assert_allclose(boxes, geometry_boxes(r["width"], r["height"]), atol=1.5)
        assert labels(r) == ["image", "centre"]
    frames = sorted((r["frame_index"], r["timestamp_s"]) for r in records if r["source"] == str(video))
    assert frames == [(0, 0.0), (5, 0.5), (10, 1.0)]
    assert {(r["width"], r["height"]) for r in records if r["source"] == str(video)} == {(192, 108)}
    saved = json.loads((out / "summary.json").read_text())
    assert saved["items_done"] == 13 and list(saved["models"]) == [GEOMETRY_MODEL]
    triton = saved["models"][GEOMETRY_MODEL]["triton"]
    assert triton["inference_count"] == 13 and triton["execution_count"] >= 1
    assert_each_item_once(out, {item_name(r["source"], r["frame_index"]) for r in records})


def test_default_threshold_and_rules_file_through_the_cli(geometry_server, tmp_path):
    photo = str(sample_stills()[0])
    result = run_cli(photo, "--server", geometry_server.grpc_url, "--out", str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    assert labels(read_records(tmp_path / "a")[0]) == ["image"]  # 0.85
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"per_class": {"centre": 0.4}}))
    result = run_cli(photo, "--server", geometry_server.grpc_url, "--out", str(tmp_path / "b"),
                     "--rules", str(rules))
    assert labels(read_records(tmp_path / "b")[0]) == ["image", "centre"]
    row = read_csv_rows(tmp_path / "b")[0]
    assert row["file_name"] == photo and json.loads(row["class_labels"]) == ["image", "centre"]


def test_bad_input_never_stops_a_run(geometry_server, tmp_path):
    expected = write_bad_inputs(tmp_path / "bad")
    good = str(sample_stills()[0])
    out = tmp_path / "out"
    result = run_cli(str(tmp_path / "bad"), good, str(tmp_path / "missing.jpg"),
                     "--server", geometry_server.grpc_url, "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert "1 stills, 0 video frames, 9 bad inputs" in result.stdout
    records = {Path(r["source"]).name: r for r in read_records(out)}
    assert records[Path(good).name]["error"] is None
    assert "no such file" in records["missing.jpg"]["error"]
    for name, fragment in expected.items():
        assert fragment in records[name]["error"], (name, records[name]["error"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == 9 and summary["complete"] is True
    assert len(read_csv_rows(out)) == 1  # the CSV holds detections; errors live in the JSONL


def test_rerun_skips_finished_items(geometry_server, tmp_path):
    video = write_video(tmp_path / "clip.avi", 20)
    inputs = [str(video), str(sample_stills()[0])]
    out = tmp_path / "out"
    options = RunSettings(every=3)
    first = stream(inputs, geometry_server.grpc_url, out, options)
    second = stream(inputs, geometry_server.grpc_url, out, options)
    assert first.items_done == 8 and second.items_done == 0
    assert second.skipped_already_done == 8 and len(read_records(out)) == 8


def test_known_video_frame_count_through_the_server(geometry_server, tmp_path):
    summary = stream([str(sample_video())], geometry_server.grpc_url, tmp_path,
                     RunSettings(every=100))
    assert summary.frames == 8  # vtest.avi: 795 frames -> 0, 100, ..., 700
    assert sorted(r["frame_index"] for r in read_records(tmp_path)) == list(range(0, 795, 100))


def test_sigkill_midway_then_resume_yields_every_item_exactly_once(slow_repository, tmp_path):
    video = write_video(tmp_path / "clip.avi", 90)
    stills = [str(p) for p in sample_stills()[:3]]
    expected = {f"{video}#frame={i}" for i in range(90)} | set(stills)
    out = tmp_path / "out"
    args = [str(video), *stills, "--every", "1", "--out", str(out), "--max-in-flight", "2"]
    with TritonServer(slow_repository) as server:
        command = [sys.executable, "-m", "creativelens.cli", "stream", *args, "--server", server.grpc_url]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        results = out / "detections.jsonl"
        deadline = time.monotonic() + 120
        while not (results.exists() and results.read_bytes().count(b"\n") >= 20):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_at = len(read_records(out))
        assert 20 <= killed_at < len(expected)
        with open(results, "ab") as handle:  # as if the kill had landed in the middle of a write
            handle.write(b'{"source": "' + str(video).encode() + b'", "frame_ind')
        resumed = run_cli(*args, "--server", server.grpc_url)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_already_done"] == killed_at
    assert summary["items_done"] == len(expected) - killed_at
    assert_each_item_once(out, expected)


def test_server_killed_and_restarted_midway(slow_repository, tmp_path):
    video = write_video(tmp_path / "clip.avi", 60)
    out = tmp_path / "out"
    outcome = {}
    server = TritonServer(slow_repository).start()
    ports = dict(grpc_port=server.grpc_port, http_port=server.http_port, metrics_port=server.metrics_port)
    options = RunSettings(every=1, max_in_flight=2, retry_for_s=90)
    runner = threading.Thread(target=lambda: outcome.update(
        summary=stream([str(video)], server.grpc_url, out, options)))
    runner.start()
    try:
        while not ((out / "detections.jsonl").exists() and len(read_records(out)) >= 10):
            assert runner.is_alive()
            time.sleep(0.05)
        os.kill(server.pid, signal.SIGKILL)
        server.stop()
        time.sleep(2)
        server = TritonServer(slow_repository, **ports).start()
        runner.join(timeout=180)
    finally:
        server.stop()
    summary = outcome["summary"]
    assert summary.complete and summary.reconnects >= 1 and summary.errors == 0
    triton = summary.models[GEOMETRY_MODEL].triton
    assert triton["counted"].startswith("since the server's start")
    assert 0 < triton["inference_count"] < 60  # the restarted server saw only the rest
    assert_each_item_once(out, {f"{video}#frame={i}" for i in range(60)})


def test_server_gone_for_good_fails_clearly_and_keeps_results(slow_repository, tmp_path):
    video = write_video(tmp_path / "clip.avi", 60)
    out = tmp_path / "out"
    with TritonServer(slow_repository) as server:
        command = [sys.executable, "-m", "creativelens.cli", "stream", str(video), "--every", "1",
                   "--max-in-flight", "2", "--retry-for", "3", "--server", server.grpc_url,
                   "--out", str(out)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not ((out / "detections.jsonl").exists() and len(read_records(out)) >= 5):
            assert process.poll() is None
            time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 3, stderr
    assert f"has not served '{GEOMETRY_MODEL}'" in stderr and "re-run the same command to resume" in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["items_done"] >= 5
    assert summary["errors"] == 0, "a stopping server's refusals are retried, not item errors"
    assert len(read_records(out)) == summary["items_done"]


def test_sigterm_saves_results_and_a_rerun_completes(slow_repository, tmp_path):
    video = write_video(tmp_path / "clip.avi", 40)
    out = tmp_path / "out"
    with TritonServer(slow_repository) as server:
        args = [str(video), "--every", "1", "--max-in-flight", "2", "--server", server.grpc_url,
                "--out", str(out)]
        process = subprocess.Popen([sys.executable, "-m", "creativelens.cli", "stream", *args],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not ((out / "detections.jsonl").exists() and len(read_records(out)) >= 5):
            assert process.poll() is None
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
        assert process.returncode == 130
        interrupted = json.loads((out / "summary.json").read_text())
        assert interrupted["complete"] is False and interrupted["items_done"] == len(read_records(out))
        assert run_cli(*args).returncode == 0
    assert_each_item_once(out, {f"{video}#frame={i}" for i in range(40)})


def test_no_server_is_a_one_line_error(tmp_path):
    from creativelens.serve.tritonserver import free_port

    result = run_cli(str(sample_stills()[0]), "--server", f"127.0.0.1:{free_port()}",
                     "--out", str(tmp_path), "--retry-for", "1")
    assert result.returncode == 2
    assert "error: no Triton server ready at 127.0.0.1:" in result.stderr


def test_a_hung_server_is_detected_and_the_run_resumes_when_it_wakes(slow_repository, tmp_path):
    video = write_video(tmp_path / "clip.avi", 30)
    out = tmp_path / "out"
    outcome = {}
    options = RunSettings(every=1, max_in_flight=2, stall_timeout_s=2, retry_for_s=60)
    with TritonServer(slow_repository) as server:
        runner = threading.Thread(target=lambda: outcome.update(
            summary=stream([str(video)], server.grpc_url, out, options)))
        runner.start()
        while not ((out / "detections.jsonl").exists() and len(read_records(out)) >= 5):
            time.sleep(0.05)
        os.kill(server.pid, signal.SIGSTOP)
        time.sleep(5)  # past the stall timeout: the client gives up on the stream and probes
        os.kill(server.pid, signal.SIGCONT)
        runner.join(timeout=120)
    summary = outcome["summary"]
    assert summary.complete and summary.reconnects >= 1 and summary.errors == 0
    assert_each_item_once(out, {f"{video}#frame={i}" for i in range(30)})


def test_two_runs_cannot_share_one_results_folder(geometry_server, tmp_path):
    from creativelens.client.ledger import lock_results

    lock = lock_results(tmp_path)
    try:
        result = run_cli(str(sample_stills()[0]), "--server", geometry_server.grpc_url, "--out", str(tmp_path))
    finally:
        os.close(lock)
    assert result.returncode == 2 and "another run is writing to" in result.stderr
    assert not (tmp_path / "detections.jsonl").exists()


def test_a_file_name_that_is_not_utf8_reaches_every_sink_and_resumes(geometry_server, tmp_path):
    from creativelens.item_result import escape_name

    folder = tmp_path / "media"
    folder.mkdir()
    name = os.fsdecode(b"ad-\xff\xfe.jpg")  # not UTF-8: Python carries these bytes as surrogates
    (folder / name).write_bytes(sample_stills()[0].read_bytes())
    out = tmp_path / "out"
    first = run_cli(str(folder), "--server", geometry_server.grpc_url, "--out", str(out))
    assert first.returncode == 0, first.stderr
    escaped = escape_name(str(folder / name))
    assert escaped.endswith("ad-\\xff\\xfe.jpg")
    assert read_records(out)[0]["source"] == escaped
    assert [row["file_name"] for row in read_csv_rows(out)] == [escaped]
    assert pq.read_table(out / "detections.parquet").to_pylist()[0]["source"] == escaped
    assert json.loads((out / "summary.json").read_text())["items_done"] == 1
    again = run_cli(str(folder), "--server", geometry_server.grpc_url, "--out", str(out))
    assert again.returncode == 0 and "1 skipped as already done" in again.stdout


def test_a_read_only_results_folder_is_one_line_and_its_own_exit_code():
    import shutil
    import tempfile

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root to run the client as an unprivileged user (root may write anywhere)")
    parent = Path(tempfile.mkdtemp(prefix="creativelens-ro-"))  # pytest's own tmp is private to root
    parent.chmod(0o755)
    out = parent / "results"
    out.mkdir()
    (out / "detections.jsonl").write_text("")
    out.chmod(0o555)
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
               "creativelens.cli", "stream", str(sample_stills()[0]), "--out", str(out), "--retry-for", "1"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(parent)
    assert result.returncode == 4, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"creativelens stream: error: cannot write to the results folder {out}: Permission denied"]
