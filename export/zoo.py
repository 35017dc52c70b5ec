"""Build a Detectron2 detector from a model-zoo name or a config + checkpoint.

The real loading code: model-zoo configs and checkpoint URLs, local checkpoints (.pth/.pkl),
checks that a checkpoint fits the architecture. `random_weights=True` builds the same
architecture with seeded random weights for machines that cannot download the zoo weights.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import torch

from detectron2 import model_zoo
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.modeling import build_model
from detectron2.structures import ImageList

from creativelens.canvas import Canvas, letterbox
from creativelens.errors import UserError
from creativelens.model_metadata import sha256_of
from creativelens.sample_media import sample_stills

ZOO_CONFIGS = {
    "faster_rcnn_R_50_FPN_1x": "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml",
    "faster_rcnn_R_101_FPN_3x": "COCO-Detection/faster_rcnn_R_101_FPN_3x.yaml",
    "faster_rcnn_X_101_32x8d_FPN_3x": "COCO-Detection/faster_rcnn_X_101_32x8d_FPN_3x.yaml",
}
RANDOM_WEIGHTS_NOTICE = "RANDOM WEIGHTS: detections are meaningless; for plumbing and speed only"


@dataclass
class Detector:
    name: str
    cfg: object  # detectron2 CfgNode
    model: torch.nn.Module  # GeneralizedRCNN, eval mode
    class_names: list[str]
    weights: str  # checkpoint path/URL, or "random(seed=N)"
    weights_sha256: str = ""  # of the checkpoint file ("" for random weights)

    @property
    def random_weights(self) -> bool:
        return self.weights.startswith("random")

    def graph_settings(self) -> dict[str, str | int | float]:
        """What the exported graph bakes in besides weights and canvases and that changes its
        answers (ModelMetadata.graph, part of the model's version): the box head's score and NMS
        thresholds and detections per image, and a hash of the Detectron2 config (the checkpoint
        path, output folder and datasets left out: they change nothing the graph computes)."""
        heads = self.model.roi_heads.box_predictor
        cfg = self.cfg.clone()
        cfg.defrost()
        cfg.MODEL.WEIGHTS, cfg.OUTPUT_DIR, cfg.DATASETS.TRAIN, cfg.DATASETS.TEST = "", "", (), ()
        return {
            "score_threshold": round(float(heads.test_score_thresh), 6),
            "nms_threshold": round(float(heads.test_nms_thresh), 6),
            "detections_per_image": int(heads.test_topk_per_image),
            "config_sha256": hashlib.sha256(cfg.dump().encode()).hexdigest(),
        }


def load_detector(
    model: str | None = None,
    *,
    config_file: str | Path | None = None,
    weights: str | Path | None = None,
    random_weights: bool = False,
    labels_file: str | Path | None = None,
    device: str = "cpu",
    seed: int = 0,
    allow_unused_weights: bool = False,
    log=print,
) -> Detector:
    """A Detectron2 Faster R-CNN in eval mode, plus its class names.

    `model` is a zoo name (see ZOO_CONFIGS); with `config_file` it only names the result.
    Weights: `weights` (path or URL) if given, else the zoo checkpoint URL, unless
    `random_weights`. The checkpoint must fit exactly: every tensor of the model present at its
    shape and nothing else (see `check_fit`); `allow_unused_weights` accepts tensors the model
    does not have (a Mask R-CNN checkpoint's mask head, exported as a box detector), named by `log`.
    """
    if config_file is None:
        if model not in ZOO_CONFIGS:
            known = ", ".join(ZOO_CONFIGS)
            raise UserError(f"unknown model {model!r}: choose one of {known}, or pass --config-file")
        cfg_path = model_zoo.get_config_file(ZOO_CONFIGS[model])
        default_weights = model_zoo.get_checkpoint_url(ZOO_CONFIGS[model])
    else:
        cfg_path = str(config_file)
        if not Path(cfg_path).is_file():
            raise UserError(f"config file {cfg_path} does not exist")
        default_weights = None
        model = model or Path(cfg_path).stem

    cfg = get_cfg()
    try:
        cfg.merge_from_file(cfg_path)
    except Exception as error:  # detectron2 raises several kinds for a bad YAML
        raise UserError(f"config file {cfg_path} is not a Detectron2 config: {error}") from None
    if cfg.MODEL.META_ARCHITECTURE != "GeneralizedRCNN" or cfg.MODEL.PROPOSAL_GENERATOR.NAME != "RPN":
        raise UserError(f"{cfg_path}: only Faster R-CNN (GeneralizedRCNN + RPN) models can be exported")
    if cfg.MODEL.MASK_ON or cfg.MODEL.KEYPOINT_ON:
        raise UserError(f"{cfg_path}: mask/keypoint heads are not supported; box detection only")
    cfg.MODEL.DEVICE = device
    cfg.MODEL.WEIGHTS = ""
    class_names = _class_names(cfg, labels_file)

    torch.manual_seed(seed)
    detector = build_model(cfg).eval()
    if random_weights:
        _calibrate_random_weights(detector, seed)
        source = f"random(seed={seed})"
    else:
        source = str(weights or default_weights or "")
        if not source:
            raise UserError("a custom --config-file needs --weights (or --random-weights)")
        digest = _load_checkpoint(detector, source, model, allow_unused_weights, log)
        cfg.MODEL.WEIGHTS = source
    cfg.freeze()
    return Detector(model, cfg, detector, class_names, source, "" if random_weights else digest)


def _class_names(cfg, labels_file) -> list[str]:
    num_classes = cfg.MODEL.ROI_HEADS.NUM_CLASSES
    if labels_file is not None:
        path = Path(labels_file)
        if not path.is_file():
            raise UserError(f"labels file {path} does not exist")
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    else:
        dataset = cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else None
        try:
            names = list(MetadataCatalog.get(dataset).thing_classes) if dataset else []
        except AttributeError:
            names = []
        if len(names) != num_classes:  # none, or a custom model whose config inherits COCO's datasets
            names = [f"class_{i}" for i in range(num_classes)]
    if len(names) != num_classes:
        raise UserError(f"{len(names)} class names for a model with {num_classes} classes")
    return names


# What Detectron2 .pkl checkpoints hold: containers, strings, numbers and numpy arrays/dtypes.
_PICKLE_GLOBALS = {
    ("collections", "OrderedDict"), ("_codecs", "encode"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    *((module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
      for name in ("_reconstruct", "scalar")),
}
ZOO_HASH = re.compile(r"model_final_([0-9a-f]{6,})\.pkl$")


class CheckpointRefused(Exception):
    """A checkpoint that would load something other than weights (code, objects)."""


class _WeightsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_GLOBALS:
            raise CheckpointRefused(f"it holds {module}.{name}, not just weights")
        return super().find_class(module, name)


class _CheckedCheckpointer(DetectionCheckpointer):
    """Loads only weights (no pickled code), keeps the file's sha256 and the incompatibilities
    that DetectionCheckpointer would otherwise only log."""

    incompatible = None
    sha256 = ""

    def _load_model(self, checkpoint):
        self.incompatible = super()._load_model(checkpoint)
        return self.incompatible

    def _load_file(self, filename):
        self.sha256 = sha256_of(filename)
        if filename.endswith(".pkl"):
            with open(filename, "rb") as handle:
                data = _WeightsUnpickler(handle, encoding="latin1").load()
            if not isinstance(data, dict):
                raise CheckpointRefused(f"it holds a {type(data).__name__}, not a dict of weights")
            if "model" in data and "__author__" in data:
                return data
            data = data.get("blobs", data)
            return {"model": {k: v for k, v in data.items() if not str(k).endswith("_momentum")},
                    "__author__": "Caffe2", "matching_heuristics": True}
        return super()._load_file(filename)

    def _torch_load(self, f):
        try:
            return torch.load(f, map_location=torch.device("cpu"), weights_only=True)
        except pickle.UnpicklingError as error:
            reason = str(error).splitlines()
            raise CheckpointRefused(next((line for line in reason if "Unsupported global" in line),
                                         reason[0] if reason else "not weights only")) from None


def _load_checkpoint(detector: torch.nn.Module, source: str, model_name: str,
                     allow_unused_weights: bool = False, log=print) -> str:
    """Load `source` into `detector`; the checkpoint file's sha256."""
    is_url = "://" in source
    if not is_url and not Path(source).is_file():
        raise UserError(f"checkpoint {source} does not exist")
    checkpointer = _CheckedCheckpointer(detector)
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    logging.getLogger("detectron2").setLevel(logging.ERROR)
    try:
        checkpointer.load(source)
    except CheckpointRefused as error:
        raise UserError(f"checkpoint {source} refused: {error} (only weights are loaded)") from None
    except (OSError, RuntimeError, ValueError, KeyError, pickle.UnpicklingError, EOFError, AttributeError,
            TypeError) as error:
        hint = " (no network here? use --weights PATH or --random-weights)" if is_url else ""
        why = f"it is {unreadable_kind(source)}" if not is_url else str(error)
        raise UserError(f"could not load checkpoint {source}: {why}{hint}") from None
    if checkpointer.incompatible is None:
        raise UserError(f"checkpoint {source} holds no model weights")
    unused = check_fit(checkpointer.incompatible, len(detector.state_dict()), source, model_name,
                       allow_unused_weights)
    if unused:
        log(f"checkpoint {source}: not using {len(unused)} tensors the model does not have "
            f"(--allow-unused-weights): {_names(unused)}")
    if (match := ZOO_HASH.search(source)) and not checkpointer.sha256.startswith(match[1]):
        raise UserError(f"checkpoint {source}: its sha256 {checkpointer.sha256[:16]}... does not start "
                        f"with the {match[1]} its name promises (corrupt or replaced download)")
    return checkpointer.sha256


def check_fit(incompatible, expected: int, source: str, model_name: str, allow_unused: bool = False) -> list[str]:
    """Refuse (one UserError line naming the tensors) a checkpoint that does not fit the model:
    tensors of other shapes, tensors the model has that the checkpoint lacks (they would keep
    their random initialisation), and, unless `allow_unused`, tensors the model does not have.
    A tensor of another shape is reported as that only (fvcore also lists it as missing).
    Returns the unused tensors that were allowed."""
    shapes = list(incompatible.incorrect_shapes)
    reshaped = {key for key, _, _ in shapes}
    missing = [key for key in incompatible.missing_keys if key not in reshaped]
    unexpected = list(incompatible.unexpected_keys)
    problems = []
    if shapes:
        problems.append(f"{len(shapes)} tensors of other shapes: " + ", ".join(
            f"{key} {list(theirs)} (model {list(ours)})" for key, theirs, ours in shapes[:4])
            + (f" and {len(shapes) - 4} more" if len(shapes) > 4 else ""))
    if missing:
        problems.append(f"{len(missing)} of {expected} model tensors missing (they would stay random): {_names(missing)}")
    if unexpected and not allow_unused:
        problems.append(f"{len(unexpected)} tensors the model does not have: {_names(unexpected)} "
                        "(--allow-unused-weights exports anyway, e.g. a Mask R-CNN checkpoint as a box detector)")
    if problems:
        raise UserError(f"checkpoint {source} does not fit {model_name}: " + "; ".join(problems))
    return unexpected


def _names(keys, shown: int = 6) -> str:
    return ", ".join(keys[:shown]) + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


def unreadable_kind(path: str | Path) -> str:
    """What a file that no checkpoint loader could read is, in a few words."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as error:
        return f"unreadable ({error.strerror})"
    if not head:
        return "empty (0 bytes), not a checkpoint"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive that is not a complete PyTorch checkpoint (truncated or another zip)"
    if head[:1] == b"\x80":
        return "a pickle that ends early or is corrupt (truncated download?)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\t\r\n" for c in text):
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return (f"a text file, not a checkpoint (it begins {first!r}); expected a PyTorch .pth "
                "or a Detectron2 .pkl")
    return f"not a PyTorch .pth or Detectron2 .pkl checkpoint (it begins with bytes {head[:8]!r})"


# Output spreads of trained Faster R-CNN heads (std over one image), which random weights lack.
CALIBRATION_PHOTOS = 2
_HEAD_OUTPUT_STD = {"rpn_objectness": 1.0, "rpn_deltas": 0.1, "box_deltas": 0.1, "class_logits": 1.5}


@torch.no_grad()
def _calibrate_random_weights(detector: torch.nn.Module, seed: int) -> None:
    """Give a randomly initialised detector the activation scales of a trained one.

    Random convolutions under Detectron2's frozen BatchNorm (an identity until weights are
    loaded) grow activations to thousands; then float32 rounding alone moves boxes by pixels,
    proposals collapse and the class softmax saturates. So, on bundled real photos: set each
    frozen BatchNorm's statistics from its own input (data-dependent initialisation), then
    scale each prediction layer so its outputs spread like a trained model's.
    """
    from detectron2.layers import FrozenBatchNorm2d

    generator = torch.Generator().manual_seed(seed)
    photos = [cv2.imread(str(path), cv2.IMREAD_COLOR) for path in sample_stills()[:CALIBRATION_PHOTOS]]
    tensors = [torch.from_numpy(letterbox(photo, Canvas(320, 320)).pixels).permute(2, 0, 1) for photo in photos]
    if detector.input_format != "BGR":
        tensors = [t.flip(0) for t in tensors]
    images = ImageList.from_tensors([(t.float() - detector.pixel_mean) / detector.pixel_std for t in tensors], 32)

    def calibrate(module, inputs):
        x = inputs[0]
        module.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        module.running_var.copy_(x.var(dim=(0, 2, 3)) + 1e-3)

    hooks = [m.register_forward_pre_hook(calibrate) for m in detector.modules() if isinstance(m, FrozenBatchNorm2d)]
    try:
        features = detector.backbone(images.tensor)
    finally:
        for hook in hooks:
            hook.remove()

    rpn = detector.proposal_generator
    objectness, deltas = rpn.rpn_head([features[f] for f in rpn.in_features])
    _rescale(rpn.rpn_head.objectness_logits, torch.cat([o.flatten() for o in objectness]), "rpn_objectness")
    _rescale(rpn.rpn_head.anchor_deltas, torch.cat([d.flatten() for d in deltas]), "rpn_deltas")

    proposals, _ = rpn(images, features)
    heads = detector.roi_heads
    box_features = heads.box_head(heads.box_pooler([features[f] for f in heads.box_in_features],
                                                   [p.proposal_boxes for p in proposals]))
    predictor = heads.box_predictor
    _rescale(predictor.bbox_pred, predictor.bbox_pred(box_features), "box_deltas")
    classifier = predictor.cls_score
    classifier.weight.copy_(torch.randn(classifier.weight.shape, generator=generator))
    _rescale(classifier, classifier(box_features), "class_logits")


def _rescale(layer: torch.nn.Module, outputs: torch.Tensor, role: str) -> None:
    layer.weight.mul_(_HEAD_OUTPUT_STD[role] / max(float(outputs.std()), 1e-12))
    layer.bias.zero_()
