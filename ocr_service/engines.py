"""The OCR engines the service can run, by name, and the factory each worker process calls.

`engine_factory(name, model_dir)` checks the model files in the calling process, so a missing
file is one `UserError` line at start instead of workers dying one by one; it returns a
picklable callable (worker processes are spawned).
"""

from __future__ import annotations

from functools import partial

from creativelens.errors import UserError
from creativelens.ocr_service.engine import TesseractEngine
from creativelens.ocr_service.text_regions import (
    CLASSIFIER_FILE, DETECTOR_FILE, RECOGNISER_FILE, ModelFilesMissing, model_files,
)

ENGINES = ("regions", "tesseract", "rapidocr")
# Chosen by `creativelens ocr eval` (ocr_service/README.md, "Measured").
DEFAULT_ENGINE = "regions"


def engine_factory(name: str = DEFAULT_ENGINE, model_dir: str | None = None):
    if name == "tesseract":
        return TesseractEngine
    try:
        if name == "regions":
            from creativelens.ocr_service.region_engine import RegionTesseractEngine

            paths = model_files(name, model_dir, (DETECTOR_FILE,))
            return partial(RegionTesseractEngine, paths[DETECTOR_FILE])
        if name == "rapidocr":
            from creativelens.ocr_service.rapidocr_engine import RapidOcrEngine

            paths = model_files(name, model_dir, (DETECTOR_FILE, RECOGNISER_FILE, CLASSIFIER_FILE))
            return partial(RapidOcrEngine, paths[DETECTOR_FILE], paths[RECOGNISER_FILE], paths[CLASSIFIER_FILE])
    except ModelFilesMissing as missing:
        raise UserError(str(missing)) from None
    raise UserError(f"OCR engine {name!r} is not one of {ENGINES}")
