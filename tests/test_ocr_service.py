"""A real Tesseract behind a real gRPC server on loopback, exercised through the public client."""

from __future__ import annotations

import io
import threading
import time
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from ocr_images import dense_page, png_bytes, two_line_ad
from PIL import Image

from creativelens.detections import Detections
from creativelens.ocr_service.client import OcrClient, exclusion_boxes
from creativelens.ocr_service.failures import OcrFailure
from creativelens.ocr_service.generated import ocr_pb2, ocr_pb2_grpc
from creativelens.ocr_service.server import OcrServer, ServerConfig

MAX_PIXELS = 4_000_000
MAX_MESSAGE_BYTES = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def server():
    server = OcrServer(ServerConfig(
        port=0, workers=2, max_pixels=MAX_PIXELS, max_message_bytes=MAX_MESSAGE_BYTES, metrics_port=0,
    )).start()
    yield server
    server.stop(grace_s=1.0)


@pytest.fixture
def client(server):
    with OcrClient(server.address) as client:
        yield client


def words_of(result) -> list[str]:
    return [word.text.upper() for word in result.words]


def test_recognises_known_text_with_boxes_lines_and_timings(client):
    image, _ = two_line_ad()
    result = client.recognise(image)
    assert words_of(result) == ["SUMMER", "SALE", "TODAY", "SHOP", "NOW", "ONLINE"]
    assert [line.text.upper() for line in result.lines] == ["SUMMER SALE TODAY", "SHOP NOW ONLINE"]
    assert result.text.upper() == "SUMMER SALE TODAY\nSHOP NOW ONLINE"
    assert (result.width, result.height) == (640, 220)
    summer = result.words[0]
    assert 10 <= summer.box[0] < summer.box[2] <= 330 and 10 <= summer.box[1] < summer.box[3] <= 90
    assert all(word.confidence > 80 for word in result.words)
    assert [word.line_index for word in result.words] == [0, 0, 0, 1, 1, 1]
    assert result.timings.recognize_ms > 0 and result.timings.total_ms >= result.timings.recognize_ms


def test_accepts_a_bgr_array_like_opencv_gives(client):
    image, _ = two_line_ad()
    bgr = np.asarray(Image.open(io.BytesIO(image)))[:, :, ::-1]
    assert words_of(client.recognise(bgr)) == ["SUMMER", "SALE", "TODAY", "SHOP", "NOW", "ONLINE"]


@pytest.mark.parametrize("mode", ["mask", "drop"])
def test_text_inside_exclusion_boxes_is_not_returned(server, mode):
    image, top_line = two_line_ad()
    with OcrClient(server.address, exclusion_mode=mode) as client:
        result = client.recognise(image, [top_line])
    assert words_of(result) == ["SHOP", "NOW", "ONLINE"]
    assert result.text.upper() == "SHOP NOW ONLINE"
    assert len(result.lines) == 1 and [w.line_index for w in result.words] == [0, 0, 0]


def test_exclusion_boxes_come_from_the_detections_of_chosen_classes(client):
    image, (x1, y1, x2, y2) = two_line_ad()
    detections = Detections(
        [[x1 + 0.4, y1, x2 - 0.6, y2 - 0.5], [0, 120, 100, 200]], [0.99, 0.95], [0, 1],
        ("logo", "person"), width=640, height=220,
    )
    boxes = exclusion_boxes(detections, {"logo", "product"})
    assert boxes == [(x1, y1, x2, y2)]
    assert words_of(client.recognise(image, boxes)) == ["SHOP", "NOW", "ONLINE"]


def test_stream_answers_every_image_and_reports_bad_ones_alone(client):
    image, top_line = two_line_ad()
    items = [("a", image, []), ("bad", b"not an image", []), ("b", image, [top_line])]
    answers = dict(client.recognise_many(items))
    assert set(answers) == {"a", "bad", "b"}
    assert words_of(answers["a"]) == ["SUMMER", "SALE", "TODAY", "SHOP", "NOW", "ONLINE"]
    assert words_of(answers["b"]) == ["SHOP", "NOW", "ONLINE"]
    assert isinstance(answers["bad"], OcrFailure) and answers["bad"].code == "INVALID_ARGUMENT"


def test_concurrent_clients_all_get_their_own_answers(server):
    image, top_line = two_line_ad()
    outcomes: dict[int, list[str]] = {}

    def one_client(index: int) -> None:
        with OcrClient(server.address) as client:
            boxes = [top_line] if index % 2 else []
            outcomes[index] = [words_of(client.recognise(image, boxes)) for _ in range(2)]

    threads = [threading.Thread(target=one_client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    full, excluded = ["SUMMER", "SALE", "TODAY", "SHOP", "NOW", "ONLINE"], ["SHOP", "NOW", "ONLINE"]
    assert outcomes == {i: [excluded if i % 2 else full] * 2 for i in range(4)}


@pytest.mark.parametrize("payload, message", [
    (b"this is plain text, not an image", "not an image"),
    (b"", "empty"),
    (two_line_ad()[0][:300], "truncated"),
])
def test_undecodable_bytes_are_invalid_argument_with_a_clear_message(client, payload, message):
    with pytest.raises(OcrFailure) as failure:
        client.recognise(payload)
    assert failure.value.code == "INVALID_ARGUMENT"
    assert message in failure.value.message


def test_images_over_the_pixel_limit_are_invalid_argument(client):
    too_big = png_bytes(Image.new("L", (2100, 2000), 255))  # 4.2 MP, a few KB as PNG
    with pytest.raises(OcrFailure) as failure:
        client.recognise(too_big)
    assert failure.value.code == "INVALID_ARGUMENT"
    assert "over the limit of 4000000" in failure.value.message


def test_messages_over_the_size_limit_are_refused_by_the_server(client):
    noise = np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)  # ~3 MB PNG
    with pytest.raises(OcrFailure) as failure:
        client.recognise(noise)
    assert failure.value.code == "RESOURCE_EXHAUSTED"


@pytest.mark.parametrize("options, message", [
    ({"language": "klingon"}, "not installed"),
    ({"page_segmentation_mode": 2}, "page segmentation mode"),
])
def test_unusable_options_are_invalid_argument(server, options, message):
    image, _ = two_line_ad()
    with OcrClient(server.address, **options) as client, pytest.raises(OcrFailure) as failure:
        client.recognise(image)
    assert failure.value.code == "INVALID_ARGUMENT" and message in failure.value.message


def test_empty_exclusion_boxes_are_invalid_argument(client):
    image, _ = two_line_ad()
    with pytest.raises(OcrFailure) as failure:
        client.recognise(image, [(100, 50, 40, 80)])
    assert failure.value.code == "INVALID_ARGUMENT" and "x2 > x1" in failure.value.message


def metric(server, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values)


def test_deadline_stops_recognition_and_frees_the_engine(server, client):
    before = metric(server, 'ocr_requests_total{code="DEADLINE_EXCEEDED",method="Recognize"}')
    restarts_before = server.pool.restarts
    with pytest.raises(OcrFailure) as failure:
        client.recognise(dense_page(), timeout=0.5)
    assert failure.value.code == "DEADLINE_EXCEEDED"
    for _ in range(200):  # the server answers on its side once Tesseract gives up
        if metric(server, "ocr_in_flight") == 0:
            break
        time.sleep(0.05)
    assert metric(server, 'ocr_requests_total{code="DEADLINE_EXCEEDED",method="Recognize"}') == before + 1
    assert server.pool.restarts == restarts_before  # Tesseract stopped itself; no worker was killed
    image, _ = two_line_ad()
    assert words_of(client.recognise(image))[:3] == ["SUMMER", "SALE", "TODAY"]


def test_metrics_count_requests_errors_and_latency(server, client):
    image, _ = two_line_ad()
    ok_before = metric(server, 'ocr_requests_total{code="OK",method="Recognize"}')
    errors_before = metric(server, 'ocr_errors_total{code="INVALID_ARGUMENT",method="Recognize"}')
    client.recognise(image)
    with pytest.raises(OcrFailure):
        client.recognise(b"garbage")
    assert metric(server, 'ocr_requests_total{code="OK",method="Recognize"}') == ok_before + 1
    assert metric(server, 'ocr_errors_total{code="INVALID_ARGUMENT",method="Recognize"}') == errors_before + 1
    assert metric(server, 'ocr_request_latency_seconds_count{method="Recognize"}') >= 2
    assert metric(server, "ocr_in_flight") == 0


def test_health_check_serves_overall_and_for_the_ocr_service(server, client):
    client.wait_ready(timeout=10)
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "creativelens.ocr.v1.Ocr"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(server):
    with grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {service.name for service in reply.list_services_response.service}
    assert {"creativelens.ocr.v1.Ocr", "grpc.health.v1.Health"} <= names


def test_raw_stub_gets_the_proto_fields(server):
    image, _ = two_line_ad()
    with grpc.insecure_channel(server.address) as channel:
        reply = ocr_pb2_grpc.OcrStub(channel).Recognize(
            ocr_pb2.RecognizeRequest(request_id="r1", image=image), timeout=30
        )
    assert reply.request_id == "r1" and reply.text.upper().startswith("SUMMER SALE TODAY")
    assert reply.words[0].box.x2 > reply.words[0].box.x1
