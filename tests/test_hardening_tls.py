"""TLS on the OCR sidecar: an encrypted round trip, and a plain client refused."""

from __future__ import annotations

import pytest

from ocr_images import two_line_ad
from tls_fixtures import self_signed_certificate


def test_ocr_tls_round_trip(tmp_path):
    from creativelens.ocr_service.client import OcrClient
    from creativelens.ocr_service.failures import OcrFailure
    from creativelens.ocr_service.server import OcrServer, ServerConfig
    from creativelens.tls import TlsOptions

    cert, key = self_signed_certificate(tmp_path)
    server = OcrServer(ServerConfig(port=0, workers=1, tls=TlsOptions(cert=cert, key=key))).start()
    try:
        with OcrClient(server.address, tls=TlsOptions(ca=cert)) as client:
            client.wait_ready(timeout=10)
            image, _ = two_line_ad()
            result = client.recognise(image, timeout=30)
            assert "SUMMER" in result.text.upper() and (result.width, result.height) == (640, 220)
        with OcrClient(server.address) as plain, pytest.raises(OcrFailure):
            plain.wait_ready(timeout=3)
    finally:
        server.stop()
