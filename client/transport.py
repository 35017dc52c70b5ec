"""Requests to Triton over one gRPC stream: bounded in flight, retried across server restarts.

`DetectorStream.submit` sends one letterboxed image to one model (a batch of one: Triton's
dynamic batcher groups concurrent requests; one stream carries every model's requests), asking
for the outputs of one detector or, from a pack, of several (by output-name prefix), and
blocks while `max_in_flight` requests await answers. Answers arrive on tritonclient's stream
thread and go to `on_answer`. When the stream breaks (server killed, restarted, network gone)
every unanswered request is kept, the server is polled with exponential backoff, and once
every model is ready again on a fresh stream the requests are re-sent; if they are not back
within `retry_for_s`, `ServerUnavailable` says so.

A server that stops answering without closing anything (a stopped process, a dead host, a
black-holed network: no RST, no FIN) is found by deadlines, not by the stream breaking:
tritonclient's stream has no per-request deadline, so each request's send time is kept, and
once nothing has been answered for `probe_after_s` the server's liveness is probed with a
deadline; no answer is a failure of the endpoint, as is any request unanswered past
`stall_timeout_s`. The retry window of such a failure counts from the last answer, so a stopped
server is given up (or, with several endpoints, left) `retry_for_s` after it went silent. Every
other call (readiness, liveness) has a deadline too, every wait can be cancelled, and the
channel carries gRPC keepalive at the rate Triton's default ping policy accepts.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from creativelens.errors import UserError

OUTPUT_NAMES = ("boxes", "scores", "classes", "num_detections")
PROBE_TIMEOUT_S = 5.0  # a readiness probe to a hung (e.g. SIGSTOPped) server must not hang too
PROBE_AFTER_S = 5.0  # nothing answered for this long while requests wait: probe the server's liveness
# Keepalive pings on every channel, at Triton's default limit (--grpc-http2-min-recv-ping-interval-
# without-data 300000 ms, 2 strikes): faster pings on an idle stream get a GOAWAY "too_many_pings"
# (measured). It finds a dead peer under a long-idle channel; a server that stops mid-request is
# found sooner by the deadlines above.
KEEPALIVE_TIME_MS = 300_000
KEEPALIVE_TIMEOUT_MS = 20_000
REQUEST_ID = re.compile(r"\[request id: ([^\]]+)\]")
# Answers that say "not now" rather than "not this input": retried like a broken stream.
TRANSIENT = re.compile(r"stopping|stopped accepting|not ready|unavailable|queue size|"
                       r"socket closed|connection|deadline|cancelled", re.IGNORECASE)


class ServerUnavailable(RuntimeError):
    """The server stayed unreachable (or the model unready) for the whole retry window."""


class StreamCancelled(RuntimeError):
    """`cancel()` was called while a caller waited on the stream."""


@dataclass(frozen=True)
class Outputs:
    """One detector's outputs for one image (batch dimension removed, valid rows only)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    count: int


@dataclass(frozen=True)
class Answer:
    """The outputs for one image by output prefix ("" for a lone detector), or an error message
    from the server."""

    payload: Any
    model: str = ""
    outputs: dict[str, Outputs] | None = None
    error: str | None = None
    latency_ms: float | None = None


def triton_client(url: str, client_kwargs: dict | None = None):
    """A tritonclient gRPC client to `url` whose channel carries keepalive (unless
    `client_kwargs` brings its own keepalive_options or channel_args)."""
    import tritonclient.grpc as grpcclient

    kwargs = dict(client_kwargs or {})
    if "channel_args" not in kwargs:
        kwargs.setdefault("keepalive_options", grpcclient.KeepAliveOptions(
            keepalive_time_ms=KEEPALIVE_TIME_MS, keepalive_timeout_ms=KEEPALIVE_TIMEOUT_MS))
    return grpcclient.InferenceServerClient(url, **kwargs)


def probe_timeout(window_s: float) -> float:
    """The deadline of one probe when a server has `window_s` to come back: at most
    PROBE_TIMEOUT_S, half the window for short ones."""
    return min(PROBE_TIMEOUT_S, max(0.5, window_s / 2))


@dataclass
class _Pending:
    payload: Any
    model: str
    images: np.ndarray
    image_sizes: np.ndarray
    prefixes: tuple[str, ...] = ("",)
    sent_at: float = 0.0
    attempts: int = 0


def wait_for_server(urls: str | Sequence[str], timeout_s: float, log: Callable[[str], None],
                    client_kwargs: dict | None = None) -> None:
    """Return once a server at one of `urls` is ready (it may still be starting); UserError
    after `timeout_s`."""
    from tritonclient.utils import InferenceServerException

    urls = [urls] if isinstance(urls, str) else list(urls)
    started, delay = time.monotonic(), 0.5
    while True:
        problems = []
        for url in urls:
            client = triton_client(url, client_kwargs)
            try:
                if client.is_server_ready(client_timeout=min(PROBE_TIMEOUT_S, max(0.5, timeout_s))):
                    return
                problems.append(f"{url}: not ready" if len(urls) > 1 else "not ready")
            except InferenceServerException as error:
                problems.append(f"{url}: {error.message()}" if len(urls) > 1 else error.message())
            finally:
                client.close()
        where = ", ".join(urls)
        if time.monotonic() - started + delay > timeout_s:
            raise UserError(f"no Triton server ready at {where} after {timeout_s:.0f} s ({'; '.join(problems)})")
        if delay == 0.5:
            log(f"waiting for a Triton server at {where} (up to {timeout_s:.0f} s)")
        time.sleep(delay)
        delay = min(delay * 2, 8.0)


class DetectorStream:
    def __init__(
        self,
        url: str,
        models: Sequence[str],
        on_answer: Callable[[Answer], None],
        *,
        max_in_flight: int = 16,
        retry_for_s: float = 120.0,
        stall_timeout_s: float = 600.0,
        max_attempts: int = 4,
        probe_after_s: float | None = None,
        on_retry: Callable[[str], None] = lambda message: None,
        client_kwargs: dict | None = None,
    ) -> None:
        self.url = url
        self.models = tuple(models)
        self.client_kwargs = client_kwargs or {}
        self.on_answer = on_answer
        self.max_in_flight = max(1, max_in_flight)
        self.retry_for_s = retry_for_s
        self.stall_timeout_s = stall_timeout_s
        self._probe_after_s = probe_after_s
        self._next_probe = 0.0
        self.max_attempts = max_attempts
        self.on_retry = on_retry
        self.reconnects = 0
        self._pending: dict[str, _Pending] = {}
        self._resend: list[str] = []
        self._fault: str | None = None
        self._last_answer = time.monotonic()
        self._unavailable_since: float | None = None  # first fault since the last good answer
        self._failed_recoveries = 0
        self._next_id = 0
        self._changed = threading.Condition()
        self._cancelled = False
        self._client = None
        self._connect()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def probe_after_s(self) -> float:
        """Silence (no answer while requests wait) after which liveness is probed: PROBE_AFTER_S,
        a third of the retry window for short windows (it may change: see Endpoints)."""
        if self._probe_after_s is not None:
            return self._probe_after_s
        return min(PROBE_AFTER_S, max(0.5, self.retry_for_s / 3))

    def submit(self, payload: Any, model: str, pixels: np.ndarray, valid_hw: tuple[int, int],
               prefixes: tuple[str, ...] = ("",)) -> None:
        """Send one image (HxWx3 uint8 BGR canvas) to `model` for the outputs under `prefixes`;
        blocks while the window is full."""
        self._wait(lambda: len(self._pending) < self.max_in_flight)
        with self._changed:
            if not self._pending:
                self._last_answer = time.monotonic()  # an idle client is no stalled server
            request_id = str(self._next_id)
            self._next_id += 1
            pending = _Pending(payload, model, pixels[np.newaxis], np.array([valid_hw], np.int32), tuple(prefixes))
            self._pending[request_id] = pending
        self._send(request_id, pending)

    def drain(self) -> None:
        """Block until every submitted request is answered (or ServerUnavailable)."""
        self._wait(lambda: not self._pending)

    def cancel(self) -> None:
        """Make every wait on this stream (submit, drain, recovery) raise StreamCancelled."""
        with self._changed:
            self._cancelled = True
            self._changed.notify_all()

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.stop_stream(cancel_requests=True)
            finally:
                self._client.close()
                self._client = None

    # --- internals ----------------------------------------------------------------------------

    def _pause(self, seconds: float) -> None:
        """Sleep that `cancel()` cuts short (StreamCancelled)."""
        with self._changed:
            self._changed.wait_for(lambda: self._cancelled, timeout=seconds)
            if self._cancelled:
                raise StreamCancelled("the stream was cancelled")

    def _wait(self, condition: Callable[[], bool]) -> None:
        while True:
            with self._changed:
                if self._cancelled:
                    raise StreamCancelled("the stream was cancelled")
                if self._fault is None and not self._resend and condition():
                    return
                if self._fault is None and not self._resend:
                    self._changed.wait(0.5)
                fault, resend = self._fault, self._resend
                self._resend = []
                silent_since = self._last_answer
                oldest = min((p.sent_at for p in self._pending.values() if p.sent_at), default=None)
            now, since = time.monotonic(), None
            if fault is None and oldest is not None:
                if now - oldest > self.stall_timeout_s:
                    fault = f"a request unanswered for {self.stall_timeout_s:.0f} s"
                elif now - silent_since > self.probe_after_s and now >= self._next_probe:
                    self._next_probe = now + self.probe_after_s
                    fault = self._liveness_fault(now - silent_since)
                since = silent_since if fault is not None else None
            if fault is not None:
                self._recover(fault, since)
                continue
            for request_id in resend:
                pending = self._pending.get(request_id)
                if pending is not None:
                    self._send(request_id, pending)

    def _liveness_fault(self, silent_s: float) -> str | None:
        """None when the server answers a liveness probe within its deadline (busy, not gone)."""
        from tritonclient.utils import InferenceServerException

        timeout = probe_timeout(self.retry_for_s)
        client = triton_client(self.url, self.client_kwargs)
        try:
            if client.is_server_live(client_timeout=timeout):
                return None
            problem = "it says it is not live"
        except InferenceServerException as error:
            problem = f"no answer to a liveness probe within {timeout:.1f} s ({error.message()})"
        finally:
            client.close()
        return f"nothing answered for {silent_s:.1f} s and {problem}"

    def _send(self, request_id: str, pending: _Pending) -> None:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        images = grpcclient.InferInput("images", list(pending.images.shape), "UINT8")
        images.set_data_from_numpy(pending.images)
        sizes = grpcclient.InferInput("image_sizes", [1, 2], "INT32")
        sizes.set_data_from_numpy(pending.image_sizes)
        outputs = [grpcclient.InferRequestedOutput(prefix + name) for prefix in pending.prefixes
                   for name in OUTPUT_NAMES]
        pending.sent_at = time.monotonic()
        pending.attempts += 1
        try:
            self._client.async_stream_infer(pending.model, [images, sizes], outputs=outputs,
                                            request_id=request_id)
        except InferenceServerException as error:  # the stream already broke
            with self._changed:
                self._fault = self._fault or str(error.message())
                self._changed.notify_all()

    def _on_stream_event(self, result=None, error=None) -> None:
        """tritonclient's stream thread: one answer, a per-request error, or a broken stream."""
        now = time.monotonic()
        if result is not None:
            request_id = result.get_response().id
            with self._changed:
                pending = self._pending.pop(request_id, None)
                self._last_answer = now
                self._unavailable_since = None
                self._failed_recoveries = 0
                self._changed.notify_all()
            if pending is None:
                return  # an answer to a request already re-sent and answered
            outputs = {}
            for prefix in pending.prefixes:
                count = int(result.as_numpy(prefix + "num_detections").reshape(-1)[0])
                outputs[prefix] = Outputs(result.as_numpy(prefix + "boxes")[0, :count],
                                          result.as_numpy(prefix + "scores")[0, :count],
                                          result.as_numpy(prefix + "classes")[0, :count], count)
            self.on_answer(Answer(pending.payload, model=pending.model, outputs=outputs,
                                  latency_ms=round((now - pending.sent_at) * 1000, 2)))
            return
        message = error.message() if hasattr(error, "message") else str(error)
        match = None if TRANSIENT.search(message or "") else REQUEST_ID.search(message or "")
        with self._changed:
            pending = self._pending.get(match[1]) if match else None
            if pending is None:
                self._fault = self._fault or message or "stream closed"
            elif pending.attempts >= self.max_attempts:
                del self._pending[match[1]]
            else:
                self._resend.append(match[1])
                pending = None
            self._last_answer = now
            self._changed.notify_all()
        if pending is not None:
            self.on_answer(Answer(pending.payload, model=pending.model, error=f"server error: {message}"))

    def _connect(self) -> None:
        self._client = triton_client(self.url, self.client_kwargs)
        self._client.start_stream(callback=self._on_stream_event)

    def _recover(self, reason: str, since: float | None = None) -> None:
        """Close the broken stream, wait for the model with backoff, re-send what is pending.
        `since`: when the server was last heard from (a silent server's window counts from then)."""
        from tritonclient.utils import InferenceServerException

        self.on_retry(f"server connection lost ({reason}); retrying for up to {self.retry_for_s:.0f} s")
        self.close()
        now = time.monotonic()
        # Failing again without a good answer in between: back off before probing (a stopping
        # server still says "ready" while refusing work).
        delay = min(0.5 * 2 ** self._failed_recoveries, 8.0) if self._unavailable_since else 0.0
        started = self._unavailable_since = self._unavailable_since or min(since or now, now)
        self._failed_recoveries += 1
        probed = False
        while True:
            left = started + self.retry_for_s - time.monotonic()
            if probed and left <= 0:
                raise ServerUnavailable(
                    f"Triton at {self.url} has not served {', '.join(map(repr, self.models))} for "
                    f"{self.retry_for_s:.0f} s, since: {reason}"
                )
            self._pause(min(delay, max(left, 0.0)))
            delay = min(max(delay * 2, 0.5), 8.0)
            probed = True
            timeout = min(probe_timeout(self.retry_for_s), max(0.5, left))
            try:
                client = triton_client(self.url, self.client_kwargs)
                try:
                    if all(client.is_model_ready(model, client_timeout=timeout) for model in self.models):
                        break
                finally:
                    client.close()
            except InferenceServerException:
                pass
        with self._changed:
            self._fault = None
            self._resend = []
            self._last_answer = time.monotonic()
            resend = list(self._pending.items())
        self.reconnects += 1
        self._connect()
        self.on_retry(f"server back after {time.monotonic() - started:.1f} s; "
                      f"re-sending {len(resend)} requests")
        for request_id, pending in resend:
            self._send(request_id, pending)
