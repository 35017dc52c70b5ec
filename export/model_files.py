"""Write a `BatchedFasterRCNN` as ONNX or TorchScript, and run either on numpy batches."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from creativelens.errors import UserError
from creativelens.export.batched_rcnn import INPUT_NAMES, OUTPUT_NAMES

MIN_OPSET = 16  # below 16 ONNX cannot express aligned=True ROIAlign: boxes come out hundreds of px off
DEFAULT_OPSET = 17


def export_onnx(wrapper: torch.nn.Module, images: torch.Tensor, sizes: torch.Tensor, path: Path,
                opset: int = DEFAULT_OPSET, output_names=OUTPUT_NAMES) -> Path:
    """ONNX with dynamic batch, height and width (legacy TorchScript-based exporter)."""
    if opset < MIN_OPSET:
        raise UserError(
            f"ONNX opset {opset} cannot express Detectron2's aligned ROIAlign (it exports a silently "
            f"wrong model); use --opset {MIN_OPSET} or higher"
        )
    batch_axis = {0: "batch"}
    dynamic_axes = {name: batch_axis for name in (*INPUT_NAMES, *output_names)}
    dynamic_axes["images"] = {0: "batch", 1: "height", 2: "width"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, (images, sizes), str(path), input_names=list(INPUT_NAMES),
            output_names=list(output_names), dynamic_axes=dynamic_axes, opset_version=opset,
            dynamo=False,
        )
    return path


def export_torchscript(wrapper: torch.nn.Module, images: torch.Tensor, sizes: torch.Tensor, path: Path) -> Path:
    """A traced TorchScript module; batch, height and width stay dynamic (no Python-int shapes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(wrapper, (images, sizes), check_trace=False)
    traced.save(str(path))
    return path


class OnnxRunner:
    def __init__(self, path: Path, threads: int = 0, providers=("CPUExecutionProvider",)):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=list(providers))
        self.output_names = [output.name for output in self.session.get_outputs()]

    def __call__(self, images: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self.session.run(self.output_names, {"images": images, "image_sizes": sizes}))


class TorchRunner:
    """Runs a TorchScript file or an in-memory module."""

    def __init__(self, module_or_path, device: str = "cpu"):
        if isinstance(module_or_path, (str, Path)):
            module_or_path = torch.jit.load(str(module_or_path), map_location=device)
        self.module = module_or_path.eval()
        self.device = device

    @torch.no_grad()
    def __call__(self, images: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, ...]:
        outputs = self.module(torch.from_numpy(images).to(self.device), torch.from_numpy(sizes).to(self.device))
        return tuple(t.cpu().numpy() for t in outputs)
