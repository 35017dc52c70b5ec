"""The report's pictures: a small thumbnail and a larger view image of every still and sampled
video frame, written next to index.html as JPEG.

Stills come from the client's own decoder (`decode_still`: EXIF orientation, first frame of an
animation) and video frames from PyAV by their recorded `frame_index`, so a box recorded in
original pixels lands where the detector saw it; the browser scales the boxes with the image. Stills are spread over a process pool;
each video is decoded once, front to back, keeping only its sampled frames. A file that moved,
vanished or no longer decodes is reported per item, and the report shows its boxes on an empty
canvas of the recorded size instead.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

THUMB_EDGE = 256  # longest edge of a gallery thumbnail, pixels
VIEW_EDGE = 800  # longest edge of the image of a creative opened large
THUMB_QUALITY, VIEW_QUALITY = 70, 80


@dataclass(frozen=True)
class ImageJob:
    item_id: int
    source: str
    frame_index: int | None


def image_paths(item_id: int) -> tuple[str, str]:
    """(thumbnail, view) paths relative to the report folder."""
    folder = f"media/{item_id // 1000:03d}"
    return f"{folder}/{item_id}_t.jpg", f"{folder}/{item_id}_v.jpg"


def write_images(jobs: list[ImageJob], out: Path, workers: int | None = None) -> dict[int, str]:
    """Thumbnail + view image of every job under `out`; returns item id -> why it has none."""
    stills = [job for job in jobs if job.frame_index is None]
    videos: dict[str, list[ImageJob]] = {}
    for job in jobs:
        if job.frame_index is not None:
            videos.setdefault(job.source, []).append(job)
    tasks = [("stills", stills[i:i + 64]) for i in range(0, len(stills), 64)]
    tasks += [("video", frames) for frames in videos.values()]
    workers = workers or max(1, min(len(os.sched_getaffinity(0)), 8))
    missing: dict[int, str] = {}
    if not tasks:
        return missing
    if workers == 1 or len(tasks) == 1:
        for kind, batch in tasks:
            missing.update(_run(kind, batch, str(out)))
        return missing
    with ProcessPoolExecutor(workers) as pool:
        for result in pool.map(_run, [k for k, _ in tasks], [b for _, b in tasks], [str(out)] * len(tasks)):
            missing.update(result)
    return missing


def _run(kind: str, batch: list[ImageJob], out: str) -> dict[int, str]:
    return _stills(batch, Path(out)) if kind == "stills" else _video(batch, Path(out))


def _stills(batch: list[ImageJob], out: Path) -> dict[int, str]:
    from creativelens.client.decode import decode_still
    from creativelens.client.sources import MediaError

    missing = {}
    for job in batch:
        if not Path(job.source).is_file():
            missing[job.item_id] = "the file is not there any more (moved or deleted)"
            continue
        try:
            _save(decode_still(job.source), job.item_id, out)
        except (MediaError, OSError) as error:
            missing[job.item_id] = f"cannot be decoded now: {error}"
    return missing


def _video(batch: list[ImageJob], out: Path) -> dict[int, str]:
    """The sampled frames of one video: `frame_index` is the 0-based position in decoding order
    of the first video stream (client/README.md), so one front-to-back decode finds them all."""
    import av

    source = batch[0].source
    if not Path(source).is_file():
        return {job.item_id: "the video is not there any more (moved or deleted)" for job in batch}
    wanted = {job.frame_index: job.item_id for job in batch}
    last, seen = max(wanted), set()
    try:
        with av.open(source) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index in wanted:
                    _save(frame.to_ndarray(format="bgr24"), wanted[index], out)
                    seen.add(index)
                if index >= last:
                    break
    except (av.FFmpegError, OSError, ValueError, IndexError) as error:
        reason = f"the video cannot be decoded now: {str(error)[:120]}"
        return {item_id: reason for index, item_id in wanted.items() if index not in seen}
    return {item_id: "the video has no such frame now (changed since the run?)"
            for index, item_id in wanted.items() if index not in seen}


def _save(pixels: np.ndarray, item_id: int, out: Path) -> None:
    import cv2

    thumb_path, view_path = image_paths(item_id)
    (out / thumb_path).parent.mkdir(parents=True, exist_ok=True)
    for path, edge, quality in ((view_path, VIEW_EDGE, VIEW_QUALITY), (thumb_path, THUMB_EDGE, THUMB_QUALITY)):
        scale = edge / max(pixels.shape[:2])
        small = pixels if scale >= 1 else cv2.resize(pixels, (max(1, round(pixels.shape[1] * scale)),
                                                               max(1, round(pixels.shape[0] * scale))),
                                                     interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise OSError("JPEG encoding failed")
        (out / path).write_bytes(data.tobytes())
        pixels = small  # the thumbnail from the view image: less work
