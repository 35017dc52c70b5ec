"""The OCR gRPC server: the `Ocr` service over an engine pool, plus health, reflection, metrics."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from creativelens.ocr_service import messages
from creativelens.ocr_service.decoding import DEFAULT_MAX_PIXELS, InvalidImage, probe
from creativelens.ocr_service.engine import available_languages
from creativelens.ocr_service.failures import OcrFailure
from creativelens.ocr_service.generated import ocr_pb2, ocr_pb2_grpc
from creativelens.ocr_service.metrics import OcrMetrics
from creativelens.ocr_service.options import RecognitionOptions
from creativelens.ocr_service.pool import EnginePool
from creativelens.ocr_service.worker import Job
from creativelens.tls import TlsOptions, grpc_server_credentials

log = logging.getLogger(__name__)

SERVICE_NAME = ocr_pb2.DESCRIPTOR.services_by_name["Ocr"].full_name
# gRPC threads beyond the admitted requests and open streams: health checks, reflection.
SPARE_RPC_THREADS = 8
MAX_STREAMS = 64  # open RecognizeStream calls; more are RESOURCE_EXHAUSTED (health is never refused)


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 50051  # 0 picks a free port
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    max_queue: int | None = None  # requests waiting for an engine; None = 2 per worker
    max_message_bytes: int = 32 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS
    metrics_port: int | None = None  # None: no metrics endpoint; 0: a free port
    defaults: RecognitionOptions = field(default_factory=RecognitionOptions)
    tls: TlsOptions | None = None  # None: plaintext (loopback); else server credentials

    @property
    def queue_limit(self) -> int:
        return 2 * self.workers if self.max_queue is None else self.max_queue


class OcrServicer(ocr_pb2_grpc.OcrServicer):
    def __init__(self, pool: EnginePool, config: ServerConfig, metrics: OcrMetrics):
        self._pool = pool
        self._config = config
        self._metrics = metrics
        self._languages = available_languages()
        # Each stream keeps at most this many images in flight: enough to keep every engine busy.
        self._stream_window = pool.workers
        self._stream_threads = futures.ThreadPoolExecutor(
            max_workers=pool.workers + config.queue_limit, thread_name_prefix="ocr-stream"
        )
        self._open_streams = threading.BoundedSemaphore(MAX_STREAMS)

    def close(self) -> None:
        self._stream_threads.shutdown(wait=True)

    def Recognize(self, request, context):
        with self._metrics.track("Recognize") as outcome:
            try:
                result = self._recognise(request, _deadline(context), wait_for_admission=False,
                                         cancelled=lambda: not context.is_active())
            except OcrFailure as failure:
                outcome["code"] = failure.code
                context.abort(grpc.StatusCode[failure.code], failure.message)
            return messages.result_to_proto(result)

    def RecognizeStream(self, request_iterator, context):
        if not self._open_streams.acquire(blocking=False):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{MAX_STREAMS} streams are open already")
        try:
            yield from self._answer_stream(request_iterator, context)
        finally:
            self._open_streams.release()

    def _answer_stream(self, request_iterator, context):
        answers: queue.SimpleQueue = queue.SimpleQueue()
        window = threading.BoundedSemaphore(self._stream_window)
        deadline = _deadline(context)

        def answer(request) -> None:
            try:
                answers.put(self._stream_answer(request, deadline, lambda: not context.is_active()))
            finally:
                window.release()

        def feed() -> None:
            try:
                for request in request_iterator:
                    window.acquire()
                    try:
                        self._stream_threads.submit(answer, request)
                    except RuntimeError:  # the server is stopping
                        window.release()
                        break
            except grpc.RpcError:
                pass  # the client went away; answer what is already in flight
            finally:
                for _ in range(self._stream_window):
                    window.acquire()
                answers.put(None)

        threading.Thread(target=feed, name="ocr-stream-feed", daemon=True).start()
        while (response := answers.get()) is not None:
            yield response

    def _stream_answer(self, request, deadline: float | None, cancelled) -> ocr_pb2.RecognizeStreamResponse:
        with self._metrics.track("RecognizeStream") as outcome:
            try:
                result = self._recognise(request, deadline, wait_for_admission=True, cancelled=cancelled)
            except OcrFailure as failure:
                outcome["code"] = failure.code
                return ocr_pb2.RecognizeStreamResponse(
                    request_id=request.request_id,
                    error=ocr_pb2.Error(code=grpc.StatusCode[failure.code].value[0], message=failure.message),
                )
            return ocr_pb2.RecognizeStreamResponse(
                request_id=request.request_id, result=messages.result_to_proto(result)
            )

    def _recognise(self, request, deadline: float | None, wait_for_admission: bool, cancelled=lambda: False):
        arrived = time.perf_counter()
        options = messages.options_from_proto(request.options, self._config.defaults)
        try:
            options.check(self._languages)
        except ValueError as error:
            raise OcrFailure("INVALID_ARGUMENT", str(error)) from None
        boxes = [messages.box_from_proto(box) for box in request.exclusion_boxes]
        for x1, y1, x2, y2 in boxes:
            if x2 <= x1 or y2 <= y1:
                raise OcrFailure(
                    "INVALID_ARGUMENT",
                    f"exclusion box ({x1}, {y1}, {x2}, {y2}) is empty: boxes are x1, y1, x2, y2 with x2 > x1, y2 > y1",
                )
        try:
            probe(request.image, self._config.max_pixels)  # header only: reject early, off the engines
        except InvalidImage as error:
            raise OcrFailure("INVALID_ARGUMENT", str(error)) from None
        job = Job(request.image, boxes, options, self._config.max_pixels)
        result = self._pool.recognise(job, deadline, wait_for_admission, cancelled)
        result.request_id = request.request_id
        result.timings.total_ms = 1000 * (time.perf_counter() - arrived)
        return result


def _deadline(context) -> float | None:
    remaining = context.time_remaining()
    # gRPC reports a huge number of seconds when the client set no deadline.
    return None if remaining is None or remaining > 1e8 else time.monotonic() + remaining


class OcrServer:
    """Start with `start()`, stop with `stop()`; `address` is "host:port" once started."""

    def __init__(self, config: ServerConfig, engine_factory=None):
        """`engine_factory`: what each worker process calls to build its engine; by default the
        engine `ocr serve` runs (`engines.DEFAULT_ENGINE`)."""
        from creativelens.ocr_service.engines import DEFAULT_ENGINE
        from creativelens.ocr_service.engines import engine_factory as named_engine

        self.config = config
        self._engine_factory = engine_factory or named_engine(DEFAULT_ENGINE)
        self.metrics = OcrMetrics()
        self.pool: EnginePool | None = None
        self.address = ""
        self.metrics_port: int | None = None

    def start(self) -> "OcrServer":
        config = self.config
        self.pool = EnginePool(config.workers, config.queue_limit, self._engine_factory)
        # Work is bounded by the pool's admission (unary calls) and MAX_STREAMS (streams), not by
        # gRPC's concurrent-RPC limit, which would refuse health checks too under ordinary load.
        rpc_threads = config.workers + config.queue_limit + MAX_STREAMS + SPARE_RPC_THREADS
        self._servicer = OcrServicer(self.pool, config, self.metrics)
        self._health = health.HealthServicer()
        self._grpc = grpc.server(
            futures.ThreadPoolExecutor(max_workers=rpc_threads, thread_name_prefix="ocr-rpc"),
            options=[
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.max_send_message_length", config.max_message_bytes),
                ("grpc.so_reuseport", 0),
                # accept the clients' keepalive pings (client.KEEPALIVE_OPTIONS: every 30 s) even on
                # an idle channel; gRPC's default (one per 5 min) answers them with GOAWAY
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 1),
            ],
        )
        ocr_pb2_grpc.add_OcrServicer_to_server(self._servicer, self._grpc)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._grpc)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._grpc
        )
        try:
            if config.tls is None:
                port = self._grpc.add_insecure_port(f"{config.host}:{config.port}")
            else:
                port = self._grpc.add_secure_port(f"{config.host}:{config.port}",
                                                  grpc_server_credentials(config.tls))
        except RuntimeError:
            port = 0
        if port == 0:
            self.pool.close()
            raise OSError(f"cannot listen on {config.host}:{config.port} (in use?)")
        self._grpc.start()
        self.address = f"{config.host}:{port}"
        if config.metrics_port is not None:
            self.metrics_port = self.metrics.serve_http(config.host, config.metrics_port)
        for name in ("", SERVICE_NAME):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("OCR service on %s with %d workers", self.address, config.workers)
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        """Refuse new work, let requests on an engine finish (up to `grace_s`), answer those still
        waiting for one UNAVAILABLE (transient: the client retries), then stop workers."""
        self._health.enter_graceful_shutdown()
        self.pool.stop_accepting()
        self._grpc.stop(grace_s).wait()
        self._servicer.close()
        self.metrics.stop_http()
        self.pool.close()

    def wait(self) -> None:
        self._grpc.wait_for_termination()
