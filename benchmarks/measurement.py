"""One timed run of one pipeline over the bench media, and how runs add up and summarise."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Measurement:
    """Images done, errors, wall and CPU seconds, and each image's latency in milliseconds.

    Latency is what one image waited from the moment its pipeline started on it (read from
    disk) until its detections were in hand.
    """

    images: int
    errors: int
    wall_s: float
    cpu_s: float
    latencies_ms: list[float] = field(default_factory=list)

    def __add__(self, other: "Measurement") -> "Measurement":
        return Measurement(
            self.images + other.images,
            self.errors + other.errors,
            self.wall_s + other.wall_s,
            self.cpu_s + other.cpu_s,
            self.latencies_ms + other.latencies_ms,
        )

    def summary(self) -> dict:
        latencies = np.asarray(self.latencies_ms, float)
        return {
            "images": self.images,
            "errors": self.errors,
            "wall_s": round(self.wall_s, 3),
            "images_per_s": self.images / self.wall_s if self.wall_s > 0 else 0.0,
            "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies.size else None,
            "latency_ms_p95": float(np.percentile(latencies, 95)) if latencies.size else None,
            "cpu_s": round(self.cpu_s, 3),
            "cpu_s_per_image": self.cpu_s / self.images if self.images else None,
            "cores_busy": self.cpu_s / self.wall_s if self.wall_s > 0 else None,
        }
