"""Decode stills and letterbox every item onto its canvas bucket, in a pool of worker threads.

Pillow and OpenCV release the GIL while decoding and resizing, so threads keep the server fed
without copying pixels between processes. Failures come back as values (`Prepared.error`),
never as exceptions, so one corrupt file cannot stop a run.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from creativelens.canvas import Canvas, Letterboxed, choose_canvas, letterbox
from creativelens.client.handoff import Handoff
from creativelens.client.settings import DEFAULT_MAX_PIXELS
from creativelens.client.sources import Item, MediaError, check_dimensions

HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}  # OpenCV scales these to 8 bits


@dataclass(frozen=True)
class Prepared:
    """One item decoded once and letterboxed once onto each canvas bucket that its models need."""

    item: Item
    letterboxed: dict[Canvas, Letterboxed] = field(default_factory=dict)
    image_bgr: np.ndarray | None = None  # the original pixels, kept only for enrichers (OCR)
    error: str | None = None
    width: int = 0
    height: int = 0
    frame_hash: object | None = None  # video frames: a perceptual hash (imagehash.ImageHash), for skipping repeats

    @property
    def boxed(self) -> Letterboxed | None:
        """The letterboxed image when there is a single canvas set (one model's)."""
        return next(iter(self.letterboxed.values()), None)

    def boxed_for(self, canvases: Sequence[Canvas]) -> Letterboxed:
        """The letterboxed image for a model whose canvas buckets are `canvases`."""
        return self.letterboxed[choose_canvas(self.height, self.width, canvases)]


def decode_still(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """BGR uint8 pixels of a still (first frame of an animation, EXIF orientation applied).

    Pillow decodes first because it refuses truncated files (OpenCV silently pads them);
    formats only OpenCV knows (and 16-bit or float images) go through OpenCV.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            check_dimensions(*image.size, max_pixels)
            if image.mode not in HIGH_DEPTH_MODES:
                image.seek(0)
                rgb = ImageOps.exif_transpose(image).convert("RGB")
                return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
    except Image.DecompressionBombError as error:
        raise MediaError(f"refused as a decompression bomb: {error}") from None
    except UnidentifiedImageError:
        pass
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise MediaError(f"corrupt or truncated image: {error}") from None
    return _decode_with_opencv(path, max_pixels)


def _decode_with_opencv(path: str | Path, max_pixels: int) -> np.ndarray:
    import cv2

    try:
        pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error as error:
        raise MediaError(f"corrupt image: {error}") from None
    if pixels is None:
        raise MediaError("corrupt image: OpenCV could not decode it")
    check_dimensions(pixels.shape[1], pixels.shape[0], max_pixels)
    return pixels


def frame_hash(image_bgr: np.ndarray):
    """The 64-bit perceptual hash (pHash, DCT of a 32x32 grey image) of a frame; `a - b` is the
    Hamming distance of two."""
    import cv2
    import imagehash
    from PIL import Image

    grey = cv2.cvtColor(cv2.resize(image_bgr, (32, 32), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    return imagehash.phash(Image.fromarray(grey))


def prepare(item: Item, canvas_sets: Sequence[Sequence[Canvas]] | Sequence[Canvas], *,
            max_pixels: int = DEFAULT_MAX_PIXELS, keep_image: bool = False, hash_frames: bool = False) -> Prepared:
    """Decode (stills) one item and letterbox it onto the bucket closest to its aspect in each
    canvas set (a single set of canvases is one set), each distinct bucket once; with
    `hash_frames`, video frames also get their perceptual hash."""
    if item.error:
        return Prepared(item, error=item.error)
    if item.done:  # replayed for its repeat decision only: its hash, no canvas
        height, width = item.frame_bgr.shape[:2]
        return Prepared(item, width=width, height=height, frame_hash=frame_hash(item.frame_bgr) if hash_frames else None)
    if canvas_sets and isinstance(canvas_sets[0], Canvas):
        canvas_sets = [canvas_sets]
    try:
        image = item.frame_bgr if item.frame_bgr is not None else decode_still(item.source, max_pixels)
        height, width = image.shape[:2]
        chosen = {choose_canvas(height, width, canvases) for canvases in canvas_sets}
        letterboxed = {canvas: letterbox(image, canvas) for canvas in sorted(chosen)}
    except MediaError as error:
        return Prepared(item, error=str(error))
    except (MemoryError, OSError, ValueError) as error:
        return Prepared(item, error=f"cannot decode: {type(error).__name__}: {error}")
    hashed = frame_hash(image) if hash_frames and item.frame_index is not None else None
    return Prepared(item, letterboxed, image if keep_image else None, width=width, height=height, frame_hash=hashed)


def prepared_in_background(items: Iterable[Item], canvas_sets: Sequence[Sequence[Canvas]] | Sequence[Canvas], *,
                           workers: int,
                           lookahead: int, max_pixels: int = DEFAULT_MAX_PIXELS,
                           keep_image: bool = False, hash_frames: bool = False) -> Iterator[Prepared]:
    """`prepare` over `items` in `workers` threads, in input order, at most `lookahead` ahead.

    The item source (folder walks, video decoding) also runs in the background, so the caller
    only ever waits when decoding is truly slower than serving. An exception in the source is
    re-raised in the caller.
    """
    ready = Handoff(lookahead)
    put = ready.put

    def produce() -> None:
        try:
            with ThreadPoolExecutor(max(1, workers), thread_name_prefix="decode") as pool:
                window: deque = deque()
                for item in items:
                    window.append(pool.submit(prepare, item, canvas_sets, max_pixels=max_pixels,
                                              keep_image=keep_image, hash_frames=hash_frames))
                    while len(window) >= max(1, lookahead) or (window and window[0].done()):
                        if not put(window.popleft().result()):
                            return
                while window:
                    if not put(window.popleft().result()):
                        return
            ready.end()
        except BaseException as error:  # handed to the consumer, which re-raises it
            ready.fail(error)

    producer = threading.Thread(target=produce, name="items", daemon=True)
    producer.start()
    try:
        yield from ready
    finally:
        ready.close()
