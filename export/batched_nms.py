"""Non-maximum suppression over many independent groups at once, exportable to ONNX.

`group_nms_keep(boxes [B, M, 4], scores [B, M], ...)` returns a keep mask [B, M]: NMS runs
within each of the B rows (e.g. one row per image and class) and never across rows.
Under ONNX export it becomes ONNX `NonMaxSuppression` with B batches of one class, which
does exactly that natively. Otherwise (eager, TorchScript) one `torchvision.ops.nms` call
runs over all rows, each row's boxes shifted apart in float64 so that no row can touch
another and no precision is lost (torchvision's `batched_nms` shifts in the boxes' own dtype).
"""

from __future__ import annotations

import torch
import torchvision

_MAX_ONNX_OUTPUT = 1_000_000


class _OnnxNonMaxSuppression(torch.autograd.Function):
    """Selected (row, 0, index) triples, as ONNX NonMaxSuppression returns them.

    `scores` is [B, 1, M]: B batches of one class each.
    """

    @staticmethod
    def forward(ctx, boxes, scores, iou_threshold: float, score_threshold: float):
        keep = _keep_mask_eager(boxes, scores[:, 0], iou_threshold, score_threshold)
        rows, index = torch.nonzero(keep, as_tuple=True)
        return torch.stack([rows, torch.zeros_like(rows), index], dim=1)

    @staticmethod
    def symbolic(g, boxes, scores, iou_threshold: float, score_threshold: float):
        return g.op(
            "NonMaxSuppression",
            boxes,
            scores,
            g.op("Constant", value_t=torch.tensor([_MAX_ONNX_OUTPUT], dtype=torch.int64)),
            g.op("Constant", value_t=torch.tensor([iou_threshold], dtype=torch.float32)),
            g.op("Constant", value_t=torch.tensor([score_threshold], dtype=torch.float32)),
        )


def group_nms_keep(
    boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, score_threshold: float
) -> torch.Tensor:
    """Keep mask [B, M] of NMS within each row; scores <= score_threshold are dropped."""
    if torch.onnx.is_in_onnx_export():
        selected = _OnnxNonMaxSuppression.apply(boxes, scores[:, None], iou_threshold, score_threshold)
        flat = selected[:, 0] * scores.shape[1] + selected[:, 2]
        keep = torch.zeros_like(scores, dtype=torch.bool).reshape(-1)
        keep = keep.scatter(0, flat, torch.ones_like(flat, dtype=torch.bool))
        return keep.reshape(scores.shape) & (scores > score_threshold)
    return _keep_mask_eager(boxes, scores, iou_threshold, score_threshold)


def _keep_mask_eager(boxes, scores, iou_threshold: float, score_threshold: float) -> torch.Tensor:
    rows, width = scores.shape
    flat_scores = scores.reshape(-1)
    candidates = torch.nonzero(flat_scores > score_threshold).reshape(-1)
    candidate_boxes = boxes.reshape(-1, 4)[candidates].double()
    row = torch.div(candidates, width, rounding_mode="floor").double()
    span = boxes.detach().abs().amax().double() + 1
    shifted = candidate_boxes + (row * span)[:, None]
    kept = candidates[torchvision.ops.nms(shifted, flat_scores[candidates].double(), iou_threshold)]
    keep = torch.zeros(rows * width, dtype=torch.bool, device=scores.device)
    keep[kept] = True
    return keep.reshape(rows, width)
