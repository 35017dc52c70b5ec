"""A brand's whole detector set in one run, against a real tritonserver serving several models:
one record per item with every model, rules across models, incremental re-runs (a model
added, a model's version changed), refused settings, SIGKILL and resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from creativelens.client.settings import RunSettings
from creativelens.client.stream import stream
from creativelens.client.rules import Rules
from creativelens.client.triton_statistics import read_model_statistics
from creativelens.errors import UserError
from creativelens.item_result import item_name
from creativelens.sample_media import sample_stills
from creativelens.serve.tritonserver import TritonServer
from serving_fixtures import write_geometry_model, write_video

# Geometry models: class 0 is the whole image (score 0.95), class 1 its centre quarter (0.5).
FACES = ("faces", ["face", "face_centre"])
SMILES = ("smiles", ["smile_big", "smile"])
LOGOS = ("logos", ["logo", "logo_centre"])


def write_brand_repository(root: Path, *models, delay_s: float = 0.0, versions: dict | None = None) -> Path:
    for name, classes in models:
        write_geometry_model(root, name, class_names=classes, delay_s=delay_s,
                             weights=(versions or {}).get(name, f"{name}-v1"))
    return root


def inference_counts(server) -> dict[str, int]:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        return {name: stats.inference_count for name, stats in read_model_statistics(client, "").items()}
    finally:
        client.close()


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "detections.jsonl").read_text().splitlines()]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "creativelens.cli", "stream", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def brand_server(tmp_path_factory):
    repository = write_brand_repository(tmp_path_factory.mktemp("brand"), FACES, SMILES, LOGOS)
    with TritonServer(repository, ready_timeout_s=120) as server:
        yield server


@pytest.fixture
def media(tmp_path) -> list[str]:
    return [str(p) for p in sample_stills()[:3]] + [str(write_video(tmp_path / "spot.mp4", 12))]


def test_one_record_per_item_with_every_model_and_rules_across_models(brand_server, media, tmp_path):
    brand = tmp_path / "brand.json"
    brand.write_text(json.dumps({"models": ["faces", "smiles"], "threshold": 0.4,
                                 "only_inside": {"smile": ["face"]}}))
    out = tmp_path / "out"
    result = run_cli(*media, "--server", brand_server.grpc_url, "--out", str(out), "--every", "4",
                     "--models", str(brand))
    assert result.returncode == 0, result.stderr
    lines = records(out)
    assert len(lines) == 6  # 3 stills + frames 0, 4, 8
    for record in lines:
        assert list(record["models"]) == ["faces", "smiles"]
        faces, smiles = (record["models"][m]["detections"] for m in ("faces", "smiles"))
        assert [d["label"] for d in faces] == ["face", "face_centre"]
        # the smile (the centre) lies inside the face (the whole image) found by the other model;
        # smile_big (the whole image) does too: both kept
        assert [d["label"] for d in smiles] == ["smile_big", "smile"]
        assert all(record["models"][m]["version"] for m in ("faces", "smiles"))
    for model in ("faces", "smiles"):
        assert len(list((out / "csv" / model).glob("part-*.csv"))) == 1
    table = pq.read_table(out / "detections.parquet").to_pylist()
    assert sorted((r["model"], r["source"], r["frame_index"]) for r in table) == sorted(
        (m, r["source"], r["frame_index"]) for r in lines for m in ("faces", "smiles"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inferences"] == 12 and set(summary["models"]) == {"faces", "smiles"}
    assert summary["settings"]["rules"]["only_inside"] == {"smile": ["face"]}


def test_smile_without_a_face_from_the_other_model_is_dropped(brand_server, media, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"threshold": 0.4, "per_model": {"faces": {"threshold": 0.99}},
                                 "only_inside": {"smile": ["face"]}}))
    out = tmp_path / "out"
    result = run_cli(media[0], "--server", brand_server.grpc_url, "--out", str(out), "--rules", str(rules),
                     "--model", "faces", "--model", "smiles")
    assert result.returncode == 0, result.stderr
    (record,) = records(out)
    assert record["models"]["faces"]["detections"] == []
    assert [d["label"] for d in record["models"]["smiles"]["detections"]] == ["smile_big"]  # not inside anything


def test_adding_a_model_later_runs_only_that_model(brand_server, media, tmp_path):
    out = tmp_path / "out"
    options = RunSettings(models=("faces", "smiles"), every=4)
    first = stream(media, brand_server.grpc_url, out, options)
    assert first.complete and first.items_done == 6
    before = inference_counts(brand_server)
    second = stream(media, brand_server.grpc_url, out, RunSettings(every=4))  # every ready model
    after = inference_counts(brand_server)
    assert {m: after[m] - before[m] for m in after} == {"faces": 0, "smiles": 0, "logos": 6}
    assert second.items_done == 6 and second.inferences == 6 and set(second.models) == {"faces", "smiles", "logos"}
    table = pq.read_table(out / "detections.parquet").to_pylist()
    keys = [(r["source"], r["frame_index"], r["model"]) for r in table]
    assert len(keys) == len(set(keys)) == 18  # 6 items x 3 models, each once
    third = stream(media, brand_server.grpc_url, out, RunSettings(every=4))
    assert third.items_done == 0 and third.skipped_already_done == 6


def test_a_changed_model_version_re_runs_that_model_only(media, tmp_path):
    repository = write_brand_repository(tmp_path / "repo", FACES, SMILES)
    out = tmp_path / "out"
    with TritonServer(repository, ready_timeout_s=120) as server:
        assert stream(media, server.grpc_url, out, RunSettings(every=4)).items_done == 6
    write_brand_repository(repository, FACES, SMILES, versions={"smiles": "smiles-v2"})
    with TritonServer(repository, ready_timeout_s=120) as server:
        summary = stream(media, server.grpc_url, out, RunSettings(every=4))
        counts = inference_counts(server)
    assert counts == {"faces": 0, "smiles": 6} and summary.inferences == 6
    table = pq.read_table(out / "detections.parquet").to_pylist()
    versions = {(r["model"], r["model_version"]) for r in table}
    assert len(table) == 12 and len({v for m, v in versions if m == "smiles"}) == 1
    assert {v for m, v in versions if m == "smiles"} == {summary.models["smiles"].version}


def test_other_settings_on_resume_are_refused_in_one_line(brand_server, media, tmp_path):
    out = tmp_path / "out"
    stream(media[:2], brand_server.grpc_url, out, RunSettings(models=("faces",), every=4))
    result = run_cli(*media, "--server", brand_server.grpc_url, "--out", str(out), "--every", "5", "--model", "faces")
    assert result.returncode == 2 and "other sampling settings" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    with pytest.raises(UserError, match="other rules settings"):
        stream(media, brand_server.grpc_url, out, RunSettings(models=("faces",), every=4, rules=Rules(threshold=0.5)))
    assert len(records(out)) == 2


def test_sigkill_mid_run_with_several_models_then_resume(media, tmp_path):
    repository = write_brand_repository(tmp_path / "repo", FACES, SMILES, LOGOS, delay_s=0.1)
    video = write_video(tmp_path / "long.avi", 60)
    out = tmp_path / "out"
    args = [str(video), *media[:2], "--every", "1", "--out", str(out), "--max-in-flight", "3"]
    expected = {f"{video}#frame={i}" for i in range(60)} | set(media[:2])
    with TritonServer(repository, ready_timeout_s=120) as server:
        process = subprocess.Popen([sys.executable, "-m", "creativelens.cli", "stream", *args, "--server",
                                    server.grpc_url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not ((out / "detections.jsonl").exists() and len(records(out)) >= 10):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_at = len(records(out))
        assert killed_at < len(expected)
        resumed = run_cli(*args, "--server", server.grpc_url)
    assert resumed.returncode == 0, resumed.stderr
    lines = records(out)
    keys = [item_name(r["source"], r["frame_index"]) for r in lines]
    assert len(keys) == len(set(keys)) and set(keys) == expected
    assert all(list(r["models"]) == ["faces", "logos", "smiles"] for r in lines)
    table = pq.read_table(out / "detections.parquet").to_pylist()
    pairs = [(item_name(r["source"], r["frame_index"]), r["model"]) for r in table]
    assert len(pairs) == len(set(pairs)) == 3 * len(expected)
