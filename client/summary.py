"""What a `stream` run did: counts per run and per model, speed, Triton's batching, failures.

Written to `OUT/summary.json` and printed as a few lines at the end of every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from creativelens.client.sinks import CSV_DIR, PARQUET_FILE, SUMMARY_FILE
from creativelens.item_result import ItemResult

MAX_ERROR_EXAMPLES = 20


@dataclass
class ModelSummary:
    version: str = ""
    random_weights: bool = False
    inferred: int = 0
    errors: int = 0
    detections: int = 0
    latency_ms: dict = field(default_factory=dict)
    triton: dict = field(default_factory=dict)


@dataclass
class Summary:
    server: str
    models: dict[str, ModelSummary] = field(default_factory=dict)
    random_weights: bool = False  # any model
    complete: bool = False
    failure: str | None = None
    items_done: int = 0  # results written by this run (successes + errors)
    inferences: int = 0  # item x model requests answered in this run
    reused: int = 0  # video frames that repeated an inferred one and took its detections
    stills: int = 0
    frames: int = 0
    errors: int = 0  # bad inputs
    detections: int = 0  # kept after thresholds and rules, over this run's items and models
    ocr_failures: int = 0  # items whose OCR failed transiently: re-run to complete them
    error_examples: list = field(default_factory=list)
    skipped_already_done: int = 0
    ledger_lines_skipped: list = field(default_factory=list)
    records_total: int = 0
    wall_s: float = 0.0
    items_per_s: float = 0.0
    inferences_per_s: float = 0.0
    reconnects: int = 0
    failovers: int = 0  # servers left during the run (their unanswered requests went to the others)
    settings: dict = field(default_factory=dict)  # as recorded in run.json: every record's
    outputs: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        values = dict(self.__dict__)
        values["models"] = {name: dict(model.__dict__) for name, model in self.models.items()}
        return values

    def lines(self) -> list[str]:
        state = "complete" if self.complete else f"INCOMPLETE: {self.failure}"
        lines = [
            f"run {state}",
            f"  {self.items_done} items this run ({self.stills} stills, {self.frames} video frames, "
            f"{self.errors} bad inputs); {self.skipped_already_done} skipped as already done; "
            f"{self.reused} video frames repeated an inferred one and reused its detections",
            f"  {self.inferences} inferences ({len(self.models)} models) in {self.wall_s:.1f} s = "
            f"{self.items_per_s:.2f} items/s, {self.inferences_per_s:.2f} inferences/s",
        ]
        for name, model in self.models.items():
            batch = model.triton.get("average_batch_size")
            lines.append(f"  {name} ({model.version}): {model.inferred} images, {model.detections} detections kept, "
                         f"{model.errors} server errors, p50 {model.latency_ms.get('p50', 0):.0f} ms"
                         + (f", Triton average batch {batch:.2f}" if batch else ""))
        if self.ocr_failures:
            lines.append(f"  OCR failed transiently on {self.ocr_failures} items: re-run to read their text")
        for number, problem in self.ledger_lines_skipped[:3]:
            lines.append(f"  ledger line {number} is not a record ({problem}): skipped, its item done again")
        for example in self.error_examples[:5]:
            lines.append(f"  error: {example['item']}: {example['error']}")
        if self.errors > 5:
            lines.append(f"  ... {self.errors - 5} more errors in detections.jsonl (\"error\" field)")
        lines.append(f"  results: {self.outputs.get('jsonl')} (+ {CSV_DIR}/<model>/, {PARQUET_FILE}, {SUMMARY_FILE})")
        return lines

    def count(self, result: ItemResult) -> None:
        """Add one written result to the counts."""
        self.items_done += 1
        if result.error is not None:
            self.errors += 1
            self._example({"item": result.key, "error": result.error})
        else:
            self.frames += result.frame_index is not None
            self.stills += result.frame_index is None
        self.ocr_failures += result.ocr_transient
        reused = result.reused_from is not None
        self.reused += reused
        for model in result.models:
            counts = self.models[model.model]
            self.inferences += not reused
            if model.error is not None:
                counts.errors += 1
                self._example({"item": result.key, "model": model.model, "error": model.error})
            else:
                counts.inferred += not reused
                counts.detections += len(model.detections)
                self.detections += len(model.detections)

    def _example(self, example: dict) -> None:
        if len(self.error_examples) < MAX_ERROR_EXAMPLES:
            self.error_examples.append(example)
