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


# The large ad platforms' common creative sizes (h, w) and their ratio's name: 1:1, 4:5, 9:16, 16:9, 1.91:1.
AD_SPEC_SIZES = {"1:1": (1080, 1080), "4:5": (1350, 1080), "9:16": (1920, 1080), "16:9": (1080, 1920),
                 "1.91:1": (628, 1200)}


@dataclass(frozen=True)
class AdMedia:
    """Creative-SHAPED images: sample photos centre-cropped to an ad ratio and resized to its spec
    size. Their shapes are those of real creatives, their content is photos, not ads."""

    paths: list[Path]
    ratios: list[str]  # each image's ratio name

    def describe(self) -> dict:
        counts = {name: self.ratios.count(name) for name in AD_SPEC_SIZES}
        return {"images": len(self.paths), "per_ratio": counts,
                "sizes_hw": {name: list(size) for name, size in AD_SPEC_SIZES.items()},
                "made_from": "sample stills, centre-cropped to the ratio and resized (INTER_AREA) to the spec size",
                "files": [path.name for path in self.paths]}


def ad_shaped_media(work_dir: Path, count: int) -> AdMedia:
    """`count` creative-shaped images: image i is sample still i (cycling) at ratio i % 5."""
    photos = sample_stills()
    names = list(AD_SPEC_SIZES)
    out_dir = work_dir / "ad-shaped"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, ratios = [], []
    for index in range(count):
        ratio = names[index % len(names)]
        height, width = AD_SPEC_SIZES[ratio]
        source = photos[index % len(photos)]
        path = out_dir / f"{index:03d}-{source.stem}-{ratio.replace(':', 'x')}.png"
        if not path.is_file():
            image = cv2.imread(str(source))
            h, w = image.shape[:2]
            scale = min(h / height, w / width)  # the largest centred crop of the target ratio
            crop_h, crop_w = round(height * scale), round(width * scale)
            top, left = (h - crop_h) // 2, (w - crop_w) // 2
            crop = image[top:top + crop_h, left:left + crop_w]
            cv2.imwrite(str(path), cv2.resize(crop, (width, height),
                                              interpolation=cv2.INTER_AREA if scale >= 1 else cv2.INTER_LINEAR))
        paths.append(path)
        ratios.append(ratio)
    return AdMedia(paths, ratios)
