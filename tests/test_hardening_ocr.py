"""Issue 15.8 (OCR): a 1 x 39,000,000 header is INVALID_ARGUMENT; psm 0 and an unknown
thresholding are refused (ocr_service/README.md), not replaced by defaults."""

from __future__ import annotations

import struct
import zlib

import grpc
import pytest

from creativelens.ocr_service import messages
from creativelens.ocr_service.client import OcrClient
from creativelens.ocr_service.failures import OcrFailure
from creativelens.ocr_service.generated import ocr_pb2, ocr_pb2_grpc
from creativelens.ocr_service.server import OcrServer, ServerConfig


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0\xff" * 8)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def server():
    server = OcrServer(ServerConfig(port=0, workers=1)).start()
    yield server
    server.stop()


def test_a_header_claiming_1_by_39_million_pixels_is_invalid_argument(server):
    with OcrClient(server.address) as client, pytest.raises(OcrFailure) as failure:
        client.recognise(_png_header(1, 39_000_000), timeout=30)
    assert failure.value.code == "INVALID_ARGUMENT" and "39000000" in failure.value.message


def test_psm_0_and_unknown_thresholding_are_refused(server):
    for options in ({"page_segmentation_mode": 0}, {"thresholding": "bogus"}):
        with pytest.raises(OcrFailure) as failure:
            messages.options_to_proto(**options)
        assert failure.value.code == "INVALID_ARGUMENT"
    with grpc.insecure_channel(server.address) as channel:  # a client that sends an unknown number
        request = ocr_pb2.RecognizeRequest(image=_png_header(8, 8), options=ocr_pb2.Options(thresholding=99))
        with pytest.raises(grpc.RpcError) as error:
            ocr_pb2_grpc.OcrStub(channel).Recognize(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "unknown value 99" in error.value.details()


def test_health_is_answered_with_16_busy_streams(server):
    import subprocess
    import sys
    import threading

    from creativelens.sample_media import sample_stills

    image = sample_stills()[0].read_bytes()
    release = threading.Event()

    def requests():
        yield messages.request_to_proto(image, (), ocr_pb2.Options())
        release.wait(60)  # keep the stream open and busy

    channel = grpc.insecure_channel(server.address)
    calls = [ocr_pb2_grpc.OcrStub(channel).RecognizeStream(requests(), timeout=90) for _ in range(16)]
    try:
        for _ in range(2):
            check = subprocess.run([sys.executable, "-m", "creativelens.cli", "ocr", "check", "--address",
                                    server.address, "--timeout", "5"], capture_output=True, text=True, timeout=60)
            assert check.returncode == 0, check.stderr
    finally:
        release.set()
        for call in calls:
            call.cancel()
        channel.close()


def test_a_cancelled_request_frees_its_admission_slot():
    import time

    import cv2
    import numpy as np

    from creativelens.sample_media import sample_stills

    tiles = cv2.imread(str(sample_stills()[0]))
    big = np.tile(tiles, (6, 6, 1))[:5000, :5000]
    slow = cv2.imencode(".png", big)[1].tobytes()
    small = cv2.imencode(".png", tiles[:64, :64])[1].tobytes()
    server = OcrServer(ServerConfig(port=0, workers=1, max_queue=0)).start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = ocr_pb2_grpc.OcrStub(channel)
            busy = stub.Recognize.future(ocr_pb2.RecognizeRequest(image=slow), timeout=60)
            time.sleep(1.0)
            with pytest.raises(grpc.RpcError) as refused:  # the one slot is taken
                stub.Recognize(ocr_pb2.RecognizeRequest(image=small), timeout=60)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            busy.cancel()
            time.sleep(0.5)
            answer = stub.Recognize(ocr_pb2.RecognizeRequest(image=small), timeout=60)  # admitted, waits for the engine
            assert answer.width == 64
    finally:
        server.stop()
