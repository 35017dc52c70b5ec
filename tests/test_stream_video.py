"""Video through a real tritonserver: near-duplicate frames reuse the last inferred frame's
detections (their records say so), a cut forces inference, and resume keeps every frame."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from creativelens.client.settings import RunSettings
from creativelens.client.stream import stream
from creativelens.client.triton_statistics import read_model_statistics
from serving_fixtures import GEOMETRY_MODEL


def write_two_shots(path: Path, frames_per_shot: int = 10) -> Path:
    """A held shot (identical frames), a cut, another held shot: MJPEG so frames stay identical."""
    rng = np.random.default_rng(0)
    shots = [rng.integers(0, 255, (12, 16, 3), np.uint8).repeat(8, 0).repeat(8, 1) for _ in range(2)]
    with av.open(str(path), "w") as container:
        stream_ = container.add_stream("mjpeg", rate=10)
        stream_.width, stream_.height, stream_.pix_fmt = 128, 96, "yuvj420p"
        for shot in shots:
            for _ in range(frames_per_shot):
                container.mux(stream_.encode(av.VideoFrame.from_ndarray(shot, format="rgb24")))
        container.mux(stream_.encode())
    return path


def inferences(server) -> int:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        return read_model_statistics(client, GEOMETRY_MODEL)[GEOMETRY_MODEL].inference_count
    finally:
        client.close()


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "detections.jsonl").read_text().splitlines()]


def test_repeated_frames_reuse_and_a_cut_forces_inference(geometry_server, tmp_path):
    video = write_two_shots(tmp_path / "spot.avi")
    before = inferences(geometry_server)
    summary = stream([str(video)], geometry_server.grpc_url, tmp_path / "out", RunSettings(every=1))
    assert inferences(geometry_server) - before == 2  # one frame per shot went to Triton
    assert summary.complete and summary.items_done == 20 and summary.reused == 18 and summary.inferences == 2
    by_frame = {r["frame_index"]: r for r in records(tmp_path / "out")}
    assert sorted(by_frame) == list(range(20))
    assert "reused_from" not in by_frame[0] and "reused_from" not in by_frame[10]
    assert {by_frame[i]["reused_from"] for i in range(1, 10)} == {0}
    assert {by_frame[i]["reused_from"] for i in range(11, 20)} == {10}
    for i in range(20):
        assert by_frame[i]["models"][GEOMETRY_MODEL]["detections"] == by_frame[0]["models"][GEOMETRY_MODEL]["detections"]
        assert by_frame[i]["timestamp_s"] == i / 10
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "out" / "detections.parquet").to_pylist()
    track_ids = {d["track_id"] for row in rows for d in row["detections"]}
    assert track_ids == {1}  # the whole-image box (0.95; the centre's 0.5 is under 0.85): one track across the cut
    tracks = pq.read_table(tmp_path / "out" / "tracks.parquet").to_pylist()
    assert [(t["label"], t["frames_seen"]) for t in tracks] == [("image", 20)]
    screen = pq.read_table(tmp_path / "out" / "screen_time.parquet").to_pylist()
    assert [(s["label"], s["seconds_on_screen"]) for s in screen] == [("image", 2.0)]
    off = stream([str(video)], geometry_server.grpc_url, tmp_path / "off",
                 RunSettings(every=1, repeat_threshold=None))
    assert off.reused == 0 and off.inferences == 20


def test_resume_mid_video_with_skipping_gives_the_same_records(geometry_server, tmp_path):
    video = write_two_shots(tmp_path / "spot.avi")
    options = RunSettings(every=1)
    whole = stream([str(video)], geometry_server.grpc_url, tmp_path / "whole", options)
    out = tmp_path / "resumed"
    stream([str(video)], geometry_server.grpc_url, out, options)
    lines = (out / "detections.jsonl").read_text().splitlines(keepends=True)
    (out / "detections.jsonl").write_text("".join(lines[:7]))  # as if killed after 7 frames
    again = stream([str(video)], geometry_server.grpc_url, out, options)
    assert again.skipped_already_done == 7 and again.items_done == 13 and whole.items_done == 20

    def content(folder):
        return sorted((r["frame_index"], json.dumps(r["models"][GEOMETRY_MODEL]["detections"])) for r in records(folder))

    assert content(out) == content(tmp_path / "whole")


def test_another_repeat_threshold_on_resume_is_refused(geometry_server, tmp_path):
    import pytest

    from creativelens.errors import UserError

    video = write_two_shots(tmp_path / "spot.avi", 3)
    stream([str(video)], geometry_server.grpc_url, tmp_path / "out", RunSettings(every=1))
    with pytest.raises(UserError, match="other sampling settings"):
        stream([str(video)], geometry_server.grpc_url, tmp_path / "out",
               RunSettings(every=1, repeat_threshold=8))
