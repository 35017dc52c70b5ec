"""On a GPU: the three runtimes behind the GPU Triton configs, on the same exported model.

ONNX Runtime with the CUDA provider (configs/cuda.pbtxt), ONNX Runtime with TensorRT in FP16
(config.pbtxt) and libtorch running the TorchScript export (configs/libtorch.pbtxt), called
directly at several batch sizes. Without a CUDA GPU, or without the runtime's GPU build, each
part says why it was skipped instead of running.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from creativelens.canvas import Letterboxed

TENSORRT_OPTIONS = {"trt_fp16_enable": True, "trt_engine_cache_enable": True}


def gpu_unavailable_reason() -> str | None:
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU on this machine"
    return None


def gpu_runtime_sweep(model_dir: Path, boxed: Letterboxed, batch_sizes: Sequence[int], repeats: int,
                      cache_dir: Path) -> dict:
    """{"runtimes": {name: [per batch size: images/s, p50/p95 ms per batch]}} or {"skipped": why}."""
    reason = gpu_unavailable_reason()
    if reason:
        return {"skipped": reason}
    results = {}
    for name, (make_runner, missing) in _runtimes(model_dir, cache_dir).items():
        why = missing()
        if why:
            results[name] = {"skipped": why}
            continue
        runner = make_runner()
        results[name] = {"batches": [_time_batches(runner, boxed, batch, repeats) for batch in batch_sizes]}
    return {"canvas": boxed.canvas.name, "repeats": repeats, "runtimes": results}


def _runtimes(model_dir: Path, cache_dir: Path) -> dict[str, tuple[Callable, Callable[[], str | None]]]:
    from creativelens.export.model_files import OnnxRunner, TorchRunner

    onnx_file, torchscript_file = model_dir / "1" / "model.onnx", model_dir / "1" / "model.pt"
    tensorrt = dict(TENSORRT_OPTIONS, trt_engine_cache_path=str(cache_dir))
    return {
        "onnxruntime_cuda": (
            lambda: OnnxRunner(onnx_file, providers=("CUDAExecutionProvider",)),
            lambda: _missing_provider("CUDAExecutionProvider"),
        ),
        "onnxruntime_tensorrt_fp16": (
            lambda: OnnxRunner(onnx_file, providers=(("TensorrtExecutionProvider", tensorrt),
                                                     "CUDAExecutionProvider")),
            lambda: _missing_provider("TensorrtExecutionProvider"),
        ),
        "libtorch": (
            lambda: TorchRunner(torchscript_file, device="cuda"),
            lambda: None if torchscript_file.is_file() else f"{torchscript_file} is missing",
        ),
    }


def _missing_provider(provider: str) -> str | None:
    import onnxruntime

    if provider in onnxruntime.get_available_providers():
        return None
    return f"onnxruntime {onnxruntime.__version__} has no {provider} (install onnxruntime-gpu)"


def _time_batches(runner, boxed: Letterboxed, batch: int, repeats: int) -> dict:
    images = np.repeat(boxed.pixels[None], batch, axis=0)
    sizes = np.tile(np.array([[boxed.valid_height, boxed.valid_width]], np.int32), (batch, 1))
    for _ in range(2):  # engine builds, cuDNN autotuning, lazy allocations
        runner(images, sizes)
    latencies = []
    for _ in range(repeats):
        started = time.perf_counter()
        runner(images, sizes)
        latencies.append((time.perf_counter() - started) * 1000)
    return {
        "batch_size": batch,
        "images_per_s": batch * repeats / (sum(latencies) / 1000),
        "batch_latency_ms_p50": float(np.percentile(latencies, 50)),
        "batch_latency_ms_p95": float(np.percentile(latencies, 95)),
    }
