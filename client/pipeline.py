"""Items to results, every model of a brand: decode once, letterbox once per bucket, fan out.

    analysis = Analysis(["gpu1:8001", "gpu2:8001"], fetch_from_endpoints(["gpu1:8001", "gpu2:8001"]), RunSettings())
    for analysed in analysis.run(iter_items(["ads/"])):
        print(analysed.result.key, [len(d) for d in analysed.result.detections()])

The fan-out happens in the client: each item is decoded once, letterboxed once onto every
canvas bucket its models need, and each model gets its own request over one gRPC stream
per endpoint (Triton batches each model's requests on its own; with several endpoints the
requests spread over them, and the work of one that fails moves to the others). The detectors
of a pack share one request to it, which asks for the outputs of those still to run. When every model has answered, the
outputs become `Detections` in original pixels, thresholds and rules apply across all of
them (a smile from one model inside a face from another), and one `ItemResult` comes out.
`stream()` wraps this with the ledger, sinks and enrichers; the Spark adapter calls it in
its tasks.

Three kinds of thread meet here: the item source and decode pool (background, bounded
lookahead), a feeder sending requests (bounded in flight, retries and reconnects), and
tritonclient's stream thread assembling answers; the caller's thread receives the results.
"""

from __future__ import annotations

import threading
from array import array
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from creativelens.client.decode import Prepared, prepared_in_background
from creativelens.client.endpoints import Endpoints
from creativelens.client.handoff import Handoff
from creativelens.client.served_models import ServedModel, default_in_flight, served_names
from creativelens.client.settings import RunSettings
from creativelens.client.sources import Item
from creativelens.client.transport import Answer, StreamCancelled
from creativelens.detections import Detections
from creativelens.formats import from_model_outputs
from creativelens.item_result import ItemResult, ModelResult


@dataclass(frozen=True)
class Analysed:
    result: ItemResult
    image_bgr: np.ndarray | None = None  # the original pixels, when keep_images


@dataclass
class _Partial:
    prepared: Prepared
    waiting: set[str]  # Triton models (a pack once for its detectors)
    requested: dict[str, list[str]] = field(default_factory=dict)  # Triton model -> detectors asked of it
    answers: dict[str, Answer] = field(default_factory=dict)  # by detector


@dataclass
class _Shot:
    """The last inferred frame of the video being read, and the frames that reuse its result."""

    source: str
    frame_hash: object
    names: list[str]
    result: ItemResult | None = None
    reusers: list[Prepared] = field(default_factory=list)


class Analysis:
    def __init__(self, urls: str | Sequence[str], models: Sequence[ServedModel], settings: RunSettings,
                 keep_images: bool = False, on_retry: Callable[[str], None] = lambda message: None) -> None:
        """`keep_images`: hand the original pixels out with each result (for enrichers)."""
        self.urls = (urls,) if isinstance(urls, str) else tuple(dict.fromkeys(urls))
        self.models = {model.name: model for model in models}
        self.settings = settings
        self.keep_images = keep_images
        self.max_in_flight = settings.max_in_flight or default_in_flight(models)  # per endpoint
        self.on_retry = on_retry
        self.reconnects = 0
        self.failovers = 0  # endpoints left during the last run
        self.latencies: dict[str, array] = {name: array("d") for name in self.models}
        self._thresholds = {name: model.metadata.thresholds for name, model in self.models.items()}

    def run(self, items: Iterable[Item],
            models_for: Callable[[Item], Sequence[str]] | None = None,
            recorded: Callable[[str, Sequence[str]], ItemResult | None] = lambda key, models: None,
            ) -> Iterator[Analysed]:
        """One `Analysed` per item, in completion order. `models_for(item)` names the models
        still to run on it (default: all); an item with none is handed out without inference
        (with its pixels, for enrichers). Items marked `done` (finished by an earlier run) are
        not handed out: with `recorded(key, models)`, their recorded result, they replay their
        video's repeat decisions, so a resumed video reuses exactly as an uninterrupted run.
        Raises ServerUnavailable when the server is gone."""
        fanout = _Fanout(self, models_for or (lambda item: list(self.models)), recorded)
        feeder = threading.Thread(target=fanout.feed, args=(items,), name="feeder", daemon=True)
        feeder.start()
        try:
            yield from fanout.results
        finally:
            fanout.results.close()
            fanout.transport.cancel()
            feeder.join(timeout=30)
            fanout.transport.close()
            self.reconnects, self.failovers = fanout.transport.reconnects, fanout.transport.failovers

    def _replayed(self, prepared: Prepared, result: ItemResult | None) -> _Shot | None:
        """The shot that a finished frame started in the run that inferred it (its detections
        are what later repeats reuse); None when it reused another frame (nothing changes)."""
        if result is None or result.reused_from is not None:
            return None
        return _Shot(prepared.item.source, prepared.frame_hash, list(self.models), result)

    def _assemble(self, partial: _Partial) -> Analysed:
        prepared, item = partial.prepared, partial.prepared.item
        provenance = dict(source=item.source, frame_index=item.frame_index, timestamp_s=item.timestamp_s,
                          warning=item.warning)
        if prepared.error:
            return Analysed(ItemResult(**provenance, error=prepared.error))
        answered = [name for name in self.models if name in partial.answers]  # model order, not arrival
        found = {}
        for name in answered:
            answer = partial.answers[name]
            if answer.error is None:
                model = self.models[name]
                boxed = prepared.boxed_for(model.metadata.canvases)
                outputs = answer.outputs[model.output_prefix]
                found[name] = from_model_outputs(outputs.boxes, outputs.scores, outputs.classes, outputs.count,
                                                 model.metadata.class_names, boxed)
        kept = self.settings.rules.apply(found, self._thresholds)
        nothing = Detections.empty(prepared.width, prepared.height)
        models = tuple(ModelResult(name, self.models[name].version, kept.get(name, nothing),
                                   partial.answers[name].error, partial.answers[name].latency_ms)
                       for name in answered)
        result = ItemResult(**provenance, width=prepared.width, height=prepared.height, models=models)
        return Analysed(result, prepared.image_bgr)


def _reused(source: ItemResult, prepared: Prepared) -> Analysed:
    """A frame that repeats `source` (an earlier frame of its video): its detections, at this
    frame's index and time, marked `reused_from`."""
    item = prepared.item
    models = tuple(replace(m, latency_ms=None) for m in source.models)
    return Analysed(ItemResult(item.source, item.frame_index, item.timestamp_s, source.width, source.height, models,
                               warning=item.warning, reused_from=source.frame_index), prepared.image_bgr)


class _Fanout:
    """One `Analysis.run`: the feeder thread sends each prepared item to its models (or lets it
    reuse the frame it repeats), and `on_answer` (tritonclient's thread) assembles an item once
    every model answered; the caller reads `results`."""

    def __init__(self, analysis: Analysis, models_for, recorded) -> None:
        self.analysis, self.models_for, self.recorded = analysis, models_for, recorded
        self.in_flight = analysis.max_in_flight * len(analysis.urls)
        self.results = Handoff(2 * self.in_flight)
        self.partials: dict[int, _Partial] = {}
        self.lock = threading.Lock()
        self.handed_out = threading.Condition(self.lock)  # notified when a finished item's result is queued
        self.unfinished = 0  # items sent whose result is not queued yet
        self.shots: dict[int, _Shot] = {}  # inferred frames in flight that others may reuse
        self.current: _Shot | None = None  # the last inferred frame of the video being read
        settings = analysis.settings
        self.transport = Endpoints(analysis.urls, served_names(list(analysis.models.values())), self.on_answer,
                                   max_in_flight=analysis.max_in_flight, retry_for_s=settings.retry_for_s,
                                   failover_after_s=settings.failover_after_s,
                                   stall_timeout_s=settings.stall_timeout_s, on_retry=analysis.on_retry,
                                   client_kwargs=settings.client_kwargs)

    def on_answer(self, answer: Answer) -> None:
        number, served = answer.payload
        with self.lock:
            partial = self.partials[number]
            detectors = partial.requested[served]
            for name in detectors:
                partial.answers[name] = answer
            partial.waiting.discard(served)
            finished = not partial.waiting
            if finished:
                del self.partials[number]
        if answer.error is None:
            for name in detectors:
                self.analysis.latencies[name].append(answer.latency_ms)
        if not finished:
            return
        analysed, reusers = self.analysis._assemble(partial), []
        with self.lock:
            shot = self.shots.pop(number, None)
            if shot is not None:
                shot.result, reusers, shot.reusers = analysed.result, shot.reusers, []
        self.results.put(analysed)
        for prepared in reusers:
            self.results.put(_reused(analysed.result, prepared))
        with self.handed_out:
            self.unfinished -= 1
            self.handed_out.notify_all()

    def feed(self, items: Iterable[Item]) -> None:
        analysis, settings, stop = self.analysis, self.analysis.settings, self.results.closed
        try:
            canvas_sets = sorted({model.metadata.canvases for model in analysis.models.values()})
            prepared_items = prepared_in_background(
                items, canvas_sets, workers=settings.workers, lookahead=2 * self.in_flight,
                max_pixels=settings.max_pixels, keep_image=analysis.keep_images,
                hash_frames=settings.repeat_threshold is not None)
            for number, prepared in enumerate(prepared_items):
                if stop.is_set():
                    return
                item = prepared.item
                names = [] if item.done else list(self.models_for(item))
                if prepared.error or not names:
                    self._without_inference(prepared)
                elif not self._reuses(prepared, names):
                    self._send(number, prepared, names)
            self.transport.drain()
            with self.handed_out:  # the last answers may still be on their way into `results`
                while self.unfinished and not stop.is_set():
                    self.handed_out.wait(0.2)
            self.results.end()
        except StreamCancelled:
            pass
        except BaseException as error:  # handed to the caller, which re-raises it
            self.results.fail(error)

    def _without_inference(self, prepared: Prepared) -> None:
        """A bad input, an item no model still has to run on, or a frame an earlier run finished
        (which only replays its video's repeat decisions)."""
        item = prepared.item
        if prepared.frame_hash is not None:
            replayed = self.analysis._replayed(prepared, self.recorded(item.key, list(self.analysis.models)))
            self.current = replayed or self.current
        if not item.done:
            self.results.put(self.analysis._assemble(_Partial(prepared, set())))

    def _reuses(self, prepared: Prepared, names: list[str]) -> bool:
        """Whether this frame repeats the last inferred frame of its video (and takes its result);
        otherwise a frame starts a new shot."""
        if prepared.frame_hash is None:
            return False
        current = self.current
        if (current is not None and current.source == prepared.item.source and current.names == names
                and prepared.frame_hash - current.frame_hash <= self.analysis.settings.repeat_threshold):
            with self.lock:
                if current.result is None:
                    current.reusers.append(prepared)
                    return True
            self.results.put(_reused(current.result, prepared))
            return True
        self.current = _Shot(prepared.item.source, prepared.frame_hash, names)
        return False

    def _send(self, number: int, prepared: Prepared, names: list[str]) -> None:
        models = self.analysis.models
        requested: dict[str, list[str]] = {}
        for name in names:
            requested.setdefault(models[name].served_name, []).append(name)
        with self.lock:
            self.partials[number] = _Partial(prepared, set(requested), requested)
            self.unfinished += 1
            if prepared.frame_hash is not None:
                self.shots[number] = self.current
        for served, detectors in requested.items():
            boxed = prepared.boxed_for(models[detectors[0]].metadata.canvases)
            self.transport.submit((number, served), served, boxed.pixels, (boxed.valid_height, boxed.valid_width),
                                  tuple(models[name].output_prefix for name in detectors))
