"""Text regions first (PP-OCR's DB detector), then Tesseract on each line crop.

A line crop is scaled to `LINE_HEIGHT_PX` and read as one line (`--psm 7`) in image pixels'
boxes. What a crop needs before Tesseract differs: dark on light or light on dark, a flat band
or a busy photo behind the letters, letters drawn with an outline of another colour. So each
crop is read first Otsu-binarised with the text made dark on light (polarity from the majority
of pixels); when that reading is not confident, the crop is read again with a local threshold
(light that changes along the line) and once per colour the crop holds (k-means over its
pixels; that colour's pixels made the dark text on white, which is how an outlined letter's
fill becomes text), and the reading Tesseract is most confident about wins (`reading_score`).
Exclusion and timings as in `TesseractEngine`.
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
from creativelens.ocr_service.text_regions import DetectorTimeout, TextRegions, crop, to_image_box

LINE_HEIGHT_PX = 48
BORDER_PX = 10
SINGLE_LINE_PSM = 7
# A first reading whose every word is at least this confident (0-100) is kept as it is.
CONFIDENT_WORD = 90
# Colours a crop is split into: background, text, and a third for an outline, a shadow or a
# second background tone.
LINE_COLOURS = 3
# Local thresholding: a window about the height of the line, and how much darker than its
# neighbourhood a pixel must be to count as text.
LOCAL_WINDOW_PX = LINE_HEIGHT_PX + 1
LOCAL_OFFSET = 10
# Words Tesseract reads with less confidence than this (0-100) are left out: on ad crops they
# are nearly always texture or pieces of glyphs read as letters (`ocr eval`: precision +0.04,
# recall -0.003 on the 100-image set).
MIN_WORD_CONFIDENCE = 30


def _scaled(bgr_crop: np.ndarray) -> tuple[np.ndarray, float]:
    import cv2

    scale = LINE_HEIGHT_PX / max(1, bgr_crop.shape[0])
    return cv2.resize(bgr_crop, None, fx=scale, fy=scale,
                      interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA), scale


def _bordered(binary: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.copyMakeBorder(binary, BORDER_PX, BORDER_PX, BORDER_PX, BORDER_PX, cv2.BORDER_CONSTANT, value=255)


def prepare_line(bgr_crop: np.ndarray, local: bool = False) -> tuple[np.ndarray, float]:
    """(binary line image for Tesseract, scale applied): Otsu, dark text on white; `local`
    thresholds each pixel against its neighbourhood instead (light that changes along the line)."""
    import cv2

    scaled, scale = _scaled(bgr_crop)
    grey = cv2.cvtColor(scaled, cv2.COLOR_BGR2GRAY) if scaled.ndim == 3 else scaled
    _, binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark_text = (binary == 0).mean() <= 0.5  # text is the minority
    if local:
        binary = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C,
                                       cv2.THRESH_BINARY if dark_text else cv2.THRESH_BINARY_INV,
                                       LOCAL_WINDOW_PX, LOCAL_OFFSET if dark_text else -LOCAL_OFFSET)
    elif not dark_text:
        binary = 255 - binary
    return _bordered(binary), scale


def colour_layers(bgr_crop: np.ndarray, colours: int = LINE_COLOURS) -> tuple[list[np.ndarray], float]:
    """(one binary line image per colour in the crop, that colour black on white; scale applied)."""
    import cv2

    scaled, scale = _scaled(bgr_crop)
    samples = scaled.reshape(-1, scaled.shape[2] if scaled.ndim == 3 else 1).astype(np.float32)
    if len(samples) < colours:
        return [], scale
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(0)
    _, labels, _ = cv2.kmeans(samples, colours, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    labels = labels.reshape(scaled.shape[:2])
    return [_bordered(np.where(labels == colour, 0, 255).astype(np.uint8)) for colour in range(colours)], scale


def reading_score(words: Sequence[Word]) -> float:
    """Characters read, each weighted by its word's confidence: a full line read confidently
    beats both a short confident fragment and a long line of garbage."""
    return sum(len(word.text) * max(0.0, word.confidence) for word in words) / 100


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
        try:
            lines = self._regions.detect(bgr, None if deadline is None else deadline - time.perf_counter())
        except DetectorTimeout:
            raise OcrFailure("DEADLINE_EXCEEDED", "text detection did not finish before the deadline") from None
        words: list[Word] = []
        for line_index, pieces in enumerate(lines):
            for quad in pieces:
                line_crop, inverse = crop(bgr, quad)
                if line_crop.shape[0] > 1.5 * line_crop.shape[1]:
                    continue  # vertical text: Tesseract's English model cannot read it
                words += [word for word in self._read_line(line_crop, inverse, line_index, deadline)
                          if word.confidence >= MIN_WORD_CONFIDENCE]
        recognised = time.perf_counter()
        return finished_result(width, height, words, exclusion_boxes, options.exclusion_mode,
                               started, masked, recognised)

    def _read_line(self, line_crop: np.ndarray, inverse: np.ndarray, line_index: int,
                   deadline: float | None) -> list[Word]:
        line_image, scale = prepare_line(line_crop)
        best = self._read(line_image, inverse, scale, line_index, deadline)
        if best and min(word.confidence for word in best) >= CONFIDENT_WORD:
            return best
        best_score = reading_score(best)
        layers, scale = colour_layers(line_crop)
        layers.insert(0, prepare_line(line_crop, local=True)[0])
        for layer in layers:
            words = self._read(layer, inverse, scale, line_index, deadline)
            if reading_score(words) > best_score:
                best, best_score = words, reading_score(words)
        return best

    def _read(self, line_image: np.ndarray, inverse: np.ndarray, scale: float, line_index: int,
              deadline: float | None) -> list[Word]:
        from PIL import Image

        left = None if deadline is None else deadline - time.perf_counter()
        if left is not None and left <= 0:
            raise OcrFailure("DEADLINE_EXCEEDED", "recognition did not finish before the deadline")
        self._api.SetImage(Image.fromarray(line_image))
        self._api.SetSourceResolution(SOURCE_RESOLUTION_DPI)
        if not self._api.Recognize(timeout=0 if left is None else max(1, int(left * 1000))):
            raise OcrFailure("DEADLINE_EXCEEDED", "recognition did not finish before the deadline")
        return self._line_words(inverse, scale, line_index)

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
