"""A bounded hand-off from background threads to the thread that consumes their results.

Producers `put` values (blocking while the consumer is behind, giving up once it has left),
then `end()` or `fail(error)`; the consumer iterates and gets the producer's exception
re-raised in its own thread. `close()` (the consumer leaving early) releases every producer.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator

_END = object()


class Handoff:
    def __init__(self, capacity: int) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, capacity))
        self.closed = threading.Event()

    def put(self, value) -> bool:
        """Queue `value`; False (not queued) once the consumer has closed the hand-off."""
        while not self.closed.is_set():
            try:
                self._queue.put(value, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def end(self) -> None:
        self.put(_END)

    def fail(self, error: BaseException) -> None:
        self.put(error)

    def __iter__(self) -> Iterator:
        while True:
            value = self._queue.get()
            if value is _END:
                return
            if isinstance(value, BaseException):
                raise value
            yield value

    def close(self) -> None:
        self.closed.set()
