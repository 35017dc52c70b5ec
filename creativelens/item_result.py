"""What one still or video frame became: every model's detections, plus what enrichers added.

`ItemResult` is the one result type every sink receives (JSONL ledger, seed CSV per model,
Parquet, OCR CSV, tracks), and what the Spark adapter turns into rows. Each model's answer is
a `ModelResult` whose detections are the domain type `Detections`; the conversions to and from
records and rows live in `creativelens.formats`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from creativelens.detections import Detections


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
    extras: dict = field(default_factory=dict)  # enrichments: ocr_text, ocr_words, reused_from, ...

    @property
    def key(self) -> str:
        from creativelens.formats import item_name

        return item_name(self.source, self.frame_index)

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(result.model for result in self.models)

    def model(self, name: str) -> ModelResult | None:
        return next((result for result in self.models if result.model == name), None)

    def detections(self) -> list[Detections]:
        """Every model's detections (error-free models only), in model order."""
        return [result.detections for result in self.models if result.error is None]

    def with_extras(self, **extras) -> "ItemResult":
        return replace(self, extras={**self.extras, **extras})

    def with_models(self, models: tuple[ModelResult, ...]) -> "ItemResult":
        return replace(self, models=models)
