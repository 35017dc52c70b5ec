"""PP-OCRv4 end to end (detector, orientation classifier, recogniser; ONNX via rapidocr-onnxruntime).

Lines come back as quadrilaterals with text; each line's words get a share of the line's box
proportional to their characters. Confidence is the recogniser's score, 0-100.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from creativelens.ocr_service.exclusion import finished_result, mask_regions
from creativelens.ocr_service.options import RecognitionOptions
from creativelens.ocr_service.results import Box, OcrResult, Word
from creativelens.ocr_service.text_regions import DETECTOR_SHORT_SIDE

MIN_LINE_SCORE = 0.5


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self, detector_path: str, recogniser_path: str, classifier_path: str):
        from rapidocr_onnxruntime import RapidOCR

        self._ocr = RapidOCR(det_model_path=detector_path, rec_model_path=recogniser_path,
                             cls_model_path=classifier_path, intra_op_num_threads=1, inter_op_num_threads=1,
                             det_limit_side_len=DETECTOR_SHORT_SIDE, text_score=MIN_LINE_SCORE)

    def recognise(self, pixels: np.ndarray, exclusion_boxes: Sequence[Box], options: RecognitionOptions,
                  timeout_s: float | None = None) -> OcrResult:
        import cv2

        height, width = pixels.shape[:2]
        started = time.perf_counter()
        if exclusion_boxes and options.exclusion_mode == "mask":
            pixels = mask_regions(pixels, exclusion_boxes)
        masked = time.perf_counter()
        bgr = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if pixels.ndim == 2 else pixels
        lines, _ = self._ocr(bgr)
        words: list[Word] = []
        for line_index, (quad, text, line_score) in enumerate(lines or []):
            words += split_line(np.asarray(quad, np.float32), text, 100 * float(line_score), line_index)
        recognised = time.perf_counter()
        return finished_result(width, height, words, exclusion_boxes, options.exclusion_mode,
                               started, masked, recognised)

    def close(self) -> None:
        pass


def split_line(quad: np.ndarray, text: str, confidence: float, line_index: int) -> list[Word]:
    """The line's words, each with the part of the line's quadrilateral its characters span."""
    words, position, length = [], 0, max(1, len(text))
    for piece in text.split(" "):
        if piece:
            start, end = position / length, (position + len(piece)) / length
            top = [quad[0] + (quad[1] - quad[0]) * f for f in (start, end)]
            bottom = [quad[3] + (quad[2] - quad[3]) * f for f in (start, end)]
            points = np.array(top + bottom)
            box = (int(points[:, 0].min()), int(points[:, 1].min()),
                   int(np.ceil(points[:, 0].max())), int(np.ceil(points[:, 1].max())))
            words.append(Word(piece, box, confidence, line_index))
        position += len(piece) + 1
    return words
