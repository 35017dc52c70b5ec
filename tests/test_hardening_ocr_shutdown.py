"""The OCR sidecar going away (issue 25): requests in flight when `ocr serve` is told to stop get
a transient status (the client retries them), never INTERNAL "the worker crashed" (which marks
the image as poison, so a re-run skips it); and a sidecar that stops answering (SIGSTOP) does
not hold `creativelens stream --ocr` past its retry window. Real sidecar, real Tesseract."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image, ImageDraw, ImageFont

from creativelens.ocr_service.client import OcrClient
from creativelens.ocr_service.failures import OcrFailure
from creativelens.serve.tritonserver import free_port

pytestmark = pytest.mark.timeout(240)

FONT = "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"
TRANSIENT = {"UNAVAILABLE", "CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"}


def _page_of_text(lines: int = 40) -> bytes:
    """A large page of text: a second or more of recognition, so requests are in flight."""
    image = Image.new("RGB", (1800, 60 + 44 * lines), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 30)
    for row in range(lines):
        draw.text((30, 30 + 44 * row), f"Line {row} of the offer: save on every order today only", font=font,
                  fill="black")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _start_sidecar(port: int, workers: int = 1) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "creativelens.cli", "ocr", "serve", "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)  # its own process group, as under a supervisor
    with OcrClient(f"127.0.0.1:{port}") as client:
        client.wait_ready(timeout=120)
    return process


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGCONT)
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(30)


@pytest.mark.parametrize("whom", ["server", "process group"])
def test_requests_in_flight_when_the_sidecar_stops_get_a_transient_status(whom):
    port = free_port()
    process = _start_sidecar(port)
    page = _page_of_text()
    outcomes: list[str] = []
    try:
        with OcrClient(f"127.0.0.1:{port}") as client:
            client.recognise(page, timeout=60)  # warm: the engine has loaded its models

            def ask() -> None:
                try:
                    client.recognise(page, timeout=60)
                    outcomes.append("OK")
                except OcrFailure as failure:
                    outcomes.append(f"{failure.code}: {failure.message}")

            askers = [threading.Thread(target=ask) for _ in range(3)]  # 1 engine: one runs, two wait
            for asker in askers:
                asker.start()
            time.sleep(0.5)
            if whom == "server":
                os.kill(process.pid, signal.SIGTERM)
            else:  # a supervisor stopping the service's whole group (systemd, a shell's job control)
                os.killpg(process.pid, signal.SIGTERM)
            for asker in askers:
                asker.join(60)
        output, _ = process.communicate(timeout=60)
    finally:
        _end(process)
    assert len(outcomes) == 3, outcomes
    assert all(o == "OK" or o.split(":")[0] in TRANSIENT for o in outcomes), outcomes
    assert not any("crashed" in o or o.startswith("INTERNAL") for o in outcomes), outcomes
    assert process.returncode == 0, output[-2000:]
    assert "ocr: stopped" in output
    print(f"SIGTERM to the {whom} with 3 requests in flight: {outcomes}")


def test_a_stopped_sidecar_does_not_hold_the_stream(geometry_server, tmp_path):
    from serving_fixtures import write_video

    port = free_port()
    sidecar = _start_sidecar(port)
    video = write_video(tmp_path / "clip.avi", 40, size=(320, 240))
    out = tmp_path / "out"
    run = subprocess.Popen(
        [sys.executable, "-m", "creativelens.cli", "stream", str(video), "--every", "1", "--no-skip-repeats",
         "--server", geometry_server.grpc_url, "--out", str(out), "--ocr", f"127.0.0.1:{port}",
         "--retry-for", "5", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "detections.jsonl").exists() or len((out / "detections.jsonl").read_text().splitlines()) < 3:
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.05)
        os.killpg(sidecar.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            _, stderr = run.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            run.kill()
            _, stderr = run.communicate()
            pytest.fail(f"stream --ocr still running 90 s after the sidecar stopped: {stderr[-1500:]}")
        took = time.monotonic() - stopped
    finally:
        if run.poll() is None:
            run.kill()
        _end(sidecar)
    assert run.returncode == 3, stderr[-2000:]
    assert "OCR failed transiently" in stderr and "Traceback" not in stderr
    records = [json.loads(line) for line in (out / "detections.jsonl").read_text().splitlines()]
    assert len(records) == 40 and any(r.get("ocr_transient") for r in records)
    assert took < 45, f"ended {took:.1f} s after the sidecar stopped"
    print(f"sidecar stopped: stream ended (exit 3) {took:.1f} s later, "
          f"{sum(bool(r.get('ocr_transient')) for r in records)} items left to re-run")


def test_a_stopped_run_does_not_wait_on_ocr_retries():
    """SIGTERM during a sidecar outage: the stream cancels its enricher, so an item waiting to
    retry gives up at once (transient: a re-run reads it) instead of after --retry-for."""
    import numpy as np

    from creativelens.client.ocr import OcrEnricher
    from creativelens.item_result import ItemResult
    from creativelens.ocr_service.server import OcrServer, ServerConfig

    server = OcrServer(ServerConfig(port=0, workers=1)).start()
    enricher = OcrEnricher(server.address, retry_for_s=120.0)
    server.stop(grace_s=0.0)  # the sidecar goes away: calls fail UNAVAILABLE, the enricher retries
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(
        result=enricher(ItemResult("/a.png", width=64, height=48), np.zeros((48, 64, 3), np.uint8), [])))
    worker.start()
    time.sleep(2.0)
    assert worker.is_alive(), "the enricher should still be retrying inside its 120 s window"
    cancelled_at = time.monotonic()
    enricher.cancel()
    worker.join(timeout=15)
    enricher.close()
    assert not worker.is_alive() and time.monotonic() - cancelled_at < 10
    assert outcome["result"].ocr_transient and outcome["result"].ocr is None
