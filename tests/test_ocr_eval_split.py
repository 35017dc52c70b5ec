"""The OCR evaluation's two splits: the held-out one shares no font, layout, background or ad
copy with the tuning one, and both are the same bytes at every run."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from creativelens.ocr_service import eval_held_out, eval_set
from creativelens.ocr_service.eval_held_out import HELD_OUT_FONTS, HELD_OUT_KINDS, HELD_OUT_LAYOUTS, render_held_out_ad
from creativelens.ocr_service.eval_set import TUNING_LAYOUTS, build_eval_set, tokens

_DIGESTS = ("import hashlib, json; from creativelens.ocr_service.eval_held_out import render_held_out_ad; "
            "from creativelens.ocr_service.eval_set import render_hard_ad; "
            "print(json.dumps([hashlib.sha256(render_held_out_ad(i).image).hexdigest() for i in range(8)]"
            " + [hashlib.sha256(render_hard_ad(i).image).hexdigest() for i in range(2)]))")


@pytest.fixture(scope="module")
def splits():
    return {name: build_eval_set(split=name)[0] for name in eval_set.SPLITS}


def test_the_splits_share_no_font_layout_background_or_ad_copy(splits):
    tuning, held_out = splits["tuning"], splits["held-out"]
    assert len(tuning) == 100 and len(held_out) == 66
    assert {image.split for image in tuning} == {"tuning"} and {image.split for image in held_out} == {"held-out"}
    for attribute in ("fonts", "layout", "background"):
        def used(images):  # rendered creatives: a real image is its own (different) picture in each split
            return {value for image in images if image.kind != "real"
                    for value in (getattr(image, attribute) if attribute == "fonts" else [getattr(image, attribute)])}
        tuning_values, held_out_values = used(tuning), used(held_out)
        assert tuning_values and held_out_values
        assert not tuning_values & held_out_values, (attribute, tuning_values & held_out_values)
    rendered = [image for image in held_out if image.kind != "real"]
    assert {f for image in rendered for f in image.fonts} <= set(HELD_OUT_FONTS)
    assert {image.layout for image in rendered} == set(HELD_OUT_LAYOUTS)
    assert {image.layout for image in tuning if image.kind != "real"} == set(TUNING_LAYOUTS)
    assert [image.kind for image in rendered[:len(HELD_OUT_KINDS)]] == list(HELD_OUT_KINDS)
    def copy(module, extra=()):
        texts = module.HEADLINES + module.SUBLINES + module.BRANDS + module.CALLS_TO_ACTION + module.SMALL_PRINT
        return {t for text in texts + extra for t in tokens(text)}
    common = copy(eval_set, eval_set.SHORT_TEXTS) & copy(eval_held_out)
    assert common <= {"the", "a", "at", "on", "our", "all", "and", "your", "new", "for", "this", "to", "in"}, common
    # every held-out creative has words to read, boxed inside the image, and a logo to exclude
    for image in rendered:
        width, height = Image.open(io.BytesIO(image.image)).size
        assert image.truth and len(image.truth_boxes) == len(image.truth) and image.excluded, image.name
        assert not set(image.excluded) & set(image.truth), image.name
        assert all(0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height for x1, y1, x2, y2 in image.truth_boxes), image.name


def test_the_splits_are_the_same_bytes_in_a_fresh_process(splits):
    here = [hashlib.sha256(image.image).hexdigest() for image in splits["held-out"][:8]]
    here += [hashlib.sha256(image.image).hexdigest() for image in splits["tuning"][24:26]]
    env = dict(os.environ, PYTHONHASHSEED="12345")
    fresh = subprocess.run([sys.executable, "-c", _DIGESTS], capture_output=True, text=True, timeout=120,
                           env=env, check=True)
    assert json.loads(fresh.stdout) == here
    assert render_held_out_ad(3).image == splits["held-out"][3].image
    assert render_held_out_ad(3, seed=7).image != splits["held-out"][3].image


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="unknown evaluation split 'test'"):
        build_eval_set(split="test")
