"""How a labelling run runs: one settings type for `stream`, `spark`, `evaluate --server` and the
benchmarks, and the one place its command-line flags are defined.

    settings = RunSettings(every=5, rules=load_rules("brand.json"))
    stream(["ads/"], "127.0.0.1:8001", "results/", settings)

`RunSettings` checks itself when built (a bad value is a `UserError` naming the flag), so every
entry point refuses the same things in the same words; `add_run_arguments` adds its flags to a
parser and `settings_from_args` reads them back.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

from creativelens.client.endpoints import DEFAULT_FAILOVER_AFTER_S
from creativelens.client.rules import Rules, load_rules
from creativelens.errors import UserError

DEFAULT_EVERY = 10  # every 10th video frame, as the published pipeline sampled
# A sampled video frame whose pHash is within this Hamming distance (of 64 bits) of the last
# inferred frame of its video reuses that frame's detections. Measured (every 10th frame,
# benchmarks/results/video_skip_*.md): at 4 bits vtest.avi reuses 18 %, Megamind.avi 26 %, cup.mp4
# 18 %, an assembled ad spot 35 % (its held end card, saturated from 2 bits); from 6 bits on, frames
# of walking people and camera moves start to reuse. 4 keeps to frames that barely moved.
DEFAULT_REPEAT_THRESHOLD = 4
DEFAULT_MAX_PIXELS = 100_000_000  # larger stills or frames are refused as decompression bombs
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))  # decode threads
DEFAULT_RETRY_FOR_S = 120.0
DEFAULT_STALL_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class RunSettings:
    models: tuple[str, ...] = ()  # empty: the rules' brand models, else every ready detector
    every: int = DEFAULT_EVERY  # every Nth video frame
    fps: float | None = None  # instead: frames per second of video time
    repeat_threshold: int | None = DEFAULT_REPEAT_THRESHOLD  # near-duplicate frames reuse; None: off
    max_pixels: int = DEFAULT_MAX_PIXELS
    rules: Rules = field(default_factory=Rules)
    workers: int = DEFAULT_WORKERS
    max_in_flight: int | None = None  # per endpoint; None: from the server (16 per model on GPU, 2 on CPU)
    retry_for_s: float = DEFAULT_RETRY_FOR_S  # how long the last endpoint left may stay unreachable
    failover_after_s: float = DEFAULT_FAILOVER_AFTER_S  # several endpoints: one broken this long is left
    stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S  # no answer for this long while requests wait: reconnect
    client_kwargs: dict = field(default_factory=dict)  # tritonclient connection options (TLS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        for flag, value in (("--every", self.every), ("--workers", self.workers), ("--max-pixels", self.max_pixels),
                            ("--max-in-flight", self.max_in_flight)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UserError(f"{flag} must be a whole number, at least 1 (got {value!r})")
        if self.fps is not None and not self.fps > 0:
            raise UserError("--fps must be a positive number of frames per second")
        if self.repeat_threshold is not None and not 0 <= self.repeat_threshold <= 64:
            raise UserError("--repeat-threshold is a number of bits, 0 to 64")
        for flag, value in (("--retry-for", self.retry_for_s), ("--failover-after", self.failover_after_s),
                            ("stall timeout", self.stall_timeout_s)):
            if not value > 0:
                raise UserError(f"{flag} must be a positive number of seconds (got {value!r})")

    def recorded(self) -> dict:
        """The settings that change what a record means, as a results folder records them."""
        return {"sampling": {"every": self.every, "fps": self.fps, "repeat_threshold": self.repeat_threshold},
                "rules": self.rules.to_dict()}


def add_run_arguments(parser: argparse.ArgumentParser, *, brand_file: bool = True, waits: bool = True) -> None:
    """The run's flags (servers, models, sampling, thresholds, flow control, TLS; the servers
    are read with `endpoints.parse_endpoints(args.servers)`). `brand_file`: also
    `--models FILE`; `waits`: also `--retry-for` and `--workers`."""
    from creativelens.tls import add_tls_arguments

    parser.add_argument("--server", "--servers", dest="servers", action="append", metavar="HOST:PORT[,HOST:PORT...]",
                        help="Triton gRPC endpoint(s), comma-separated or repeated: requests spread over them, "
                             "and one that fails is left, its unanswered requests sent to the others "
                             "(default 127.0.0.1:8001, where `creativelens serve` listens)")
    parser.add_argument("--model", action="append", metavar="NAME",
                        help="a model to run, repeatable (default: the --models file's, else every "
                             "ready detector on the server)")
    if brand_file:
        parser.add_argument("--models", metavar="FILE",
                            help='a brand file: JSON naming the brand\'s models and its rules, e.g. '
                                 '{"models": ["coco", "acme_logo", "faces"], "only_inside": {"smile": ["face"]}} '
                                 "(see client/README.md)")
    parser.add_argument("--every", type=int, default=DEFAULT_EVERY, help="every Nth video frame (default %(default)s)")
    parser.add_argument("--fps", type=float, metavar="F",
                        help="instead of --every: F frames per second of video time (the same moments at "
                             "24, 25, 30 or 60 fps; a video without a plausible frame rate falls back to --every)")
    parser.add_argument("--repeat-threshold", type=int, default=DEFAULT_REPEAT_THRESHOLD, metavar="BITS",
                        help="a video frame whose perceptual hash (pHash, 64 bits) differs from the last "
                             "inferred frame's by at most BITS reuses its detections (default %(default)s)")
    parser.add_argument("--no-skip-repeats", action="store_true",
                        help="infer every sampled video frame, however similar to the last")
    parser.add_argument("--threshold", type=float,
                        help="score threshold for every model and class (default: each model's own "
                             "per-class thresholds, else 0.85)")
    parser.add_argument("--rules", metavar="FILE",
                        help="JSON rules (same keys as --models files: threshold, per_class, per_model, "
                             "only_inside, ocr_exclude)")
    parser.add_argument("--max-in-flight", type=int,
                        help="requests awaiting answers per server (default: 16 per model on a GPU server, 2 on CPU)")
    parser.add_argument("--failover-after", type=float, default=DEFAULT_FAILOVER_AFTER_S, metavar="SECONDS",
                        help="with several servers: how long one that broke is waited for before its "
                             "requests move to the others (default %(default)s)")
    if waits:
        parser.add_argument("--retry-for", type=float, default=DEFAULT_RETRY_FOR_S, metavar="SECONDS",
                            help="how long to wait for a server that went away (the last one, with several; "
                                 "default %(default)s)")
        parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                            help="decode threads (default min(4, cores): %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="refuse larger images/frames (default %(default)s)")
    add_tls_arguments(parser)


def settings_from_args(args: argparse.Namespace) -> RunSettings:
    """The `RunSettings` of flags added by `add_run_arguments` (UserError for a bad one)."""
    from creativelens.tls import tls_from_args, triton_client_kwargs

    brand_file = getattr(args, "models", None)
    if brand_file and args.rules:
        raise UserError("--models and --rules both hold rules: put the rules in the --models file")
    return RunSettings(
        models=tuple(args.model or ()), every=args.every, fps=args.fps,
        repeat_threshold=None if args.no_skip_repeats else args.repeat_threshold, max_pixels=args.max_pixels,
        rules=load_rules(brand_file or args.rules, args.threshold), max_in_flight=args.max_in_flight,
        failover_after_s=args.failover_after,
        **({"retry_for_s": args.retry_for, "workers": args.workers} if hasattr(args, "retry_for") else {}),
        client_kwargs=triton_client_kwargs(tls_from_args(args)),
    )
