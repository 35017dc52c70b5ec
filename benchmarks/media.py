"""The bench media: real photos plus frames of a real video, as image files on disk.

Every pipeline reads the same files, as the seeds did (`cv2.imread` per file): video frames are
decoded once, here, and written losslessly (PNG) so that no pipeline pays for video decoding
and all see identical pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2

from creativelens.sample_media import sample_stills, sample_video


@dataclass(frozen=True)
class BenchMedia:
    stills: list[Path]
    frames: list[Path]
    frame_stride: int

    @property
    def paths(self) -> list[Path]:
        return self.stills + self.frames

    def describe(self) -> dict:
        return {
            "images": len(self.paths),
            "stills": [path.name for path in self.stills],
            "video": sample_video().name,
            "video_frames": [int(path.stem.rsplit("frame", 1)[1]) for path in self.frames],
            "frame_stride": self.frame_stride,
        }


def bench_media(work_dir: Path, *, stills: int | None, video_frames: int, frame_stride: int) -> BenchMedia:
    """`stills` sample photos (None: all) and `video_frames` frames of vtest.avi, every
    `frame_stride`-th from the start, as PNG files under `work_dir`."""
    photos = sample_stills()
    if stills is not None:
        photos = photos[:stills]
    return BenchMedia(photos, _video_frames(work_dir, sample_video(), video_frames, frame_stride), frame_stride)


def _video_frames(work_dir: Path, video: Path, count: int, stride: int) -> list[Path]:
    if count <= 0:
        return []
    out_dir = work_dir / f"{video.stem}-every{stride}"
    wanted = [out_dir / f"{video.stem}-frame{index:05d}.png" for index in range(0, count * stride, stride)]
    if all(path.is_file() for path in wanted):
        return wanted
    out_dir.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(video))
    written, index = [], 0
    try:
        while len(written) < count:
            ok, frame = capture.read()
            if not ok:
                break
            if index % stride == 0:
                path = out_dir / f"{video.stem}-frame{index:05d}.png"
                cv2.imwrite(str(path), frame)
                written.append(path)
            index += 1
    finally:
        capture.release()
    return written
