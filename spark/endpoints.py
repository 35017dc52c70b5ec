"""One task's connections to many Triton endpoints: requests spread over the live ones, and an
endpoint that stays broken for `failover_after_s` is dropped with its unanswered requests
moved to the others. Each endpoint is the client's own `DetectorStream` (bounded in flight,
retry with backoff, re-send after a reconnect); this class only chooses among them."""

from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, Sequence

import numpy as np

from creativelens.client.transport import Answer, DetectorStream, ServerUnavailable

PROBE_TIMEOUT_S = 3.0


class NoEndpointLeft(ServerUnavailable):
    """Every endpoint failed: the task fails and Spark retries it (later, maybe elsewhere)."""


def ready_endpoints(urls: Sequence[str], models: Sequence[str], client_kwargs: dict | None = None) -> list[str]:
    """The endpoints whose every model answers ready now."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    ready = []
    for url in urls:
        client = grpcclient.InferenceServerClient(url, **(client_kwargs or {}))
        try:
            if all(client.is_model_ready(model, client_timeout=PROBE_TIMEOUT_S) for model in models):
                ready.append(url)
        except InferenceServerException:
            pass
        finally:
            client.close()
    return ready


class EndpointPool:
    def __init__(self, urls: Sequence[str], models: Sequence[str], on_answer: Callable[[Answer], None], *,
                 max_in_flight: int, failover_after_s: float, client_kwargs: dict | None = None,
                 log: Callable[[str], None] = lambda message: None) -> None:
        self.models = tuple(models)
        self.on_answer = on_answer
        self.log = log
        self.failovers = 0  # endpoints dropped by this task
        self._lock = threading.Lock()
        self._answered: set = set()
        self._outstanding: dict[str, dict[Any, tuple]] = {}  # url -> request key -> (payload, model, pixels, hw)
        self._streams: dict[str, DetectorStream] = {}
        live = ready_endpoints(urls, models, client_kwargs)
        if not live:
            raise NoEndpointLeft(f"no Triton endpoint serves {', '.join(models)} now (tried {', '.join(urls)})")
        for url in live:
            self._outstanding[url] = {}
            self._streams[url] = DetectorStream(
                url, self.models, self._answer_from(url), max_in_flight=max_in_flight,
                retry_for_s=failover_after_s, on_retry=log, client_kwargs=client_kwargs)
        self._turn = itertools.cycle(live)

    @property
    def live(self) -> list[str]:
        return list(self._streams)

    def submit(self, key: Any, payload: Any, model: str, pixels: np.ndarray, valid_hw: tuple[int, int]) -> None:
        """Send one request, identified by `key` (answered once, whichever endpoint answers)."""
        request = (payload, model, pixels, valid_hw)
        while True:
            url = self._choose()
            with self._lock:
                self._outstanding[url][key] = request
            try:
                self._streams[url].submit((key, payload), model, pixels, valid_hw)
                return
            except ServerUnavailable as error:
                self._drop(url, error)
                with self._lock:
                    if key in self._answered:
                        return

    def drain(self) -> None:
        """Until every request is answered; requests of a failed endpoint move to the others."""
        while True:
            for url in self.live:
                try:
                    self._streams[url].drain()
                except ServerUnavailable as error:
                    self._drop(url, error)
                    break
            else:
                return

    def close(self) -> None:
        for stream in self._streams.values():
            stream.close()
        self._streams.clear()

    def _choose(self) -> str:
        if not self._streams:
            raise NoEndpointLeft(f"every Triton endpoint failed for {', '.join(self.models)}")
        candidates = [next(self._turn) for _ in range(len(self._streams))]
        with self._lock:
            return min(candidates, key=lambda url: len(self._outstanding[url]))

    def _answer_from(self, url: str) -> Callable[[Answer], None]:
        def answered(answer: Answer) -> None:
            key, payload = answer.payload
            with self._lock:
                self._outstanding.get(url, {}).pop(key, None)
                if key in self._answered:
                    return
                self._answered.add(key)
            self.on_answer(Answer(payload, model=answer.model, boxes=answer.boxes, scores=answer.scores,
                                  classes=answer.classes, count=answer.count, error=answer.error,
                                  latency_ms=answer.latency_ms))
        return answered

    def _drop(self, url: str, error: Exception) -> None:
        stream = self._streams.pop(url)
        stream.close()
        self.failovers += 1
        with self._lock:
            moved = [(key, request) for key, request in self._outstanding.pop(url).items()
                     if key not in self._answered]
        kept = list(self._streams)
        self._turn = itertools.cycle(kept)
        self.log(f"endpoint {url} dropped ({error}); moving {len(moved)} requests to "
                 f"{', '.join(kept) or 'none'}")
        for key, (payload, model, pixels, valid_hw) in moved:
            self.submit(key, payload, model, pixels, valid_hw)
