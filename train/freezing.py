"""`--freeze`: train a detector's own parts on a frozen base, so that detectors fine-tuned from
one base share its early parts bit for bit (what a detector pack computes once).

Levels, each freezing more of Faster R-CNN:
- trunk:        the backbone and FPN;
- proposals:    + the RPN (every detector gets the base's proposals);
- box-features: + the box head's fc layers (only the class/box predictor is the detector's own).
"""

from __future__ import annotations

import hashlib

import torch

FREEZE_LEVELS = {
    "trunk": ("backbone.",),
    "proposals": ("backbone.", "proposal_generator."),
    "box-features": ("backbone.", "proposal_generator.", "roi_heads.box_head."),
}


def frozen_names(model: torch.nn.Module, level: str) -> list[str]:
    prefixes = FREEZE_LEVELS[level]
    return [name for name, _ in model.named_parameters() if name.startswith(prefixes)]


def freeze(model: torch.nn.Module, level: str) -> None:
    """Stop gradients to the level's parameters (the optimizer then leaves them out)."""
    for name, parameter in model.named_parameters():
        if name.startswith(FREEZE_LEVELS[level]):
            parameter.requires_grad_(False)


def digest(state: dict[str, torch.Tensor], names) -> str:
    """sha256 over the named tensors' bytes, in name order: equal digests, equal weights."""
    hasher = hashlib.sha256()
    for name in sorted(names):
        tensor = state[name].detach().cpu().contiguous()
        hasher.update(name.encode())
        hasher.update(tensor.numpy().tobytes())
    return hasher.hexdigest()
