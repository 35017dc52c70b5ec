"""What one still or video frame became: every model's detections, its text, where it came from.

`ItemResult` is the one result type every sink receives (JSONL ledger, seed CSV per model,
Parquet, OCR CSV, tracks), and what the Spark adapter turns into rows. It holds the item's
provenance (source, frame index, timestamp, size) once; each model's answer is a
`ModelResult` (model name and version, and its `Detections`). The item's name — its key in
every sink and in the resume ledger — is defined here (`item_name`); the conversions to and
from records and rows live in `creativelens.formats`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from creativelens.detections import Detections

FRAME_MARK = "#frame="  # between a video's name and a frame index in an item's name


def escape_name(name: str) -> str:
    """The form of a file name in every sink: any name the filesystem holds, as valid text.

    Bytes that are not UTF-8 (Python carries them as surrogates) become `\\xHH`, and a
    backslash becomes `\\\\`, so the form is reversible (`unescape_name`); every other name,
    the common case, is unchanged."""
    if "\\" not in name and not any("\udc80" <= ch <= "\udcff" for ch in name):
        return name
    return "".join("\\\\" if ch == "\\" else f"\\x{ord(ch) - 0xDC00:02x}" if "\udc80" <= ch <= "\udcff" else ch
                   for ch in name)


def unescape_name(text: str) -> str:
    """The inverse of `escape_name`: the name as Python's os functions take it."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1:i + 2] == "\\":
            out.append("\\")
            i += 2
        elif text[i] == "\\" and text[i + 1:i + 2] == "x":
            out.append(chr(0xDC00 + int(text[i + 2:i + 4], 16)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def item_name(source: str, frame_index: int | None) -> str:
    """The name of one still or frame in every sink: the path (escaped as `escape_name` says),
    plus '#frame=N' for video frames. It is the resume ledger's key."""
    name = escape_name(source)
    return name if frame_index is None else f"{name}{FRAME_MARK}{frame_index}"


def split_item_name(name: str) -> tuple[str, int | None]:
    """The inverse of `item_name`: (escaped source, frame index or None)."""
    source, mark, frame = name.rpartition(FRAME_MARK)
    if mark and frame.isdigit():
        return source, int(frame)
    return name, None


@dataclass(frozen=True)
class OcrWord:
    text: str
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 pixels
    confidence: float  # 0-100


@dataclass(frozen=True)
class OcrText:
    """The text read in an item outside the excluded boxes."""

    text: str
    words: tuple[OcrWord, ...] = ()


@dataclass(frozen=True)
class ModelResult:
    """One model's answer for one item (detections after thresholds and rules), or its error."""

    model: str
    version: str
    detections: Detections
    error: str | None = None  # the server failed this item on this model
    latency_ms: float | None = None


@dataclass(frozen=True)
class ItemResult:
    source: str
    frame_index: int | None = None
    timestamp_s: float | None = None
    width: int = 0
    height: int = 0
    models: tuple[ModelResult, ...] = ()
    error: str | None = None  # the input itself is bad: no model ran
    warning: str | None = None  # e.g. a video whose frame rate made --fps fall back to --every
    reused_from: int | None = None  # a video frame that repeated this earlier frame took its detections
    ocr: OcrText | None = None
    ocr_error: str | None = None  # OCR failed on this item
    ocr_transient: bool = False  # ... for a reason that may pass (sidecar down): a re-run reads it

    @property
    def key(self) -> str:
        return item_name(self.source, self.frame_index)

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(result.model for result in self.models)

    @property
    def ocr_finished(self) -> bool:
        """OCR read this item, or failed on it for good (a re-run would fail the same way)."""
        return self.ocr is not None or (self.ocr_error is not None and not self.ocr_transient)

    def model(self, name: str) -> ModelResult | None:
        return next((result for result in self.models if result.model == name), None)

    def detections(self) -> list[Detections]:
        """Every model's detections (error-free models only), in model order."""
        return [result.detections for result in self.models if result.error is None]

    def with_models(self, models: tuple[ModelResult, ...]) -> "ItemResult":
        return replace(self, models=models)

    def without_ocr(self) -> "ItemResult":
        return replace(self, ocr=None, ocr_error=None, ocr_transient=False)
