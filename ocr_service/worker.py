"""The loop inside each OCR worker process: receive a job, decode, recognise, send the answer."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from creativelens.ocr_service.decoding import DEFAULT_MAX_PIXELS, InvalidImage, decode
from creativelens.ocr_service.failures import OcrFailure
from creativelens.ocr_service.options import RecognitionOptions
from creativelens.ocr_service.results import Box, OcrResult


@dataclass
class Job:
    image: bytes
    exclusion_boxes: list[Box] = field(default_factory=list)
    options: RecognitionOptions = field(default_factory=RecognitionOptions)
    max_pixels: int = DEFAULT_MAX_PIXELS
    timeout_s: float | None = None  # time left when the job was sent


def run_job(engine, job: Job) -> OcrResult:
    started = time.perf_counter()
    try:
        pixels = decode(job.image, job.max_pixels)
    except InvalidImage as error:
        raise OcrFailure("INVALID_ARGUMENT", str(error)) from None
    decoded = time.perf_counter()
    timeout_s = None if job.timeout_s is None else job.timeout_s - (decoded - started)
    if timeout_s is not None and timeout_s <= 0:
        raise OcrFailure("DEADLINE_EXCEEDED", "the deadline passed while decoding the image")
    result = engine.recognise(pixels, job.exclusion_boxes, job.options, timeout_s)
    result.timings.decode_ms = 1000 * (decoded - started)
    return result


def serve_jobs(connection, engine_factory: Callable[[], object]) -> None:
    """Entry point of a worker process. Replies ("ready", pid) once, then one reply per job:
    ("ok", OcrResult) or ("error", OcrFailure). A `None` job stops the worker."""
    os.environ["OMP_THREAD_LIMIT"] = "1"  # one core per worker: OpenMP threads only contend
    # The server stops its workers itself, after the requests in flight: a Ctrl-C or a SIGTERM to
    # the whole process group (systemd, a shell's job control) must not end them mid-request.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    engine = engine_factory()
    connection.send(("ready", os.getpid()))
    while True:
        try:
            job = connection.recv()
        except EOFError:
            break
        if job is None:
            break
        try:
            reply = ("ok", run_job(engine, job))
        except OcrFailure as failure:
            reply = ("error", failure)
        except Exception as error:  # an engine bug must answer this request, not kill the worker
            reply = ("error", OcrFailure("INTERNAL", f"OCR failed: {error.__class__.__name__}: {error}"))
        connection.send(reply)
    close = getattr(engine, "close", None)
    if close:
        close()
