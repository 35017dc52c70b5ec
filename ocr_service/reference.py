"""The reference engine the product card names: pytesseract, one `tesseract` process per call.

Same options, exclusion and result type as the service's engine, so the evaluation compares
engines and nothing else. Slower by design (a process start and a PNG round trip per image):
it is the seeds' way of working and the benchmark's baseline.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from creativelens.ocr_service.exclusion import drop_words_inside, mask_regions
from creativelens.ocr_service.options import THRESHOLDING_METHODS, RecognitionOptions
from creativelens.ocr_service.results import Box, OcrResult, Word, assemble


def recognise_with_pytesseract(
    pixels: np.ndarray, exclusion_boxes: Sequence[Box], options: RecognitionOptions
) -> OcrResult:
    import pytesseract
    from PIL import Image

    height, width = pixels.shape[:2]
    if exclusion_boxes and options.exclusion_mode == "mask":
        pixels = mask_regions(pixels, exclusion_boxes)
    started = time.perf_counter()
    data = pytesseract.image_to_data(
        Image.fromarray(pixels),
        lang=options.language,
        config=f"--psm {options.page_segmentation_mode} "
               f"-c thresholding_method={THRESHOLDING_METHODS[options.thresholding]}",
        output_type=pytesseract.Output.DICT,
    )
    recognised = time.perf_counter()
    line_keys: dict[tuple[int, int, int], int] = {}
    words = []
    for i, text in enumerate(data["text"]):
        text = text.strip()
        if data["level"][i] != 5 or not text:  # level 5 = word
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        left, top = data["left"][i], data["top"][i]
        words.append(Word(
            text, (left, top, left + data["width"][i], top + data["height"][i]),
            float(data["conf"][i]), line_keys.setdefault(key, len(line_keys)),
        ))
    if exclusion_boxes and options.exclusion_mode == "drop":
        words = drop_words_inside(words, exclusion_boxes)
    result = assemble(width, height, words)
    result.timings.recognize_ms = 1000 * (recognised - started)
    return result
