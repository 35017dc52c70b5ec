"""Several Triton endpoints as one transport: requests spread over the live ones; an endpoint
that stays broken is left, and its unanswered requests are re-sent to the others, each
answered exactly once.

    endpoints = Endpoints(["gpu1:8001", "gpu2:8001"], ["acme_logo"], on_answer, max_in_flight=4)
    endpoints.submit(payload, "acme_logo", canvas, (h, w)); endpoints.drain()

Each endpoint is a `DetectorStream` (bounded in flight, retry with backoff, re-send after a
reconnect); this class only chooses among them. While other endpoints remain, a broken one is
waited for `failover_after_s` before it is left; the last one left gets the whole
`retry_for_s`, as a single endpoint always does (a server restart is waited for, not left).
An endpoint that goes silent (stopped, black-holed) counts as broken from its last answer (see
`transport`), so it is left about `failover_after_s` after it stopped answering.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

import numpy as np

from creativelens.client.transport import PROBE_TIMEOUT_S, Answer, DetectorStream, ServerUnavailable, triton_client
from creativelens.errors import UserError

DEFAULT_ENDPOINT = "127.0.0.1:8001"  # where `creativelens serve` listens by default
DEFAULT_FAILOVER_AFTER_S = 15.0


def parse_endpoints(values: Sequence[str] | str | None, option: str = "--server") -> tuple[str, ...]:
    """`HOST:PORT[,HOST:PORT...]` (one string, or several, e.g. a repeated option) -> endpoints,
    once each, in order; UserError naming the bad value otherwise. None or empty: the default."""
    if not values:
        return (DEFAULT_ENDPOINT,)
    texts = [values] if isinstance(values, str) else list(values)
    endpoints = []
    for text in texts:
        parts = [part.strip() for part in text.split(",")]
        if not any(parts):
            raise UserError(f"{option} names no HOST:PORT")
        for part in parts:
            host, _, port = part.rpartition(":")
            if not part or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise UserError(f"{option}: {part!r} is not HOST:PORT (e.g. 127.0.0.1:8001)")
            endpoints.append(part)
    return tuple(dict.fromkeys(endpoints))


def ready_endpoints(urls: Sequence[str], models: Sequence[str], client_kwargs: dict | None = None) -> list[str]:
    """The endpoints whose every model answers ready now."""
    from tritonclient.utils import InferenceServerException

    ready = []
    for url in urls:
        client = triton_client(url, client_kwargs)
        try:
            if all(client.is_model_ready(model, client_timeout=PROBE_TIMEOUT_S) for model in models):
                ready.append(url)
        except InferenceServerException:
            pass
        finally:
            client.close()
    return ready


class Endpoints:
    def __init__(self, urls: Sequence[str], models: Sequence[str], on_answer: Callable[[Answer], None], *,
                 max_in_flight: int = 16, retry_for_s: float = 120.0,
                 failover_after_s: float = DEFAULT_FAILOVER_AFTER_S, stall_timeout_s: float = 600.0,
                 on_retry: Callable[[str], None] = lambda message: None,
                 client_kwargs: dict | None = None) -> None:
        urls = list(dict.fromkeys(urls))
        if not urls:
            raise ValueError("no endpoint")
        self.models = tuple(models)
        self.on_answer = on_answer
        self.on_retry = on_retry
        self.retry_for_s = retry_for_s
        self.failovers = 0  # endpoints left during the run
        self._reconnects_of_left = 0
        self._lock = threading.Lock()
        self._unanswered: dict[Any, tuple] = {}  # payload -> (url, model, pixels, valid_hw, prefixes)
        self._load: dict[str, int] = {}  # url -> unanswered requests sent there
        self._turn = 0
        live = urls if len(urls) == 1 else ready_endpoints(urls, models, client_kwargs)
        if not live:
            raise ServerUnavailable(f"no Triton endpoint serves {', '.join(map(repr, models))} now "
                                    f"(tried {', '.join(urls)})")
        for url in urls:
            if url not in live:
                on_retry(f"endpoint {url} does not serve every model now: left out of this run")
        window = retry_for_s if len(live) == 1 else failover_after_s
        self._streams: dict[str, DetectorStream] = {}
        for url in live:
            self._load[url] = 0
            self._streams[url] = DetectorStream(
                url, self.models, self._answer_from(url), max_in_flight=max_in_flight, retry_for_s=window,
                stall_timeout_s=stall_timeout_s, on_retry=on_retry, client_kwargs=client_kwargs)

    @property
    def live(self) -> list[str]:
        return list(self._streams)

    @property
    def in_flight(self) -> int:
        return len(self._unanswered)

    @property
    def reconnects(self) -> int:
        return self._reconnects_of_left + sum(stream.reconnects for stream in self._streams.values())

    def submit(self, payload: Any, model: str, pixels: np.ndarray, valid_hw: tuple[int, int],
               prefixes: tuple[str, ...] = ("",)) -> None:
        """Send one request (`payload` names it: it is answered once, whichever endpoint answers);
        blocks while the chosen endpoint's window is full. ServerUnavailable once none is left."""
        url = self._choose()
        with self._lock:
            self._unanswered[payload] = (url, model, pixels, valid_hw, prefixes)
            self._load[url] += 1
        try:
            self._streams[url].submit(payload, model, pixels, valid_hw, prefixes)
        except ServerUnavailable as error:
            self._leave(url, error)  # re-sends this request too, unless it was answered meanwhile

    def drain(self) -> None:
        """Block until every request is answered; a failed endpoint's requests move to the others."""
        while True:
            for url in self.live:
                try:
                    self._streams[url].drain()
                except ServerUnavailable as error:
                    self._leave(url, error)
                    break
            else:
                return

    def cancel(self) -> None:
        for stream in list(self._streams.values()):
            stream.cancel()

    def close(self) -> None:
        for stream in list(self._streams.values()):
            stream.close()

    # --- internals ----------------------------------------------------------------------------

    def _choose(self) -> str:
        """The live endpoint with the fewest unanswered requests, in turn among equals."""
        urls = self.live
        start = self._turn % len(urls)
        self._turn += 1
        with self._lock:
            return min(urls[start:] + urls[:start], key=self._load.__getitem__)

    def _answer_from(self, url: str) -> Callable[[Answer], None]:
        def answered(answer: Answer) -> None:
            with self._lock:
                request = self._unanswered.pop(answer.payload, None)
                if request is None:
                    return  # already answered by the endpoint it moved to (or from)
                if request[0] in self._load:
                    self._load[request[0]] -= 1
            self.on_answer(answer)
        return answered

    def _leave(self, url: str, error: ServerUnavailable) -> None:
        stream = self._streams.pop(url)
        stream.close()
        self._reconnects_of_left += stream.reconnects
        if not self._streams:
            raise error
        self.failovers += 1
        with self._lock:
            del self._load[url]
            moved = [(payload, request) for payload, request in self._unanswered.items() if request[0] == url]
        if len(self._streams) == 1:
            next(iter(self._streams.values())).retry_for_s = self.retry_for_s
        self.on_retry(f"endpoint {url} left ({error}); re-sending its {len(moved)} unanswered requests to "
                      f"{', '.join(self._streams)}")
        for payload, (_, model, pixels, valid_hw, prefixes) in moved:
            with self._lock:
                still_unanswered = payload in self._unanswered
            if still_unanswered:
                self.submit(payload, model, pixels, valid_hw, prefixes)
