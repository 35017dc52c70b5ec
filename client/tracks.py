"""Tracks: one video's detections (one model) linked across its sampled frames with Norfair.

Each detection gets a `track_id`: the same object on consecutive sampled frames keeps its id.
Linking is by box overlap after Norfair's Kalman prediction, within one label; a track
survives `TrackerSettings.missed_frames` sampled frames without a match (a missed detection,
an occlusion). Frames whose detections were reused from an earlier frame simply repeat those
boxes, which keeps their tracks alive. Ids are numbered 1, 2, ... per (video, model) in order
of first appearance, so the same records always give the same ids (a resumed run too).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Iterator

import numpy as np

from creativelens.detections import Detections
from creativelens.formats import to_norfair_detections


@dataclass(frozen=True)
class TrackerSettings:
    max_distance: float = 0.8  # Norfair's IoU distance (1 - IoU): a match needs IoU > 0.2 with the prediction
    missed_frames: int = 2  # sampled frames a track may go unmatched before it ends


def track_video(frames: Iterable[Detections], settings: TrackerSettings = TrackerSettings()) -> Iterator[Detections]:
    """`frames`: one video's detections of one model, in frame order. Yields each with `track_ids`."""
    from norfair import Tracker

    tracker = Tracker(distance_function="iou", distance_threshold=settings.max_distance,
                      hit_counter_max=settings.missed_frames + 1, initialization_delay=0)
    numbering: dict[int, int] = {}  # Norfair's id (global to the process) -> ours
    for frame in frames:
        candidates = to_norfair_detections(frame)
        objects = tracker.update(candidates)
        ids = np.zeros(len(frame), np.int64)
        for tracked in objects:
            detection = tracked.last_detection
            if any(detection is candidate for candidate in candidates):
                ids[detection.data] = numbering.setdefault(tracked.id, len(numbering) + 1)
        for row in np.flatnonzero(ids == 0):  # matched no track this frame (Norfair merged it away)
            ids[row] = numbering.setdefault(-(len(numbering) + 1), len(numbering) + 1)
        yield replace(frame, track_ids=ids)
