"""Train a Faster R-CNN with Detectron2's own DefaultTrainer, into one output folder.

OUT gets model_final.pth, config.yaml and labels.txt here; evaluation.json and thresholds.json
come from `creativelens.train.evaluation` / `thresholds` on the validation split afterwards.
"""

from __future__ import annotations

import logging
import signal
import statistics
from dataclasses import dataclass
from pathlib import Path

from creativelens.errors import UserError
from creativelens.train import recipe
from creativelens.train.labels import MAX_BOXES_PER_IMAGE, MAX_LABELS_MB


class TrainingInterrupted(UserError):
    exit_code = 130


@dataclass
class TrainSpec:
    config: str  # model-zoo name (export.zoo.ZOO_CONFIGS) or a YAML path
    train_json: Path
    train_images: Path
    val_json: Path
    val_images: Path
    out: Path
    iterations: int = 1000
    ims_per_batch: int = 4
    from_scratch: bool = False
    weights: str | None = None
    overrides: tuple[str, ...] = ()  # KEY=VALUE, Detectron2 opts
    resume: bool = False
    labels_format: str = "auto"
    log_period: int = 20
    grid: tuple[str, ...] = ()  # KEY=VALUE of this run's --grid combination, merged after `overrides`
    max_labels_mb: float = MAX_LABELS_MB
    max_boxes_per_image: int = MAX_BOXES_PER_IMAGE
    freeze: str | None = None  # a freezing.FREEZE_LEVELS key: train on a frozen base


def _base_config(name_or_yaml: str):
    from detectron2 import model_zoo
    from detectron2.config import get_cfg

    from creativelens.export.zoo import ZOO_CONFIGS

    cfg = get_cfg()
    if name_or_yaml in ZOO_CONFIGS:
        cfg.merge_from_file(model_zoo.get_config_file(ZOO_CONFIGS[name_or_yaml]))
        cfg.MODEL.WEIGHTS = model_zoo.get_checkpoint_url(ZOO_CONFIGS[name_or_yaml])
    elif Path(name_or_yaml).is_file():
        try:
            cfg.merge_from_file(name_or_yaml)
        except Exception as error:  # yacs/yaml raise several kinds
            raise UserError(f"--config {name_or_yaml}: not a Detectron2 config ({error})") from None
    else:
        raise UserError(f"--config {name_or_yaml!r}: neither a model-zoo name ({', '.join(ZOO_CONFIGS)}) nor a YAML file")
    return cfg


def apply_from_scratch(cfg) -> None:
    """The scratch recipe's architecture and solver keys (`recipe.SCRATCH`)."""
    cfg.merge_from_list([item for choice in recipe.SCRATCH for item in (choice.key, choice.value)])


def _image_sides(dataset: dict) -> tuple[int, int]:
    shorts = [min(i["width"], i["height"]) for i in dataset["images"]]
    longs = [max(i["width"], i["height"]) for i in dataset["images"]]
    return int(min(800, statistics.median(shorts))), int(min(1333, max(longs)))


def build_config(spec: TrainSpec, train_split, val_split, train_dataset: dict, log=print):
    short, long = _image_sides(train_dataset)
    cfg = configure(spec, len(train_split.class_names), (short, long), (train_split.name,))
    for line in describe(spec, cfg):
        log(line)
    return cfg


def describe(spec: TrainSpec, cfg) -> list[str]:
    """What the run was set up with and why, a line each; values a --set/--grid changed say so."""
    set_keys = {item.partition("=")[0] for item in (*spec.overrides, *spec.grid)}
    lr, why = recipe.lr_rule(spec.from_scratch, spec.ims_per_batch)
    lines = [f"learning rate {cfg.SOLVER.BASE_LR:g} ("
             + (f"--set; the rule gives {lr:g}: {why}" if "SOLVER.BASE_LR" in set_keys else why)
             + f"), warm-up {cfg.SOLVER.WARMUP_ITERS}, steps {list(cfg.SOLVER.STEPS)}, "
             f"{cfg.SOLVER.MAX_ITER} iterations, batch {cfg.SOLVER.IMS_PER_BATCH}, {cfg.MODEL.ROI_HEADS.NUM_CLASSES} classes",
             f"input: train short side {'/'.join(map(str, cfg.INPUT.MIN_SIZE_TRAIN))} px, test "
             f"{cfg.INPUT.MIN_SIZE_TEST}/{cfg.INPUT.MAX_SIZE_TEST} px (the data's median short side); augmentations: "
             + ", ".join(recipe.AUGMENTATION_NAMES)]
    if spec.from_scratch:
        lines.append("from scratch, the recipe measured on this CPU (--set KEY=VALUE overrides any of it):")
        for choice in recipe.SCRATCH[1:]:
            if choice.key in set_keys:
                lines.append(f"  {choice.key} = {_get_key(cfg, choice.key)} (--set; the recipe's {choice.value})")
            else:
                lines.append(f"  {choice.key} = {choice.value}: {choice.why}")
    return lines


def _get_key(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def configure(spec: TrainSpec, num_classes: int, sides: tuple[int, int] = (800, 1333), train_sets=()):
    """The run's Detectron2 config: base, from-scratch, --set then --grid values merged and checked
    (`check_config`); a bad key or value is one UserError line naming its flag."""
    cfg = _base_config(spec.config)
    if spec.from_scratch:
        apply_from_scratch(cfg)
    if spec.weights:
        cfg.MODEL.WEIGHTS = str(spec.weights)
    short, long = sides
    cfg.DATASETS.TRAIN = tuple(train_sets)
    cfg.DATASETS.TEST = ()  # validation is evaluated by creativelens.train.evaluation afterwards
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = num_classes
    cfg.MODEL.DEVICE = "cpu"
    cfg.INPUT.MIN_SIZE_TRAIN = (short,)
    cfg.INPUT.MAX_SIZE_TRAIN = long
    cfg.INPUT.MIN_SIZE_TEST = short
    cfg.INPUT.MAX_SIZE_TEST = long
    cfg.DATALOADER.NUM_WORKERS = 1
    cfg.SOLVER.IMS_PER_BATCH = spec.ims_per_batch
    cfg.SOLVER.BASE_LR = recipe.lr_rule(spec.from_scratch, spec.ims_per_batch)[0]
    cfg.SOLVER.MAX_ITER = spec.iterations
    cfg.TEST.EVAL_PERIOD = 0
    cfg.OUTPUT_DIR = str(spec.out)
    for flag, items in (("--set", spec.overrides), ("--grid", spec.grid)):
        for item in items:
            try:
                cfg.merge_from_list(_split_override(item, flag))
            except UserError:
                raise
            except Exception as error:  # yacs: KeyError / ValueError / AssertionError for a bad key or value
                raise UserError(f"{flag} {item}: {_yacs_reason(error)}") from None
    flagged = {item.partition("=")[0]: flag for flag, items in (("--set", spec.overrides), ("--grid", spec.grid))
               for item in items}
    _schedule(cfg, set(flagged), spec.from_scratch)
    check_config(cfg, flagged)
    if not spec.from_scratch and not cfg.MODEL.WEIGHTS:
        raise UserError("no start weights: pass --weights PATH, a model-zoo --config, or --from-scratch")
    if spec.freeze and (spec.from_scratch or not cfg.MODEL.WEIGHTS):
        raise UserError(f"--freeze {spec.freeze} keeps a base's parts as they are: it needs start weights "
                        "(--weights BASE.pth), not --from-scratch")
    if cfg.MODEL.META_ARCHITECTURE != "GeneralizedRCNN" or cfg.MODEL.MASK_ON or cfg.MODEL.KEYPOINT_ON:
        raise UserError("only Faster R-CNN box detectors can be trained here (and exported)")
    return cfg


def _yacs_reason(error: Exception) -> str:
    text = str(error.args[0]) if error.args else type(error).__name__
    return " ".join(text.replace("\n", " ").split())


# Config values Detectron2 takes without a look and fails on later, with a traceback mid-run
# (a scheduler ValueError at MAX_ITER <= 0, a data-loader AssertionError at IMS_PER_BATCH 0).
_AT_LEAST_ONE = ("SOLVER.MAX_ITER", "SOLVER.IMS_PER_BATCH", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE",
                 "MODEL.RPN.BATCH_SIZE_PER_IMAGE", "MODEL.RPN.POST_NMS_TOPK_TRAIN", "MODEL.RPN.POST_NMS_TOPK_TEST",
                 "MODEL.RPN.PRE_NMS_TOPK_TRAIN", "MODEL.RPN.PRE_NMS_TOPK_TEST", "TEST.DETECTIONS_PER_IMAGE")
_FRACTIONS = ("MODEL.ROI_HEADS.SCORE_THRESH_TEST", "MODEL.ROI_HEADS.NMS_THRESH_TEST", "MODEL.RPN.NMS_THRESH",
              "MODEL.ROI_HEADS.POSITIVE_FRACTION", "MODEL.RPN.POSITIVE_FRACTION", "SOLVER.GAMMA", "SOLVER.MOMENTUM")


def check_config(cfg, flagged: dict[str, str] | None = None) -> None:
    """Values that would crash or silently break training, one line each (`flagged`: key -> the
    flag that set it, named in the message)."""
    import math

    def value(key):
        return _get_key(cfg, key)

    def where(key):
        return f"{flagged[key]} {key}" if key in (flagged or {}) else key

    for key in _AT_LEAST_ONE:
        if value(key) < 1:
            raise UserError(f"{where(key)} = {value(key)}: must be at least 1")
    for key in _FRACTIONS:
        if not 0.0 <= value(key) <= 1.0:
            raise UserError(f"{where(key)} = {value(key)}: must be between 0 and 1")
    lr = cfg.SOLVER.BASE_LR
    if not (math.isfinite(lr) and lr > 0):
        raise UserError(f"{where('SOLVER.BASE_LR')} = {lr}: must be a positive number")
    if cfg.SOLVER.CHECKPOINT_PERIOD < 1:
        raise UserError(f"{where('SOLVER.CHECKPOINT_PERIOD')} = {cfg.SOLVER.CHECKPOINT_PERIOD}: must be at least 1")
    for key in ("SOLVER.WEIGHT_DECAY", "SOLVER.WARMUP_ITERS"):
        if not (math.isfinite(value(key)) and value(key) >= 0):
            raise UserError(f"{where(key)} = {value(key)}: must not be negative")


def _schedule(cfg, overridden: set[str], from_scratch: bool = False) -> None:
    """LR steps at 75 % and 90 % of the final MAX_ITER (a --set or --grid SOLVER.MAX_ITER included),
    warm-up min(100, N/10) (from scratch: min(200, N/5)), a checkpoint every N/4; a schedule key set
    explicitly is kept."""
    iterations = cfg.SOLVER.MAX_ITER
    if "SOLVER.STEPS" not in overridden:
        cfg.SOLVER.STEPS = tuple(sorted({s for s in (int(iterations * 0.75), int(iterations * 0.9)) if 0 < s < iterations}))
    if "SOLVER.WARMUP_ITERS" not in overridden:
        cfg.SOLVER.WARMUP_ITERS = (min(recipe.SCRATCH_WARMUP_ITERS, max(1, iterations // 5)) if from_scratch
                                   else min(100, max(1, iterations // 10)))
    if "SOLVER.CHECKPOINT_PERIOD" not in overridden:
        cfg.SOLVER.CHECKPOINT_PERIOD = max(10, iterations // 4)


def _split_override(item: str, flag: str = "--set") -> list[str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise UserError(f"{flag} {item!r}: expected KEY=VALUE (a Detectron2 config key)")
    return [key, value]


def _record_frozen(spec: TrainSpec, model, log) -> None:
    """Say what is frozen, and write OUT/frozen.json with the digest of the frozen tensors."""
    import json

    from creativelens.train.freezing import FREEZE_LEVELS, digest, frozen_names

    names = frozen_names(model, spec.freeze)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for n, p in model.named_parameters() if n in set(names))
    log(f"--freeze {spec.freeze}: {len(names)} tensors ({frozen / 1e6:.1f} M parameters under "
        f"{', '.join(FREEZE_LEVELS[spec.freeze])}) stay as in {spec.weights}; {trainable / 1e6:.2f} M train")
    (spec.out / "frozen.json").write_text(json.dumps(
        {"level": spec.freeze, "prefixes": FREEZE_LEVELS[spec.freeze], "base": str(spec.weights),
         "tensors": len(names), "sha256": digest(model.state_dict(), names)}, indent=2) + "\n")


def _trainer_class(freeze_level: str | None = None):
    from detectron2.engine import DefaultTrainer, HookBase
    from detectron2.utils.events import CommonMetricPrinter, JSONWriter

    class StopOnSignal(HookBase):
        """SIGINT/SIGTERM: finish the step, save a checkpoint that --resume continues, stop."""

        def __init__(self):
            self.signalled = None
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._on_signal)

        def _on_signal(self, number, frame):
            self.signalled = signal.Signals(number).name

        def after_step(self):
            if self.signalled:
                iteration = self.trainer.iter
                self.trainer.checkpointer.save(f"model_{iteration:07d}", iteration=iteration)
                raise KeyboardInterrupt(self.signalled)

    class Trainer(DefaultTrainer):
        @classmethod
        def build_model(cls, cfg):
            model = super().build_model(cfg)
            if freeze_level:
                from creativelens.train.freezing import freeze

                freeze(model, freeze_level)
            return model

        def build_writers(self):
            # No TensorBoard (not installed here): the console line and metrics.json.
            return [CommonMetricPrinter(self.max_iter), JSONWriter(str(Path(self.cfg.OUTPUT_DIR) / "metrics.json"))]

        def build_hooks(self):
            hooks = super().build_hooks()
            hooks.insert(0, StopOnSignal())
            return hooks

        @classmethod
        def build_train_loader(cls, cfg):
            from detectron2.data import DatasetMapper, build_detection_train_loader

            return build_detection_train_loader(
                cfg, mapper=DatasetMapper(cfg, is_train=True, augmentations=recipe.augmentations(cfg)))

    return Trainer


def train(spec: TrainSpec, log=print):
    """Train; returns (cfg, class_names). Writes OUT/model_final.pth, config.yaml, labels.txt."""
    from detectron2.utils.logger import setup_logger

    from creativelens.train.labels import read_coco, register_split

    spec.out.mkdir(parents=True, exist_ok=True)
    train_split = register_split("creativelens_train", spec.train_json, spec.train_images, spec.out, spec.labels_format,
                                 spec.max_labels_mb, spec.max_boxes_per_image)
    val_split = register_split("creativelens_val", spec.val_json, spec.val_images, spec.out, spec.labels_format,
                               spec.max_labels_mb, spec.max_boxes_per_image)
    if val_split.class_names != train_split.class_names:
        raise UserError(f"{spec.val_json}: categories {val_split.class_names} differ from the training set's "
                        f"{train_split.class_names}")
    train_dataset = read_coco(train_split.coco_json, spec.train_images, "coco", spec.max_labels_mb * 2, spec.max_boxes_per_image)
    cfg = build_config(spec, train_split, val_split, train_dataset, log)
    (spec.out / "config.yaml").write_text(cfg.dump())
    (spec.out / "labels.txt").write_text("\n".join(train_split.class_names) + "\n")
    logger = setup_logger(str(spec.out), name="detectron2", abbrev_name="d2")
    logger.setLevel(logging.INFO)
    for handler in logger.handlers:
        handler.setLevel(logging.INFO if "Stream" in type(handler).__name__ else logging.DEBUG)
    logging.getLogger("detectron2").propagate = False
    if spec.resume and not (spec.out / "last_checkpoint").is_file():
        raise UserError(f"--resume: no checkpoint in {spec.out} (no last_checkpoint file)")
    try:
        trainer = _trainer_class(spec.freeze)(cfg)
    except (KeyError, ValueError, AssertionError, TypeError, NotImplementedError) as error:
        raise UserError(f"training cannot start with this config ({type(error).__name__}: "
                        f"{_yacs_reason(error)}): check the --set/--grid values") from None
    if spec.weights and not spec.resume:
        from creativelens.train.start_weights import StartWeights

        StartWeights(trainer.model, train_split.class_names, log).load_start(str(spec.weights))
    else:
        trainer.resume_or_load(resume=spec.resume)
    if spec.resume:
        log(f"resuming at iteration {trainer.start_iter}")
    if spec.freeze:
        _record_frozen(spec, trainer.model, log)
    try:
        trainer.train()
    except KeyboardInterrupt as stop:
        raise TrainingInterrupted(f"stopped by {stop.args[0] if stop.args else 'SIGINT'} at iteration "
                                  f"{trainer.iter}; checkpoint saved in {spec.out}: continue with --resume") from None
    return cfg, train_split.class_names
