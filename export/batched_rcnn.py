"""Detectron2's Faster R-CNN inference, re-expressed over a whole batch with tensor ops.

Detectron2's own `GeneralizedRCNN.inference` loops over images in Python, so tracing it bakes
the batch size in. `BatchedFasterRCNN` keeps Detectron2's modules and weights (backbone, RPN
head, anchor generator, box pooler levels, box head, box predictor) and rewrites only the
glue between them with batch-vectorised ops, following the exported-detector contract:

    images       uint8 [N, H, W, 3]  BGR on a canvas, the image at the top-left
    image_sizes  int32 [N, 2]        valid (h, w) of each image
    ->
    boxes        float32 [N, K, 4]   x1, y1, x2, y2 in canvas pixels
    scores       float32 [N, K]
    classes      int32 [N, K]        -1 in empty slots
    num_detections int32 [N]

Everything Detectron2 does per image is done here per row: normalisation (padding zeroed
after it, as Detectron2's ImageList does), per-level top-k of RPN proposals, clipping to each
image's own size, NMS per (image, level) and per (image, class), top-k per image.
"""

from __future__ import annotations

import torch
from torch import nn

from creativelens.export.batched_nms import group_nms_keep

OUTPUT_NAMES = ("boxes", "scores", "classes", "num_detections")
INPUT_NAMES = ("images", "image_sizes")


class BatchedFasterRCNN(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.backbone = model.backbone
        rpn = model.proposal_generator
        self.rpn_in_features = list(rpn.in_features)
        self.rpn_head = rpn.rpn_head
        self.anchor_generator = rpn.anchor_generator
        self.rpn_box2box = rpn.box2box_transform
        self.pre_nms_topk = int(rpn.pre_nms_topk[False])
        self.post_nms_topk = int(rpn.post_nms_topk[False])
        self.rpn_nms_thresh = float(rpn.nms_thresh)
        self.min_box_size = float(rpn.min_box_size)

        heads = model.roi_heads
        self.box_in_features = list(heads.box_in_features)
        pooler = heads.box_pooler
        self.level_poolers = pooler.level_poolers
        self.pooler_min_level = pooler.min_level
        self.pooler_max_level = pooler.max_level
        self.canonical_box_size = pooler.canonical_box_size
        self.canonical_level = pooler.canonical_level
        self.box_head = heads.box_head
        predictor = heads.box_predictor
        self.cls_score = predictor.cls_score
        self.bbox_pred = predictor.bbox_pred
        self.box2box = predictor.box2box_transform
        self.score_thresh = float(predictor.test_score_thresh)
        self.nms_thresh = float(predictor.test_nms_thresh)
        self.detections_per_image = int(predictor.test_topk_per_image)

        self.bgr = model.input_format == "BGR"
        self.register_buffer("pixel_mean", model.pixel_mean.detach().clone().view(1, -1, 1, 1), False)
        self.register_buffer("pixel_std", model.pixel_std.detach().clone().view(1, -1, 1, 1), False)

    def forward(self, images: torch.Tensor, image_sizes: torch.Tensor):
        sizes = image_sizes.to(torch.float32)
        features = self.trunk(images, sizes)
        proposals, proposal_ok = self.propose(features, sizes)
        return self.predict(self.box_features(features, proposals), proposals, proposal_ok, sizes)

    # The parts below are what a detector pack (export/pack.py) computes once for every detector
    # that shares them: trunk -> propose -> box_features -> predict.

    def trunk(self, images: torch.Tensor, sizes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Backbone + FPN on the normalised canvases: the feature maps by name."""
        return self.backbone(self.normalise(images, sizes))

    def normalise(self, images: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).to(torch.float32)
        if not self.bgr:
            x = x.flip(1)
        x = (x - self.pixel_mean) / self.pixel_std
        rows = torch.arange(x.shape[2], device=x.device, dtype=torch.float32)
        cols = torch.arange(x.shape[3], device=x.device, dtype=torch.float32)
        inside = (rows[None, :, None] < sizes[:, 0, None, None]) & (cols[None, None, :] < sizes[:, 1, None, None])
        return x * inside[:, None].to(x.dtype)

    def propose(self, feature_maps: dict[str, torch.Tensor], sizes: torch.Tensor):
        """RPN: the post-NMS top proposals of each image [N, P, 4] and which are real [N, P]."""
        features = [feature_maps[name] for name in self.rpn_in_features]
        objectness, deltas = self.rpn_head(features)
        anchors = self.anchor_generator(features)
        n = features[0].shape[0]
        level_boxes, level_scores = [], []
        for logits, level_deltas, level_anchors in zip(objectness, deltas, anchors):
            logits = logits.permute(0, 2, 3, 1).reshape(n, -1)
            h, w = level_deltas.shape[-2:]
            level_deltas = level_deltas.view(n, -1, 4, h, w).permute(0, 3, 4, 1, 2).reshape(-1, 4)
            grid = level_anchors.tensor.unsqueeze(0).expand(n, -1, -1).reshape(-1, 4)
            boxes = self.rpn_box2box.apply_deltas(level_deltas, grid).view(n, -1, 4)
            # A fixed k for every canvas: pad with -inf so top-k never runs short.
            logits = torch.cat([logits, logits.new_full((n, self.pre_nms_topk), float("-inf"))], 1)
            boxes = torch.cat([boxes, boxes.new_zeros((n, self.pre_nms_topk, 4))], 1)
            top_logits, top_index = logits.topk(self.pre_nms_topk, dim=1)
            top_boxes = torch.gather(boxes, 1, top_index[..., None].expand(-1, -1, 4))
            top_boxes = _clip(top_boxes, sizes[:, None, :])
            width = top_boxes[..., 2] - top_boxes[..., 0]
            height = top_boxes[..., 3] - top_boxes[..., 1]
            ok = torch.isfinite(top_logits) & torch.isfinite(top_boxes).all(-1)
            ok = ok & (width > self.min_box_size) & (height > self.min_box_size)
            level_boxes.append(top_boxes)
            level_scores.append(torch.where(ok, top_logits, torch.full_like(top_logits, float("-inf"))))
        levels = len(level_boxes)
        boxes = torch.stack(level_boxes, 1)  # [N, L, k, 4]
        scores = torch.stack(level_scores, 1)  # [N, L, k]
        keep = group_nms_keep(boxes.reshape(n * levels, -1, 4), scores.reshape(n * levels, -1),
                              self.rpn_nms_thresh, float("-inf")).reshape(n, levels, -1)
        scores = torch.where(keep, scores, torch.full_like(scores, float("-inf"))).reshape(n, -1)
        top_scores, top_index = scores.topk(self.post_nms_topk, dim=1)
        proposals = torch.gather(boxes.reshape(n, -1, 4), 1, top_index[..., None].expand(-1, -1, 4))
        return proposals, torch.isfinite(top_scores)

    def pool(self, features: list[torch.Tensor], proposals: torch.Tensor) -> torch.Tensor:
        """ROIAlign of every proposal on its FPN level (Detectron2's level assignment)."""
        n, p = proposals.shape[:2]
        boxes = proposals.reshape(-1, 4)
        batch_index = torch.arange(n, device=boxes.device, dtype=boxes.dtype).repeat_interleave(p)
        rois = torch.cat([batch_index[:, None], boxes], dim=1)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        level = torch.floor(self.canonical_level + torch.log2(torch.sqrt(area) / self.canonical_box_size + 1e-8))
        level = torch.clamp(level, min=self.pooler_min_level, max=self.pooler_max_level) - self.pooler_min_level
        pooled = None
        for index, (feature, pooler) in enumerate(zip(features, self.level_poolers)):
            chosen = torch.nonzero(level == index).reshape(-1)
            level_pooled = pooler(feature, rois[chosen])
            if pooled is None:
                pooled = level_pooled.new_zeros((rois.shape[0],) + level_pooled.shape[1:])
            pooled = pooled.index_put((chosen,), level_pooled)
        return pooled

    def box_features(self, feature_maps: dict[str, torch.Tensor], proposals: torch.Tensor) -> torch.Tensor:
        """The box head's features of every proposal [N * P, D]."""
        return self.box_head(self.pool([feature_maps[name] for name in self.box_in_features], proposals))

    def predict(self, box_features, proposals, proposal_ok, sizes):
        """Class/box predictor + per-(image, class) NMS + per-image top-K, fixed-shape outputs."""
        n, p = proposals.shape[:2]
        logits = self.cls_score(box_features)
        deltas = self.bbox_pred(box_features)
        scores = torch.softmax(logits, dim=-1)[:, :-1]
        classes = scores.shape[1]
        boxes = self.box2box.apply_deltas(deltas, proposals.reshape(-1, 4))
        boxes = boxes.view(n, p, -1, 4).expand(-1, -1, classes, -1)  # class-agnostic -> per class
        boxes = _clip(boxes, sizes[:, None, None, :])
        scores = scores.view(n, p, classes)
        ok = proposal_ok[..., None] & torch.isfinite(boxes).all(-1) & torch.isfinite(scores)
        scores = torch.where(ok, scores, torch.zeros_like(scores))

        by_class_boxes = boxes.permute(0, 2, 1, 3).reshape(n * classes, p, 4)
        by_class_scores = scores.permute(0, 2, 1).reshape(n * classes, p)
        keep = group_nms_keep(by_class_boxes, by_class_scores, self.nms_thresh, self.score_thresh)
        kept = torch.where(keep, by_class_scores, torch.full_like(by_class_scores, float("-inf")))
        top_scores, top_index = kept.reshape(n, classes * p).topk(self.detections_per_image, dim=1)
        top_boxes = torch.gather(by_class_boxes.reshape(n, classes * p, 4), 1,
                                 top_index[..., None].expand(-1, -1, 4))
        found = torch.isfinite(top_scores)
        top_classes = torch.div(top_index, p, rounding_mode="floor")
        return (
            torch.where(found[..., None], top_boxes, torch.zeros_like(top_boxes)),
            torch.where(found, top_scores, torch.zeros_like(top_scores)),
            torch.where(found, top_classes, torch.full_like(top_classes, -1)).to(torch.int32),
            found.sum(dim=1).to(torch.int32),
        )


def _clip(boxes: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """Clip x to [0, w] and y to [0, h]; `sizes` (h, w) broadcast against boxes[..., :2]."""
    limit = torch.stack([sizes[..., 1], sizes[..., 0], sizes[..., 1], sizes[..., 0]], dim=-1)
    return torch.minimum(torch.clamp(boxes, min=0), limit)
