"""How a training is set up: the scratch recipe measured on this 2-core CPU, and the published
pipeline's linear-scaling rule for fine-tuning pretrained weights.

Every choice is a Detectron2 config key with the reason it was chosen; `creativelens train`
prints them, and a `--set` of the same key wins (and is printed as such). The measurements
behind the reasons are in benchmarks/results/training_recipe_intel-xeon-2c/.
"""

from __future__ import annotations

from dataclasses import dataclass

FINE_TUNE_LR_PER_16_IMAGES = 0.01  # the published pipeline's rule: 0.01 x B / 16, for pretrained weights
SCRATCH_LR_PER_16_IMAGES = 0.08  # 0.02 at batch 4
SCRATCH_WARMUP_ITERS = 200


@dataclass(frozen=True)
class Choice:
    key: str
    value: object
    why: str


SCRATCH = (
    Choice("MODEL.WEIGHTS", "", "no pretrained weights"),
    Choice("MODEL.BACKBONE.FREEZE_AT", 0, "nothing pretrained to keep: every stage trains"),
    Choice("MODEL.RESNETS.NORM", "GN", "GroupNorm: batch statistics of 2-4 images are too noisy for BatchNorm "
           "(Detectron2's scratch_*_gn recipe)"),
    Choice("MODEL.RESNETS.STRIDE_IN_1X1", False, "torchvision-style bottleneck, as the scratch_*_gn configs"),
    Choice("MODEL.FPN.NORM", "GN", "GroupNorm in the FPN too"),
    Choice("MODEL.FPN.OUT_CHANNELS", 128, "FPN and RPN convolutions at 128 channels: 0.37 s/image a step on "
           "2 cores, against 0.76 at 256 (measured)"),
    Choice("MODEL.ROI_BOX_HEAD.NAME", "FastRCNNConvFCHead", "Detectron2's box head"),
    Choice("MODEL.ROI_BOX_HEAD.NUM_CONV", 0, "two fc layers instead of 4 GN convolutions: the 4conv head cost "
           "27 % of a step and most of inference at 1,000 proposals (3.5 s/image, measured)"),
    Choice("MODEL.ROI_BOX_HEAD.NUM_FC", 2, "the standard 2fc head"),
    Choice("MODEL.ROI_BOX_HEAD.NORM", "", "fc layers take no norm"),
    Choice("MODEL.ANCHOR_GENERATOR.SIZES", [[16], [32], [64], [128], [256]],
           "anchors from 16 px: an 18 px mark overlaps a 32 px anchor at IoU 0.32, below the RPN's 0.7"),
    Choice("MODEL.RPN.POST_NMS_TOPK_TRAIN", 500, "a few marks an image need no 1,000 proposals"),
    Choice("MODEL.RPN.POST_NMS_TOPK_TEST", 300, "the box head's inference cost grows with proposals"),
    Choice("MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 128, "128 sampled RoIs an image: enough for a few marks"),
    Choice("SOLVER.CLIP_GRADIENTS.ENABLED", True, "the first iterations of a random network have wild gradients"),
    Choice("SOLVER.CLIP_GRADIENTS.CLIP_TYPE", "norm", "clip the gradient's norm"),
    Choice("SOLVER.CLIP_GRADIENTS.CLIP_VALUE", 10.0, "at 10"),
)


def scratch_lr(ims_per_batch: int) -> float:
    return SCRATCH_LR_PER_16_IMAGES * ims_per_batch / 16


def fine_tune_lr(ims_per_batch: int) -> float:
    return FINE_TUNE_LR_PER_16_IMAGES * ims_per_batch / 16


def lr_rule(from_scratch: bool, ims_per_batch: int) -> tuple[float, str]:
    """The learning rate a run starts from and why."""
    if from_scratch:
        return scratch_lr(ims_per_batch), (
            f"scratch recipe: {SCRATCH_LR_PER_16_IMAGES} x {ims_per_batch} / 16, a tenth of where a learning-rate "
            f"range test diverged (0.2-0.25 at batch 4), warm-up {SCRATCH_WARMUP_ITERS} iterations")
    return fine_tune_lr(ims_per_batch), (
        f"the published pipeline's rule for pretrained weights: {FINE_TUNE_LR_PER_16_IMAGES} x {ims_per_batch} / 16")


# Training runs at one scale, the data's own short side: the marks' sizes already span 18-110 px
# (log-uniform), and multi-scale training (0.8-1.2 x, one size drawn per image) padded most
# batches of 4 to the largest size: 2.0 s/iteration against 1.4 at one scale (measured).
AUGMENTATION_NAMES = ("resize to the train size", "horizontal flip", "brightness 0.75-1.25",
                      "contrast 0.75-1.25", "saturation 0.75-1.25")


def augmentations(cfg) -> list:
    """Detectron2's own augmentations for DatasetMapper: its resize and flip, then colour jitter
    (the marks come in every colour; the photos in every light)."""
    from detectron2.data import detection_utils, transforms as T

    return detection_utils.build_augmentation(cfg, True) + [
        T.RandomBrightness(0.75, 1.25), T.RandomContrast(0.75, 1.25), T.RandomSaturation(0.75, 1.25)]
