"""Export a detector pack into a Triton model repository, checked per detector before it lands.

One model directory, one ONNX graph (export/pack.py), every config variant a single detector
gets (CPU OpenVINO by default, ONNX Runtime, the GPU ones), one labels file per detector and, in
the configs' parameters, each detector's own metadata (`model_metadata.pack_parameters`): the
client serves each detector of the pack as a model of its own. Parity: each detector's outputs
from the pack, through ONNX Runtime and OpenVINO at batches 1/2/4 on every canvas, against that
detector's eager Detectron2 modules, with the export's tolerances (export/parity.py).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from creativelens.canvas import Canvas
from creativelens.errors import UserError
from creativelens.export import parity, triton_config
from creativelens.export.model_files import OnnxRunner, export_onnx
from creativelens.export.pack import DetectorPack, Member, output_prefix, sharing
from creativelens.export.repository import OPENVINO_BACKEND_MODEL, PYTHON_BACKEND_MODEL, sample_batch
from creativelens.export.zoo import RANDOM_WEIGHTS_NOTICE
from creativelens.model_metadata import ModelMetadata, PackedDetector, pack_parameters
from creativelens.serve.openvino_runner import OpenVinoRunner

OUTPUTS_PER_DETECTOR = 4


@dataclass
class PackResult:
    model_dir: Path
    reports: dict[str, parity.ParityReport]
    sharing: dict[str, list[list[str]]]
    seconds: float
    size_mb: float

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.reports.values())


class _DetectorOutputs:
    """One detector's four outputs of a pack runner; the pack runs once per distinct input."""

    def __init__(self, runner, index: int, memo: dict):
        self.runner, self.index, self.memo = runner, index, memo

    def __call__(self, images: np.ndarray, sizes: np.ndarray):
        key = (images.shape, hash(images.tobytes()), sizes.tobytes())
        if key not in self.memo:
            self.memo[key] = self.runner(images, sizes)
        start = OUTPUTS_PER_DETECTOR * self.index
        return self.memo[key][start:start + OUTPUTS_PER_DETECTOR]


def labels_file(detector: str) -> str:
    return f"labels_{detector}.txt"


def export_pack(
    name: str,
    pack_members: list[Member],
    canvases: list[Canvas],
    repository: Path,
    parity_images: list[Path],
    *,
    thresholds: dict[str, dict[str, float]] | None = None,
    opset: int = 17,
    max_batch_size: int = 8,
    log=print,
) -> PackResult:
    """Write `repository/<name>/` for the pack; UserError (the export kept for inspection) when a
    detector's parity fails."""
    for member in pack_members:
        if member.detector.random_weights:
            log(f"*** {member.name}: {RANDOM_WEIGHTS_NOTICE} ***")
    shared = sharing(pack_members)
    for part, groups in shared.items():
        log(f"{name}: {part}: {len(groups)} cop{'y' if len(groups) == 1 else 'ies'} for {len(pack_members)} detectors "
            f"({'; '.join(' + '.join(group) for group in groups)})")
    repository.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-pack-", dir=repository.resolve().parent))
    version_dir = staging / "1"
    version_dir.mkdir(parents=True)

    pack = DetectorPack(pack_members).eval()
    images, sizes = sample_batch(parity_images[:2], canvases[0])
    started = time.perf_counter()
    onnx_path = export_onnx(pack, torch.from_numpy(images), torch.from_numpy(sizes), version_dir / "model.onnx",
                            opset, output_names=pack.output_names)
    seconds = round(time.perf_counter() - started, 1)
    log(f"{name}: ONNX (opset {opset}, {len(pack_members)} detectors) written in {seconds} s")
    runners = {"onnx": OnnxRunner(onnx_path), "openvino": OpenVinoRunner(onnx_path, canvases, warm_up=False)}

    reports = check_pack_parity(pack_members, canvases, parity_images, runners, onnx_path, log)
    for report in reports.values():
        log(report.summary())
    (staging / "parity.json").write_text(json.dumps(
        {"pack": name, "sharing": shared, "ok": all(r.ok for r in reports.values()),
         "detectors": {detector: report.to_json() for detector, report in reports.items()}}, indent=2) + "\n")
    if not all(report.ok for report in reports.values()):
        failed = [detector for detector, report in reports.items() if not report.ok]
        raise UserError(f"pack {name}: parity failed for {', '.join(failed)}; the export was kept for inspection "
                        f"in {staging}")

    packed = []
    for member in pack_members:
        detector = member.detector
        (staging / labels_file(member.name)).write_text("\n".join(detector.class_names) + "\n")
        packed.append(PackedDetector(member.name, output_prefix(member.name), ModelMetadata(
            class_names=tuple(detector.class_names), canvases=tuple(canvases),
            random_weights=detector.random_weights, weights=detector.weights,
            weights_sha256=detector.weights_sha256, thresholds=dict((thresholds or {}).get(member.name, {})),
            precision="fp32", graph=detector.graph_settings())))
    shutil.copyfile(PYTHON_BACKEND_MODEL, version_dir / "model.py")
    shutil.copyfile(OPENVINO_BACKEND_MODEL, version_dir / triton_config.OPENVINO_MODEL_FILE)
    triton_config.write_model_configs(
        staging, canvases, max_batch_size=max_batch_size, model=name,
        parameters=pack_parameters(packed, shared),
        output_groups=[(output_prefix(m.name), labels_file(m.name),
                        int(m.detector.cfg.TEST.DETECTIONS_PER_IMAGE)) for m in pack_members],
    )
    model_dir = repository / name
    if model_dir.exists():
        shutil.rmtree(model_dir)
    staging.rename(model_dir)
    return PackResult(model_dir, reports, shared, seconds, round((model_dir / "1" / "model.onnx").stat().st_size / 1e6, 1))


def check_pack_parity(pack_members: list[Member], canvases, parity_images, runners, onnx_path: Path,
                      log=print) -> dict[str, parity.ParityReport]:
    """Each detector's outputs of the pack, per runtime, against its own eager Detectron2."""
    results = {m.name: {fmt: parity.FormatParity(fmt, onnx_path.name) for fmt in runners} for m in pack_members}
    for canvas in canvases:
        images, sizes = sample_batch(parity_images, canvas)
        memos = {fmt: {} for fmt in runners}
        for index, member in enumerate(pack_members):
            heads = member.detector.model.roi_heads.box_predictor
            reference = parity.reference_detections(member.detector.model.cpu(), images, sizes)
            for fmt, runner in runners.items():
                checked = parity.check_format(fmt, onnx_path, _DetectorOutputs(runner, index, memos[fmt]), reference,
                                              images, sizes, heads.test_score_thresh, heads.test_topk_per_image,
                                              heads.test_nms_thresh)
                result = results[member.name][fmt]
                result.versus_eager.add(checked.versus_eager)
                result.batch_consistency.add(checked.batch_consistency)
        log(f"pack parity checked on canvas {canvas.name}")
    return {m.name: parity.ParityReport(
        m.name, m.detector.weights, m.detector.random_weights, [c.name for c in canvases],
        [str(p) for p in parity_images], list(results[m.name].values()), weights_sha256=m.detector.weights_sha256)
        for m in pack_members}
