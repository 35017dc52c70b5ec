"""What a training folder holds, for the exporter: `creativelens export --from-training OUT`."""

from __future__ import annotations

import json
from pathlib import Path

from creativelens.errors import UserError

TRAINING_FILES = ("config.yaml", "model_final.pth", "labels.txt")


def from_training(out: str | Path) -> tuple[Path, Path, Path, dict[str, float]]:
    """(config.yaml, model_final.pth, labels.txt, per-class thresholds) of a `creativelens train` OUT."""
    out = Path(out)
    missing = [name for name in TRAINING_FILES if not (out / name).is_file()]
    if missing:
        raise UserError(f"{out}: not a finished `creativelens train` folder (missing {', '.join(missing)})")
    thresholds = {}
    if (out / "thresholds.json").is_file():
        try:
            thresholds = {str(k): float(v) for k, v in json.loads((out / "thresholds.json").read_text()).items()}
        except (ValueError, AttributeError) as error:
            raise UserError(f"{out / 'thresholds.json'}: not a JSON object of class -> threshold ({error})") from None
    return out / "config.yaml", out / "model_final.pth", out / "labels.txt", thresholds
