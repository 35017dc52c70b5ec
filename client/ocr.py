"""Text in each still or frame, read by the OCR sidecar outside the logo and product boxes.

`OcrEnricher` plugs into the stream as an enricher: the detector's boxes of the excluded
labels become Tesseract exclusion regions, the text lands in the image's JSONL record
(`ocr_text`, `ocr_words`, or `ocr_error`), and `write_ocr_csv` derives `ocr.csv` from the JSONL.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path
from typing import Iterable

import numpy as np

from creativelens.client.ledger import Ledger
from creativelens.client.sinks import write_atomic
from creativelens.detections import Detections
from creativelens.errors import UserError
from creativelens.formats import OCR_CSV_COLUMNS, from_record, to_ocr_csv_row
from creativelens.ocr_service.client import OcrClient, exclusion_boxes
from creativelens.ocr_service.failures import OcrFailure

OCR_CSV_FILE = "ocr.csv"
DEFAULT_EXCLUDED_LABELS = ("logo", "product")


class OcrEnricher:
    def __init__(self, address: str, excluded_labels: Iterable[str] = DEFAULT_EXCLUDED_LABELS,
                 timeout_s: float = 60.0, ready_timeout_s: float = 60.0) -> None:
        self.excluded_labels = tuple(excluded_labels)
        self.timeout_s = timeout_s
        self.client = OcrClient(address)
        try:
            self.client.wait_ready(timeout=ready_timeout_s)
        except OcrFailure as failure:
            self.client.close()
            raise UserError(f"--ocr {address}: {failure}") from None

    def __call__(self, detections: Detections, image_bgr: np.ndarray) -> Detections:
        try:
            result = self.client.recognise(image_bgr, exclusion_boxes(detections, self.excluded_labels),
                                           timeout=self.timeout_s)
            fields = result.to_record_fields()
        except OcrFailure as failure:
            fields = {"ocr_error": str(failure)}
        return replace(detections, data={**detections.data, **fields})

    def close(self) -> None:
        self.client.close()


def write_ocr_csv(ledger: Ledger) -> Path:
    """`ocr.csv` (file_name, ocr_text, ocr_words as JSON) from every OCR'd record in the ledger."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=OCR_CSV_COLUMNS)
    writer.writeheader()
    for record in ledger.iter_records():
        row = to_ocr_csv_row(from_record(record))
        if row is not None:
            writer.writerow(row)
    path = ledger.path.parent / OCR_CSV_FILE
    write_atomic(path, buffer.getvalue().encode())
    return path
