"""The settings a results folder was made with (`OUT/run.json`), checked on every resume.

Settings that change what a record means (how videos are sampled, which thresholds and rules
kept which detections, each model's own thresholds) are written by the first run into a
folder and compared by every later run: a mismatch is refused in one line instead of mixing
records made under different settings. Models may be added, and a model's version may change
(that model is then re-run); both are recorded here too.
"""

from __future__ import annotations

import json
from pathlib import Path

from creativelens.atomic_files import write_json_atomic
from creativelens.errors import UserError

RUN_FILE = "run.json"


def merged_settings(recorded: dict, current: dict, models: dict[str, dict], where: str) -> dict:
    """The settings of a results folder (`where`) after a run with `current` (`RunSettings.recorded()`)
    and `models` (name -> {"version", "thresholds"}); UserError when they would mix records
    made under other settings. `recorded` is what the folder held (empty when new)."""
    if recorded:
        for name in ("sampling", "rules"):
            theirs, mine = recorded.get(name), current[name]
            if theirs is not None and mine != theirs:
                raise UserError(f"the results in {where} were made with other {name} settings "
                                f"({_difference(theirs, mine)}): re-run with the same settings, or use another --out")
        for name, model in models.items():
            theirs = recorded.get("models", {}).get(name)
            if theirs and theirs.get("version") == model["version"] and theirs.get("thresholds") != model["thresholds"]:
                raise UserError(f"model {name!r} now carries other per-class thresholds than the results in "
                                f"{where} were made with, at the same version: use another --out")
    return {**current, "models": {**recorded.get("models", {}), **models}}


def check_and_record(out_dir: Path, current: dict, models: dict[str, dict]) -> dict:
    """`merged_settings` for a local results folder, whose `run.json` it reads and writes."""
    path = out_dir / RUN_FILE
    recorded: dict = {}
    if path.exists():
        try:
            recorded = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UserError(f"{path} is unreadable ({error}); it records how the results there were made: "
                            "restore it or use another --out") from None
    settings = merged_settings(recorded, current, models, str(out_dir))
    write_json_atomic(path, settings)
    return settings


def _difference(theirs: dict, mine: dict) -> str:
    keys = sorted(set(theirs) | set(mine))
    changed = [f"{key}: {json.dumps(theirs.get(key))} there, {json.dumps(mine.get(key))} now"
               for key in keys if theirs.get(key) != mine.get(key)]
    return "; ".join(changed[:3])
