"""One exception for every way an OCR request can fail, named by its gRPC status code."""

from __future__ import annotations


class OcrFailure(Exception):
    """`code` is a `grpc.StatusCode` name (e.g. "INVALID_ARGUMENT"); the message says why."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self):
        return (OcrFailure, (self.code, self.message))
