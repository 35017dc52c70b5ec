"""Items to results, every model of a brand: decode once, letterbox once per bucket, fan out.

    analysis = Analysis(["gpu1:8001", "gpu2:8001"], fetch_from_endpoints(["gpu1:8001", "gpu2:8001"]))
    for analysed in analysis.run(iter_items(["ads/"])):
        print(analysed.result.key, [len(d) for d in analysed.result.detections()])

The fan-out happens in the client: each item is decoded once, letterboxed once onto every
canvas bucket its models need, and each model gets its own request over one gRPC stream
per endpoint (Triton batches each model's requests on its own; with several endpoints the
requests spread over them, and the work of one that fails moves to the others). When every model has answered, the
outputs become `Detections` in original pixels, thresholds and rules apply across all of
them (a smile from one model inside a face from another), and one `ItemResult` comes out.
`stream()` wraps this with the ledger, sinks and enrichers; the Spark adapter calls it in
its tasks.

Three kinds of thread meet here: the item source and decode pool (background, bounded
lookahead), a feeder sending requests (bounded in flight, retries and reconnects), and
tritonclient's stream thread assembling answers; the caller's thread receives the results.
"""

from __future__ import annotations

import os
import threading
from array import array
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from creativelens.client.decode import Prepared, prepared_in_background
from creativelens.client.endpoints import DEFAULT_FAILOVER_AFTER_S, Endpoints
from creativelens.client.handoff import Handoff
from creativelens.client.rules import Rules
from creativelens.client.served_models import ServedModel, default_in_flight
from creativelens.client.sources import DEFAULT_MAX_PIXELS, Item
from creativelens.client.transport import Answer, StreamCancelled
from creativelens.formats import from_model_outputs
from creativelens.item_result import ItemResult, ModelResult


# A sampled video frame whose pHash is within this Hamming distance (of 64 bits) of the last
# inferred frame of its video reuses that frame's detections. Measured (every 10th frame,
# benchmarks/results/video_skip_*.md): at 4 bits vtest.avi reuses 18 %, Megamind.avi 26 %, cup.mp4
# 18 %, an assembled ad spot 35 % (its held end card, saturated from 2 bits); from 6 bits on, frames
# of walking people and camera moves start to reuse. 4 keeps to frames that barely moved.
DEFAULT_REPEAT_THRESHOLD = 4


@dataclass
class AnalysisOptions:
    rules: Rules = field(default_factory=Rules)
    workers: int = max(1, min(4, os.cpu_count() or 1))
    max_in_flight: int | None = None  # per endpoint; None: chosen from the server (see default_in_flight)
    retry_for_s: float = 120.0  # how long the last endpoint left may stay unreachable
    failover_after_s: float = DEFAULT_FAILOVER_AFTER_S  # how long a broken endpoint is waited for while others serve
    stall_timeout_s: float = 600.0  # no answer for this long while requests wait: reconnect
    max_pixels: int = DEFAULT_MAX_PIXELS
    keep_images: bool = False  # hand the original pixels out with each result (for enrichers)
    repeat_threshold: int | None = DEFAULT_REPEAT_THRESHOLD  # None: every sampled frame is inferred
    client_kwargs: dict = field(default_factory=dict)  # tritonclient connection options (TLS)


@dataclass(frozen=True)
class Analysed:
    result: ItemResult
    image_bgr: np.ndarray | None = None  # the original pixels, when options.keep_images


@dataclass
class _Partial:
    prepared: Prepared
    waiting: set[str]
    answers: dict[str, Answer] = field(default_factory=dict)


@dataclass
class _Shot:
    """The last inferred frame of the video being read, and the frames that reuse its result."""

    source: str
    frame_hash: object
    names: list[str]
    result: ItemResult | None = None
    reusers: list[Prepared] = field(default_factory=list)


class Analysis:
    def __init__(self, urls: str | Sequence[str], models: Sequence[ServedModel],
                 options: AnalysisOptions | None = None,
                 on_retry: Callable[[str], None] = lambda message: None) -> None:
        self.urls = (urls,) if isinstance(urls, str) else tuple(dict.fromkeys(urls))
        self.models = {model.name: model for model in models}
        self.options = options or AnalysisOptions()
        self.max_in_flight = self.options.max_in_flight or default_in_flight(models)  # per endpoint
        self.on_retry = on_retry
        self.reconnects = 0
        self.failovers = 0  # endpoints left during the last run
        self.latencies: dict[str, array] = {name: array("d") for name in self.models}
        self.in_flight = 0
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
        in_flight = self.max_in_flight * len(self.urls)
        results = Handoff(2 * in_flight)
        partials: dict[int, _Partial] = {}
        lock = threading.Lock()
        stop = results.closed
        handed_out = threading.Condition(lock)  # notified when a finished item's result is queued
        unfinished = [0]  # items sent whose result is not queued yet
        shots: dict[int, _Shot] = {}  # inferred frames in flight that others may reuse
        threshold = self.options.repeat_threshold

        def on_answer(answer: Answer) -> None:
            number, model = answer.payload
            with lock:
                partial = partials[number]
                partial.answers[model] = answer
                partial.waiting.discard(model)
                finished = not partial.waiting
                if finished:
                    del partials[number]
            if answer.error is None:
                self.latencies[model].append(answer.latency_ms)
            if finished:
                analysed, reusers = self._assemble(partial), []
                with lock:
                    shot = shots.pop(number, None)
                    if shot is not None:
                        shot.result, reusers, shot.reusers = analysed.result, shot.reusers, []
                results.put(analysed)
                for prepared in reusers:
                    results.put(_reused(analysed.result, prepared))
                with handed_out:
                    unfinished[0] -= 1
                    handed_out.notify_all()

        transport = Endpoints(self.urls, list(self.models), on_answer, max_in_flight=self.max_in_flight,
                              retry_for_s=self.options.retry_for_s, failover_after_s=self.options.failover_after_s,
                              stall_timeout_s=self.options.stall_timeout_s, on_retry=self.on_retry,
                              client_kwargs=self.options.client_kwargs)

        def feed() -> None:
            try:
                canvas_sets = sorted({model.metadata.canvases for model in self.models.values()})
                prepared_items = prepared_in_background(
                    items, canvas_sets, workers=self.options.workers, lookahead=2 * in_flight,
                    max_pixels=self.options.max_pixels, keep_image=self.options.keep_images,
                    hash_frames=threshold is not None)
                current: _Shot | None = None
                for number, prepared in enumerate(prepared_items):
                    if stop.is_set():
                        return
                    item = prepared.item
                    names = [] if item.done else list(self.models) if models_for is None else list(models_for(item))
                    if prepared.error or not names:
                        if prepared.frame_hash is not None:  # a frame an earlier run finished
                            current = self._replayed(prepared, recorded(item.key, list(self.models))) or current
                        if not item.done:
                            results.put(self._assemble(_Partial(prepared, set())))
                        continue
                    if prepared.frame_hash is not None:
                        if (current is not None and current.source == prepared.item.source and current.names == names
                                and prepared.frame_hash - current.frame_hash <= threshold):
                            with lock:
                                if current.result is None:
                                    current.reusers.append(prepared)
                                    continue
                            results.put(_reused(current.result, prepared))
                            continue
                        current = _Shot(prepared.item.source, prepared.frame_hash, names)
                    with lock:
                        partials[number] = _Partial(prepared, set(names))
                        unfinished[0] += 1
                        if prepared.frame_hash is not None:
                            shots[number] = current
                    for name in names:
                        boxed = prepared.boxed_for(self.models[name].metadata.canvases)
                        transport.submit((number, name), name, boxed.pixels, (boxed.valid_height, boxed.valid_width))
                        self.in_flight = transport.in_flight
                transport.drain()
                with handed_out:  # the last answers may still be on their way into `results`
                    while unfinished[0] and not stop.is_set():
                        handed_out.wait(0.2)
                results.end()
            except StreamCancelled:
                pass
            except BaseException as error:  # handed to the caller, which re-raises it
                results.fail(error)

        feeder = threading.Thread(target=feed, name="feeder", daemon=True)
        feeder.start()
        try:
            for value in results:
                self.in_flight = transport.in_flight
                yield value
        finally:
            results.close()
            transport.cancel()
            feeder.join(timeout=30)
            transport.close()
            self.reconnects, self.failovers = transport.reconnects, transport.failovers

    def _replayed(self, prepared: Prepared, result: ItemResult | None) -> _Shot | None:
        """The shot that a finished frame started in the run that inferred it (its detections
        are what later repeats reuse); None when it reused another frame (nothing changes)."""
        if result is None or "reused_from" in result.extras:
            return None
        return _Shot(prepared.item.source, prepared.frame_hash, list(self.models), result)

    def _assemble(self, partial: _Partial) -> Analysed:
        prepared, item = partial.prepared, partial.prepared.item
        provenance = dict(source=item.source, frame_index=item.frame_index, timestamp_s=item.timestamp_s)
        extras = {"warning": item.warning} if getattr(item, "warning", None) else {}
        if prepared.error:
            return Analysed(ItemResult(**provenance, error=prepared.error, extras=extras))
        answered = [name for name in self.models if name in partial.answers]  # model order, not arrival
        detections = []
        for name in answered:
            answer = partial.answers[name]
            if answer.error:
                continue
            boxed = prepared.boxed_for(self.models[name].metadata.canvases)
            detections.append(from_model_outputs(
                answer.boxes, answer.scores, answer.classes, answer.count,
                self.models[name].metadata.class_names, boxed, model=name, **provenance))
        kept = {det.model: det for det in self.options.rules.apply(detections, self._thresholds)}
        models = []
        for name in answered:
            model, answer = self.models[name], partial.answers[name]
            detections = kept.get(name)
            if detections is None:
                detections = from_model_outputs(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0, (),
                                                prepared.boxed_for(model.metadata.canvases), model=name,
                                                **provenance)
            models.append(ModelResult(name, model.version, detections, answer.error, answer.latency_ms))
        result = ItemResult(**provenance, width=prepared.width, height=prepared.height, models=tuple(models),
                            extras=extras)
        return Analysed(result, prepared.image_bgr)


def _reused(source: ItemResult, prepared: Prepared) -> Analysed:
    """A frame that repeats `source` (an earlier frame of its video): its detections, moved to
    this frame's index and time, marked `reused_from`."""
    item = prepared.item
    moved = dict(frame_index=item.frame_index, timestamp_s=item.timestamp_s)
    models = tuple(replace(m, detections=replace(m.detections, **moved), latency_ms=None) for m in source.models)
    extras = {"reused_from": source.frame_index}
    if getattr(item, "warning", None):
        extras["warning"] = item.warning
    return Analysed(ItemResult(item.source, **moved, width=source.width, height=source.height, models=models,
                               extras=extras), prepared.image_bgr)
