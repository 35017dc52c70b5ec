"""Exported model repositories for the bench: one export per (model, canvases), reused.

Exporting runs the whole Faster R-CNN several times (trace, ONNX, parity check), so the bench
exports once into a cache folder under `build/` through the real `creativelens export`, and
reuses a repository whose parity check passed and whose weights are still the detector's (random
weights are drawn by code that may change between runs). Sweeps over Triton's max batch size get
light copies of a repository: links to the model files, a rewritten CPU config.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from creativelens.canvas import Canvas
from creativelens.errors import UserError

CPU_CONFIG = Path("configs/cpu.pbtxt")
CPU_ONNXRUNTIME_CONFIG = Path("configs/cpu_onnxruntime.pbtxt")


def cache_key(model: str, canvases: Sequence[Canvas], random_weights: bool) -> str:
    names = "_".join(canvas.name for canvas in sorted(set(canvases)))
    return f"{model}-{names}-{'random' if random_weights else 'trained'}"


def parity_passed(model_dir: Path) -> bool:
    """Whether `model_dir` holds a complete export whose parity report passed."""
    report = model_dir / "parity.json"
    needed = (report, model_dir / "1" / "model.onnx", model_dir / CPU_CONFIG, model_dir / CPU_ONNXRUNTIME_CONFIG)
    if not all(path.is_file() for path in needed):  # an export from before the OpenVINO config: redo it
        return False
    try:
        return json.loads(report.read_text()).get("ok") is True
    except (OSError, ValueError):
        return False


def weights_match(model_dir: Path, detector) -> bool:
    """Whether the exported ONNX graph holds `detector`'s weights.

    Every initializer that keeps a parameter's name (the ONNX exporter keeps those it does not
    fold) is compared with the detector's tensor of that name.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    state = {key: value.detach().cpu().numpy() for key, value in detector.model.state_dict().items()}
    compared = 0
    for initializer in onnx.load(str(model_dir / "1" / "model.onnx")).graph.initializer:
        keys = [key for key in state if key == initializer.name or key.endswith("." + initializer.name)]
        if len(keys) != 1 or tuple(initializer.dims) != state[keys[0]].shape:
            continue
        if not np.allclose(numpy_helper.to_array(initializer), state[keys[0]], atol=1e-6):
            return False
        compared += 1
    return compared > 0


def exported_repository(detector, canvases: Sequence[Canvas], cache_dir: Path, *,
                        log_path: Path | None = None) -> Path:
    """A repository holding `detector` exported for `canvases`: cached, or exported now."""
    model, random_weights = detector.name, detector.random_weights
    repository = cache_dir / cache_key(model, canvases, random_weights)
    if parity_passed(repository / model) and weights_match(repository / model, detector):
        return repository
    command = [sys.executable, "-m", "creativelens.cli", "export", "--model", model, "--out", str(repository)]
    command += [argument for canvas in sorted(set(canvases)) for argument in ("--canvas", canvas.name)]
    if random_weights:
        command.append("--random-weights")
    # Start clean: tritonserver would try to load anything left in the folder (e.g. a failed
    # export's staging copy) as a model.
    shutil.rmtree(repository, ignore_errors=True)
    repository.mkdir(parents=True)
    log_path = log_path or repository / "export.log"
    with open(log_path, "w") as log:
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    if completed.returncode != 0 or not parity_passed(repository / model) \
            or not weights_match(repository / model, detector):
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise UserError(f"exporting {model} for the bench failed ({' '.join(command)}):\n{tail}")
    return repository


def read_cpu_config(model_dir: Path) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig()
    text_format.Parse((model_dir / CPU_CONFIG).read_text(), config)
    return config


def with_max_batch_size(repository: Path, model: str, max_batch_size: int, destination: Path) -> Path:
    """A repository at `destination` serving `model` with Triton's max batch size changed.

    Everything but the CPU config is a link to the original, so no model file is copied.
    """
    source_dir = repository / model
    target_dir = destination / model
    (target_dir / CPU_CONFIG).parent.mkdir(parents=True, exist_ok=True)
    for entry in source_dir.iterdir():
        if entry.name != CPU_CONFIG.parts[0] and not (target_dir / entry.name).exists():
            (target_dir / entry.name).symlink_to(entry.absolute())
    config = read_cpu_config(source_dir)
    config.max_batch_size = max_batch_size
    (target_dir / CPU_CONFIG).write_text(text_format.MessageToString(config, use_short_repeated_primitives=True))
    return destination
