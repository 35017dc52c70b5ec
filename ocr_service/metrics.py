"""Prometheus metrics of the OCR service: requests, latency, errors, in flight.

Each server owns its own registry, so several servers (tests) can live in one process.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class OcrMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ocr_requests", "Images answered, by method and gRPC status code",
            ("method", "code"), registry=self.registry,
        )
        self.errors = Counter(
            "ocr_errors", "Images answered with an error, by method and gRPC status code",
            ("method", "code"), registry=self.registry,
        )
        self.latency = Histogram(
            "ocr_request_latency_seconds", "Time from arrival to answer of one image",
            ("method",), buckets=LATENCY_BUCKETS_S, registry=self.registry,
        )
        self.in_flight = Gauge("ocr_in_flight", "Images being recognised or waiting for an engine", registry=self.registry)
        self._http = None

    @contextmanager
    def track(self, method: str):
        """Wraps the handling of one image; the body sets `outcome["code"]` on failure."""
        outcome = {"code": "OK"}
        started = time.perf_counter()
        self.in_flight.inc()
        try:
            yield outcome
        except BaseException:
            if outcome["code"] == "OK":
                outcome["code"] = "UNKNOWN"
            raise
        finally:
            self.in_flight.dec()
            self.latency.labels(method).observe(time.perf_counter() - started)
            self.requests.labels(method, outcome["code"]).inc()
            if outcome["code"] != "OK":
                self.errors.labels(method, outcome["code"]).inc()

    def serve_http(self, host: str, port: int) -> int:
        """Expose /metrics over HTTP; returns the bound port (useful with port 0)."""
        self._http, _ = start_http_server(port, addr=host, registry=self.registry)
        return self._http.server_port

    def stop_http(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
