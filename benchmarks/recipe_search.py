"""How the scratch recipe was found: step time per configuration, and a learning-rate range test.

    python -m creativelens.benchmarks.recipe_search step NAME BATCH ITERATIONS [KEY=VALUE ...]
    python -m creativelens.benchmarks.recipe_search lr-range BATCH ITERATIONS LOW HIGH [KEY=VALUE ...]

Both train R18 Faster R-CNN from scratch on the SYNTHETIC brand set (build/datasets/synthetic-brand)
with Detectron2's own trainer and the recipe's config, the given KEY=VALUE pairs on top.
`step` prints the mean seconds per iteration (the first 5 left out) and per image.
`lr-range` raises the learning rate exponentially from LOW to HIGH over ITERATIONS, with no
warm-up and no steps, prints the loss (and its moving average) every 10 iterations, and stops
where the loss diverges (not finite, or above 20); the rows land in OUT/lr_range.json.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import sys
import time
from pathlib import Path

DATA = Path("build/datasets/synthetic-brand")
R18 = ("MODEL.RESNETS.DEPTH=18", "MODEL.RESNETS.RES2_OUT_CHANNELS=64")


def _trainer(name: str, batch: int, iterations: int, sets, out: Path):
    from detectron2.utils.logger import setup_logger

    from creativelens.train.labels import register_split
    from creativelens.train.training import TrainSpec, _trainer_class, configure

    spec = TrainSpec("faster_rcnn_R_50_FPN_1x", DATA / "coco/train.json", DATA / "images/train", DATA / "coco/val.json",
                     DATA / "images/val", out, iterations, batch, True, None, (*R18, *sets))
    out.mkdir(parents=True, exist_ok=True)
    split = register_split("creativelens_train", spec.train_json, spec.train_images, out, "coco", 100, 2000)
    cfg = configure(spec, len(split.class_names), (320, 320), (split.name,))
    setup_logger(str(out), name="detectron2").setLevel(logging.WARNING)
    trainer = _trainer_class()(cfg)
    trainer.resume_or_load(resume=False)
    return trainer


def step_time(name: str, batch: int, iterations: int, sets) -> dict:
    from detectron2.engine import HookBase

    trainer = _trainer(name, batch, iterations, sets, Path("build/recipe_search") / name)
    times = []

    class Clock(HookBase):
        def before_step(self):
            self.started = time.perf_counter()

        def after_step(self):
            times.append(time.perf_counter() - self.started)

    trainer.register_hooks([Clock()])
    trainer.train()
    steady = statistics.mean(times[5:])
    result = {"name": name, "batch": batch, "sets": list(sets), "s_per_iteration": round(steady, 3),
              "s_per_image": round(steady / batch, 3),
              "parameters_m": round(sum(p.numel() for p in trainer.model.parameters()) / 1e6, 1)}
    print(json.dumps(result))
    return result


def lr_range(batch: int, iterations: int, low: float, high: float, sets) -> list:
    from detectron2.engine import HookBase

    out = Path("build/recipe_search/lr_range")
    trainer = _trainer("lr_range", batch, iterations, (*sets, "SOLVER.WARMUP_ITERS=0", "SOLVER.STEPS=()"), out)
    rows = []

    class Sweep(HookBase):
        def before_step(self):
            self.lr = low * (high / low) ** (self.trainer.iter / iterations)
            for group in self.trainer.optimizer.param_groups:
                group["lr"] = self.lr

        def after_step(self):
            loss = self.trainer.storage.history("total_loss").latest()
            rows.append((self.lr, loss))
            if not math.isfinite(loss) or loss > 20:
                raise StopIteration(f"diverged at learning rate {self.lr:.4g}")

    trainer.register_hooks([Sweep()])
    try:
        trainer.train()
    except StopIteration as stop:
        print(stop)
    average = None
    for index, (lr, loss) in enumerate(rows):
        average = loss if average is None else 0.9 * average + 0.1 * loss
        if index % 10 == 0:
            print(f"{index:4d} lr {lr:.4g} loss {loss:.3f} average {average:.3f}", flush=True)
    (out / "lr_range.json").write_text(json.dumps(rows) + "\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["step"] and len(args) >= 4:
        step_time(args[1], int(args[2]), int(args[3]), args[4:])
    elif args[:1] == ["lr-range"] and len(args) >= 5:
        lr_range(int(args[1]), int(args[2]), float(args[3]), float(args[4]), args[5:])
    else:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
