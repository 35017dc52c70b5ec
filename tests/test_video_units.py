"""Issue 12 without a server: --fps sampling on real video files written here (OpenCV MJPG in
AVI), tracks and screen time on constructed detections."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from creativelens.client.screen_time import VideoTracks
from creativelens.client.settings import RunSettings
from creativelens.client.sources import iter_frames
from creativelens.client.tracks import track_video
from creativelens.detections import Detections
from creativelens.item_result import ItemResult, ModelResult


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def test_fps_samples_the_same_timestamps_at_several_frame_rates(tmp_path):
    moments = {}
    for rate in (24, 25, 30, 60):
        frames = [np.full((48, 64, 3), (i * 3) % 256, np.uint8) for i in range(rate * 3)]  # 3 s
        video = write_video(tmp_path / f"v{rate}.avi", frames, rate)
        items = list(iter_frames(video, RunSettings(every=10, fps=2)))
        assert all(item.warning is None for item in items)
        moments[rate] = [item.timestamp_s for item in items]
        assert [item.frame_index for item in items] == [round(t * rate) for t in moments[rate]]
    assert moments[24] == moments[30] == moments[60] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert moments[25] == [0.0, 0.52, 1.0, 1.52, 2.0, 2.52]  # the first frame at or after each tick


def test_fps_on_an_implausible_frame_rate_falls_back_to_every_nth_frame_with_a_warning(tmp_path):
    video = write_video(tmp_path / "fast.avi", [np.zeros((48, 64, 3), np.uint8)] * 30, 0.5)
    items = list(iter_frames(video, RunSettings(every=10, fps=4)))
    assert [item.frame_index for item in items] == [0, 10, 20]
    assert all("implausible" in item.warning and "--fps 4" in item.warning for item in items)
    assert all(item.warning is None for item in iter_frames(video, RunSettings(every=10)))


def box_frames(positions, *, label="logo", size=40, width=320, height=240):
    """Detections of one square object at x = positions[i] (None: not detected in that frame)."""
    frames = []
    for x in positions:
        boxes = [] if x is None else [[x, 50, x + size, 50 + size]]
        frames.append(Detections(np.array(boxes, np.float32).reshape(-1, 4), [0.9] * len(boxes),
                                 [0] * len(boxes), [label] * len(boxes), width, height))
    return frames


def merged(a: Detections, b: Detections) -> Detections:
    return Detections(np.vstack([a.xyxy, b.xyxy]), np.r_[a.scores, b.scores], np.r_[a.class_ids, b.class_ids],
                      a.labels + b.labels, a.width, a.height)


def test_a_moving_object_keeps_one_track_across_reused_and_missed_frames():
    positions = [10, 18, 26, 26, 26, None, 50, 58, 66]  # two reused frames (same box), one missed
    tracked = list(track_video(box_frames(positions)))
    ids = {int(frame.track_ids[0]) for frame in tracked if len(frame)}
    assert ids == {1}


def test_a_second_object_and_a_reappearance_after_a_long_gap_get_new_tracks():
    first = box_frames([10, 20, 30, None, None, None, None, 40])
    other = box_frames([200, 200, 200, 200, 200, 200, 200, 200], label="face")
    frames = [merged(a, b) for a, b in zip(first, other)]
    tracked = list(track_video(frames))
    assert [list(f.track_ids) for f in tracked] == [[1, 2], [1, 2], [1, 2], [2], [2], [2], [2], [3, 2]]


class Collected(list):
    """A sink that keeps what it is given."""

    def __call__(self, result: ItemResult) -> None:
        self.append(result)

    def close(self) -> None:
        self.closed = True


def test_screen_time_of_a_known_case(tmp_path):
    # 10 sampled frames, 0.2 s apart (a 2.0 s spot): the logo on frames 0-3 and 6-7, a face on 5-9
    logo = box_frames([10, 12, 14, 16, None, None, 20, 22, None, None])
    face = box_frames([None] * 5 + [100] * 5, label="face", size=80)
    results = [ItemResult("/v.avi", i * 5, round(i / 5.0, 6), 320, 240, (ModelResult("m", "1", merged(a, b)),),
                          reused_from=0 if i == 1 else None)
               for i, (a, b) in enumerate(zip(logo, face))]
    results.append(ItemResult("/still.jpg", width=64, height=48))
    results.reverse()  # records arrive in completion order, not frame order
    handed_on = Collected()
    tracks = VideoTracks(tmp_path, then=handed_on)
    for result in results:
        tracks(result)
    tracks.close()

    summary = {row["label"]: row for row in pq.read_table(tmp_path / "screen_time.parquet").to_pylist()}
    assert summary["logo"]["seconds_on_screen"] == pytest.approx(1.2)
    assert summary["logo"]["share_of_spot"] == pytest.approx(0.6)
    assert summary["logo"]["first_appearance_s"] == 0.0
    assert summary["logo"]["tracks"] == 1  # two missed frames: the tracker waits that long
    assert summary["face"]["seconds_on_screen"] == pytest.approx(1.0)
    assert summary["face"]["first_appearance_s"] == 1.0
    assert summary["face"]["spot_seconds"] == pytest.approx(2.0)

    rows = pq.read_table(tmp_path / "tracks.parquet").to_pylist()
    assert [(r["label"], r["track_id"], r["frames_seen"]) for r in rows] == [("logo", 1, 6), ("face", 2, 5)]
    assert rows[0]["first_s"] == 0.0 and rows[0]["last_s"] == pytest.approx(1.4)
    assert rows[0]["seconds_on_screen"] == pytest.approx(1.2)
    assert rows[1]["seconds_on_screen"] == pytest.approx(1.0)  # the last frame stands for the median step
    assert rows[0]["max_score"] == pytest.approx(0.9) and rows[0]["mean_score"] == pytest.approx(0.9)
    assert rows[1]["largest_box"] == [100, 50, 180, 130]
    assert rows[1]["largest_box_share"] == pytest.approx(80 * 80 / (320 * 240), abs=1e-6)
    with open(tmp_path / "tracks.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 2 and json.loads(table[1]["largest_box"]) == [100, 50, 180, 130]

    assert handed_on.closed and handed_on[0].source == "/still.jpg"  # stills go on at once, frames after tracking
    assert [r.frame_index for r in handed_on[1:]] == [r.frame_index for r in results[1:]]
    frame_0 = handed_on[-1]
    assert frame_0.frame_index == 0 and list(frame_0.models[0].detections.track_ids) == [1]
