"""Training and evaluation of custom detectors (issue 9): labels in, DefaultTrainer, COCO AP and
the seeds' accuracy rule, per-class thresholds, grid search, and a SYNTHETIC brand dataset."""

__all__ = ["synthetic_dataset", "labels", "training", "evaluation", "accuracy", "thresholds", "grid"]
