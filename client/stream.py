"""The streaming pipeline: inputs → decode/letterbox → Triton → rules → sinks, resumable.

    summary = stream(["ads/", "spots/*.mp4"], "127.0.0.1:8001", "results/")

Three kinds of thread meet here: the item source and decode pool (background, bounded
lookahead), the caller's thread sending requests (bounded in flight), and a writer that turns
answers into records (boxes back in original pixels, thresholds and rules, optional enrichers
such as OCR) and appends them to the sinks. `summary.json` in `out_dir` describes the run.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from creativelens.canvas import to_original
from creativelens.client.decode import Prepared, prepared_in_background
from creativelens.client.ledger import Ledger, lock_results
from creativelens.client.rules import Rules
from creativelens.client.sinks import (CSV_DIR, PARQUET_FILE, SUMMARY_FILE, CsvChunkSink, JsonlSink,
                                       write_json_atomic, write_parquet)
from creativelens.client.sources import DEFAULT_MAX_PIXELS, Item, iter_items
from creativelens.client.transport import (Answer, DetectorStream, ModelInfo, ServerUnavailable, fetch_model_info,
                                           wait_for_server)
from creativelens.detections import Detections
from creativelens.formats import to_record

# An enricher adds to one image's detections, given its original BGR pixels (e.g. OCR text
# outside logo boxes, in `Detections.data`); it runs in the writer thread.
Enricher = Callable[[Detections, np.ndarray], Detections]
RANDOM_WEIGHTS_BANNER = ("!!! The served model has RANDOM WEIGHTS: its detections are meaningless "
                         "(plumbing and speed only) !!!")
MAX_ERROR_EXAMPLES = 20


@dataclass
class StreamOptions:
    model: str | None = None  # None: the only ready model on the server
    every: int = 10  # every Nth video frame, as in the seeds
    rules: Rules = field(default_factory=Rules)
    workers: int = max(1, min(4, os.cpu_count() or 1))
    max_in_flight: int = 16
    retry_for_s: float = 120.0
    stall_timeout_s: float = 600.0  # no answer for this long while requests wait: reconnect
    max_pixels: int = DEFAULT_MAX_PIXELS
    csv_chunk_size: int = 200
    progress: bool | None = None  # None: a bar on a terminal, none in CI or when piped
    enrichers: Sequence[Enricher] = ()
    log: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr))


@dataclass
class Summary:
    server: str
    model: str = ""
    random_weights: bool = False
    complete: bool = False
    failure: str | None = None
    items_done: int = 0  # records written by this run (successes + errors)
    inferred: int = 0
    stills: int = 0
    frames: int = 0
    errors: int = 0
    detections: int = 0  # kept after thresholds and rules, over this run's images
    error_examples: list = field(default_factory=list)
    skipped_already_done: int = 0
    records_total: int = 0
    wall_s: float = 0.0
    images_per_s: float = 0.0
    latency_ms: dict = field(default_factory=dict)
    reconnects: int = 0
    triton: dict = field(default_factory=dict)
    threshold: float = 0.0
    every: int = 0
    outputs: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def lines(self) -> list[str]:
        state = "complete" if self.complete else f"INCOMPLETE: {self.failure}"
        lines = [
            f"run {state}",
            f"  {self.items_done} items this run ({self.stills} stills, {self.frames} video frames, "
            f"{self.errors} errors); {self.skipped_already_done} skipped as already done",
            f"  {self.detections} detections kept (score >= {self.threshold:g} and the rules)",
            f"  {self.inferred} images in {self.wall_s:.1f} s = {self.images_per_s:.2f} images/s; "
            f"latency p50 {self.latency_ms.get('p50', 0):.0f} ms, p95 {self.latency_ms.get('p95', 0):.0f} ms",
        ]
        if self.triton.get("execution_count"):
            lines.append(f"  Triton: {self.triton['inference_count']} inferences in "
                         f"{self.triton['execution_count']} executions "
                         f"(average batch {self.triton['average_batch_size']:.2f})")
        for example in self.error_examples[:5]:
            lines.append(f"  error: {example['item']}: {example['error']}")
        if self.errors > 5:
            lines.append(f"  ... {self.errors - 5} more errors in detections.jsonl (\"error\" field)")
        lines.append(f"  results: {self.outputs.get('jsonl')} (+ {CSV_DIR}/, {PARQUET_FILE}, {SUMMARY_FILE})")
        return lines


class _RecordWriter(threading.Thread):
    """Turns answers into records and appends them to the sinks, off the gRPC thread."""

    _END = object()

    def __init__(self, info: ModelInfo, options: StreamOptions, jsonl: JsonlSink, csv: CsvChunkSink,
                 summary: Summary, progress) -> None:
        super().__init__(name="records", daemon=True)
        self.info, self.options, self.jsonl, self.csv = info, options, jsonl, csv
        self.summary, self.progress = summary, progress
        # Bounded: when enrichers (OCR) are slower than the detector, answers wait in gRPC's
        # flow-controlled buffers instead of piling up here with their original images.
        self.answers: queue.Queue = queue.Queue(maxsize=2 * options.max_in_flight)
        self.latencies = array("d")
        self.failure: BaseException | None = None

    def put(self, answer: Answer) -> None:
        self.answers.put(answer)

    def finish(self) -> None:
        self.answers.put(self._END)
        self.join()
        if self.failure is not None:
            raise self.failure

    def run(self) -> None:
        while (answer := self.answers.get()) is not self._END:
            if self.failure is None:
                try:
                    self._write(answer)
                except BaseException as error:  # re-raised by finish(); stop writing
                    self.failure = error

    def _write(self, answer: Answer) -> None:
        prepared: Prepared = answer.payload
        item = prepared.item
        summary = self.summary
        if answer.error:
            record = to_record(Detections.empty(**_provenance(item, prepared, self.info.name)),
                               error=answer.error)
            summary.errors += 1
            if len(summary.error_examples) < MAX_ERROR_EXAMPLES:
                summary.error_examples.append({"item": item.key, "error": answer.error})
        else:
            detections = self._detections(answer, prepared)
            record = to_record(detections)
            summary.inferred += 1
            summary.detections += len(detections)
            summary.frames += item.frame_index is not None
            summary.stills += item.frame_index is None
            self.latencies.append(answer.latency_ms)
        record["latency_ms"] = answer.latency_ms
        self.jsonl.write(record)
        self.csv.write(record)
        summary.items_done += 1
        if self.progress is not None:
            self.progress.update(1)

    def _detections(self, answer: Answer, prepared: Prepared) -> Detections:
        names = self.info.class_names
        class_ids = answer.classes.astype(np.int32)
        detections = Detections(
            to_original(answer.boxes, prepared.boxed), answer.scores, class_ids,
            tuple(names[c] if 0 <= c < len(names) else str(c) for c in class_ids),
            **_provenance(prepared.item, prepared, self.info.name),
        )
        detections = self.options.rules.apply(detections)
        for enrich in self.options.enrichers:
            detections = enrich(detections, prepared.image_bgr)
        return detections


def _provenance(item: Item, prepared: Prepared, model: str) -> dict:
    return dict(source=item.source, frame_index=item.frame_index, timestamp_s=item.timestamp_s,
                width=prepared.width, height=prepared.height, model=model)


def _progress_bar(enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty() and not os.environ.get("CI")
    if not enabled:
        return None
    import shutil

    from tqdm import tqdm

    # shutil falls back to 80x24 where a terminal reports 0x0 (tqdm would then draw nothing)
    size = shutil.get_terminal_size()
    return tqdm(unit="img", desc="streaming", file=sys.stderr, ncols=size.columns, nrows=size.lines)


def _triton_counters(url: str, model: str) -> dict:
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    from creativelens.serve.tritonserver import read_model_statistics

    client = grpcclient.InferenceServerClient(url)
    try:
        stats = read_model_statistics(client, model).get(model)
    except InferenceServerException:
        return {}
    finally:
        client.close()
    return {"inference_count": stats.inference_count, "execution_count": stats.execution_count} if stats else {}


def _latency_percentiles(latencies: array) -> dict:
    if not latencies:
        return {}
    values = np.frombuffer(latencies, np.float64)
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "mean": round(float(values.mean()), 2)}


def _batch_statistics(before: dict, after: dict, reconnected: bool) -> dict:
    """Triton's counters during this run. After a reconnect the server may have restarted (its
    counters from zero) so the difference means nothing: then the counters since its start."""
    if not after:
        return {}
    if reconnected:
        counts = dict(after, counted="since the server's start (the stream reconnected during the run)")
    else:
        counts = {key: after[key] - before.get(key, 0) for key in after}
        counts["counted"] = "during this run"
    executions = counts.get("execution_count", 0)
    counts["average_batch_size"] = round(counts["inference_count"] / executions, 3) if executions else 0.0
    return counts


def stream(inputs: Iterable[str], server_url: str, out_dir: str | Path,
           options: StreamOptions | None = None) -> Summary:
    """Analyse every still and every Nth frame of `inputs` on the server; resumable in `out_dir`.

    Returns the summary (also in `<out_dir>/summary.json`). The run is cut short, with every
    finished result kept, when the server is gone for longer than `retry_for_s`
    (`summary.failure` says so) or on KeyboardInterrupt (re-raised after saving).
    """
    options = options or StreamOptions()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wait_for_server(server_url, options.retry_for_s, options.log)
    info = fetch_model_info(server_url, options.model)
    if info.random_weights:
        options.log(RANDOM_WEIGHTS_BANNER)

    lock = lock_results(out_dir)
    try:
        return _stream_locked(inputs, server_url, out_dir, options, info)
    finally:
        os.close(lock)


def _stream_locked(inputs: Iterable[str], server_url: str, out_dir: Path, options: StreamOptions,
                   info: ModelInfo) -> Summary:
    ledger = Ledger(out_dir)
    if ledger.repaired_bytes:
        options.log(f"resuming: cut {ledger.repaired_bytes} bytes of an interrupted last record")
    if ledger.records:
        options.log(f"resuming: {ledger.records} items already done in {ledger.path}")
    jsonl = JsonlSink(out_dir)
    csv = CsvChunkSink(out_dir, options.csv_chunk_size)
    csv.restore(ledger.iter_records())

    summary = Summary(server=server_url, model=info.name, random_weights=info.random_weights,
                      threshold=options.rules.threshold, every=options.every)
    summary.outputs = {"jsonl": str(jsonl.path), "csv_dir": str(csv.folder),
                       "parquet": str(out_dir / PARQUET_FILE), "summary": str(out_dir / SUMMARY_FILE)}
    progress = _progress_bar(options.progress)
    writer = _RecordWriter(info, options, jsonl, csv, summary, progress)
    skipped = [0]

    def on_skip(item: Item) -> None:
        skipped[0] += 1

    def on_retry(message: str) -> None:
        (progress.write if progress is not None else options.log)(message)

    counters_before = _triton_counters(server_url, info.name)
    started = time.monotonic()
    transport = DetectorStream(server_url, info.name, writer.put, max_in_flight=options.max_in_flight,
                               retry_for_s=options.retry_for_s, stall_timeout_s=options.stall_timeout_s,
                               on_retry=on_retry)
    writer.start()
    interrupted: BaseException | None = None
    try:
        items = iter_items(inputs, every=options.every, max_pixels=options.max_pixels,
                           is_done=ledger.is_done, on_skip=on_skip)
        prepared_items = prepared_in_background(
            items, info.canvases, workers=options.workers, lookahead=2 * options.max_in_flight,
            max_pixels=options.max_pixels, keep_image=bool(options.enrichers))
        for prepared in prepared_items:
            if writer.failure is not None:
                raise writer.failure
            if prepared.error:
                writer.put(Answer(prepared, error=prepared.error))
            else:
                boxed = prepared.boxed
                transport.submit(prepared, boxed.pixels, (boxed.valid_height, boxed.valid_width))
            if progress is not None:
                progress.set_postfix(in_flight=transport.in_flight, errors=summary.errors,
                                     skipped=skipped[0], refresh=False)
        transport.drain()
        summary.complete = True
    except ServerUnavailable as error:
        summary.failure = str(error)
    except BaseException as error:
        interrupted = error
        summary.failure = f"interrupted ({type(error).__name__})"
    finally:
        transport.close()
        writer.finish()
        summary.wall_s = round(time.monotonic() - started, 3)
        jsonl.close()
        csv.close()
        if progress is not None:
            progress.set_postfix(in_flight=transport.in_flight, errors=summary.errors, skipped=skipped[0])
            progress.close()
        summary.skipped_already_done = skipped[0]
        summary.reconnects = transport.reconnects
        summary.images_per_s = round(summary.inferred / summary.wall_s, 3) if summary.wall_s else 0.0
        summary.latency_ms = _latency_percentiles(writer.latencies)
        if interrupted is None:
            summary.triton = _batch_statistics(counters_before, _triton_counters(server_url, info.name),
                                               reconnected=transport.reconnects > 0)
        summary.records_total = write_parquet(ledger.iter_records(), out_dir / PARQUET_FILE)
        write_json_atomic(out_dir / SUMMARY_FILE, summary.to_dict())
    if interrupted is not None:
        raise interrupted
    return summary
