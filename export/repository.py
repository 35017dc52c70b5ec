"""Export one detector into a Triton model repository, checked for parity before it lands.

Everything is written to a staging folder beside the repository and moved into place only
when parity passes, so a repository never serves an export that disagrees with Detectron2.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from creativelens.canvas import Canvas, letterbox
from creativelens.errors import UserError
from creativelens.export import parity, reduced_precision, triton_config
from creativelens.export.batched_rcnn import BatchedFasterRCNN
from creativelens.export.model_files import OnnxRunner, TorchRunner, export_onnx, export_torchscript
from creativelens.export.zoo import RANDOM_WEIGHTS_NOTICE, Detector
from creativelens.model_metadata import ModelMetadata
from creativelens.serve.openvino_runner import OpenVinoRunner

SERVE_DIR = Path(__file__).resolve().parent.parent / "serve"
PYTHON_BACKEND_MODEL = SERVE_DIR / "python_backend_model.py"  # -> 1/model.py (ONNX Runtime)
OPENVINO_BACKEND_MODEL = SERVE_DIR / "openvino_backend_model.py"  # -> 1/openvino_model.py


@dataclass
class ExportResult:
    model_dir: Path
    report: parity.ParityReport
    seconds: dict[str, float]
    sizes_mb: dict[str, float]


def sample_batch(paths: list[Path], canvas: Canvas) -> tuple[np.ndarray, np.ndarray]:
    """Real images letterboxed onto `canvas`: uint8 [N, H, W, 3] and int32 [N, 2] valid sizes."""
    boxed = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f"parity image {path} cannot be read")
        boxed.append(letterbox(image, canvas))
    images = np.stack([b.pixels for b in boxed])
    sizes = np.array([[b.valid_height, b.valid_width] for b in boxed], np.int32)
    return images, sizes


def export_to_repository(
    detector: Detector,
    canvases: list[Canvas],
    repository: Path,
    parity_images: list[Path],
    *,
    torchscript: bool = True,
    opset: int = 17,
    max_batch_size: int = 8,
    device: str = "cpu",
    thresholds: dict[str, float] | None = None,
    reduced: reduced_precision.Request | None = None,
    log=print,
) -> ExportResult:
    """Write `repository/<name>/` (model files, labels, configs, parity.json) and return the report.

    With `reduced`, each requested reduced-precision variant is then built and gated against FP32
    in the staging folder (`reduced_precision.add_reduced_precision`); its gate lands in the report
    either way, its config only when it passed. The ONNX file is always written (every served
    config runs it); `torchscript`: the libtorch backend's file too.
    """
    if detector.random_weights:
        log(f"*** {detector.name}: {RANDOM_WEIGHTS_NOTICE} ***")
    model_dir = repository / detector.name
    # Beside the repository, not in it: tritonserver refuses to start on a stray folder there.
    repository.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{detector.name}-export-", dir=repository.resolve().parent))
    version_dir = staging / "1"
    version_dir.mkdir(parents=True)

    wrapper = BatchedFasterRCNN(detector.model).eval().to(device)
    images, sizes = sample_batch(parity_images[:2], canvases[0])
    example = (torch.from_numpy(images).to(device), torch.from_numpy(sizes).to(device))
    seconds, runners = {}, {}
    started = time.perf_counter()
    onnx_path = export_onnx(wrapper, *example, version_dir / "model.onnx", opset)
    seconds["onnx"] = round(time.perf_counter() - started, 1)
    providers = ("CUDAExecutionProvider",) if device.startswith("cuda") else ("CPUExecutionProvider",)
    runners["onnx"] = (onnx_path, OnnxRunner(onnx_path, providers=providers))
    log(f"{detector.name}: ONNX (opset {opset}) written in {seconds['onnx']} s")
    # What configs/cpu.pbtxt serves: the same ONNX file through OpenVINO FP32, per bucket.
    runners["openvino"] = (onnx_path, OpenVinoRunner(onnx_path, canvases, warm_up=False))
    if torchscript:
        started = time.perf_counter()
        ts_path = export_torchscript(wrapper, *example, version_dir / "model.pt")
        seconds["torchscript"] = round(time.perf_counter() - started, 1)
        runners["torchscript"] = (ts_path, TorchRunner(ts_path, device))
        log(f"{detector.name}: TorchScript written in {seconds['torchscript']} s")

    report = check_parity(detector, canvases, parity_images, runners, log)
    log(report.summary())
    if not report.ok:
        _write_report(report, staging)
        raise UserError(f"parity failed for {detector.name}; the export was kept for inspection in {staging}")

    (staging / "labels.txt").write_text("\n".join(detector.class_names) + "\n")
    shutil.copyfile(PYTHON_BACKEND_MODEL, version_dir / "model.py")
    shutil.copyfile(OPENVINO_BACKEND_MODEL, version_dir / triton_config.OPENVINO_MODEL_FILE)
    metadata = ModelMetadata(
        class_names=tuple(detector.class_names),
        canvases=tuple(canvases),
        random_weights=detector.random_weights,
        weights=detector.weights,
        weights_sha256=detector.weights_sha256,
        thresholds=dict(thresholds or {}),
        precision="fp32",
        graph=detector.graph_settings(),
    )
    triton_config.write_model_configs(
        staging, canvases, max_batch_size=max_batch_size,
        detections_per_image=int(detector.cfg.TEST.DETECTIONS_PER_IMAGE),
        parameters=metadata.to_parameters(),
        model=detector.name,
    )
    if reduced and reduced.precisions:
        heads = detector.model.roi_heads.box_predictor
        report.reduced_precision = reduced_precision.add_reduced_precision(
            staging, reduced, parity_images, score_threshold=heads.test_score_thresh,
            top_k=heads.test_topk_per_image, log=log)
        for gate in report.reduced_precision:
            log(gate.summary())
    _write_report(report, staging)
    if model_dir.exists():
        shutil.rmtree(model_dir)
    staging.rename(model_dir)
    sizes_mb = {name: round((model_dir / "1" / path.name).stat().st_size / 1e6, 1)
                for name, (path, _) in runners.items() if name != "openvino"}
    return ExportResult(model_dir, report, seconds, sizes_mb)


def _write_report(report: parity.ParityReport, folder: Path) -> None:
    report.write(folder / "parity.json")
    (folder / "parity.txt").write_text(report.summary() + "\n")


def check_parity(detector: Detector, canvases, parity_images, runners, log=print) -> parity.ParityReport:
    """Each exported format against eager Detectron2 on every canvas bucket."""
    heads = detector.model.roi_heads.box_predictor
    results = {name: parity.FormatParity(name, path.name) for name, (path, _) in runners.items()}
    for canvas in canvases:
        images, sizes = sample_batch(parity_images, canvas)
        reference = parity.reference_detections(detector.model.cpu(), images, sizes)
        for name, (path, runner) in runners.items():
            checked = parity.check_format(name, path, runner, reference, images, sizes,
                                          heads.test_score_thresh, heads.test_topk_per_image, heads.test_nms_thresh)
            results[name].versus_eager.add(checked.versus_eager)
            results[name].batch_consistency.add(checked.batch_consistency)
            results[name].seconds_per_image = max(results[name].seconds_per_image, checked.seconds_per_image)
        log(f"{detector.name}: parity checked on canvas {canvas.name}")
    return parity.ParityReport(
        detector.name, detector.weights, detector.random_weights, [c.name for c in canvases],
        [str(p) for p in parity_images], list(results.values()), weights_sha256=detector.weights_sha256,
    )
