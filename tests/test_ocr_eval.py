"""The OCR evaluation: its scoring, its seeded set, and a small end-to-end run."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from creativelens.errors import UserError
from creativelens.ocr_service.engines import DEFAULT_ENGINE, engine_factory
from creativelens.ocr_service.eval_held_out import render_held_out_ad
from creativelens.ocr_service.eval_set import (
    CHALLENGES, EvalImage, build_eval_set, render_ad, render_hard_ad, tokens,
)
from creativelens.ocr_service.evaluate import CONFIGURATIONS, configurations_named, run_evaluation, score
from creativelens.ocr_service.options import RecognitionOptions
from creativelens.ocr_service.results import Word

# Set from the measured default (benchmarks/results/ocr_eval_amd-epyc-2c.md: recall 0.89,
# precision 0.93 on the 100 images); these eight (two rendered ads, one hard creative of every
# challenge) read 0.94 / 0.88, so the floors are the issue's 0.85 target with a few words' margin.
DEFAULT_ENGINE_RECALL_FLOOR = 0.90
DEFAULT_ENGINE_PRECISION_FLOOR = 0.85


def test_tokens_lower_case_and_split_on_punctuation():
    assert tokens("Up to 50% OFF: real-world np.zeros_like(coins)!") == [
        "up", "to", "50", "off", "real", "world", "np", "zeros", "like", "coins"]


def test_score_matches_bags_of_words_and_counts_leaks():
    image = EvalImage("x", "rendered", b"", truth=tokens("shop now shop"), excluded=["zentro"])
    assert score(image, "Shop now now ZENTRO zentro") == (3, 5, 2, 1)


def test_score_needs_the_word_where_its_truth_box_is():
    image = EvalImage("x", "rendered", b"", truth=["sale", "now"], truth_boxes=[(0, 0, 40, 10), (50, 0, 90, 10)])
    right = [Word("Sale", (2, 1, 38, 9), 90, 0), Word("now", (52, 0, 88, 10), 90, 0)]
    wrong_place = [Word("Sale", (0, 100, 40, 110), 90, 0), Word("now", (52, 0, 88, 10), 90, 0)]
    assert score(image, right) == (2, 2, 2, 0)
    assert score(image, wrong_place) == (2, 2, 1, 0)


def test_hard_creatives_cover_every_challenge_with_boxed_truth_inside_the_image():
    images = [render_hard_ad(index) for index in range(len(CHALLENGES))]
    assert [image.kind for image in images] == list(CHALLENGES)
    assert render_hard_ad(2).image == images[2].image
    for image in images:
        width, height = Image.open(io.BytesIO(image.image)).size
        assert image.truth and len(image.truth_boxes) == len(image.truth) and image.excluded
        assert all(0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height for x1, y1, x2, y2 in image.truth_boxes)
    assert min(images[3].text_heights) <= 16 and max(images[4].text_heights) >= 120


def test_default_engine_reads_eval_images_above_the_measured_floor():
    engine = engine_factory(DEFAULT_ENGINE)()
    images = [render_ad(0), render_ad(1)] + [render_hard_ad(index) for index in range(len(CHALLENGES))]
    totals = np.zeros(4, int)
    for image in images:
        pixels = np.asarray(Image.open(io.BytesIO(image.image)).convert("RGB"))
        result = engine.recognise(pixels, image.exclusion_boxes, RecognitionOptions())
        totals += score(image, result.words)
    truth, predicted, matched, leaked = totals
    assert matched / truth >= DEFAULT_ENGINE_RECALL_FLOOR, (matched, truth)
    assert matched / predicted >= DEFAULT_ENGINE_PRECISION_FLOOR, (matched, predicted)
    assert leaked == 0
    engine.close()


def test_an_engine_whose_model_files_are_missing_fails_at_start_with_one_line(tmp_path):
    with pytest.raises(UserError, match="model file ch_PP-OCRv4_det_infer.onnx not found"):
        engine_factory("regions", str(tmp_path))
    served = subprocess.run(
        [sys.executable, "-m", "creativelens.cli", "ocr", "serve", "--port", "0", "--engine", "rapidocr",
         "--model-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert served.returncode != 0 and "Traceback" not in served.stderr
    assert len(served.stderr.strip().splitlines()) == 1 and "not found in" in served.stderr


def test_configurations_are_chosen_by_key_in_the_order_given():
    chosen = configurations_named("regions, pytesseract,rapidocr")
    assert [c.key for c in chosen] == ["regions", "pytesseract", "rapidocr"]
    assert chosen[0].service_engine == DEFAULT_ENGINE and chosen[1].engine == "pytesseract"
    assert configurations_named(None) == CONFIGURATIONS
    assert len({c.key for c in CONFIGURATIONS}) == len(CONFIGURATIONS)
    with pytest.raises(UserError, match="unknown ocr eval configuration bogus; known: pytesseract, regions"):
        configurations_named("regions,bogus")


def test_rendered_ads_are_deterministic_and_truth_excludes_the_logo():
    first, again = render_ad(3), render_ad(3)
    assert first.image == again.image and first.truth == again.truth
    assert first.exclusion_boxes and first.excluded
    assert not set(first.excluded) & set(first.truth)
    assert render_ad(4).image != first.image


def test_real_images_come_with_written_truth():
    images, missing = build_eval_set(rendered=0, hard=0)
    names = {image.name for image in images}
    assert "skimage/page" in names and "skimage/text" in names
    assert len(names) + len(missing) == 4 and {image.split for image in images} == {"tuning"}
    page = next(image for image in images if image.name == "skimage/page")
    assert page.truth[:3] == ["region", "based", "segmentation"]


def test_a_small_evaluation_writes_both_splits_side_by_side(tmp_path):
    chosen = (CONFIGURATIONS[0], CONFIGURATIONS[1])
    report = run_evaluation(str(tmp_path / "ocr"), workers=1, rendered=1, note="test run",
                            configurations=chosen, include_real=False, hard=0, split="both", held_out=1)
    saved = json.loads((tmp_path / "ocr.json").read_text())
    assert saved["note"] == "test run" and list(saved["splits"]) == ["tuning", "held-out"]
    expected_truth = {"tuning": len(render_ad(0).truth), "held-out": len(render_held_out_ad(0).truth)}
    for split, part in report["splits"].items():
        assert len(part["configurations"]) == 2
        for result in part["configurations"]:
            summary = result["summary"]
            assert summary["images"] == 1 and summary["truth_words"] == expected_truth[split]
            assert 0 <= summary["recall"] <= 1 and summary["images_per_s"] > 0
        assert max(result["summary"]["recall"] for result in part["configurations"]) > 0, split  # some text read
    markdown = (tmp_path / "ocr.md").read_text()
    assert "| tuning recall / precision / F1 | held-out recall / precision / F1 |" in markdown
    assert "## held-out split" in markdown and f"| {CONFIGURATIONS[1].name} |" in markdown
    assert saved["machine"]["cpu_model"] in markdown


def test_an_unknown_split_is_one_line():
    with pytest.raises(UserError, match="unknown ocr eval split 'test'; known: tuning, held-out, both"):
        run_evaluation(None, workers=1, rendered=0, split="test")
