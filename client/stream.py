"""The labelling run: inputs → every model of the brand → enrichers → sinks, incremental.

    summary = stream(["ads/", "spots/*.mp4"], "127.0.0.1:8001", "results/")
    summary = stream(["ads/"], ["gpu1:8001", "gpu2:8001"], "results/", RunSettings(every=5))

The analysis itself (decode once, fan out to every model, rules across models) is
`pipeline.Analysis`; this module adds what makes it a resumable run over a results folder:
the ledger (which (item, model, version) are done: only what is missing runs, so adding a
model to a finished folder infers only that model), the settings check (`run.json`),
enrichers such as OCR run concurrently beside detection, the ledger written as results
complete, the derived outputs rebuilt at the end, and `summary.json`.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from creativelens.atomic_files import write_json_atomic
from creativelens.client.ledger import Ledger, lock_results
from creativelens.client.pipeline import Analysed, Analysis
from creativelens.client.recorded_settings import check_and_record
from creativelens.client.served_models import ServedModel, fetch_from_endpoints, random_weights_banner, served_names
from creativelens.client.settings import RunSettings
from creativelens.client.sinks import CSV_DIR, PARQUET_FILE, SUMMARY_FILE, derived_sinks, write_derived_outputs
from creativelens.client.sources import Finished, iter_items
from creativelens.client.summary import MAX_ERROR_EXAMPLES, ModelSummary, Summary
from creativelens.client.transport import ServerUnavailable, wait_for_server
from creativelens.client.triton_statistics import batch_statistics, summed_counters
from creativelens.detections import Detections
from creativelens.errors import OutputNotWritable
from creativelens.item_result import ItemResult

# An enricher adds to one item's result, given its original BGR pixels and every detection
# known for it (this run's and those already recorded), e.g. OCR text outside logo boxes. It
# may be called from several threads at once; `concurrency` says how many (default 1); a
# `cancel()` it has is called when the run stops early, so that no item waits on it.
Enricher = Callable[[ItemResult, np.ndarray, Sequence[Detections]], ItemResult]
Log = Callable[[str], None]


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def stream(inputs: Iterable[str], servers: str | Sequence[str], out_dir: str | Path,
           settings: RunSettings | None = None, *, enrichers: Sequence[Enricher] = (),
           progress: bool | None = None, log: Log = _to_stderr, csv_chunk_size: int = 200) -> Summary:
    """Analyse every still and every sampled frame of `inputs` with every model on the Triton
    server(s) `servers` (HOST:PORT, or several: requests spread over them, one that fails for
    `failover_after_s` is left and its work moves to the others); resumable and incremental in
    `out_dir`. `progress`: a bar (None: on a terminal outside CI).

    Returns the summary (also in `<out_dir>/summary.json`). The run is cut short, with every
    finished result kept, when every server is gone for longer than `retry_for_s`
    (`summary.failure` says so) or on KeyboardInterrupt (re-raised after saving).
    """
    servers = (servers,) if isinstance(servers, str) else tuple(dict.fromkeys(servers))
    settings = settings or RunSettings()
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputNotWritable(f"cannot create the results folder {out_dir}: {error.strerror}") from None
    lock = lock_results(out_dir)
    try:
        wait_for_server(servers, settings.retry_for_s, log, settings.client_kwargs)
        models = fetch_from_endpoints(servers, list(settings.models) or list(settings.rules.models) or None,
                                      client_kwargs=settings.client_kwargs, log=log)
        banner = random_weights_banner(models)
        if banner:
            log(banner)
        try:
            run = _Run(servers, out_dir, settings, models, tuple(enrichers), log, csv_chunk_size)
        except PermissionError as error:
            raise OutputNotWritable(f"cannot write to the results folder {out_dir}: {error.strerror}") from None
        return run.run(inputs, progress)
    finally:
        os.close(lock)


class _Run:
    def __init__(self, servers: tuple[str, ...], out_dir: Path, settings: RunSettings, models: list[ServedModel],
                 enrichers: tuple[Enricher, ...], log: Log, csv_chunk_size: int) -> None:
        self.servers, self.out_dir, self.settings, self.models = servers, out_dir, settings, models
        self.enrichers, self.log, self.csv_chunk_size = enrichers, log, csv_chunk_size
        self.ledger = Ledger(out_dir)
        self.wanted = {model.name: model.version for model in models}
        recorded = check_and_record(out_dir, settings.recorded(), {
            model.name: {"version": model.version, "thresholds": model.metadata.thresholds} for model in models})
        self.summary = Summary(server=",".join(servers), random_weights=any(m.metadata.random_weights for m in models),
                               settings=recorded, ledger_lines_skipped=self.ledger.bad_lines[:MAX_ERROR_EXAMPLES])
        for model in models:
            self.summary.models[model.name] = ModelSummary(model.version, model.metadata.random_weights)
        self.summary.outputs = {"jsonl": str(self.ledger.path), "csv_dir": str(out_dir / CSV_DIR),
                                "parquet": str(out_dir / PARQUET_FILE), "summary": str(out_dir / SUMMARY_FILE)}
        self.recorded = self.ledger.recorded(self.ledger.awaiting_ocr()) if enrichers else {}
        self.skipped = 0

    def run(self, inputs: Iterable[str], progress_enabled: bool | None) -> Summary:
        ledger, summary = self.ledger, self.summary
        self._report_resume()
        progress = self.progress = _progress_bar(progress_enabled)
        analysis = Analysis(self.servers, self.models, self.settings, keep_images=bool(self.enrichers),
                            on_retry=progress.write if progress is not None else self.log)
        counters_before = summed_counters(self.servers, served_names(self.models), self.settings.client_kwargs)
        self.started = time.monotonic()
        interrupted: BaseException | None = None
        servers_gone = False
        results = self._results(analysis, self._items(inputs))
        try:
            for result in results:
                self._write(result)
            summary.complete = not summary.ocr_failures
            if summary.ocr_failures:
                summary.failure = f"OCR failed transiently on {summary.ocr_failures} items"
        except ServerUnavailable as error:
            summary.failure, servers_gone = str(error), True
        except BaseException as error:
            interrupted = error
            summary.failure = f"interrupted ({type(error).__name__})"
        finally:
            results.close()
            summary.wall_s = round(time.monotonic() - self.started, 3)
            ledger.close()
            if progress is not None:
                progress.close()
            self._finish(analysis, counters_before, healthy=interrupted is None and not servers_gone)
        if interrupted is not None:
            raise interrupted
        return summary

    def _report_resume(self) -> None:
        ledger = self.ledger
        if ledger.repaired_bytes:
            self.log(f"resuming: cut {ledger.repaired_bytes} bytes of an interrupted last record")
        for number, problem in ledger.bad_lines[:3]:
            self.log(f"ledger {ledger.path} line {number} is not a record ({problem}): skipped, its item is done again")
        if ledger.records:
            self.log(f"resuming: {ledger.records} results already in {ledger.path}")

    def _items(self, inputs: Iterable[str]):
        ledger, enrich = self.ledger, bool(self.enrichers)

        def on_skip(item) -> None:
            self.skipped += 1

        # finished frames whose detections were inferred replay their video's repeat decisions
        replay = ledger.inferred if self.settings.repeat_threshold is not None else (lambda key: False)
        finished = Finished(is_done=lambda key: ledger.is_finished(key, self.wanted, enrich), on_skip=on_skip,
                            replay=replay)
        return iter_items(inputs, self.settings, finished)

    def _results(self, analysis: Analysis, items) -> Iterable[ItemResult]:
        """Every finished result, enriched (several at once, beside detection) when enrichers are set.
        Enrichments finished when the run stops are kept; the rest are done again next run."""
        analysed = analysis.run(items, lambda item: self.ledger.pending_models(item.key, self.wanted),
                                recorded=self.ledger.result)
        if not self.enrichers:
            try:
                for one in analysed:
                    yield one.result
            finally:
                analysed.close()
            return
        concurrency = max(getattr(e, "concurrency", 1) for e in self.enrichers)
        pool = ThreadPoolExecutor(concurrency, thread_name_prefix="enrich")
        waiting: deque[Future] = deque()
        try:
            for one in analysed:
                waiting.append(pool.submit(self._enriched, one))
                while waiting and (waiting[0].done() or len(waiting) >= 2 * concurrency):
                    yield waiting.popleft().result()
            while waiting:
                yield waiting.popleft().result()
        finally:
            analysed.close()
            for future in waiting:
                future.cancel()
            if waiting:  # stopped early: nothing waits on an enricher's retries
                for enricher in self.enrichers:
                    getattr(enricher, "cancel", lambda: None)()
            pool.shutdown(wait=True)
            for future in waiting:
                if future.done() and not future.cancelled() and future.exception() is None:
                    self._write(future.result())

    def _enriched(self, analysed: Analysed) -> ItemResult:
        result = analysed.result
        if result.error is not None or analysed.image_bgr is None:
            return result
        earlier = self.recorded.get(result.key)
        known = result.detections() + (earlier.detections() if earlier else [])
        for enrich in self.enrichers:
            result = enrich(result, analysed.image_bgr, known)
        return result

    def _write(self, result: ItemResult) -> None:
        try:
            self.ledger.append(result)
        except OSError as error:
            raise OutputNotWritable(f"cannot write to {self.ledger.path}: {error.strerror}") from None
        summary = self.summary
        summary.count(result)
        if self.progress is not None:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            self.progress.set_postfix(models_per_s=f"{summary.inferences / elapsed:.2f}", reused=summary.reused,
                                      errors=summary.errors, refresh=False)
            self.progress.update(1)

    def _finish(self, analysis: Analysis, counters_before: dict, healthy: bool) -> None:
        summary = self.summary
        summary.skipped_already_done = self.skipped
        summary.reconnects = analysis.reconnects
        summary.failovers = analysis.failovers
        if summary.wall_s:
            summary.items_per_s = round(summary.items_done / summary.wall_s, 3)
            summary.inferences_per_s = round(summary.inferences / summary.wall_s, 3)
        for name, counts in summary.models.items():
            counts.latency_ms = _latency_percentiles(analysis.latencies[name])
        if healthy:
            after = summed_counters(self.servers, served_names(self.models), self.settings.client_kwargs)
            for model in self.models:  # a packed detector reports its pack's counters
                served = model.served_name
                summary.models[model.name].triton = batch_statistics(
                    counters_before.get(served, {}), after.get(served, {}),
                    reconnected=analysis.reconnects > 0 or analysis.failovers > 0)
        summary.records_total = write_derived_outputs(self.ledger, derived_sinks(self.out_dir, self.csv_chunk_size))
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


def _latency_percentiles(latencies) -> dict:
    if not latencies:
        return {}
    values = np.frombuffer(latencies, np.float64)
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "mean": round(float(values.mean()), 2)}
