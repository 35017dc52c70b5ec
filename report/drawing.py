"""Colours per model and boxes drawn into pixels, with supervision's annotators.

Two kinds of boxes in the report:

- interactive ones (the gallery, a creative opened large, a video's strip): drawn by the
  browser as SVG over the downscaled image, because the filters (model, label, score) must
  change what is visible without regenerating pictures;
- fixed ones, drawn here into the image: the evaluation's true positives, false positives and
  misses at the evaluation's own thresholds (nothing to filter there).

Why supervision (Roboflow's `BoxAnnotator` / `LabelAnnotator`) and not plain OpenCV: it is the
library made for exactly this, and since 0.26 it no longer depends on `opencv-python` — it
uses whatever `cv2` is installed, here `opencv-python-headless==4.11.0.86`, with numpy 1.26.4
(checked: `pip install supervision==0.31.2` adds defusedxml, pyDeprecate and requests and
nothing that clashes). The colours of every model in the SVG overlays come from supervision's
default palette too, so both kinds of box speak one colour language.
"""

from __future__ import annotations

import numpy as np

# Outcome colours of an evaluation (RGB hex): distinct, and none is a model colour's twin.
OUTCOME_COLOURS = {"tp": "#1db954", "fp": "#ff2d55", "miss": "#2d7dff"}


def model_colours(models: list[str]) -> dict[str, str]:
    """'#rrggbb' per model, in order, from supervision's default palette (cycled)."""
    import supervision as sv

    palette = sv.ColorPalette.DEFAULT
    return {model: palette.by_idx(i).as_hex() for i, model in enumerate(models)}


def draw_outcomes(image_bgr: np.ndarray, boxes: dict[str, tuple[np.ndarray, list[str]]], thickness: int = 2) -> np.ndarray:
    """`image_bgr` with the boxes of each outcome ("tp", "fp", "miss": xyxy [N, 4] and a text
    per box) drawn in that outcome's colour, with its text above the box."""
    import supervision as sv

    out = image_bgr.copy()
    scale = max(0.35, min(out.shape[:2]) / 900)
    for outcome, (xyxy, texts) in boxes.items():
        if len(xyxy) == 0:
            continue
        colour = sv.Color.from_hex(OUTCOME_COLOURS[outcome])
        detections = sv.Detections(xyxy=np.asarray(xyxy, np.float32).reshape(-1, 4))
        out = sv.BoxAnnotator(color=colour, thickness=thickness, color_lookup=sv.ColorLookup.INDEX).annotate(out, detections)
        out = sv.LabelAnnotator(color=colour, text_color=sv.Color.WHITE, text_scale=scale, text_padding=3,
                                text_position=sv.Position.TOP_LEFT, color_lookup=sv.ColorLookup.INDEX,
                                ).annotate(out, detections, labels=texts)
    return out
