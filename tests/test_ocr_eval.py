"""The OCR evaluation: its scoring, its seeded set, and a small end-to-end run."""

from __future__ import annotations

import json

from creativelens.ocr_service.eval_set import EvalImage, build_eval_set, render_ad, tokens
from creativelens.ocr_service.evaluate import CONFIGURATIONS, run_evaluation, score


def test_tokens_lower_case_and_split_on_punctuation():
    assert tokens("Up to 50% OFF: real-world np.zeros_like(coins)!") == [
        "up", "to", "50", "off", "real", "world", "np", "zeros", "like", "coins"]


def test_score_matches_bags_of_words_and_counts_leaks():
    image = EvalImage("x", "rendered", b"", truth=tokens("shop now shop"), excluded=["zentro"])
    assert score(image, "Shop now now ZENTRO zentro") == (3, 5, 2, 1)


def test_rendered_ads_are_deterministic_and_truth_excludes_the_logo():
    first, again = render_ad(3), render_ad(3)
    assert first.image == again.image and first.truth == again.truth
    assert first.exclusion_boxes and first.excluded
    assert not set(first.excluded) & set(first.truth)
    assert render_ad(4).image != first.image


def test_real_images_come_with_written_truth():
    images, missing = build_eval_set(rendered=0)
    names = {image.name for image in images}
    assert "skimage/page" in names and "skimage/text" in names
    assert len(names) + len(missing) == 4
    page = next(image for image in images if image.name == "skimage/page")
    assert page.truth[:3] == ["region", "based", "segmentation"]


def test_a_small_evaluation_writes_json_and_markdown(tmp_path):
    chosen = (CONFIGURATIONS[0], CONFIGURATIONS[3])
    report = run_evaluation(str(tmp_path / "ocr"), workers=1, rendered=1, note="test run",
                            configurations=chosen, include_real=False)
    saved = json.loads((tmp_path / "ocr.json").read_text())
    assert saved["note"] == "test run" and len(saved["configurations"]) == 2
    for result in report["configurations"]:
        summary = result["summary"]
        assert summary["images"] == 1 and summary["truth_words"] == len(render_ad(0).truth)
        assert 0 < summary["recall"] <= 1 and summary["images_per_s"] > 0
    markdown = (tmp_path / "ocr.md").read_text()
    assert "| service, Sauvola (default) |" in markdown and saved["machine"]["cpu_model"] in markdown
