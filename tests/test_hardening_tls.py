"""TLS helpers for the hardening tests: a self-signed certificate made with the openssl CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) for 127.0.0.1 and localhost, valid one day."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_ocr_tls_round_trip(tmp_path):
    import numpy as np

    from creativelens.ocr_service.client import OcrClient
    from creativelens.ocr_service.failures import OcrFailure
    from creativelens.ocr_service.server import OcrServer, ServerConfig
    from creativelens.tls import TlsOptions

    cert, key = self_signed_certificate(tmp_path)
    server = OcrServer(ServerConfig(port=0, workers=1, tls=TlsOptions(cert=cert, key=key))).start()
    try:
        with OcrClient(server.address, tls=TlsOptions(ca=cert)) as client:
            client.wait_ready(timeout=10)
            result = client.recognise(np.full((64, 200, 3), 255, np.uint8), timeout=30)
            assert result is not None
        with OcrClient(server.address) as plain, pytest.raises(OcrFailure):
            plain.wait_ready(timeout=3)
    finally:
        server.stop()
