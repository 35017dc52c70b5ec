"""The exported ONNX detector through OpenVINO on CPU, compiled once per canvas bucket.

Importable without Triton: the python-backend model (`openvino_backend_model.py`), the
export's parity check and the benchmarks all run the model through `OpenVinoRunner`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from creativelens.canvas import Canvas

PRECISIONS = ("f32", "bf16")
HINTS = ("LATENCY", "THROUGHPUT")  # OpenVINO's PERFORMANCE_HINT
# "0"/"1": ENABLE_CPU_PINNING off/on wherever the runner is not told (unset: the plugin's choice). On 2
# cores two single-thread graphs (Triton instance count 2) were pinned to one core (benchmarks/results).
PINNING_ENV = "CREATIVELENS_OPENVINO_PINNING"


def available_cores() -> int:
    """Cores this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0))


class OpenVinoRunner:
    """Callable (images uint8 [N, H, W, 3], sizes int32 [N, 2]) -> one array per `output_names`
    (boxes, scores, classes, counts; a pack: those of every detector).

    `path` is the exported ONNX file or an OpenVINO IR (.xml) made from it (the INT8 variant).
    Each canvas bucket gets its own compiled graph with H and W fixed (batch stays dynamic) and is
    warmed up at load, so the first request of a bucket is not slow; any other shape runs on a
    fully dynamic graph compiled on first use.

    `batch_one`: graphs are compiled at batch 1 and a batch runs one image at a time. The INT8 IR
    needs it: OpenVINO 2026.4's CPU plugin cannot compile a quantized graph of this detector with
    a dynamic batch (its NonMaxSuppression loses the boxes' last dimension); on 2 cores batching
    gains nothing anyway (benchmarks/results).
    """

    def __init__(self, path: str | Path, canvases: Sequence[Canvas] = (), *, threads: int = 0,
                 precision: str = "f32", warm_up: bool = True, batch_one: bool = False,
                 hint: str = "LATENCY", streams: int = 0, pinning: bool | None = None):
        import openvino

        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.path = str(path)
        self.batch_one = batch_one
        self.core = openvino.Core()
        if hint not in HINTS:
            raise ValueError(f"hint must be one of {', '.join(HINTS)}, got {hint!r}")
        # Set explicitly: on a CPU with native BF16 the plugin would otherwise pick BF16 by itself.
        # LATENCY (one stream, every thread on one request) measured best on 2 cores against
        # THROUGHPUT and 2 streams, served and direct
        # (benchmarks/results/2026-12-07-intel-xeon-2c-cpu-defaults/README.md);
        # `streams` (NUM_STREAMS, 0: the hint's choice) and `hint` are there to measure it again.
        self.config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": hint,
                       "INFERENCE_NUM_THREADS": threads or available_cores()}
        if streams:
            self.config["NUM_STREAMS"] = streams
        if pinning is None and os.environ.get(PINNING_ENV, "") in ("0", "1"):
            pinning = os.environ[PINNING_ENV] == "1"  # reaches the Triton backend's runners too
        if pinning is not None:  # ENABLE_CPU_PINNING (None: the plugin's choice)
            self.config["ENABLE_CPU_PINNING"] = pinning
        self.compiled: dict[tuple[int, int] | None, object] = {}
        self.output_names = [output.get_any_name() for output in self.core.read_model(self.path).outputs]
        for canvas in sorted(set(canvases)):
            self.compiled[(canvas.height, canvas.width)] = self._compile((canvas.height, canvas.width))
            if warm_up:
                self(np.zeros((1, canvas.height, canvas.width, 3), np.uint8),
                     np.array([[canvas.height, canvas.width]], np.int32))

    def _compile(self, shape: tuple[int, int] | None):
        model = self.core.read_model(self.path)
        if shape is not None:
            batch = 1 if self.batch_one else -1
            model.reshape({"images": [batch, *shape, 3], "image_sizes": [batch, 2]})
        return self.core.compile_model(model, "CPU", self.config)

    def __call__(self, images: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, ...]:
        if self.batch_one and len(images) != 1:
            singles = [self(images[i:i + 1], sizes[i:i + 1]) for i in range(len(images))]
            return tuple(np.concatenate(outputs) for outputs in zip(*singles))
        shape = tuple(images.shape[1:3])
        compiled = self.compiled.get(shape)
        if compiled is None:
            key = shape if self.batch_one else None  # batch 1: every shape needs its own static graph
            if key not in self.compiled:
                self.compiled[key] = self._compile(key)
            compiled = self.compiled[key]
        request = compiled.create_infer_request()
        request.infer({"images": np.ascontiguousarray(images, np.uint8),
                       "image_sizes": np.ascontiguousarray(sizes, np.int32)})
        return tuple(request.get_tensor(compiled.output(name)).data.copy() for name in self.output_names)
