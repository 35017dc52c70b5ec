"""Detector folders for the pack tests, as `creativelens train` leaves them (config.yaml,
model_final.pth, labels.txt, thresholds.json): a small R18 base with RANDOM weights and
detectors "trained" from it by changing exactly the parts a real training at each --freeze
level would change."""

from __future__ import annotations

import json
from pathlib import Path

import torch

BASE_CLASSES = ("person", "bottle", "can")


def base_config(num_classes: int = len(BASE_CLASSES)):
    from detectron2 import model_zoo
    from detectron2.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file("COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"))
    cfg.merge_from_list(["MODEL.RESNETS.DEPTH", 18, "MODEL.RESNETS.RES2_OUT_CHANNELS", 64,
                         "MODEL.FPN.OUT_CHANNELS", 64, "MODEL.ROI_BOX_HEAD.FC_DIM", 256,
                         "MODEL.ROI_HEADS.NUM_CLASSES", num_classes, "MODEL.DEVICE", "cpu"])
    return cfg


def write_folder(folder: Path, cfg, state: dict, class_names, thresholds: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(cfg.dump())
    torch.save({"model": state}, folder / "model_final.pth")
    (folder / "labels.txt").write_text("\n".join(class_names) + "\n")
    (folder / "thresholds.json").write_text(json.dumps(thresholds or {name: 0.05 for name in class_names}))
    return folder


def base_state(seed: int = 0) -> dict:
    """Random weights, scaled as the exporter's random weights are (activations like a trained model's)."""
    from creativelens.export.zoo import _calibrate_random_weights
    from detectron2.modeling import build_model

    torch.manual_seed(seed)
    model = build_model(base_config()).eval()
    _calibrate_random_weights(model, seed)
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def changed(state: dict, prefix: str, seed: int) -> dict:
    """`state` with every tensor under `prefix` moved a little (what training that part does)."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, tensor in state.items():
        if name.startswith(prefix) and tensor.is_floating_point():
            tensor = tensor + 0.05 * tensor.std().nan_to_num(0.01) * torch.randn(tensor.shape, generator=generator)
        out[name] = tensor.clone()
    return out


def single_class_state(state: dict, seed: int) -> dict:
    """A single-class predictor in place of the base's (re-initialised, as fine-tuning does)."""
    generator = torch.Generator().manual_seed(seed)
    out = dict(state)
    dim = state["roi_heads.box_predictor.cls_score.weight"].shape[1]
    out["roi_heads.box_predictor.cls_score.weight"] = 0.05 * torch.randn(2, dim, generator=generator)
    out["roi_heads.box_predictor.cls_score.bias"] = torch.tensor([2.0, 0.0])
    out["roi_heads.box_predictor.bbox_pred.weight"] = 0.001 * torch.randn(4, dim, generator=generator)
    out["roi_heads.box_predictor.bbox_pred.bias"] = torch.zeros(4)
    return out


def write_brand_detectors(root: Path) -> dict[str, Path]:
    """base (3 classes); logo: its own predictor on everything frozen (box-features level);
    product: + its own box head (proposals level); cue: a changed trunk (shares nothing)."""
    state = base_state()
    folders = {"base": write_folder(root / "base", base_config(), state, BASE_CLASSES)}
    one = base_config(1)
    folders["logo"] = write_folder(root / "logo", one, single_class_state(state, 1), ("acme_logo",), {"acme_logo": 0.3})
    folders["product"] = write_folder(root / "product", one, single_class_state(changed(state, "roi_heads.box_head.", 2), 2),
                                      ("acme_can",))
    folders["cue"] = write_folder(root / "cue", one, single_class_state(changed(state, "backbone.bottom_up.res5", 3), 3),
                                  ("acme_cue",))
    return folders
