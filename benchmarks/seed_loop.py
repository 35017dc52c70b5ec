"""The seeds' labelling loop, the baseline: `cv2.imread`, Detectron2's `DefaultPredictor`, append a
row; one image at a time.

Same weights as the exported model: the predictor is built from `load_detector`'s config with
`MODEL.WEIGHTS=""` and the detector's state dict is copied in.

Same input size as the served pipeline: the client letterboxes an image onto the canvas bucket
nearest its aspect, scaled by min(canvas_h / h, canvas_w / w). `DefaultPredictor` resizes by
Detectron2's ResizeShortestEdge, min(MIN_SIZE_TEST / short side, MAX_SIZE_TEST / long side).
With MIN_SIZE_TEST = the canvas's short side and MAX_SIZE_TEST = its long side the two scales are
equal whenever the image is oriented like its canvas (always the case for a square canvas, and
what `choose_canvas` picks otherwise), so each bucket gets a predictor of its own sizes.
The predictor then pads only to a multiple of 32, not to the whole canvas: the seeds' loop
computes no padding that the served pipeline does.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
from detectron2.data import transforms as T
from detectron2.engine import DefaultPredictor

from creativelens.benchmarks.measurement import Measurement
from creativelens.canvas import Canvas, choose_canvas
from creativelens.formats import SEED_CSV_COLUMNS, from_detectron2, to_seed_csv_row
from creativelens.item_result import item_name

SEED_SCORE_THRESHOLD = 0.85  # the seeds' choice, also the client's default


def predictor_input_size(canvas: Canvas) -> tuple[int, int]:
    """(INPUT.MIN_SIZE_TEST, INPUT.MAX_SIZE_TEST) that resize like letterboxing onto `canvas`."""
    return min(canvas.height, canvas.width), max(canvas.height, canvas.width)


def resized_size(height: int, width: int, canvas: Canvas) -> tuple[int, int]:
    """The (h, w) DefaultPredictor feeds its model for an image of `height` x `width`."""
    short, long = predictor_input_size(canvas)
    return T.ResizeShortestEdge.get_output_shape(height, width, short, long)


class SeedLoop:
    """`DefaultPredictor`s (one per distinct bucket input size) sharing one detector's weights."""

    def __init__(self, detector, canvases: Sequence[Canvas], threshold: float = SEED_SCORE_THRESHOLD):
        self.class_names = detector.class_names
        self.threshold = threshold
        self.canvases = tuple(sorted(set(canvases)))
        self._predictors: dict[tuple[int, int], DefaultPredictor] = {}
        state = detector.model.state_dict()
        for canvas in self.canvases:
            size = predictor_input_size(canvas)
            if size not in self._predictors:
                self._predictors[size] = _predictor(detector.cfg, size, state)

    def run(self, paths: Sequence[Path], csv_path: Path,
            on_image: Callable[[], None] | None = None) -> Measurement:
        """Label `paths` one by one and write the seeds' CSV, timing every image."""
        rows, latencies, errors = [], [], 0
        started = time.perf_counter()
        for path in paths:
            image_started = time.perf_counter()
            image = cv2.imread(str(path))
            if image is None:
                errors += 1
            else:
                rows.append(to_seed_csv_row(item_name(str(path), None), self.predict(image)))
                latencies.append((time.perf_counter() - image_started) * 1000)
            if on_image:
                on_image()
        with open(csv_path, "w", newline="") as sink:
            writer = csv.DictWriter(sink, SEED_CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        wall_s = time.perf_counter() - started
        return Measurement(len(rows), errors, wall_s, 0.0, latencies)

    def predict(self, image_bgr):
        """Detections above the threshold for one BGR image, in original pixels."""
        canvas = choose_canvas(*image_bgr.shape[:2], self.canvases)
        predictor = self._predictors[predictor_input_size(canvas)]
        instances = predictor(image_bgr)["instances"]
        return from_detectron2(instances, self.class_names).above(self.threshold)


def _predictor(cfg, size: tuple[int, int], state_dict) -> DefaultPredictor:
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.WEIGHTS = ""
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = size
    cfg.freeze()
    predictor = DefaultPredictor(cfg)
    predictor.model.load_state_dict(state_dict)
    return predictor
