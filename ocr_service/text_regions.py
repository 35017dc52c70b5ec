"""Text-region detection with PP-OCR's DB detector (ONNX, shipped in `rapidocr-onnxruntime` 1.4.4).

`TextRegions.detect` returns the text lines in image pixels, in reading order, each as the
quadrilaterals the detector found on it (it splits a line at a wide word gap; `reading_lines`
joins the pieces again); `crop` straightens a quadrilateral into an upright crop and maps crop
pixels back to the image.
Model files are checked by `model_files` before any worker starts (one-line error when missing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DETECTOR_FILE = "ch_PP-OCRv4_det_infer.onnx"
RECOGNISER_FILE = "ch_PP-OCRv4_rec_infer.onnx"
CLASSIFIER_FILE = "ch_ppocr_mobile_v2.0_cls_infer.onnx"
# The detector sees the image with its shorter side at this many pixels (small images are
# enlarged, as PP-OCR does by default): measured in `ocr eval`.
DETECTOR_SHORT_SIDE = 736
# A detected piece continues a line when it starts at most this many line heights after the
# previous piece ends, its centre lies on the previous piece's direction within this fraction
# of the line height, and the heights agree within this factor.
LINE_GAP_HEIGHTS = 2.0
LINE_OFFSET_FRACTION = 0.5
LINE_HEIGHT_RATIO = 1.5


class ModelFilesMissing(Exception):
    """One line: which engine, which file, where it was looked for."""


def default_model_dir() -> Path | None:
    try:
        import rapidocr_onnxruntime
    except ImportError:
        return None
    return Path(rapidocr_onnxruntime.__file__).parent / "models"


def model_files(engine: str, model_dir: str | Path | None, names: tuple[str, ...]) -> dict[str, str]:
    folder = Path(model_dir) if model_dir else default_model_dir()
    if folder is None:
        raise ModelFilesMissing(
            f"OCR engine {engine!r} needs rapidocr-onnxruntime==1.4.4 (pip install --no-deps) or --model-dir")
    paths = {name: folder / name for name in names}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise ModelFilesMissing(f"OCR engine {engine!r}: model file {missing[0]} not found in {folder}")
    return {name: str(path) for name, path in paths.items()}


def _session_config(model_path: str) -> dict:
    # One thread per session: the service runs one worker process per core.
    return {"model_path": model_path, "use_cuda": False, "use_dml": False,
            "intra_op_num_threads": 1, "inter_op_num_threads": 1}


class TextRegions:
    def __init__(self, detector_path: str):
        from rapidocr_onnxruntime.ch_ppocr_det import TextDetector

        self._detector = TextDetector({
            **_session_config(detector_path), "limit_side_len": DETECTOR_SHORT_SIDE, "limit_type": "min",
            "std": [0.5, 0.5, 0.5], "mean": [0.5, 0.5, 0.5], "thresh": 0.3, "box_thresh": 0.5,
            "max_candidates": 1000, "unclip_ratio": 1.6, "use_dilation": True, "score_mode": "fast",
        })

    def detect(self, bgr: np.ndarray, timeout_s: float | None = None) -> list[list[np.ndarray]]:
        """Text lines top to bottom, then left to right; each its quadrilaterals (4 x 2 float32,
        clockwise from top-left) left to right. With `timeout_s`, ONNX Runtime is told to stop
        when it runs out and `DetectorTimeout` is raised."""
        import threading

        import onnxruntime

        detector = self._detector
        prepared = detector.get_preprocess(max(bgr.shape[:2]))(bgr)
        if prepared is None:
            return []
        session = detector.infer.session
        run_options = onnxruntime.RunOptions()
        timer = None
        if timeout_s is not None:
            timer = threading.Timer(max(0.0, timeout_s), lambda: setattr(run_options, "terminate", True))
            timer.start()
        try:
            prediction = session.run(None, {session.get_inputs()[0].name: prepared}, run_options)[0]
        except Exception as error:
            if run_options.terminate:
                raise DetectorTimeout() from error
            raise
        finally:
            if timer is not None:
                timer.cancel()
        quads, _ = detector.postprocess_op(prediction, bgr.shape[:2])
        quads = detector.filter_tag_det_res(quads, bgr.shape[:2])
        return reading_lines([np.asarray(q, np.float32) for q in quads])


class DetectorTimeout(Exception):
    """The text detector was stopped at its deadline."""


def _geometry(quad: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """(left x, right x, centre x, centre y, height, slope of the top edge) of a quadrilateral."""
    height = float((np.linalg.norm(quad[0] - quad[3]) + np.linalg.norm(quad[1] - quad[2])) / 2)
    dx, dy = quad[1] - quad[0]
    centre_x, centre_y = quad.mean(axis=0)
    return (float(quad[:, 0].min()), float(quad[:, 0].max()), float(centre_x), float(centre_y),
            max(height, 1.0), float(dy / dx) if dx else 0.0)


def reading_lines(quads: list[np.ndarray]) -> list[list[np.ndarray]]:
    """The detector's quadrilaterals grouped into text lines (`LINE_*` above): lines top to
    bottom, then left to right; pieces left to right."""
    lines: list[list[np.ndarray]] = []
    for quad in sorted(quads, key=lambda q: float(q[:, 0].min())):
        left, _, centre_x, centre_y, height, _ = _geometry(quad)
        best, best_gap = None, None
        for line in lines:
            _, end, last_x, last_y, last_height, slope = _geometry(line[-1])
            gap = left - end
            if (-0.5 * last_height <= gap <= LINE_GAP_HEIGHTS * last_height
                    and abs(centre_y - (last_y + slope * (centre_x - last_x)))
                    <= LINE_OFFSET_FRACTION * min(height, last_height)
                    and max(height, last_height) <= LINE_HEIGHT_RATIO * min(height, last_height)
                    and (best_gap is None or gap < best_gap)):
                best, best_gap = line, gap
        if best is None:
            lines.append([quad])
        else:
            best.append(quad)
    return sorted(lines, key=lambda line: (round(float(line[0][0][1]) / 10), float(line[0][0][0])))


def crop(pixels: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(upright crop, 3x3 matrix taking crop pixels back to image pixels)."""
    import cv2

    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    width, height = max(width, 1), max(height, 1)
    upright = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    forward = cv2.getPerspectiveTransform(quad, upright)
    image = cv2.warpPerspective(pixels, forward, (width, height), borderMode=cv2.BORDER_REPLICATE,
                                flags=cv2.INTER_CUBIC)
    return image, np.linalg.inv(forward)


def to_image_box(inverse: np.ndarray, box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """An axis-aligned box in crop pixels -> the axis-aligned box around it in image pixels."""
    x1, y1, x2, y2 = box
    corners = np.array([[x1, y1, 1], [x2, y1, 1], [x2, y2, 1], [x1, y2, 1]], np.float64) @ inverse.T
    corners = corners[:, :2] / corners[:, 2:]
    return (int(corners[:, 0].min()), int(corners[:, 1].min()),
            int(np.ceil(corners[:, 0].max())), int(np.ceil(corners[:, 1].max())))
