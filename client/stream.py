"""The labelling run: inputs → every model of the brand → enrichers → sinks, incremental.

    summary = stream(["ads/", "spots/*.mp4"], "127.0.0.1:8001", "results/")
    summary = stream(["ads/"], ["gpu1:8001", "gpu2:8001"], "results/")   # requests spread over both

The analysis itself (decode once, fan out to every model, rules across models) is
`pipeline.Analysis`; this module adds what makes it a resumable run over a results folder:
the ledger (which (item, model, version) are done: only what is missing runs, so adding a
model to a finished folder infers only that model), the settings check (`run.json`),
enrichers such as OCR run concurrently beside detection, the JSONL ledger written as results
complete, the derived outputs rebuilt at the end, and `summary.json`.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from creativelens.client.endpoints import DEFAULT_FAILOVER_AFTER_S
from creativelens.client.ledger import Ledger, lock_results
from creativelens.client.pipeline import DEFAULT_REPEAT_THRESHOLD, Analysed, Analysis, AnalysisOptions
from creativelens.client.rules import Rules
from creativelens.client.run_settings import check_and_record
from creativelens.client.served_models import ServedModel, fetch_from_endpoints
from creativelens.client.sinks import CSV_DIR, PARQUET_FILE, SUMMARY_FILE, JsonlSink, derived_sinks, \
    write_derived_outputs, write_json_atomic
from creativelens.client.sources import DEFAULT_MAX_PIXELS, iter_items
from creativelens.client.transport import ServerUnavailable, wait_for_server
from creativelens.detections import Detections
from creativelens.errors import OutputNotWritable
from creativelens.item_result import ItemResult

# An enricher adds to one item's result, given its original BGR pixels and every detection
# known for it (this run's and those already recorded), e.g. OCR text outside logo boxes. It
# may be called from several threads at once; `concurrency` says how many (default 1).
Enricher = Callable[[ItemResult, np.ndarray, Sequence[Detections]], ItemResult]
RANDOM_WEIGHTS_BANNER = ("!!! {models}: RANDOM WEIGHTS: detections are meaningless "
                         "(plumbing and speed only) !!!")
MAX_ERROR_EXAMPLES = 20


@dataclass
class StreamOptions:
    models: Sequence[str] = ()  # empty: the rules' brand models, else every ready detector
    every: int = 10  # every Nth video frame, as in the seeds
    fps: float | None = None  # instead: frames per second of video time
    repeat_threshold: int | None = DEFAULT_REPEAT_THRESHOLD  # near-duplicate frames reuse; None: off
    rules: Rules = field(default_factory=Rules)
    workers: int = max(1, min(4, os.cpu_count() or 1))
    max_in_flight: int | None = None  # None: from the server (16 per model on GPU, 2 on CPU)
    retry_for_s: float = 120.0
    failover_after_s: float = DEFAULT_FAILOVER_AFTER_S  # several servers: one broken this long is left
    stall_timeout_s: float = 600.0  # no answer for this long while requests wait: reconnect
    max_pixels: int = DEFAULT_MAX_PIXELS
    csv_chunk_size: int = 200
    progress: bool | None = None  # None: a bar on a terminal, none in CI or when piped
    enrichers: Sequence[Enricher] = ()
    client_kwargs: dict = field(default_factory=dict)  # tritonclient connection options (TLS)
    log: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr))

    @property
    def model(self) -> str | None:
        return self.models[0] if len(self.models) == 1 else None

    def sampling(self) -> dict:
        return {"every": self.every, "fps": self.fps, "repeat_threshold": self.repeat_threshold}


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

    @property
    def model(self) -> str:
        return ",".join(self.models)

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


def stream(inputs: Iterable[str], servers: str | Sequence[str], out_dir: str | Path,
           options: StreamOptions | None = None) -> Summary:
    """Analyse every still and every Nth frame of `inputs` with every model on the Triton
    server(s) `servers` (HOST:PORT, or several: requests spread over them, one that fails for
    `failover_after_s` is left and its work moves to the others); resumable and incremental in
    `out_dir`.

    Returns the summary (also in `<out_dir>/summary.json`). The run is cut short, with every
    finished result kept, when every server is gone for longer than `retry_for_s`
    (`summary.failure` says so) or on KeyboardInterrupt (re-raised after saving).
    """
    servers = (servers,) if isinstance(servers, str) else tuple(dict.fromkeys(servers))
    options = options or StreamOptions()
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputNotWritable(f"cannot create the results folder {out_dir}: {error.strerror}") from None
    lock = lock_results(out_dir)
    try:
        wait_for_server(servers, options.retry_for_s, options.log, options.client_kwargs)
        models = fetch_from_endpoints(servers, list(options.models) or list(options.rules.models) or None,
                                      client_kwargs=options.client_kwargs, log=options.log)
        random = [model.name for model in models if model.metadata.random_weights]
        if random:
            options.log(RANDOM_WEIGHTS_BANNER.format(models=", ".join(random)))
        try:
            run = _Run(inputs, servers, out_dir, options, models)
        except PermissionError as error:
            raise OutputNotWritable(f"cannot write to the results folder {out_dir}: {error.strerror}") from None
        return run.run()
    finally:
        os.close(lock)


class _Run:
    def __init__(self, inputs, servers: tuple[str, ...], out_dir: Path, options: StreamOptions,
                 models: list[ServedModel]) -> None:
        self.inputs, self.servers, self.out_dir, self.options, self.models = inputs, servers, out_dir, options, models
        self.ledger = Ledger(out_dir)
        self.wanted = {model.name: model.version for model in models}
        settings = check_and_record(out_dir, options.sampling(), options.rules.to_dict(), {
            model.name: {"version": model.version, "thresholds": model.metadata.thresholds} for model in models})
        self.summary = Summary(server=",".join(servers), random_weights=any(m.metadata.random_weights for m in models),
                               settings=settings, ledger_lines_skipped=self.ledger.bad_lines[:MAX_ERROR_EXAMPLES])
        for model in models:
            self.summary.models[model.name] = ModelSummary(model.version, model.metadata.random_weights)
        self.summary.outputs = {"jsonl": str(self.ledger.path), "csv_dir": str(out_dir / CSV_DIR),
                                "parquet": str(out_dir / PARQUET_FILE), "summary": str(out_dir / SUMMARY_FILE)}
        self.enrich = bool(options.enrichers)
        self.recorded = self.ledger.recorded(self.ledger.awaiting_ocr()) if self.enrich else {}

    def run(self) -> Summary:
        options, ledger, summary = self.options, self.ledger, self.summary
        if ledger.repaired_bytes:
            options.log(f"resuming: cut {ledger.repaired_bytes} bytes of an interrupted last record")
        for number, problem in ledger.bad_lines[:3]:
            options.log(f"ledger {ledger.path} line {number} is not a record ({problem}): skipped, its item is done again")
        if ledger.records:
            options.log(f"resuming: {ledger.records} results already in {ledger.path}")
        progress = _progress_bar(options.progress)
        analysis = Analysis(self.servers, self.models, AnalysisOptions(
            rules=options.rules, workers=options.workers, max_in_flight=options.max_in_flight,
            retry_for_s=options.retry_for_s, failover_after_s=options.failover_after_s,
            stall_timeout_s=options.stall_timeout_s,
            max_pixels=options.max_pixels, keep_images=self.enrich, client_kwargs=options.client_kwargs,
            repeat_threshold=options.repeat_threshold),
            on_retry=progress.write if progress is not None else options.log)
        try:
            jsonl = JsonlSink(self.out_dir)
        except OSError as error:
            raise OutputNotWritable(f"cannot write to {self.ledger.path}: {error.strerror}") from None
        skipped = [0]

        def is_done(key: str) -> bool:
            return ledger.is_finished(key, self.wanted, self.enrich)

        def on_skip(item) -> None:
            skipped[0] += 1

        counters_before = _triton_counters(self.servers, self.wanted, options.client_kwargs)
        started = self.started = time.monotonic()
        interrupted: BaseException | None = None
        concurrency = max([getattr(e, "concurrency", 1) for e in options.enrichers] or [1])
        pool = ThreadPoolExecutor(concurrency, thread_name_prefix="enrich") if self.enrich else None
        waiting: deque[Future] = deque()
        try:
            # finished frames whose detections were inferred replay their video's repeat decisions
            replay = ledger.inferred if options.repeat_threshold is not None else (lambda key: False)
            items = iter_items(self.inputs, every=options.every, fps=options.fps, max_pixels=options.max_pixels,
                               is_done=is_done, on_skip=on_skip, replay=replay)
            for analysed in analysis.run(items, lambda item: ledger.pending_models(item.key, self.wanted),
                                         recorded=ledger.result):
                if pool is None:
                    self._write(jsonl, analysed.result, progress)
                    continue
                waiting.append(pool.submit(self._enriched, analysed))
                while waiting and (waiting[0].done() or len(waiting) >= 2 * concurrency):
                    self._write(jsonl, waiting.popleft().result(), progress)
            while waiting:
                self._write(jsonl, waiting.popleft().result(), progress)
            summary.complete = not summary.ocr_failures
            if summary.ocr_failures:
                summary.failure = f"OCR failed transiently on {summary.ocr_failures} items"
        except ServerUnavailable as error:
            summary.failure = str(error)
        except BaseException as error:
            interrupted = error
            summary.failure = f"interrupted ({type(error).__name__})"
        finally:
            if pool is not None:
                for future in waiting:
                    future.cancel()
                pool.shutdown(wait=True)
                for future in waiting:  # finished enrichments are kept, the rest are done again
                    if future.done() and not future.cancelled() and future.exception() is None:
                        self._write(jsonl, future.result(), progress)
            summary.wall_s = round(time.monotonic() - started, 3)
            jsonl.close()
            if progress is not None:
                progress.close()
            self._finish(analysis, skipped[0], counters_before, interrupted is None)
        if interrupted is not None:
            raise interrupted
        return summary

    def _enriched(self, analysed: Analysed) -> ItemResult:
        result = analysed.result
        if result.error is not None or analysed.image_bgr is None:
            return result
        earlier = self.recorded.get(result.key)
        known = result.detections() + (earlier.detections() if earlier else [])
        for enrich in self.options.enrichers:
            result = enrich(result, analysed.image_bgr, known)
        return result

    def _write(self, jsonl: JsonlSink, result: ItemResult, progress) -> None:
        summary = self.summary
        jsonl.write(result)
        summary.items_done += 1
        if result.error is not None:
            summary.errors += 1
            if len(summary.error_examples) < MAX_ERROR_EXAMPLES:
                summary.error_examples.append({"item": result.key, "error": result.error})
        else:
            summary.frames += result.frame_index is not None
            summary.stills += result.frame_index is None
        summary.ocr_failures += bool(result.extras.get("ocr_transient"))
        reused = "reused_from" in result.extras
        summary.reused += reused
        for model in result.models:
            counts = summary.models[model.model]
            summary.inferences += not reused
            if model.error is not None:
                counts.errors += 1
                if len(summary.error_examples) < MAX_ERROR_EXAMPLES:
                    summary.error_examples.append({"item": result.key, "model": model.model, "error": model.error})
            else:
                counts.inferred += not reused
                counts.detections += len(model.detections)
                summary.detections += len(model.detections)
        if progress is not None:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            progress.set_postfix(models_per_s=f"{summary.inferences / elapsed:.2f}", reused=summary.reused,
                                 errors=summary.errors, refresh=False)
            progress.update(1)

    def _finish(self, analysis: Analysis, skipped: int, counters_before: dict, healthy: bool) -> None:
        summary = self.summary
        summary.skipped_already_done = skipped
        summary.reconnects = analysis.reconnects
        summary.failovers = analysis.failovers
        if summary.wall_s:
            summary.items_per_s = round(summary.items_done / summary.wall_s, 3)
            summary.inferences_per_s = round(summary.inferences / summary.wall_s, 3)
        for name, counts in summary.models.items():
            counts.latency_ms = _latency_percentiles(analysis.latencies[name])
        if healthy:
            after = _triton_counters(self.servers, self.wanted, self.options.client_kwargs)
            for name, counts in summary.models.items():
                counts.triton = _batch_statistics(counters_before.get(name, {}), after.get(name, {}),
                                                  reconnected=analysis.reconnects > 0 or analysis.failovers > 0)
        summary.records_total = write_derived_outputs(Ledger(self.out_dir),
                                                      derived_sinks(self.out_dir, self.options.csv_chunk_size))
        write_json_atomic(self.out_dir / SUMMARY_FILE, summary.to_dict())


def _progress_bar(enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty() and not os.environ.get("CI")
    if not enabled:
        return None
    import shutil

    from tqdm import tqdm

    # shutil falls back to 80x24 where a terminal reports 0x0 (tqdm would then draw nothing)
    size = shutil.get_terminal_size()
    return tqdm(unit="item", desc="streaming", file=sys.stderr, ncols=size.columns, nrows=size.lines)


def _triton_counters(urls: Sequence[str], models: Iterable[str], client_kwargs: dict) -> dict[str, dict]:
    """Triton's inference and execution counts of each model, summed over the servers that answer."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    from creativelens.serve.tritonserver import read_model_statistics

    counters: dict[str, dict] = {}
    for url in urls:
        client = grpcclient.InferenceServerClient(url, **client_kwargs)
        try:
            for model in models:
                try:
                    stats = read_model_statistics(client, model).get(model)
                except InferenceServerException:
                    continue
                if stats:
                    counts = counters.setdefault(model, {"inference_count": 0, "execution_count": 0})
                    counts["inference_count"] += stats.inference_count
                    counts["execution_count"] += stats.execution_count
        finally:
            client.close()
    return counters


def _latency_percentiles(latencies) -> dict:
    if not latencies:
        return {}
    values = np.frombuffer(latencies, np.float64)
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "mean": round(float(values.mean()), 2)}


def _batch_statistics(before: dict, after: dict, reconnected: bool) -> dict:
    """Triton's counters during this run. After a reconnect the server may have restarted (its
    counters from zero), after a failover one is missing, so the difference means nothing:
    then the counters since each server's start."""
    if not after:
        return {}
    if reconnected:
        counts = dict(after, counted="since the server's start (a stream reconnected, or a server was "
                                   "left, during the run)")
    else:
        counts = {key: after[key] - before.get(key, 0) for key in after}
        counts["counted"] = "during this run"
    executions = counts.get("execution_count", 0)
    counts["average_batch_size"] = round(counts["inference_count"] / executions, 3) if executions else 0.0
    return counts
