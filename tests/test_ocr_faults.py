"""Overload and worker crashes, injected with a faulty engine (a real Tesseract underneath)."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ocr_faults import CRASH_WIDTH, HANG_WIDTH, FaultyEngine
from ocr_images import png_bytes, two_line_ad
from PIL import Image

from creativelens.ocr_service.client import OcrClient
from creativelens.ocr_service.failures import OcrFailure
from creativelens.ocr_service.server import OcrServer, ServerConfig

FULL_TEXT = ["SUMMER", "SALE", "TODAY", "SHOP", "NOW", "ONLINE"]


@pytest.fixture
def release_file(tmp_path):
    return tmp_path / "release"


@pytest.fixture
def one_worker_server(release_file):
    """One engine and no waiting room: a second concurrent request is already an overload."""
    engine = functools.partial(FaultyEngine, release_file=str(release_file))
    server = OcrServer(ServerConfig(port=0, workers=1, max_queue=0), engine_factory=engine).start()
    yield server
    release_file.touch()
    server.stop(grace_s=1.0)


def words_of(result) -> list[str]:
    return [word.text.upper() for word in result.words]


def wait_until(condition, what: str) -> None:
    for _ in range(400):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def test_overload_is_refused_with_resource_exhausted_not_queued(one_worker_server, release_file):
    server = one_worker_server
    hanging = png_bytes(Image.new("L", (HANG_WIDTH, 40), 255))
    outcome = {}

    def occupy_the_engine():
        with OcrClient(server.address) as client:
            outcome["first"] = client.recognise(hanging, timeout=60)

    first = threading.Thread(target=occupy_the_engine)
    first.start()
    wait_until(lambda: server.metrics.registry.get_sample_value("ocr_in_flight") == 1, "the first request to be in flight")
    image, _ = two_line_ad()
    with OcrClient(server.address) as client, pytest.raises(OcrFailure) as failure:
        client.recognise(image)
    assert failure.value.code == "RESOURCE_EXHAUSTED" and "overloaded" in failure.value.message

    release_file.touch()
    first.join(60)
    assert outcome["first"].words == []
    with OcrClient(server.address) as client:
        assert words_of(client.recognise(image)) == FULL_TEXT


def test_a_crashing_worker_fails_only_its_request_and_is_replaced(one_worker_server):
    server = one_worker_server
    pid_before = server.pool.worker_pids()[0]
    poison = png_bytes(Image.new("L", (CRASH_WIDTH, 40), 255))
    image, _ = two_line_ad()
    with OcrClient(server.address) as client:
        with pytest.raises(OcrFailure) as failure:
            client.recognise(poison)
        assert failure.value.code == "INTERNAL" and "crashed" in failure.value.message
        assert words_of(client.recognise(image)) == FULL_TEXT
        client.wait_ready(timeout=10)
    assert server.pool.worker_pids()[0] != pid_before
    assert server.pool.restarts == 1


def test_a_worker_killed_while_idle_is_replaced_before_the_next_request(one_worker_server):
    server = one_worker_server
    victim = server.pool.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: server.pool.live_workers() == 0, "the worker to die")
    image, _ = two_line_ad()
    with OcrClient(server.address) as client:
        assert words_of(client.recognise(image)) == FULL_TEXT
    assert server.pool.worker_pids()[0] != victim


def test_stopping_refuses_new_work_and_stops_the_workers():
    server = OcrServer(ServerConfig(port=0, workers=1)).start()
    channel = grpc.insecure_channel(server.address)
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    server.stop(grace_s=1.0)
    image, _ = two_line_ad()
    with OcrClient(server.address) as client, pytest.raises(OcrFailure) as failure:
        client.recognise(image, timeout=2)
    assert failure.value.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED")
    channel.close()
    assert server.pool.live_workers() == 0


def test_a_worker_stuck_past_its_deadline_is_replaced(one_worker_server):
    server = one_worker_server
    hanging = png_bytes(Image.new("L", (HANG_WIDTH, 40), 255))  # never released in this test
    image, _ = two_line_ad()
    with OcrClient(server.address) as client:
        with pytest.raises(OcrFailure) as failure:
            client.recognise(hanging, timeout=0.5)
        assert failure.value.code == "DEADLINE_EXCEEDED"
        wait_until(lambda: server.pool.restarts == 1, "the stuck worker to be replaced")
        assert words_of(client.recognise(image)) == FULL_TEXT
