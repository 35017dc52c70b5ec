"""Every threshold a creative feature depends on, with its default and where that default
comes from, so that the docs, the CLI flags and the SQL read one definition.

The defaults follow Google's ABCD framework for video ads (face close-up, big logo, first
5 seconds, dynamic start, quick pacing) and the stream's own rules (a smile counts inside a
face when most of its box lies in one; detections kept as the stream kept them).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields, replace


def _threshold(default: float, unit: str, source: str, meaning: str):
    return field(default=default, metadata={"unit": unit, "source": source, "meaning": meaning})


@dataclass(frozen=True)
class Thresholds:
    score: float = _threshold(
        0.0, "score", "the stream's own thresholds (0.85 or the model's per-class ones) already applied",
        "detections scoring below this are ignored (0: every detection the results kept)")
    face_close_up: float = _threshold(
        0.15, "share of frame", "Google ABCD: face close-up", "a face box this share of the frame or more is a close-up")
    big_logo: float = _threshold(
        0.035, "share of frame", "Google ABCD: big logo", "a logo box this share of the frame or more is a big logo")
    opening_s: float = _threshold(
        5.0, "seconds", "Google ABCD: first 5 seconds", "frames sampled before this time are 'in the first seconds'")
    dynamic_start_s: float = _threshold(
        3.0, "seconds", "Google ABCD: dynamic start", "a first shot shorter than this is a dynamic start")
    pacing_shots: int = _threshold(
        5, "shots", "Google ABCD: quick pacing", "this many shots starting within `pacing_window_s` is quick pacing")
    pacing_window_s: float = _threshold(
        5.0, "seconds", "Google ABCD: quick pacing", "the window of quick pacing")
    smile_inside: float = _threshold(
        0.8, "share of smile box", "the stream's only_inside rule (client/rules.py inside_fraction)",
        "a smile counts when this share of its box lies inside one face box")
    shot_threshold: float = _threshold(
        27.0, "ContentDetector score", "PySceneDetect ContentDetector default",
        "frame-to-frame content change that makes a cut")
    min_shot_s: float = _threshold(
        0.25, "seconds", "CreativeLens choice (PySceneDetect's default is 15 frames)",
        "no cut is placed within this time of the previous one")

    min_impression_share: float = _threshold(
        0.05, "share of impressions", "the published Part IV (features under 5 % of impressions left out)",
        "a feature with this share of a format's impressions or less is flagged in the modelling table")

    def __post_init__(self) -> None:
        for name in ("score", "face_close_up", "big_logo", "smile_inside", "min_impression_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("opening_s", "dynamic_start_s", "pacing_window_s", "shot_threshold", "min_shot_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.pacing_shots < 2:
            raise ValueError(f"pacing_shots must be 2 or more, got {self.pacing_shots}")

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_threshold_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per threshold (`--face-close-up 0.2`), its default and source in the help."""
    group = parser.add_argument_group("thresholds (docs/features.md)")
    for item in fields(Thresholds):
        group.add_argument(flag_name(item.name), dest=f"threshold_{item.name}", type=type(item.default),
                           default=None, metavar=_metavar(item.metadata["unit"]),
                           help=f"{item.metadata['meaning']} (default {item.default}: {item.metadata['source']})"
                           .replace("%", "%%"))


def _metavar(unit: str) -> str:
    return "SECONDS" if unit == "seconds" else "SHARE" if unit.startswith("share") else unit.split()[-1].upper()


def thresholds_from_args(args: argparse.Namespace) -> Thresholds:
    given = {f.name: getattr(args, f"threshold_{f.name}") for f in fields(Thresholds)}
    return replace(Thresholds(), **{name: value for name, value in given.items() if value is not None})


def threshold_rows() -> list[dict]:
    """The thresholds as table rows (name, flag, default, unit, meaning, source) for the docs."""
    return [{"name": f.name, "flag": flag_name(f.name), "default": f.default, **f.metadata} for f in fields(Thresholds)]
