"""Start weights for fine-tuning: a base checkpoint trained on other classes.

Everything but the class-dependent layers must fit the model exactly (the trunk, the RPN, the
box head): a checkpoint of another architecture is one line naming the tensors. The
class-dependent layers (the box predictor: class scores and per-class box deltas) are loaded
only when the checkpoint's classes are the dataset's classes, in the same order (its
labels.txt beside it says); otherwise they keep their fresh initialisation, said in one line.
"""

from __future__ import annotations

import logging
from pathlib import Path

from detectron2.checkpoint import DetectionCheckpointer

from creativelens.errors import UserError

CLASS_DEPENDENT = "roi_heads.box_predictor."


def checkpoint_classes(weights: str) -> list[str] | None:
    labels = Path(weights).parent / "labels.txt"
    return labels.read_text().split() if labels.is_file() else None


class StartWeights(DetectionCheckpointer):
    """DetectionCheckpointer that re-initialises the class-dependent layers when the classes
    differ, refuses any other misfit, and records what it re-initialised."""

    def __init__(self, model, class_names, log=print):
        super().__init__(model)
        self.class_names = list(class_names)
        self.log = log
        self.reinitialised: list[tuple[str, tuple, tuple]] = []

    def _load_model(self, checkpoint):
        weights = checkpoint["model"]
        ours = self.model.state_dict()
        base_classes = checkpoint_classes(self.source)
        same_classes = base_classes == self.class_names
        for key in [k for k in weights if k.startswith(CLASS_DEPENDENT) and k in ours]:
            theirs = tuple(weights[key].shape)
            if not same_classes or theirs != tuple(ours[key].shape):
                self.reinitialised.append((key, theirs, tuple(ours[key].shape)))
                del weights[key]
        incompatible = super()._load_model(checkpoint)
        missing = [k for k in incompatible.missing_keys if k not in {r[0] for r in self.reinitialised}]
        if incompatible.incorrect_shapes or missing:
            shapes = ", ".join(f"{k} {list(a)} (model {list(b)})" for k, a, b in incompatible.incorrect_shapes[:3])
            raise UserError(f"--weights {self.source} does not fit this model "
                            + (f"(tensors of other shapes: {shapes}) " if shapes else "")
                            + (f"(missing: {', '.join(missing[:4])}) " if missing else "")
                            + "- train with the base's own config.yaml as --config")
        if self.reinitialised:
            what = "its classes are unknown (no labels.txt beside it)" if base_classes is None else (
                f"its {len(base_classes)} classes are not the dataset's {len(self.class_names)}")
            self.log(f"fine-tuning from {self.source}: {what}; re-initialised "
                     + ", ".join(f"{k.removeprefix(CLASS_DEPENDENT)} {list(a)} -> {list(b)}" for k, a, b in self.reinitialised)
                     + "; every other tensor loaded as it is")
        else:
            self.log(f"fine-tuning from {self.source}: every tensor loaded, classes {self.class_names} as its own")
        return incompatible

    def load_start(self, source: str) -> None:
        self.source = source
        logging.getLogger("fvcore").setLevel(logging.ERROR)  # its missing-keys warning: said above, in one line
        self.load(source, checkpointables=[])
