"""Python client of the OCR sidecar.

    from creativelens.ocr_service.client import OcrClient, exclusion_boxes

    with OcrClient("127.0.0.1:50051") as ocr:
        boxes = exclusion_boxes(detections, {"logo", "product"})  # x1, y1, x2, y2 pixel boxes
        result = ocr.recognise(frame_bgr, boxes, timeout=30)     # bytes or a BGR numpy array
        print(result.text, [(w.text, w.box) for w in result.words])

Failures raise `OcrFailure` whose `code` is the gRPC status name (INVALID_ARGUMENT for an
undecodable or oversized image, RESOURCE_EXHAUSTED when the service is overloaded,
DEADLINE_EXCEEDED, UNAVAILABLE when no server answers). `recognise_many` streams many images
over one call and yields `(request_id, OcrResult | OcrFailure)` as answers come back.

A sidecar that stops answering without closing the connection (a stopped process, a dead host)
never fails a call by itself: `recognise_watched` probes its health, with a deadline, while an
answer is late, and gives up on the call (UNAVAILABLE) when the health check is not answered
either. The channel carries keepalive pings (the server accepts them at this rate).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from creativelens.detections import Detections
from creativelens.formats import to_tesseract_boxes
from creativelens.ocr_service import messages
from creativelens.ocr_service.failures import OcrFailure
from creativelens.ocr_service.generated import ocr_pb2_grpc
from creativelens.ocr_service.results import Box, OcrResult
from creativelens.tls import TlsOptions, grpc_channel

Image = bytes | np.ndarray
_STATUS_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
KEEPALIVE_OPTIONS = [("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 10_000)]
SILENT_AFTER_S = 5.0  # recognise_watched: an answer this late makes it check the server's health
HEALTH_TIMEOUT_S = 2.0


class _CallFuture(Future):
    """A Future whose cancel() also cancels its RPC."""

    def __init__(self) -> None:
        super().__init__()
        self.call = None

    def cancel(self) -> bool:
        if self.call is not None:
            self.call.cancel()
        return super().cancel()


def exclusion_boxes(detections: Detections, excluded_labels: Iterable[str]) -> list[Box]:
    """Tesseract-style boxes of the detections whose label is one of `excluded_labels`."""
    excluded = set(excluded_labels)
    keep = np.array([label in excluded for label in detections.labels], dtype=bool)
    return to_tesseract_boxes(detections.select(keep)) if keep.any() else []


def encode_image(image: Image) -> bytes:
    """Bytes pass through; a numpy array is taken as OpenCV's BGR (or grey) and sent as PNG."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    import cv2

    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise ValueError(f"cannot encode an array of shape {image.shape} as PNG")
    return encoded.tobytes()


class OcrClient:
    """One channel to an OCR server. Thread-safe; reuse it for every image.

    Options left as None use the server's defaults (English, --psm 3, Sauvola, masking)."""

    def __init__(
        self,
        address: str,
        *,
        language: str | None = None,
        page_segmentation_mode: int | None = None,
        thresholding: str | None = None,
        exclusion_mode: str | None = None,
        max_message_bytes: int = 32 * 1024 * 1024,
        tls: TlsOptions | None = None,
    ):
        self.address = address
        self._options = messages.options_to_proto(language, page_segmentation_mode, thresholding, exclusion_mode)
        self._channel = grpc_channel(
            address, tls, options=[("grpc.max_send_message_length", max_message_bytes),
                                   ("grpc.max_receive_message_length", max_message_bytes), *KEEPALIVE_OPTIONS],
        )
        self._stub = ocr_pb2_grpc.OcrStub(self._channel)

    def recognise(
        self, image: Image, exclusion_boxes: Sequence[Box] = (), timeout: float | None = 60.0
    ) -> OcrResult:
        request = messages.request_to_proto(encode_image(image), exclusion_boxes, self._options)
        try:
            response = self._stub.Recognize(request, timeout=timeout)
        except grpc.RpcError as error:
            raise OcrFailure(error.code().name, error.details() or "") from None
        return messages.result_from_proto(response)

    def recognise_async(
        self, image: Image, exclusion_boxes: Sequence[Box] = (), timeout: float | None = 60.0
    ) -> Future:
        """Send now, answer later: a `Future` whose `result()` is the `OcrResult` or raises
        `OcrFailure`. No thread is used; bound the number in flight on the caller's side."""
        request = messages.request_to_proto(encode_image(image), exclusion_boxes, self._options)
        answer = _CallFuture()
        call = answer.call = self._stub.Recognize.future(request, timeout=timeout)

        def settle(done) -> None:
            if answer.cancelled():
                return
            try:
                answer.set_result(messages.result_from_proto(done.result()))
            except grpc.RpcError as error:
                answer.set_exception(OcrFailure(error.code().name, error.details() or ""))
            except grpc.FutureCancelledError:
                answer.set_exception(OcrFailure("CANCELLED", "the request was cancelled"))

        call.add_done_callback(settle)
        return answer

    def recognise_watched(
        self, image: Image, exclusion_boxes: Sequence[Box] = (), timeout: float | None = 60.0,
        silent_after_s: float = SILENT_AFTER_S, health_timeout_s: float = HEALTH_TIMEOUT_S,
    ) -> OcrResult:
        """`recognise`, for a server that may stop answering: while the answer is late, the
        server's health is checked every `silent_after_s` (deadline `health_timeout_s`); a busy
        server answers it and the call goes on, a stopped one does not and the call is cancelled
        with UNAVAILABLE, long before `timeout`."""
        future = self.recognise_async(image, exclusion_boxes, timeout)
        while True:
            try:
                return future.result(timeout=silent_after_s)
            except FutureTimeout:
                if not self.is_serving(health_timeout_s):
                    future.cancel()
                    raise OcrFailure("UNAVAILABLE", f"the OCR server at {self.address} stopped answering "
                                                    f"(no health answer within {health_timeout_s:.0f} s)") from None

    def is_serving(self, timeout: float = HEALTH_TIMEOUT_S) -> bool:
        """True when the server's health check answers SERVING within `timeout`."""
        try:
            reply = health_pb2_grpc.HealthStub(self._channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def recognise_many(
        self, items: Iterable[tuple[str, Image, Sequence[Box]]], timeout: float | None = None
    ) -> Iterator[tuple[str, OcrResult | OcrFailure]]:
        """Stream `(request_id, image, exclusion_boxes)` items; answers may come out of order."""
        requests = (
            messages.request_to_proto(encode_image(image), boxes, self._options, request_id)
            for request_id, image, boxes in items
        )
        try:
            for response in self._stub.RecognizeStream(requests, timeout=timeout):
                if response.HasField("error"):
                    code = _STATUS_NAMES.get(response.error.code, "UNKNOWN")
                    yield response.request_id, OcrFailure(code, response.error.message)
                else:
                    yield response.request_id, messages.result_from_proto(response.result)
        except grpc.RpcError as error:
            raise OcrFailure(error.code().name, error.details() or "") from None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the server's health check says SERVING; raise OcrFailure otherwise."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
            reply = health_pb2_grpc.HealthStub(self._channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.FutureTimeoutError:
            raise OcrFailure("UNAVAILABLE", f"no OCR server answered at {self.address} within {timeout:.0f} s") from None
        except grpc.RpcError as error:
            raise OcrFailure(error.code().name, error.details() or "") from None
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise OcrFailure("UNAVAILABLE", f"the OCR server at {self.address} is not serving")

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "OcrClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
