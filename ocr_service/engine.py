"""Tesseract in process (tesserocr): one engine, reused for every image a worker process sees."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from creativelens.ocr_service.exclusion import finished_result, mask_regions
from creativelens.ocr_service.failures import OcrFailure
from creativelens.ocr_service.options import THRESHOLDING_METHODS, RecognitionOptions
from creativelens.ocr_service.results import Box, OcrResult, Word

DEBIAN_TESSDATA = "/usr/share/tesseract-ocr/5/tessdata"
# tesserocr's SetImage(PIL) implies 96 dpi while the tesseract CLI (pytesseract, the seeds'
# engine) assumes 70 for images without a resolution; 70 makes both read the same text.
SOURCE_RESOLUTION_DPI = 70


def tessdata_dir() -> str:
    """TESSDATA_PREFIX when set, else Debian's tesseract-ocr data (the tesserocr wheel has none)."""
    return os.environ.get("TESSDATA_PREFIX") or DEBIAN_TESSDATA


def available_languages(tessdata: str | None = None) -> set[str]:
    return {path.stem for path in Path(tessdata or tessdata_dir()).glob("*.traineddata")}


class TesseractEngine:
    """Wraps one `tesserocr.PyTessBaseAPI`; re-initialised only when the language changes."""

    def __init__(self, tessdata: str | None = None):
        import tesserocr  # imported here so that OMP_THREAD_LIMIT is set before it loads

        self._tesserocr = tesserocr
        self._tessdata = tessdata or tessdata_dir()
        self._api = None
        self._language = None
        self._api_for(RecognitionOptions().language)  # load the default model up front

    def _api_for(self, language: str):
        if language != self._language:
            if self._api is not None:
                self._api.End()
            self._api = self._tesserocr.PyTessBaseAPI(path=self._tessdata, lang=language)
            self._language = language
        return self._api

    def recognise(
        self,
        pixels: np.ndarray,
        exclusion_boxes: Sequence[Box],
        options: RecognitionOptions,
        timeout_s: float | None = None,
    ) -> OcrResult:
        from PIL import Image

        height, width = pixels.shape[:2]
        started = time.perf_counter()
        if exclusion_boxes and options.exclusion_mode == "mask":
            pixels = mask_regions(pixels, exclusion_boxes)
        masked = time.perf_counter()

        api = self._api_for(options.language)
        api.SetVariable("thresholding_method", str(THRESHOLDING_METHODS[options.thresholding]))
        api.SetPageSegMode(options.page_segmentation_mode)
        api.SetImage(Image.fromarray(pixels))
        api.SetSourceResolution(SOURCE_RESOLUTION_DPI)
        timeout_ms = 0 if timeout_s is None else max(1, int(timeout_s * 1000))
        if not api.Recognize(timeout=timeout_ms):
            raise OcrFailure("DEADLINE_EXCEEDED", "recognition did not finish before the deadline")
        words = self._read_words(api)
        recognised = time.perf_counter()

        return finished_result(width, height, words, exclusion_boxes, options.exclusion_mode,
                               started, masked, recognised)

    def _read_words(self, api) -> list[Word]:
        level = self._tesserocr.RIL
        iterator = api.GetIterator()
        words: list[Word] = []
        if iterator is None:
            return words
        line_index = -1
        for word in self._tesserocr.iterate_level(iterator, level.WORD):
            if word.IsAtBeginningOf(level.TEXTLINE) or line_index < 0:
                line_index += 1
            try:
                text = (word.GetUTF8Text(level.WORD) or "").strip()
            except RuntimeError:  # tesserocr's way of saying a page holds no text at all
                continue
            if text:
                words.append(Word(text, word.BoundingBox(level.WORD), word.Confidence(level.WORD), line_index))
        return words

    def close(self) -> None:
        if self._api is not None:
            self._api.End()
            self._api = None
