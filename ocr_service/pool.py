"""A fixed pool of OCR worker processes, one Tesseract engine each, with bounded admission.

Each worker owns a pipe; a request borrows an idle worker, sends it the job and waits for the
answer. At most `workers + max_queue` requests are admitted at once; the rest fail at once with
RESOURCE_EXHAUSTED instead of queueing without bound. A worker that dies (or overruns the
deadline by more than a grace period) is killed and replaced: only its request fails.

Once the service is stopping (`stop_accepting()`), requests still waiting for a worker, and any
whose worker ends, fail with UNAVAILABLE: the service went away, the image is not to blame, and
the caller retries it (INTERNAL would mark a good image as one that crashes the engine).
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable

from creativelens.ocr_service.failures import OcrFailure
from creativelens.ocr_service.results import OcrResult
from creativelens.ocr_service.worker import Job, serve_jobs

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 120.0
# How long past its deadline a worker may keep computing before it is killed and replaced.
DEADLINE_GRACE_S = 2.0
CANCEL_POLL_S = 0.05  # how often a waiting request looks whether its caller went away


class _Worker:
    def __init__(self, context, engine_factory: Callable[[], object]):
        self.connection, child_end = context.Pipe()
        self.process = context.Process(
            target=serve_jobs, args=(child_end, engine_factory), name="ocr-worker", daemon=True
        )
        self.process.start()
        child_end.close()
        self.pid = self.process.pid

    def wait_ready(self, timeout_s: float) -> None:
        if not self.connection.poll(timeout_s):
            raise RuntimeError(f"OCR worker {self.pid} did not start within {timeout_s:.0f} s")
        try:
            self.connection.recv()
        except EOFError:
            raise RuntimeError(
                f"OCR worker {self.pid} exited while starting (exit code {self.process.exitcode})"
            ) from None

    def stop(self, timeout_s: float = 5.0) -> None:
        try:
            self.connection.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout_s)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)
        self.connection.close()


class EnginePool:
    def __init__(
        self,
        workers: int,
        max_queue: int,
        engine_factory: Callable[[], object],
    ):
        if workers < 1:
            raise ValueError("the OCR pool needs at least one worker")
        self.workers = workers
        self.max_queue = max_queue
        self._engine_factory = engine_factory
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded gRPC server
        self._admission = threading.BoundedSemaphore(workers + max_queue)
        self._idle: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._slots = [_Worker(self._context, engine_factory) for _ in range(workers)]
        try:
            for worker in self._slots:
                worker.wait_ready(STARTUP_TIMEOUT_S)
        except RuntimeError:
            for worker in self._slots:
                worker.kill()
            raise
        for slot in range(workers):
            self._idle.put(slot)
        self.restarts = 0
        self.stopping = False

    def stop_accepting(self) -> None:
        """From now on, requests that wait for a worker, or whose worker ends, are UNAVAILABLE."""
        self.stopping = True

    def worker_pids(self) -> list[int]:
        return [worker.pid for worker in self._slots]

    def live_workers(self) -> int:
        return sum(worker.process.is_alive() for worker in self._slots)

    def recognise(self, job: Job, deadline: float | None = None, wait_for_admission: bool = False,
                  cancelled: Callable[[], bool] = lambda: False) -> OcrResult:
        """Run `job` on a free worker. `deadline` is a `time.monotonic()` instant or None.
        With `wait_for_admission` (stream items, already bounded by their stream's window) a
        full pool makes the caller wait; otherwise it fails with RESOURCE_EXHAUSTED at once.
        Once `cancelled()` (the caller went away) the request stops counting against admission:
        it leaves the queue, or, if an engine is already on it, lets the engine finish uncounted."""
        arrived = time.monotonic()
        admission_wait = _time_left(deadline) if wait_for_admission else None
        if not self._admission.acquire(blocking=wait_for_admission, timeout=admission_wait):
            if wait_for_admission:
                raise OcrFailure("DEADLINE_EXCEEDED", "no OCR engine became free before the deadline")
            raise OcrFailure(
                "RESOURCE_EXHAUSTED",
                f"the OCR service is overloaded: {self.workers} engines busy and "
                f"{self.max_queue} requests already waiting; retry later",
            )
        admitted = [True]

        def leave_admission() -> None:
            if admitted[0]:
                admitted[0] = False
                self._admission.release()

        try:
            slot = None
            while slot is None:
                if cancelled():
                    raise OcrFailure("CANCELLED", "the caller cancelled the request")
                if self.stopping:
                    raise _stopping()
                left = _time_left(deadline)
                if left is not None and left <= 0:
                    raise OcrFailure("DEADLINE_EXCEEDED", "no OCR engine became free before the deadline")
                try:
                    slot = self._idle.get(timeout=CANCEL_POLL_S if left is None else min(left, CANCEL_POLL_S))
                except queue.Empty:
                    pass
            try:
                queued_ms = 1000 * (time.monotonic() - arrived)
                result = self._run(slot, job, deadline, lambda: cancelled() and leave_admission())
                result.timings.queue_ms = queued_ms
                return result
            finally:
                self._idle.put(slot)
        finally:
            leave_admission()

    def _run(self, slot: int, job: Job, deadline: float | None, on_wait=lambda: None) -> OcrResult:
        worker = self._slots[slot]
        if self.stopping:
            raise _stopping()
        if not worker.process.is_alive():
            worker = self._replace(slot, f"found dead (exit code {worker.process.exitcode})")
        job.timeout_s = _time_left(deadline)
        if job.timeout_s is not None and job.timeout_s <= 0:
            raise OcrFailure("DEADLINE_EXCEEDED", "the deadline passed before recognition started")
        try:
            worker.connection.send(job)
            give_up = None if job.timeout_s is None else time.monotonic() + job.timeout_s + DEADLINE_GRACE_S
            while not worker.connection.poll(CANCEL_POLL_S):
                on_wait()
                if give_up is not None and time.monotonic() > give_up:
                    self._replace(slot, "overran its deadline")
                    raise OcrFailure("DEADLINE_EXCEEDED", "recognition did not finish before the deadline")
            status, payload = worker.connection.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            if self.stopping:  # ended by the service's own shutdown, not by this image
                raise _stopping() from None
            worker.process.join(1.0)  # the pipe closes a moment before the exit code is known
            exitcode = worker.process.exitcode
            self._replace(slot, f"crashed (exit code {exitcode})")
            raise OcrFailure(
                "INTERNAL",
                f"the OCR worker crashed (exit code {exitcode}) on this image; it has been restarted",
            ) from None
        if status == "error":
            raise payload
        return payload

    def _replace(self, slot: int, why: str) -> _Worker:
        old = self._slots[slot]
        log.warning("OCR worker %s %s; starting a new one", old.pid, why)
        old.kill()
        new = _Worker(self._context, self._engine_factory)
        new.wait_ready(STARTUP_TIMEOUT_S)
        self._slots[slot] = new
        self.restarts += 1
        return new

    def close(self) -> None:
        self.stopping = True
        for worker in self._slots:
            worker.stop()


def _stopping() -> OcrFailure:
    return OcrFailure("UNAVAILABLE", "the OCR service is shutting down; retry the request")


def _time_left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())
