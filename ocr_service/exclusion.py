"""Keeping the text inside excluded boxes (logos, products) out of the answer, two ways.

`mask_regions` paints each box with its own mean colour before recognition, so Tesseract never
sees that text (and spends no time on it); `drop_words_inside` recognises everything and then
drops the words that lie mostly inside a box. `creativelens ocr eval` measures both.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from creativelens.ocr_service.results import Box, Word, assemble

INSIDE_FRACTION = 0.5  # a word counts as inside when at least half its area is


def clip_boxes(boxes: Sequence[Box], width: int, height: int) -> list[Box]:
    """Boxes clipped to the image; empty ones (after clipping) left out."""
    clipped = []
    for x1, y1, x2, y2 in boxes:
        x1, x2 = max(0, min(x1, width)), max(0, min(x2, width))
        y1, y2 = max(0, min(y1, height)), max(0, min(y2, height))
        if x2 > x1 and y2 > y1:
            clipped.append((x1, y1, x2, y2))
    return clipped


def mask_regions(pixels: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """A copy of `pixels` (H, W[, C]) with every box filled by the box's mean colour."""
    masked = pixels.copy()
    height, width = pixels.shape[:2]
    for x1, y1, x2, y2 in clip_boxes(boxes, width, height):
        region = masked[y1:y2, x1:x2]
        region[...] = region.reshape(-1, *pixels.shape[2:]).mean(axis=0).astype(pixels.dtype)
    return masked


def inside_fraction(word_box: Box, region: Box) -> float:
    x1, y1 = max(word_box[0], region[0]), max(word_box[1], region[1])
    x2, y2 = min(word_box[2], region[2]), min(word_box[3], region[3])
    overlap = max(0, x2 - x1) * max(0, y2 - y1)
    area = max(1, (word_box[2] - word_box[0]) * (word_box[3] - word_box[1]))
    return overlap / area


def drop_words_inside(words: Sequence[Word], boxes: Sequence[Box]) -> list[Word]:
    return [
        word for word in words
        if all(inside_fraction(word.box, box) < INSIDE_FRACTION for box in boxes)
    ]


def finished_result(width: int, height: int, words, exclusion_boxes, exclusion_mode: str,
                    started: float, masked: float, recognised: float):
    """What every engine ends with: excluded words dropped (drop mode), the result assembled,
    and its exclusion and recognition timings from the engine's clock readings."""
    if exclusion_boxes and exclusion_mode == "drop":
        words = drop_words_inside(words, exclusion_boxes)
    result = assemble(width, height, words)
    result.timings.exclusion_ms = 1000 * ((masked - started) + (time.perf_counter() - recognised))
    result.timings.recognize_ms = 1000 * (recognised - masked)
    return result
