"""The OCR service's pieces on their own: exclusion, line assembly, decoding, options, protos."""

from __future__ import annotations

import io

import numpy as np
import pytest
from ocr_images import png_bytes, two_line_ad
from PIL import Image

from creativelens.ocr_service import build_protos
from creativelens.ocr_service.decoding import InvalidImage, decode, probe
from creativelens.ocr_service.engine import TesseractEngine, available_languages
from creativelens.ocr_service.exclusion import drop_words_inside, mask_regions
from creativelens.ocr_service.options import RecognitionOptions
from creativelens.ocr_service.results import Word, assemble


def test_mask_fills_each_box_with_its_mean_colour_and_leaves_the_rest():
    pixels = np.zeros((10, 10, 3), np.uint8)
    pixels[2:4, 2:6] = (200, 100, 0)
    pixels[3, 2:6] = (100, 50, 0)
    masked = mask_regions(pixels, [(2, 2, 6, 4), (8, 8, 20, 20)])
    assert (masked[2:4, 2:6] == (150, 75, 0)).all()
    assert (masked[8:, 8:] == 0).all() and (masked[:2] == 0).all()
    assert pixels[3, 2, 0] == 100  # the input is untouched


def test_drop_keeps_words_less_than_half_inside_a_box():
    words = [Word("in", (10, 10, 20, 20), 90, 0), Word("edge", (15, 10, 35, 20), 90, 0),
             Word("out", (50, 50, 60, 60), 90, 1)]
    assert [w.text for w in drop_words_inside(words, [(0, 0, 24, 30)])] == ["edge", "out"]


def test_assemble_builds_lines_text_and_dense_line_indices():
    words = [Word("a", (0, 0, 5, 5), 80, 0), Word("b", (10, 0, 20, 8), 90, 0),
             Word("c", (0, 20, 5, 25), 70, 3)]
    result = assemble(30, 30, words)
    assert result.text == "a b\nc"
    assert [line.box for line in result.lines] == [(0, 0, 20, 8), (0, 20, 5, 25)]
    assert result.lines[0].confidence == 85
    assert [w.line_index for w in result.words] == [0, 0, 1]


def test_decode_lays_transparency_over_white_and_probe_reads_only_the_header():
    rgba = Image.new("RGBA", (4, 3), (0, 0, 0, 0))
    pixels = decode(png_bytes(rgba))
    assert pixels.shape == (3, 4, 3) and (pixels == 255).all()
    assert probe(png_bytes(rgba)) == (4, 3)
    grey = decode(png_bytes(Image.new("L", (5, 5), 7)))
    assert grey.shape == (5, 5) and grey[0, 0] == 7


@pytest.mark.parametrize("data, max_pixels, message", [
    (b"GIF89a-not-really", 100, "not an image"),
    (b"", 100, "empty"),
    (None, 10, "over the limit of 10"),
])
def test_decode_refuses_bad_or_oversized_images(data, max_pixels, message):
    data = png_bytes(Image.new("L", (4, 4))) if data is None else data
    with pytest.raises(InvalidImage, match=message):
        decode(data, max_pixels)


def test_options_check_names_what_is_wrong():
    languages = available_languages()
    assert "eng" in languages
    RecognitionOptions().check(languages)
    with pytest.raises(ValueError, match="not installed"):
        RecognitionOptions(language="eng+xyz").check(languages)
    with pytest.raises(ValueError, match="thresholding"):
        RecognitionOptions(thresholding="magic").check(languages)


def test_engine_reads_known_text_and_returns_nothing_for_a_blank_image():
    engine = TesseractEngine()
    image, _ = two_line_ad()
    pixels = np.asarray(Image.open(io.BytesIO(image)))
    result = engine.recognise(pixels, [], RecognitionOptions())
    assert result.text.upper() == "SUMMER SALE TODAY\nSHOP NOW ONLINE"
    for size in ((17, 40), (300, 200)):
        assert engine.recognise(np.full(size[::-1], 255, np.uint8), [], RecognitionOptions()).words == []
    engine.close()


def test_generated_code_imports_through_the_package(tmp_path):
    (tmp_path / "ocr.proto").write_text((build_protos.PACKAGE_DIR / "ocr.proto").read_text())
    written = build_protos.build(tmp_path)
    assert sorted(path.name for path in written) == sorted(build_protos.GENERATED)
    grpc_code = (tmp_path / "ocr_pb2_grpc.py").read_text()
    assert "from creativelens.ocr_service import ocr_pb2" in grpc_code


def test_recognise_async_answers_each_future_with_its_own_image_and_failures_as_ocr_failure():
    from creativelens.ocr_service.client import OcrClient
    from creativelens.ocr_service.failures import OcrFailure
    from creativelens.ocr_service.server import OcrServer, ServerConfig

    image, top_line = two_line_ad()
    server = OcrServer(ServerConfig(port=0, workers=1)).start()
    try:
        with OcrClient(server.address) as ocr:
            futures = [ocr.recognise_async(image), ocr.recognise_async(image, [top_line]),
                       ocr.recognise_async(b"not an image")]
            assert futures[0].result(timeout=60).text.upper() == "SUMMER SALE TODAY\nSHOP NOW ONLINE"
            assert futures[1].result(timeout=60).text.upper() == "SHOP NOW ONLINE"
            with pytest.raises(OcrFailure) as failure:
                futures[2].result(timeout=60)
            assert failure.value.code == "INVALID_ARGUMENT"
    finally:
        server.stop()
