"""Text in each still or frame, read by the OCR sidecar outside the logo and product boxes.

`OcrEnricher` plugs into the stream as an enricher: boxes of the excluded labels, from
whichever model found them, become Tesseract exclusion regions, and the text lands in the
item's result (`ItemResult.ocr`, or `ocr_error`). The stream calls it from several
threads at once (one channel, thread-safe), so OCR overlaps detection. A failure that says
"not now" (sidecar down, overloaded, deadline) is retried with backoff while the sidecar has
been failing for less than `retry_for_s` (a sidecar that stops answering, e.g. a stopped process,
fails a call within seconds: `OcrClient.recognise_watched`); past that, items fail fast (the
sidecar's health is checked at most every few seconds, so one that comes back is used again) with
`ocr_transient` set, which the ledger treats as unfinished, so a re-run reads their text
without inferring their detections again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Iterable, Sequence

import numpy as np

from creativelens.detections import Detections
from creativelens.errors import UserError
from creativelens.item_result import ItemResult, OcrText, OcrWord
from creativelens.ocr_service.client import OcrClient, exclusion_boxes
from creativelens.ocr_service.failures import OcrFailure
from creativelens.ocr_service.results import OcrResult

DEFAULT_EXCLUDED_LABELS = ("logo", "product")
TRANSIENT_CODES = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "CANCELLED"}


class OcrEnricher:
    def __init__(self, address: str, excluded_labels: Iterable[str] = DEFAULT_EXCLUDED_LABELS,
                 timeout_s: float = 60.0, ready_timeout_s: float = 60.0, retry_for_s: float = 60.0,
                 concurrency: int = 2, tls=None) -> None:
        self.excluded_labels = tuple(excluded_labels)
        self.timeout_s = timeout_s
        self.retry_for_s = retry_for_s
        self.concurrency = max(1, concurrency)
        self.client = OcrClient(address, tls=tls)
        self._failing_since: float | None = None
        self._last_failure = ""
        self._health_checked = 0.0
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        try:
            self.client.wait_ready(timeout=ready_timeout_s)
        except OcrFailure as failure:
            self.client.close()
            raise UserError(f"--ocr {address}: {failure}") from None

    def __call__(self, result: ItemResult, image_bgr: np.ndarray, detections: Sequence[Detections]) -> ItemResult:
        boxes = [box for det in detections for box in exclusion_boxes(det, self.excluded_labels)]
        delay = 0.5
        while True:
            if self._cancelled.is_set():
                return replace(result, ocr_error="OCR cancelled: the run was stopped", ocr_transient=True)
            if self._given_up() and not self._came_back():
                failed = self._last_failure
                return replace(result, ocr_error=failed, ocr_transient=True)
            try:
                answer = self.client.recognise_watched(image_bgr, boxes, timeout=self.timeout_s)
            except OcrFailure as failure:
                if failure.code not in TRANSIENT_CODES:
                    return replace(result, ocr_error=str(failure))
                with self._lock:
                    self._failing_since = self._failing_since or time.monotonic()
                    self._last_failure = str(failure)
                    give_up = time.monotonic() + delay - self._failing_since > self.retry_for_s
                if give_up:
                    return replace(result, ocr_error=str(failure), ocr_transient=True)
                self._cancelled.wait(delay)
                delay = min(delay * 2, 8.0)
                continue
            with self._lock:
                self._failing_since = None
            return replace(result, ocr=ocr_text(answer))

    def cancel(self) -> None:
        """The run is stopping: items waiting to retry give up now (transient: a re-run reads them)."""
        self._cancelled.set()

    def close(self) -> None:
        self.client.close()

    def _given_up(self) -> bool:
        with self._lock:
            return self._failing_since is not None and time.monotonic() - self._failing_since > self.retry_for_s

    def _came_back(self) -> bool:
        """After giving up: whether the sidecar serves again (checked at most every 5 s)."""
        with self._lock:
            if time.monotonic() - self._health_checked < 5.0:
                return False
            self._health_checked = time.monotonic()
        if not self.client.is_serving(timeout=1.0):
            return False
        with self._lock:
            self._failing_since = None
        return True


def ocr_text(answer: OcrResult) -> OcrText:
    """The sidecar's answer as the item's text (words with boxes and confidences)."""
    return OcrText(answer.text, tuple(OcrWord(w.text, tuple(w.box), round(w.confidence, 2)) for w in answer.words))
