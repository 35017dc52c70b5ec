"""Canvas buckets and letterboxing: how any image becomes a fixed-shape, batchable tensor.

Triton batches only requests of identical shape, so every image is scaled (aspect kept) onto
the canvas bucket closest to its aspect ratio, at the top-left, the rest zero padding. The
model receives the valid (h, w) beside the pixels; boxes come back in canvas pixels and
`to_original` maps them back.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import cv2
import numpy as np

from creativelens.errors import UserError

STRIDE = 32  # FPN backbones need sides divisible by their coarsest stride


@dataclass(frozen=True, order=True)
class Canvas:
    height: int
    width: int

    @property
    def name(self) -> str:
        return f"{self.height}x{self.width}"

    @property
    def aspect(self) -> float:
        return self.width / self.height


def parse_canvas(text: str) -> Canvas:
    """'HxW' -> Canvas; sides must be positive multiples of the backbone stride."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise UserError(f"canvas {text!r} is not of the form HEIGHTxWIDTH, e.g. 800x1344")
    height, width = int(match[1]), int(match[2])
    if height <= 0 or width <= 0 or height % STRIDE or width % STRIDE:
        raise UserError(
            f"canvas {text!r}: both sides must be positive multiples of {STRIDE} (the backbone "
            f"stride), e.g. {max(STRIDE, round(height / STRIDE) * STRIDE)}x"
            f"{max(STRIDE, round(width / STRIDE) * STRIDE)}"
        )
    return Canvas(height, width)


def buckets(short_edge: int, long_edge: int) -> tuple[Canvas, ...]:
    """Square, landscape and portrait canvases after Detectron2's shortest/longest-edge rule."""
    short = math.ceil(short_edge / STRIDE) * STRIDE
    long = math.ceil(long_edge / STRIDE) * STRIDE
    return (Canvas(short, short), Canvas(short, long), Canvas(long, short))


GPU_CANVASES = buckets(800, 1333)  # Detectron2's test-time resize: 800x800, 800x1344, 1344x800
CPU_CANVASES = buckets(480, 800)  # smaller on CPU: seconds per image matter there


def choose_canvas(height: int, width: int, canvases) -> Canvas:
    """The canvas whose aspect ratio is closest to the image's (in log scale)."""
    aspect = width / height
    return min(canvases, key=lambda c: (abs(math.log(c.aspect / aspect)), c))


@dataclass(frozen=True)
class Letterboxed:
    pixels: np.ndarray  # uint8 [canvas.height, canvas.width, 3], BGR
    valid_height: int
    valid_width: int
    scale: float  # canvas pixels per original pixel
    original_height: int
    original_width: int

    @property
    def canvas(self) -> Canvas:
        return Canvas(*self.pixels.shape[:2])


def letterbox(image_bgr: np.ndarray, canvas: Canvas) -> Letterboxed:
    """Scale `image_bgr` (uint8 HxWx3) to fit `canvas`, aspect kept, at the top-left."""
    height, width = image_bgr.shape[:2]
    scale = min(canvas.height / height, canvas.width / width)
    valid_h = max(1, min(canvas.height, round(height * scale)))
    valid_w = max(1, min(canvas.width, round(width * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image_bgr, (valid_w, valid_h), interpolation=interpolation)
    pixels = np.zeros((canvas.height, canvas.width, 3), np.uint8)
    pixels[:valid_h, :valid_w] = resized
    return Letterboxed(pixels, valid_h, valid_w, scale, height, width)


def to_original(boxes_xyxy: np.ndarray, boxed: Letterboxed) -> np.ndarray:
    """Canvas-pixel boxes -> original-image pixels, clipped to the original image."""
    sx = boxed.original_width / boxed.valid_width
    sy = boxed.original_height / boxed.valid_height
    boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4) * np.array([sx, sy, sx, sy], np.float32)
    np.clip(boxes[:, 0::2], 0, boxed.original_width, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, boxed.original_height, out=boxes[:, 1::2])
    return boxes


# Buckets shaped like the ad platforms' creatives (1:1, 4:5, 9:16, 16:9, 1.91:1) under the same
# 480/800 rule as CPU_CANVASES: each ratio's image scaled by min(480 / short side, 800 / long side),
# the sides then brought to the stride (4:5: 600 -> 608; 9:16 and 16:9: 450 -> 448; 1.91:1: 419 -> 416),
# so an ad of those ratios is computed at about the scale the default buckets give it (within 2 %),
# with little padding. Opt-in (`--canvas-set ads`); CPU_CANVASES stays the exporter's default.
AD_CANVASES = tuple(Canvas(h, w) for h, w in ((480, 480), (608, 480), (800, 448), (448, 800), (416, 800)))
CANVAS_SETS = {"cpu": CPU_CANVASES, "ads": AD_CANVASES, "gpu": GPU_CANVASES}
