"""The one domain type: what a detector found in one still or video frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Detections for one image or frame, all arrays of one length `n`.

    `xyxy` is float32 [n, 4] in original-image pixels (x1, y1, x2, y2); `scores` float32 [n];
    `class_ids` int32 [n] (contiguous model class index); `labels` the class names; `width`
    and `height` the image's size (what boxes are measured against: clipping, normalised boxes,
    shares of the frame). `track_ids` (video only) name the track each detection belongs to.
    Where the image came from and which model found them is the `ItemResult`'s and
    `ModelResult`'s to say, once.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    labels: tuple[str, ...]
    width: int = 0
    height: int = 0
    track_ids: np.ndarray | None = None  # int64 [n]: which track of its video each detection is on

    def __post_init__(self) -> None:
        object.__setattr__(self, "xyxy", np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4))
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float32).reshape(-1))
        object.__setattr__(self, "class_ids", np.asarray(self.class_ids, dtype=np.int32).reshape(-1))
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.track_ids is not None:
            object.__setattr__(self, "track_ids", np.asarray(self.track_ids, dtype=np.int64).reshape(-1))
        n = len(self.xyxy)
        if not (len(self.scores) == len(self.class_ids) == len(self.labels) == n):
            raise ValueError(
                f"Detections arrays differ in length: xyxy {n}, scores {len(self.scores)}, "
                f"class_ids {len(self.class_ids)}, labels {len(self.labels)}"
            )
        if self.track_ids is not None and len(self.track_ids) != n:
            raise ValueError(f"Detections has {n} boxes but {len(self.track_ids)} track ids")

    def __len__(self) -> int:
        return len(self.xyxy)

    @classmethod
    def empty(cls, width: int = 0, height: int = 0) -> "Detections":
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0), (), width, height)

    def select(self, mask: np.ndarray) -> "Detections":
        """The detections where `mask` (boolean or index array) holds; the image size kept."""
        index = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask, int)
        return Detections(
            self.xyxy[index], self.scores[index], self.class_ids[index],
            tuple(self.labels[i] for i in index),
            self.width, self.height, None if self.track_ids is None else self.track_ids[index],
        )

    def above(self, threshold: float, per_class: dict[str, float] | None = None) -> "Detections":
        """Keep scores >= the threshold of each detection's label (per_class overrides)."""
        per_class = per_class or {}
        limits = np.array([per_class.get(label, threshold) for label in self.labels], np.float32)
        return self.select(self.scores >= limits) if len(self) else self
