"""Shots of each video, found by PySceneDetect's ContentDetector over the video file itself.

The stream samples every Nth frame, so a cut between two samples cannot be placed from the
results; the detector decodes every frame. A video whose file cannot be opened any more (the
results were moved) gets no shots and one warning; its duration then comes from the samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from creativelens.features.thresholds import Thresholds

SHOT_COLUMNS = ("source", "duration_s", "shot_starts", "shot_warning")


@dataclass(frozen=True)
class Shots:
    duration_s: float | None
    starts: tuple[float, ...]  # seconds; the first is 0.0
    warning: str | None = None


def detect_shots(path: str, thresholds: Thresholds) -> Shots:
    """The start of every shot of the video at `path`, and its duration (frames / fps)."""
    from scenedetect import ContentDetector, SceneManager, open_video
    from scenedetect.video_stream import VideoOpenFailure

    try:
        video = open_video(path)
    except (VideoOpenFailure, OSError, ValueError) as error:
        return Shots(None, (), f"shots not found: cannot open the video ({error})")
    min_frames = max(1, round(thresholds.min_shot_s * float(video.frame_rate)))
    manager = SceneManager()
    manager.add_detector(ContentDetector(threshold=thresholds.shot_threshold, min_scene_len=min_frames))
    manager.detect_scenes(video)
    scenes = manager.get_scene_list(start_in_scene=True)
    duration = video.duration.seconds if video.duration is not None else None
    return Shots(duration, tuple(round(start.seconds, 6) for start, _ in scenes) or (0.0,))


def shots_table(sources, thresholds: Thresholds, enabled: bool = True):
    """An Arrow table (SHOT_COLUMNS) with the shots of every video in `sources`."""
    import pyarrow as pa

    from creativelens.item_result import unescape_name

    rows = []
    for source in sources:
        shots = detect_shots(unescape_name(source), thresholds) if enabled else Shots(None, (), "shots not computed (--no-shots)")
        rows.append({"source": source, "duration_s": shots.duration_s, "shot_starts": list(shots.starts) or None,
                     "shot_warning": shots.warning})
    schema = pa.schema([("source", pa.string()), ("duration_s", pa.float64()), ("shot_starts", pa.list_(pa.float64())),
                        ("shot_warning", pa.string())])
    return pa.Table.from_pylist(rows, schema)
