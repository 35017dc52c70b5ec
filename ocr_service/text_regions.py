"""Text-region detection with PP-OCR's DB detector (ONNX, shipped in `rapidocr-onnxruntime` 1.4.4).

`TextRegions.detect` returns one quadrilateral per text line in image pixels, in reading order;
`crop` straightens a quadrilateral into an upright crop and maps crop pixels back to the image.
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

    def detect(self, bgr: np.ndarray) -> list[np.ndarray]:
        """Quadrilaterals (4 x 2 float32, clockwise from top-left), top to bottom, left to right."""
        quads, _ = self._detector(bgr)
        if quads is None or len(quads) == 0:
            return []
        return sorted((np.asarray(q, np.float32) for q in quads), key=lambda q: (round(q[0][1] / 10), q[0][0]))


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
