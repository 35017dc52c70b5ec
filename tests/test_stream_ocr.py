"""`creativelens stream --ocr`: text read by the real OCR sidecar, outside the excluded boxes.

The geometry detector (tests/serving_fixtures.py) reports the centre quarter of every image
as class "centre"; excluding that label must hide the text printed there and nothing else.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

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
