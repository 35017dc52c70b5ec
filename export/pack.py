"""A detector pack: several Faster R-CNN detectors in one graph that runs each distinct part once.

Detectors fine-tuned from one base with its early parts frozen (`creativelens train --freeze`)
have bit-identical early parts. A part is identified by a digest of its weights (and buffers)
and of the config that shapes it, chained to the part it reads from:

    trunk         backbone + FPN, with the pixel mean/std and input format it normalises with
    proposals     the RPN (anchors, NMS, top-k) on that trunk's features
    box_features  the RoI pooler + box head (fc1, fc2) on those proposals

so two detectors share a part exactly when they share it and everything before it. Nothing is
trusted from a flag: a detector with one changed trunk tensor shares nothing. The graph follows
the parts: each distinct trunk runs once per batch, each distinct RPN once on its trunk's
features, each distinct box head once on its proposals, then every detector's own predictor
(class scores, box deltas, NMS, top-K), whose outputs are named `<detector>__<output>`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import torch
from torch import nn

from creativelens.errors import UserError
from creativelens.export.batched_rcnn import OUTPUT_NAMES, BatchedFasterRCNN
from creativelens.export.zoo import Detector
from creativelens.train.freezing import digest

PARTS = ("trunk", "proposals", "box_features")
OUTPUT_SEPARATOR = "__"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# What else shapes each part besides its tensors (Detectron2 config nodes).
_PART_STATE = {"trunk": ("backbone.",), "proposals": ("proposal_generator.",), "box_features": ("roi_heads.box_head.",)}
_PART_CONFIG = {
    "trunk": ("MODEL.BACKBONE", "MODEL.RESNETS", "MODEL.FPN", "MODEL.PIXEL_MEAN", "MODEL.PIXEL_STD", "INPUT.FORMAT"),
    "proposals": ("MODEL.PROPOSAL_GENERATOR", "MODEL.RPN", "MODEL.ANCHOR_GENERATOR"),
    "box_features": ("MODEL.ROI_BOX_HEAD", "MODEL.ROI_HEADS.IN_FEATURES"),
}


def output_prefix(detector: str) -> str:
    return f"{detector}{OUTPUT_SEPARATOR}"


def part_keys(detector: Detector) -> tuple[str, str, str]:
    """The digest of each part (trunk, proposals, box_features), each chained to the one before."""
    state = detector.model.state_dict()
    keys, previous = [], ""
    for part in PARTS:
        names = [name for name in state if name.startswith(_PART_STATE[part])]
        hasher = hashlib.sha256(previous.encode())
        hasher.update(digest(state, names).encode())
        for path in _PART_CONFIG[part]:
            node = detector.cfg
            for key in path.split("."):
                node = node[key]
            hasher.update(f"{path}={node}".encode())
        previous = hasher.hexdigest()
        keys.append(previous)
    return tuple(keys)


@dataclass(frozen=True)
class Member:
    name: str
    detector: Detector
    keys: tuple[str, str, str]


def members(named: list[tuple[str, Detector]]) -> list[Member]:
    names = [name for name, _ in named]
    for name in names:
        if not NAME.match(name) or OUTPUT_SEPARATOR in name:
            raise UserError(f"detector name {name!r}: use letters, digits, '.', '-' and single '_' only")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UserError(f"detector name {', '.join(repeated)} given twice: name each detector of a pack once")
    return [Member(name, detector, part_keys(detector)) for name, detector in named]


def sharing(pack_members: list[Member]) -> dict[str, list[list[str]]]:
    """For each part, the groups of detectors that run one copy of it (singletons included)."""
    groups = {}
    for index, part in enumerate(PARTS):
        by_key: dict[str, list[str]] = {}
        for member in pack_members:
            by_key.setdefault(member.keys[index], []).append(member.name)
        groups[part] = list(by_key.values())
    return groups


class DetectorPack(nn.Module):
    """(images, image_sizes) -> every detector's (boxes, scores, classes, num_detections), in
    member order, each part computed once per distinct key."""

    def __init__(self, pack_members: list[Member]):
        super().__init__()
        self.names = [member.name for member in pack_members]
        self.keys = [member.keys for member in pack_members]
        self.detectors = nn.ModuleList(BatchedFasterRCNN(member.detector.model) for member in pack_members)

    @property
    def output_names(self) -> list[str]:
        return [output_prefix(name) + output for name in self.names for output in OUTPUT_NAMES]

    def forward(self, images: torch.Tensor, image_sizes: torch.Tensor):
        sizes = image_sizes.to(torch.float32)
        trunks, proposals, box_features, outputs = {}, {}, {}, []
        for detector, (trunk, rpn, box) in zip(self.detectors, self.keys):
            if trunk not in trunks:
                trunks[trunk] = detector.trunk(images, sizes)
            if rpn not in proposals:
                proposals[rpn] = detector.propose(trunks[trunk], sizes)
            boxes, ok = proposals[rpn]
            if box not in box_features:
                box_features[box] = detector.box_features(trunks[trunk], boxes)
            outputs.extend(detector.predict(box_features[box], boxes, ok, sizes))
        return tuple(outputs)
