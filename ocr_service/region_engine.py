"""Text regions first (PP-OCR's DB detector), then Tesseract on each line crop.

Each crop gets what a line needs: grey, scaled to `LINE_HEIGHT_PX`, Otsu-binarised with the
text made dark on light (polarity from the majority of pixels), a white border, `--psm 7`
(one line). Word boxes come back in image pixels. Exclusion and timings as in `TesseractEngine`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from creativelens.ocr_service.engine import SOURCE_RESOLUTION_DPI, tessdata_dir
from creativelens.ocr_service.exclusion import finished_result, mask_regions
from creativelens.ocr_service.failures import OcrFailure
from creativelens.ocr_service.options import RecognitionOptions
from creativelens.ocr_service.results import Box, OcrResult, Word
from creativelens.ocr_service.text_regions import TextRegions, crop, to_image_box

LINE_HEIGHT_PX = 40
BORDER_PX = 10
SINGLE_LINE_PSM = 7


def prepare_line(bgr_crop: np.ndarray) -> tuple[np.ndarray, float]:
    """(binary line image for Tesseract, scale applied) for one crop."""
    import cv2

    grey = cv2.cvtColor(bgr_crop, cv2.COLOR_BGR2GRAY) if bgr_crop.ndim == 3 else bgr_crop
    scale = LINE_HEIGHT_PX / max(1, grey.shape[0])
    grey = cv2.resize(grey, None, fx=scale, fy=scale,
                      interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    _, binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if (binary == 0).mean() > 0.5:  # text is the minority: make the background white
        binary = 255 - binary
    return cv2.copyMakeBorder(binary, BORDER_PX, BORDER_PX, BORDER_PX, BORDER_PX,
                              cv2.BORDER_CONSTANT, value=255), scale


class RegionTesseractEngine:
    name = "regions"

    def __init__(self, detector_path: str, tessdata: str | None = None):
        import tesserocr

        self._tesserocr = tesserocr
        self._regions = TextRegions(detector_path)
        self._api = tesserocr.PyTessBaseAPI(path=tessdata or tessdata_dir(), lang=RecognitionOptions().language,
                                            psm=SINGLE_LINE_PSM)
        self._language = RecognitionOptions().language

    def recognise(self, pixels: np.ndarray, exclusion_boxes: Sequence[Box], options: RecognitionOptions,
                  timeout_s: float | None = None) -> OcrResult:
        import cv2
        from PIL import Image

        height, width = pixels.shape[:2]
        started = time.perf_counter()
        deadline = None if timeout_s is None else started + timeout_s
        if exclusion_boxes and options.exclusion_mode == "mask":
            pixels = mask_regions(pixels, exclusion_boxes)
        masked = time.perf_counter()
        bgr = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if pixels.ndim == 2 else pixels
        if options.language != self._language:
            self._api.End()
            self._api = self._tesserocr.PyTessBaseAPI(path=tessdata_dir(), lang=options.language, psm=SINGLE_LINE_PSM)
            self._language = options.language
        words: list[Word] = []
        for line_index, quad in enumerate(self._regions.detect(bgr)):
            left = None if deadline is None else deadline - time.perf_counter()
            if left is not None and left <= 0:
                raise OcrFailure("DEADLINE_EXCEEDED", "recognition did not finish before the deadline")
            line_crop, inverse = crop(bgr, quad)
            if line_crop.shape[0] > 1.5 * line_crop.shape[1]:
                continue  # vertical text: Tesseract's English model cannot read it
            line_image, scale = prepare_line(line_crop)
            self._api.SetImage(Image.fromarray(line_image))
            self._api.SetSourceResolution(SOURCE_RESOLUTION_DPI)
            if not self._api.Recognize(timeout=0 if left is None else max(1, int(left * 1000))):
                raise OcrFailure("DEADLINE_EXCEEDED", "recognition did not finish before the deadline")
            words += self._line_words(inverse, scale, line_index)
        recognised = time.perf_counter()
        return finished_result(width, height, words, exclusion_boxes, options.exclusion_mode,
                               started, masked, recognised)

    def _line_words(self, inverse: np.ndarray, scale: float, line_index: int) -> list[Word]:
        level = self._tesserocr.RIL.WORD
        iterator = self._api.GetIterator()
        words = []
        if iterator is None:
            return words
        for word in self._tesserocr.iterate_level(iterator, level):
            try:
                text = (word.GetUTF8Text(level) or "").strip()
            except RuntimeError:
                continue
            box = word.BoundingBox(level)
            if not text or box is None:
                continue
            in_crop = tuple((v - BORDER_PX) / scale for v in box)
            words.append(Word(text, to_image_box(inverse, in_crop), word.Confidence(level), line_index))
        return words

    def close(self) -> None:
        self._api.End()
