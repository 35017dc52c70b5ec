"""Screen time: tracks and per-label time on screen of every video in a results folder.

A sink of the current results (the ledger), like the CSV and Parquet sinks, so a resumed run
rebuilds them whole. It hands every result on to the next sink (`then`): stills at once, video
frames once their video is tracked, with each detection's track id. Writes, atomically:

- `tracks.parquet`, `tracks.csv`: one row per track (video, model, label, track id, first and
  last timestamp, seconds on screen, frames seen, max and mean score, the largest box and its
  share of the frame);
- `screen_time.parquet`, `screen_time.csv`: one row per (video, model, label): seconds on
  screen, share of the spot, first appearance, tracks, frames seen, the spot's length.

Time: each sampled frame stands for the video time until the next sampled frame of its video
(the last one for the median step), so a label's seconds are the summed steps of the frames it
is on, and a spot's length is the sum of all steps. Frames whose detections were reused
(`reused_from`) count like any other sampled frame. A video without timestamps gets frame
counts only (seconds null).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from creativelens.atomic_files import write_atomic
from creativelens.client.tracks import TrackerSettings, track_video
from creativelens.detections import Detections
from creativelens.formats import screen_time_schema, tracks_schema
from creativelens.item_result import ItemResult, escape_name

TRACKS_PARQUET, TRACKS_CSV = "tracks.parquet", "tracks.csv"
SCREEN_TIME_PARQUET, SCREEN_TIME_CSV = "screen_time.parquet", "screen_time.csv"


@dataclass
class _Video:
    timestamps: dict[int, float | None] = field(default_factory=dict)  # every sampled frame
    frames: dict[str, dict[int, Detections]] = field(default_factory=dict)  # model -> frame -> detections


class _Discard:
    def __call__(self, result: ItemResult) -> None:
        pass

    def close(self) -> None:
        pass


class VideoTracks:
    """A sink: tracks per (video, model) and the tracks and screen-time tables of `out_dir`,
    written on `close`; every result goes on to `then`, video frames with their track ids."""

    def __init__(self, out_dir: Path, then=None, settings: TrackerSettings = TrackerSettings()) -> None:
        self.out_dir, self.settings = Path(out_dir), settings
        self.then = then if then is not None else _Discard()
        self._videos: dict[str, _Video] = {}
        self._frames: list[ItemResult] = []  # in arrival order, handed on after tracking
        self.track_rows: list[dict] = []
        self.screen_time_rows: list[dict] = []

    def __call__(self, result: ItemResult) -> None:
        if result.frame_index is None or result.error is not None:
            self.then(result)
            return
        self._frames.append(result)
        video = self._videos.setdefault(result.source, _Video())
        video.timestamps[result.frame_index] = result.timestamp_s
        for model in result.models:
            if model.error is None:
                video.frames.setdefault(model.model, {})[result.frame_index] = model.detections

    def close(self) -> None:
        ids = self._track()
        for result in self._frames:
            self.then(_with_track_ids(result, ids))
        self._frames = []
        self.then.close()
        if self.track_rows or self.screen_time_rows:
            self._write()

    def _track(self) -> dict[tuple[str, int, str], np.ndarray]:
        """(video, frame, model) -> track ids; fills the two tables' rows."""
        ids = {}
        for source in sorted(self._videos):
            video = self._videos.pop(source)
            steps = _frame_steps(video.timestamps)
            spot_s = None if steps is None else round(sum(steps.values()), 6)
            for model in sorted(video.frames):
                frames = video.frames[model]
                order = sorted(frames)
                tracked = dict(zip(order, track_video((frames[i] for i in order), self.settings)))
                for index, frame in tracked.items():
                    ids[(source, index, model)] = frame.track_ids
                self.track_rows += _track_rows(source, model, tracked, video.timestamps, steps)
                self.screen_time_rows += _screen_time_rows(source, model, tracked, video.timestamps, steps, spot_s)
        return ids

    def _write(self) -> None:
        for parquet, csv_name, rows, schema in (
                (TRACKS_PARQUET, TRACKS_CSV, self.track_rows, tracks_schema()),
                (SCREEN_TIME_PARQUET, SCREEN_TIME_CSV, self.screen_time_rows, screen_time_schema())):
            write_atomic(self.out_dir / parquet, _parquet_bytes(rows, schema))
            write_atomic(self.out_dir / csv_name, _csv_bytes(rows, tuple(schema.names)))


def _with_track_ids(result: ItemResult, ids: dict) -> ItemResult:
    models = tuple(
        replace(m, detections=replace(m.detections, track_ids=found))
        if (found := ids.get((result.source, result.frame_index, m.model))) is not None else m
        for m in result.models)
    return result.with_models(models)


def _frame_steps(timestamps: dict[int, float | None]) -> dict[int, float] | None:
    """frame index -> seconds it stands for; None when any timestamp is missing."""
    order = sorted(timestamps)
    times = [timestamps[i] for i in order]
    if any(t is None for t in times):
        return None
    gaps = np.diff(np.asarray(times, np.float64))
    last = float(np.median(gaps)) if len(gaps) else 0.0
    return {index: round(float(step), 6) for index, step in zip(order, [*gaps, last])}


def _track_rows(source, model, tracked: dict[int, Detections], timestamps, steps) -> list[dict]:
    rows: dict[int, dict] = {}
    for index, frame in tracked.items():
        area = frame.width * frame.height
        for box, score, label, track in zip(frame.xyxy, frame.scores, frame.labels, frame.track_ids):
            row = rows.setdefault(int(track), {"video": escape_name(source), "model": model, "label": label,
                                               "track_id": int(track), "first_s": timestamps[index],
                                               "seconds_on_screen": None if steps is None else 0.0,
                                               "frames_seen": 0, "scores": [], "largest": (-1.0, None, 0)})
            row["last_s"] = timestamps[index]
            row["frames_seen"] += 1
            if steps is not None:
                row["seconds_on_screen"] += steps[index]
            row["scores"].append(float(score))
            box_area = float((box[2] - box[0]) * (box[3] - box[1]))
            if box_area > row["largest"][0]:
                row["largest"] = (box_area, [round(float(v), 2) for v in box], area)
    out = []
    for row in rows.values():
        scores = row.pop("scores")
        box_area, box, frame_area = row.pop("largest")
        if row["seconds_on_screen"] is not None:
            row["seconds_on_screen"] = round(row["seconds_on_screen"], 6)
        out.append(dict(row, max_score=round(max(scores), 5), mean_score=round(sum(scores) / len(scores), 5),
                        largest_box=box, largest_box_share=round(box_area / frame_area, 6) if frame_area else None))
    return [{column: row[column] for column in tracks_schema().names} for row in out]


def _screen_time_rows(source, model, tracked: dict[int, Detections], timestamps, steps, spot_s) -> list[dict]:
    labels: dict[str, dict] = {}
    for index, frame in tracked.items():
        for label in sorted(set(frame.labels)):
            entry = labels.setdefault(label, {"frames": 0, "seconds": 0.0, "first": timestamps[index],
                                              "tracks": set()})
            entry["frames"] += 1
            if steps is not None:
                entry["seconds"] += steps[index]
        for label, track in zip(frame.labels, frame.track_ids):
            labels[label]["tracks"].add(int(track))
    rows = []
    for label in sorted(labels):
        entry = labels[label]
        seconds = None if steps is None else round(entry["seconds"], 6)
        rows.append({"video": escape_name(source), "model": model, "label": label, "seconds_on_screen": seconds,
                     "share_of_spot": round(seconds / spot_s, 6) if seconds is not None and spot_s else None,
                     "first_appearance_s": entry["first"], "tracks": len(entry["tracks"]),
                     "frames_seen": entry["frames"], "spot_seconds": spot_s})
    return rows


def _parquet_bytes(rows: list[dict], schema) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema), buffer)
    return buffer.getvalue()


def _csv_bytes(rows: list[dict], columns: tuple[str, ...]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, list) else ("" if v is None else v) for k, v in row.items()})
    return text.getvalue().encode()
