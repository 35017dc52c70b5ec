"""Fault injection for the OCR worker pool: a real Tesseract engine that can be made to crash or
to hang. Runs inside spawned worker processes, so it must be importable from `tests/`."""

from __future__ import annotations

import os
import time
from pathlib import Path

from creativelens.ocr_service.engine import TesseractEngine

CRASH_WIDTH = 13  # an image this wide kills the worker process
HANG_WIDTH = 17   # an image this wide blocks until the release file exists


class FaultyEngine(TesseractEngine):
    def __init__(self, release_file: str):
        super().__init__()
        self._release_file = Path(release_file)

    def recognise(self, pixels, exclusion_boxes, options, timeout_s=None):
        width = pixels.shape[1]
        if width == CRASH_WIDTH:
            os._exit(3)
        if width == HANG_WIDTH:
            while not self._release_file.exists():
                time.sleep(0.05)
        return super().recognise(pixels, exclusion_boxes, options, timeout_s)
