"""`creativelens stream --ocr`: text read by the real OCR sidecar, outside the excluded boxes.

The geometry detector (tests/serving_fixtures.py) reports the centre quarter of every image
as class "centre"; excluding that label must hide the text printed there and nothing else.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw, ImageFont

from creativelens.ocr_service.server import OcrServer, ServerConfig

FONT = "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"


@pytest.fixture(scope="module")
def ocr_server():
    server = OcrServer(ServerConfig(port=0, workers=1)).start()
    yield server
    server.stop(grace_s=1.0)


def _ad_with_text_in_corner_and_centre(path):
    image = Image.new("RGB", (800, 600), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 48)
    draw.text((20, 20), "CORNER", font=font, fill="black")  # outside the centre quarter
    draw.text((260, 270), "MIDDLE", font=font, fill="black")  # inside [200, 150, 600, 450]
    image.save(path)
    return path


def _stream(inputs, geometry_server, ocr_server, out, *extra):
    return subprocess.run(
        [sys.executable, "-m", "creativelens.cli", "stream", *map(str, inputs), "--server", geometry_server.grpc_url,
         "--out", str(out), "--threshold", "0.4", "--ocr", ocr_server.address, "--no-progress", *extra],
        capture_output=True, text=True, timeout=300)


def test_ocr_text_lands_in_the_record_and_its_csv_without_the_excluded_boxes(tmp_path, geometry_server, ocr_server):
    ad = _ad_with_text_in_corner_and_centre(tmp_path / "ad.png")
    result = _stream([ad], geometry_server, ocr_server, tmp_path / "out", "--ocr-exclude", "centre")
    assert result.returncode == 0, result.stderr[-2000:]

    record = json.loads((tmp_path / "out" / "detections.jsonl").read_text().splitlines()[0])
    assert "CORNER" in record["ocr_text"] and "MIDDLE" not in record["ocr_text"]
    assert {w["text"] for w in record["ocr_words"]} >= {"CORNER"}
    rows = list(csv.DictReader(open(tmp_path / "out" / "ocr.csv")))
    assert len(rows) == 1 and rows[0]["file_name"] == str(ad) and "CORNER" in rows[0]["ocr_text"]

    unexcluded = _stream([ad], geometry_server, ocr_server, tmp_path / "all", "--ocr-exclude", "none-such")
    assert unexcluded.returncode == 0, unexcluded.stderr[-2000:]
    record = json.loads((tmp_path / "all" / "detections.jsonl").read_text().splitlines()[0])
    assert "MIDDLE" in record["ocr_text"]


def test_an_ocr_outage_is_retried_then_left_unfinished_and_a_rerun_reads_the_text_without_re_inferring(tmp_path):
    import threading
    import time

    import tritonclient.grpc as grpcclient

    from creativelens.client.ocr import OcrEnricher
    from creativelens.client.settings import RunSettings
    from creativelens.client.stream import stream
    from creativelens.client.triton_statistics import read_model_statistics
    from creativelens.serve.tritonserver import TritonServer
    from serving_fixtures import GEOMETRY_MODEL, write_geometry_repository, write_video

    def detector_inferences(server) -> int:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        try:
            return read_model_statistics(client, GEOMETRY_MODEL)[GEOMETRY_MODEL].inference_count
        finally:
            client.close()

    video = write_video(tmp_path / "clip.avi", 40)
    out = tmp_path / "out"
    repository = write_geometry_repository(tmp_path / "repo", delay_s=0.1)
    ocr = OcrServer(ServerConfig(port=0, workers=1)).start()
    port = int(ocr.address.rsplit(":", 1)[1])
    with TritonServer(repository) as server:
        enricher = OcrEnricher(ocr.address, retry_for_s=2.0)
        outcome = {}
        options = RunSettings(every=1, max_in_flight=2, repeat_threshold=None)
        runner = threading.Thread(target=lambda: outcome.update(summary=stream([str(video)], server.grpc_url, out, options,
                                                                               enrichers=(enricher,))))
        runner.start()
        while not ((out / "detections.jsonl").exists() and (out / "detections.jsonl").read_text().count("ocr_text") >= 5):
            assert runner.is_alive()
            time.sleep(0.05)
        ocr.stop(grace_s=0.0)  # the sidecar goes away mid-run
        runner.join(timeout=180)
        enricher.close()
        summary = outcome["summary"]
        assert not summary.complete and summary.ocr_failures > 0 and "OCR failed transiently" in summary.failure
        saved = json.loads((out / "summary.json").read_text())
        assert saved["ocr_failures"] == summary.ocr_failures and saved["complete"] is False
        inferred = detector_inferences(server)
        assert inferred == 40  # every frame was detected once, whatever OCR did

        ocr = OcrServer(ServerConfig(port=port, workers=1)).start()  # back, same address
        try:
            enricher = OcrEnricher(ocr.address, retry_for_s=2.0)
            again = stream([str(video)], server.grpc_url, out, RunSettings(every=1, repeat_threshold=None),
                           enrichers=(enricher,))
            enricher.close()
        finally:
            ocr.stop(grace_s=0.0)
        assert again.complete and again.ocr_failures == 0
        assert again.items_done == summary.ocr_failures and again.inferences == 0
        assert detector_inferences(server) == inferred, "the detector ran again on items that only lacked text"
    rows = list(csv.DictReader(open(out / "ocr.csv")))
    assert sorted(row["file_name"] for row in rows) == sorted(f"{video}#frame={i}" for i in range(40))
    table = pq.read_table(out / "detections.parquet").to_pylist()
    assert len(table) == 40 and {r["model"] for r in table} == {GEOMETRY_MODEL}
