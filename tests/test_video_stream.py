"""Issue 12 through a real tritonserver (the geometry detector): near-duplicate video frames
reuse the last inferred frame's detections, cuts are inferred, every sampled frame has a record."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as images

from creativelens.client.rules import Rules
from creativelens.client.settings import RunSettings
from creativelens.client.stream import stream
from serving_fixtures import GEOMETRY_MODEL


def scene(name: str, size=(240, 320)) -> np.ndarray:
    picture = getattr(images, name)()
    return cv2.resize(picture[..., ::-1], size[::-1], interpolation=cv2.INTER_AREA)


def noisy(frame: np.ndarray, seed: int) -> np.ndarray:
    """The same picture with sensor-like noise: what a held shot looks like."""
    return np.clip(frame + np.random.default_rng(seed).normal(0, 3, frame.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def held_then_cut(tmp_path_factory) -> Path:
    """5 noisy copies of one shot, a cut, 5 of another, a cut back to the first for 2 (MJPG, 25 fps)."""
    first, second = scene("astronaut"), scene("coffee")
    frames = ([noisy(first, i) for i in range(5)] + [noisy(second, i) for i in range(5)]
              + [noisy(first, 10 + i) for i in range(2)])
    path = tmp_path_factory.mktemp("video") / "held.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def records_by_frame(out: Path) -> dict[int, dict]:
    lines = (out / "detections.jsonl").read_text().splitlines()
    return {record["frame_index"]: record for record in map(json.loads, lines)}


def test_repeated_frames_reuse_and_frames_after_a_cut_are_inferred(geometry_server, held_then_cut, tmp_path):
    out = tmp_path / "out"
    summary = stream([str(held_then_cut)], geometry_server.grpc_url, out,
                     RunSettings(every=1, rules=Rules(threshold=0.0)))
    assert summary.complete
    records = records_by_frame(out)
    assert sorted(records) == list(range(12))  # every sampled frame has a record
    assert [records[i].get("reused_from") for i in range(12)] == [None, 0, 0, 0, 0, None, 5, 5, 5, 5, None, 10]
    for index, record in records.items():
        reference = records[record.get("reused_from", index)]
        assert record["models"][GEOMETRY_MODEL]["detections"] == reference["models"][GEOMETRY_MODEL]["detections"]
        assert record["timestamp_s"] == pytest.approx(index / 25)
    saved = json.loads((out / "summary.json").read_text())
    assert saved["models"][GEOMETRY_MODEL]["triton"]["inference_count"] == 3  # only the inferred frames were sent


def test_without_skipping_every_sampled_frame_is_inferred(geometry_server, held_then_cut, tmp_path):
    out = tmp_path / "out"
    stream([str(held_then_cut)], geometry_server.grpc_url, out,
           RunSettings(every=1, rules=Rules(threshold=0.0), repeat_threshold=None))
    records = records_by_frame(out)
    assert sorted(records) == list(range(12)) and not any("reused_from" in r for r in records.values())
    saved = json.loads((out / "summary.json").read_text())
    assert saved["models"][GEOMETRY_MODEL]["triton"]["inference_count"] == 12


@pytest.mark.parametrize("kept", [(0, 1, 2), (0, 1, 3, 5, 6), (6, 7)],
                         ids=["in-the-held-shot", "out-of-order-past-a-cut", "without-the-shot-start"])
def test_resuming_in_the_middle_of_a_held_shot_gives_the_records_of_an_uninterrupted_run(
        geometry_server, held_then_cut, tmp_path, kept):
    """A run killed with the frames `kept` recorded (completion order is not frame order), then
    resumed: the same reuse decisions and detections, and only the missing inferred frames sent."""
    options = RunSettings(every=1, rules=Rules(threshold=0.0))
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    stream([str(held_then_cut)], geometry_server.grpc_url, whole, options)
    cut.mkdir()
    lines = [line for line in (whole / "detections.jsonl").read_text().splitlines()
             if json.loads(line)["frame_index"] in kept]
    (cut / "detections.jsonl").write_text("\n".join(lines) + "\n")
    (cut / "run.json").write_text((whole / "run.json").read_text())
    summary = stream([str(held_then_cut)], geometry_server.grpc_url, cut, options)
    assert summary.complete and summary.skipped_already_done == len(kept)

    def comparable(out):
        return {i: (r.get("reused_from"), r["models"][GEOMETRY_MODEL]["detections"])
                for i, r in records_by_frame(out).items()}
    assert comparable(cut) == comparable(whole)
    inferred = {0, 5, 10} - set(kept)  # the uninterrupted run's inferred frames that are missing
    saved = json.loads((cut / "summary.json").read_text())
    assert saved["models"][GEOMETRY_MODEL]["triton"]["inference_count"] == len(inferred)
