"""`creativelens ocr serve` as a user runs it: a subprocess on loopback, stopped by SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import pytest
from ocr_images import two_line_ad

from creativelens.ocr_service.client import OcrClient


@pytest.fixture
def served(tmp_path):
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "creativelens.cli", "ocr", "serve", "--port", "0", "--workers", "1",
         "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    try:
        banner = process.stdout.readline()
        match = re.search(r"serving on (127\.0\.0\.1:\d+)", banner)
        assert match, f"unexpected first line: {banner!r}; log: {(tmp_path / 'serve.log').read_text()}"
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        process.stdout.close()
        log.close()


def test_serve_binds_loopback_answers_and_stops_cleanly_on_sigterm(served):
    process, address = served
    image, _ = two_line_ad()
    with OcrClient(address) as client:
        client.wait_ready(timeout=30)
        assert client.recognise(image).text.upper().startswith("SUMMER SALE TODAY")
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert "ocr: stopped" in process.stdout.read()


def test_check_reports_serving_and_fails_on_a_closed_port(served):
    _, address = served
    ok = subprocess.run([sys.executable, "-m", "creativelens.cli", "ocr", "check", "--address", address,
                         "--timeout", "30"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "is serving" in ok.stdout
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    down = subprocess.run([sys.executable, "-m", "creativelens.cli", "ocr", "check", "--address", closed,
                           "--timeout", "1"], capture_output=True, text=True, timeout=120)
    assert down.returncode == 2 and "UNAVAILABLE" in down.stderr


def test_serve_refuses_a_bad_worker_count():
    run = subprocess.run(
        [sys.executable, "-m", "creativelens.cli", "ocr", "serve", "--workers", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 2 and "--workers must be at least 1" in run.stderr
