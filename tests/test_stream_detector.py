"""The real exported Faster R-CNN R50 served by tritonserver: boxes in original pixels agree
with eager Detectron2 (whose own post-processing rescales them) on the same photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from creativelens.canvas import choose_canvas, letterbox
from creativelens.client.rules import Rules
from creativelens.client.settings import RunSettings
from creativelens.client.stream import stream
from creativelens.client.served_models import fetch_served_models
from creativelens.sample_media import sample_stills

MODEL = "faster_rcnn_R_50_FPN_1x"
TOP = 5  # the eager model's best detections must all be found by the served one


def eager_detections(model, image_bgr: np.ndarray, canvases):
    """Detectron2's own modules on the same canvas, then its `detector_postprocess` to map the
    boxes back to the original image (an implementation independent of the client's)."""
    from detectron2.modeling.postprocessing import detector_postprocess
    from detectron2.structures import ImageList

    from creativelens.export.batched_rcnn import BatchedFasterRCNN

    height, width = image_bgr.shape[:2]
    boxed = letterbox(image_bgr, choose_canvas(height, width, canvases))
    size = torch.tensor([[boxed.valid_height, boxed.valid_width]], dtype=torch.float32)
    with torch.no_grad():
        tensor = BatchedFasterRCNN(model).eval().normalise(torch.from_numpy(boxed.pixels[None]), size)
        batch = ImageList(tensor, [(boxed.valid_height, boxed.valid_width)])
        features = model.backbone(tensor)
        proposals, _ = model.proposal_generator(batch, features)
        instances = model.roi_heads(batch, features, proposals)[0][0]
    original = detector_postprocess(instances, height, width)
    return (original.pred_boxes.tensor.numpy(), original.scores.numpy(),
            original.pred_classes.numpy(), width / boxed.valid_width)


def test_served_boxes_match_eager_detectron2_in_original_pixels(detector_server, tmp_path):
    import cv2

    from creativelens.export.zoo import load_detector

    photos = [p for p in sample_stills() if p.name in ("messi5.jpg", "chelsea.png", "rocket.jpg")]
    assert photos
    summary = stream([str(p) for p in photos], detector_server.grpc_url, tmp_path,
                     RunSettings(models=(MODEL,), rules=Rules(threshold=0.0)))
    assert summary.complete and summary.errors == 0 and summary.random_weights
    records = {r["source"]: r for r in map(json.loads, (tmp_path / "detections.jsonl").read_text().splitlines())}
    canvases = fetch_served_models(detector_server.grpc_url, [MODEL])[0].metadata.canvases
    detector = load_detector(MODEL, random_weights=True)
    for photo in photos:
        image = cv2.imread(str(photo))
        boxes, scores, classes, scale = eager_detections(detector.model, image, canvases)
        record = records[str(photo)]
        assert (record["width"], record["height"]) == (image.shape[1], image.shape[0])
        served = record["models"][MODEL]
        assert served["detections"], f"nothing served for {photo.name}"
        tolerance = 1.0 * scale + 0.5  # parity allows 0.5 px on the canvas; scaled back up
        for box, score, class_id in list(zip(boxes, scores, classes))[:TOP]:
            same_class = [d for d in served["detections"] if d["class_id"] == class_id]
            distances = [np.abs(np.array(d["box"]) - box).max() for d in same_class]
            assert distances and min(distances) <= tolerance, (photo.name, box, score, class_id)
            best = same_class[int(np.argmin(distances))]
            assert best["score"] == pytest.approx(float(score), abs=2e-3)
