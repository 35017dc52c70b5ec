"""The gate for reduced-precision exports (BF16, INT8): same detections as FP32, not same bits.

BF16 moves scores by ~1e-2 and boxes by a pixel or two, so the FP32 parity tolerances
(0.5 px, 1e-3) would always refuse it. This gate asks what a user sees instead: the detections
FP32 reports at the thresholds a user keeps (the export's per-class thresholds, the client's
default where it has none) are reported again (same class, same object, by parity's matcher),
few new ones appear above them, and, when a labelled set was scored, COCO AP (on every score)
drops by at most `MAX_AP_DROP_POINTS`. The shares at the graph's own score threshold are
recorded beside them, for information.
A config that serves reduced precision is written only when its gate passes (`precision` in
ModelMetadata says which), and the refusal says why in one line.

`add_reduced_precision` is the exporter's stage (`creativelens export --precision bf16|int8`):
after the FP32 export passed parity, it builds each variant beside model.onnx, gates it against
FP32 OpenVINO (what configs/cpu.pbtxt serves) and writes configs/cpu_<precision>.pbtxt only
when the gate passes:

    bf16  the same model.onnx through OpenVINO with INFERENCE_PRECISION_HINT=bf16; refused up
          front on a CPU without native BF16
    int8  OpenVINO NNCF post-training quantization of the model read from model.onnx (the
          learned layers only: backbone, RPN head, box head and predictors; box decoding, ROI
          level assignment and NMS stay FP32), calibrated on images the user names, decoded and
          letterboxed by the client's own code; saved as 1/model_int8.xml + .bin
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from creativelens.errors import UserError
from creativelens.export import parity

MIN_MATCHED_SHARE = 0.95  # of FP32's detections found again, and of the candidate's that FP32 has
MAX_AP_DROP_POINTS = 0.5  # COCO AP (0-100) on a labelled set, FP32 minus reduced precision
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # without one of them OpenVINO emulates BF16: slower, not faster
CPUINFO = Path("/proc/cpuinfo")
PRECISIONS = ("bf16", "int8")
INT8_IR_FILE = "model_int8.xml"  # + model_int8.bin, beside model.onnx
CALIBRATION_LIMIT = 32  # images calibrated on at most: each costs NNCF ~2-4 s on 2 cores (bias correction), 240 took >11 min
# NNCF quantizes every op whose name is not under these modules' scopes: the glue between them
# (box decoding, ROI level assignment, NMS) must stay FP32, and OpenVINO's CPU plugin cannot
# compile the detector with FakeQuantize ops inside it anyway.
INT8_QUANTIZED_MODULES = ("backbone", "rpn_head", "box_head", "cls_score", "bbox_pred")
NNCF_PIN = "nncf==3.4.0"


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo text (read from the machine when None)."""
    text = CPUINFO.read_text(errors="replace") if cpuinfo is None else cpuinfo
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return flags


def bf16_refusal(cpuinfo: str | None = None) -> str | None:
    """None when the CPU computes BF16 natively, else the one-line reason a BF16 config is not written."""
    found = cpu_flags(cpuinfo) & set(BF16_CPU_FLAGS)
    if found:
        return None
    return (f"BF16 not written: this CPU has no native BF16 ({' or '.join(BF16_CPU_FLAGS)} missing from "
            f"/proc/cpuinfo flags), where BF16 is emulated and slower than FP32")


@dataclass(frozen=True)
class Thresholds:
    """The score a detection of each class (by index) needs to count in the gate."""

    per_class: tuple[float, ...]
    default: float  # for a class index beyond per_class
    described: str  # "at ..." in the gate's lines and parity.json

    @classmethod
    def everywhere(cls, value: float) -> "Thresholds":
        return cls((), float(value), f"score >= {value:g} for every class")

    def of(self, classes: np.ndarray) -> np.ndarray:
        limits = np.array(self.per_class + (self.default,), np.float32)
        classes = np.asarray(classes, np.int64)
        return limits[np.where((classes >= 0) & (classes < len(self.per_class)), classes, len(self.per_class))]

    def to_json(self) -> dict:
        return {"described": self.described, "per_class": list(self.per_class), "default": self.default}


def user_thresholds(metadata, floor: float) -> Thresholds:
    """The thresholds a user keeps by default: the export's per-class ones (ModelMetadata.thresholds,
    from the training's thresholds.json), the client's default threshold for a class without one;
    never below the graph's own score threshold `floor`."""
    from creativelens.client.rules import DEFAULT_THRESHOLD

    own = metadata.thresholds
    values = tuple(max(floor, float(own.get(name, DEFAULT_THRESHOLD))) for name in metadata.class_names)
    if not own:
        described = f"the client's default threshold {DEFAULT_THRESHOLD:g} (the export carries no per-class thresholds)"
    else:
        kept = [(name, own[name]) for name in metadata.class_names if name in own]
        listed = (", ".join(f"{name} {value:g}" for name, value in kept) if len(kept) <= 6
                  else f"{len(kept)} classes, {min(v for _, v in kept):g} to {max(v for _, v in kept):g}")
        missing = len(metadata.class_names) - len(kept)
        described = f"the export's per-class thresholds ({listed}" + (
            f"; the client's default {DEFAULT_THRESHOLD:g} for {missing} classes without one)" if missing else ")")
    return Thresholds(values, max(floor, DEFAULT_THRESHOLD), described)


@dataclass
class ReducedPrecisionGate:
    precision: str
    matched: int
    fp32_detections: int
    candidate_detections: int
    fp32_ap: float | None = None
    candidate_ap: float | None = None
    fp32_seconds_per_image: float | None = None  # OpenVINO FP32 on the gate's images, batch 1
    seconds_per_image: float | None = None  # the candidate, same images
    how: str = ""  # how the candidate was built (runtime, calibration)
    judged_at: str = ""  # the thresholds the matched shares were counted at (Thresholds.described)
    thresholds: dict | None = None  # Thresholds.to_json()
    # the same counts down to the graph's score threshold (every detection it reports): information, not gated
    at_graph_threshold: dict | None = None

    @property
    def recall(self) -> float:
        return self.matched / self.fp32_detections if self.fp32_detections else 1.0

    @property
    def agreement(self) -> float:
        return self.matched / self.candidate_detections if self.candidate_detections else 1.0

    @property
    def ap_drop_points(self) -> float | None:
        if self.fp32_ap is None or self.candidate_ap is None:
            return None
        return self.fp32_ap - self.candidate_ap

    @property
    def reason(self) -> str | None:
        """None when the gate passes, else the one line saying why not."""
        if self.fp32_detections == 0:
            return (f"{self.precision} not written: FP32 detected nothing on the gate's images at "
                    f"{self.judged_at}, so nothing was compared")
        if self.recall < MIN_MATCHED_SHARE:
            return (f"{self.precision} not written: it finds {self.recall:.1%} of FP32's detections "
                    f"(needs {MIN_MATCHED_SHARE:.0%}) at {self.judged_at}")
        if self.agreement < MIN_MATCHED_SHARE:
            return (f"{self.precision} not written: only {self.agreement:.1%} of its detections are FP32's "
                    f"(needs {MIN_MATCHED_SHARE:.0%}) at {self.judged_at}")
        drop = self.ap_drop_points
        if drop is not None and drop > MAX_AP_DROP_POINTS:
            return (f"{self.precision} not written: AP {self.candidate_ap:.2f} is {drop:.2f} points below "
                    f"FP32's {self.fp32_ap:.2f} (at most {MAX_AP_DROP_POINTS} allowed)")
        return None

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def statement(self) -> str:
        """What a served reduced-precision config says about itself (its `reduced_precision` parameter)."""
        ap = (f"AP {self.candidate_ap:.2f} vs FP32 {self.fp32_ap:.2f} (at most {MAX_AP_DROP_POINTS} points lower)"
              if self.ap_drop_points is not None else "AP not gated (no labelled set given)")
        return (f"REDUCED PRECISION {self.precision.upper()} ({self.how}): not bit-equal to FP32; its gate passed: "
                f"{self.recall:.1%} of FP32's detections found, {self.agreement:.1%} of its own are FP32's "
                f"(needs {MIN_MATCHED_SHARE:.0%}) at {self.judged_at}, {ap}; see parity.json")

    def summary(self) -> str:
        ap = f", AP {self.candidate_ap:.2f} vs {self.fp32_ap:.2f}" if self.ap_drop_points is not None else ""
        speed = (f"; {self.seconds_per_image:.3f} vs {self.fp32_seconds_per_image:.3f} s/image"
                 if self.seconds_per_image and self.fp32_seconds_per_image else "")
        verdict = "PASS" if self.ok else "REFUSED"
        floor = self.at_graph_threshold
        below = (f" [not gated, {floor['described']}: {floor['recall']:.1%} found, {floor['agreement']:.1%} FP32's]"
                 if floor else "")
        return (f"  {self.precision:<11} {verdict} (reduced precision, vs OpenVINO FP32): {self.matched} of "
                f"{self.fp32_detections} FP32 detections found ({self.recall:.1%}), {self.agreement:.1%} of its "
                f"{self.candidate_detections} are FP32's, at {self.judged_at}{ap}{speed}{below}")

    def to_json(self) -> dict:
        return dict(asdict(self), recall=self.recall, agreement=self.agreement, ap_drop_points=self.ap_drop_points,
                    ok=self.ok, reason=self.reason, reduced_precision=True,
                    ap_gate_run=self.ap_drop_points is not None,
                    tolerances={"min_matched_share": MIN_MATCHED_SHARE, "max_ap_drop_points": MAX_AP_DROP_POINTS},
                    note="REDUCED PRECISION: judged on detections against FP32, not on bits")


def gate(precision: str, fp32, candidate, score_threshold: float, top_k: int,
         fp32_ap: float | None = None, candidate_ap: float | None = None,
         thresholds: Thresholds | None = None) -> ReducedPrecisionGate:
    """Compare per-image (boxes, scores, classes) of the candidate with FP32's through parity's matcher,
    counting the detections at `thresholds` (None: every detection above `score_threshold`, the
    graph's own); with `thresholds`, the counts at `score_threshold` are kept as information."""
    judged = thresholds or Thresholds.everywhere(score_threshold)
    total, fp32_count, candidate_count = _matched(fp32, candidate, judged, top_k)
    result = ReducedPrecisionGate(precision, total.matched, fp32_count, candidate_count, fp32_ap, candidate_ap,
                                  judged_at=judged.described, thresholds=judged.to_json())
    if thresholds is not None:
        everything = Thresholds.everywhere(score_threshold)
        total, fp32_count, candidate_count = _matched(fp32, candidate, everything, top_k)
        result.at_graph_threshold = {
            "described": everything.described, "matched": total.matched, "fp32_detections": fp32_count,
            "candidate_detections": candidate_count,
            "recall": total.matched / fp32_count if fp32_count else 1.0,
            "agreement": total.matched / candidate_count if candidate_count else 1.0}
    return result


def _matched(fp32, candidate, thresholds: Thresholds, top_k: int) -> tuple[parity.Comparison, int, int]:
    """parity.compare over the detections at or above their class's threshold, classes grouped by
    threshold (the matcher pairs within a class only, and calls a miss at the threshold borderline)."""
    total = parity.Comparison()
    for reference, detections in zip(fp32, candidate, strict=True):
        reference_limits, limits = thresholds.of(reference[2]), thresholds.of(detections[2])
        for limit in np.union1d(reference_limits, limits):
            keep_reference = (reference_limits == limit) & (reference[1] >= limit)
            keep = (limits == limit) & (detections[1] >= limit)
            total.add(parity.compare(tuple(a[keep_reference] for a in reference),
                                     tuple(a[keep] for a in detections), float(limit), top_k))
    fp32_count = total.matched + total.unmatched_reference
    candidate_count = total.matched + total.unmatched_export
    return total, fp32_count, candidate_count


# --- the exporter's stage ---------------------------------------------------------------------

@dataclass
class Request:
    """What `creativelens export --precision ...` asked for, checked before the FP32 export runs."""

    precisions: tuple[str, ...] = ()
    calibration: list = field(default_factory=list)  # int8: (images uint8 [1,H,W,3], sizes int32 [1,2]) each
    calibration_source: str = ""
    labelled: tuple[dict, Path] | None = None  # (COCO dataset, its image folder): the AP gate


def refusal(precision: str, cpuinfo: str | None = None) -> str | None:
    """Why `precision` cannot be built on this machine at all (one line), before any work; None when it can."""
    if precision == "bf16":
        return bf16_refusal(cpuinfo)
    if precision == "int8":
        try:
            import nncf  # noqa: F401
        except ImportError:
            return f"int8 not written: OpenVINO NNCF is not installed (pip install {NNCF_PIN})"
        return None
    return f"unknown precision {precision!r}: choose from {', '.join(PRECISIONS)}"


def calibration_inputs(folder: Path, canvases, limit: int = CALIBRATION_LIMIT) -> list[tuple[np.ndarray, np.ndarray]]:
    """The media in `folder` (as `creativelens stream` reads it: stills, every 10th video frame),
    decoded and letterboxed onto their canvas buckets by the client's own code; unreadable files
    are skipped; at most `limit` images."""
    from creativelens.client.decode import prepare
    from creativelens.client.sources import iter_items

    if not Path(folder).is_dir():
        raise UserError(f"--calibration-images {folder}: not a folder")
    found = []
    for item in iter_items([str(folder)]):
        prepared = prepare(item, list(canvases))
        if prepared.error:
            continue
        boxed = prepared.boxed
        found.append((boxed.pixels[None], np.array([[boxed.valid_height, boxed.valid_width]], np.int32)))
        if len(found) >= limit:
            break
    if not found:
        raise UserError(f"--calibration-images {folder}: no image or video in it could be decoded")
    return found


def build_bf16(onnx_path: Path, canvases, request: Request, log):
    from creativelens.serve.openvino_runner import OpenVinoRunner

    return OpenVinoRunner(onnx_path, canvases, precision="bf16", warm_up=False), [], \
        "OpenVINO, INFERENCE_PRECISION_HINT=bf16"


def build_int8(onnx_path: Path, canvases, request: Request, log):
    import logging

    import nncf
    import openvino

    nncf.set_log_level(logging.ERROR)  # it lists every op it leaves in FP32 (hundreds of lines)

    from creativelens.serve.openvino_runner import OpenVinoRunner

    started = time.perf_counter()
    pattern = f"^(?!/({'|'.join(INT8_QUANTIZED_MODULES)})/).*"
    quantized = nncf.quantize(
        openvino.Core().read_model(str(onnx_path)),
        nncf.Dataset(request.calibration, lambda pair: {"images": pair[0], "image_sizes": pair[1]}),
        subset_size=len(request.calibration),
        ignored_scope=nncf.IgnoredScope(patterns=[pattern], validate=False),
    )
    ir = onnx_path.parent / INT8_IR_FILE
    openvino.save_model(quantized, str(ir), compress_to_fp16=False)
    log(f"int8: quantized with NNCF on {len(request.calibration)} calibration images in "
        f"{time.perf_counter() - started:.0f} s -> {ir.name}")
    how = (f"OpenVINO NNCF post-training INT8 of {', '.join(INT8_QUANTIZED_MODULES)}, calibrated on "
           f"{len(request.calibration)} images of {request.calibration_source}")
    return OpenVinoRunner(ir, canvases, warm_up=False, batch_one=True), [ir, ir.with_suffix(".bin")], how


BUILDERS = {"bf16": build_bf16, "int8": build_int8}


def detections_of(runner, batches) -> tuple[list, float]:
    """(boxes, scores, classes) per image, one image at a time, and the seconds per image."""
    found, started = [], time.perf_counter()
    for images, sizes in batches:
        for i in range(len(images)):
            found.append(parity.split_outputs(runner(images[i:i + 1], sizes[i:i + 1]))[0])
    return found, round((time.perf_counter() - started) / max(1, len(found)), 3)


def on_labelled_set(runner, labelled: tuple[dict, Path], canvases, class_names) -> tuple[float, list]:
    """COCO AP in points (0-100) on the labelled set, each image letterboxed as the client does,
    and the detections per image (boxes in original pixels) for the matching gate."""
    from creativelens.train.evaluation import run_on_canvases, coco_metrics

    dataset, images_dir = labelled
    predictions = run_on_canvases(runner, Path(images_dir), dataset, canvases, class_names)
    detections = [(d.xyxy, d.scores, d.class_ids) for _, d in sorted(predictions.items())]
    return round(100 * coco_metrics(dataset, predictions, class_names)["AP"], 2), detections


def add_reduced_precision(model_dir: Path, request: Request, parity_images, *, score_threshold: float,
                          top_k: int, thresholds: Thresholds | None = None, log=print) -> list[ReducedPrecisionGate]:
    """Build, gate and (when it passes) configure each requested precision in an exported model folder.

    The gate's images: the parity photos on every canvas, plus the labelled set's when given. The
    matched shares are counted at `thresholds`, by default the ones a user keeps (`user_thresholds`);
    `score_threshold` is the graph's own (the box head's), `top_k` its detections per image.

    A refused variant leaves nothing behind: no config, no model file.
    """
    from creativelens.export import triton_config
    from creativelens.export.repository import sample_batch
    from dataclasses import replace

    from creativelens.model_metadata import read_model_metadata, sha256_of
    from creativelens.serve.openvino_runner import OpenVinoRunner

    model_dir = Path(model_dir)
    metadata = read_model_metadata(model_dir, triton_config.CPU_CONFIG)
    canvases = list(metadata.canvases)
    thresholds = thresholds or user_thresholds(metadata, score_threshold)
    onnx_path = model_dir / "1" / "model.onnx"
    batches = [sample_batch(list(parity_images), canvas) for canvas in canvases]
    fp32 = OpenVinoRunner(onnx_path, canvases, warm_up=False)
    detections_of(fp32, batches[:1])  # the first call of a graph is slow: not what is measured
    reference, fp32_seconds = detections_of(fp32, batches)
    fp32_ap = None
    if request.labelled:  # its images join the matching gate's (a brand's detector may see nothing in the photos)
        fp32_ap, labelled_reference = on_labelled_set(fp32, request.labelled, canvases, list(metadata.class_names))
        reference += labelled_reference
        log(f"fp32: AP {fp32_ap:.2f} on {len(request.labelled[0]['images'])} labelled images")
    results = []
    for precision in request.precisions:
        runner, files, how = BUILDERS[precision](onnx_path, canvases, request, log)
        try:
            detections_of(runner, batches[:1])
            candidate, seconds = detections_of(runner, batches)
            candidate_ap = None
            if request.labelled:
                candidate_ap, labelled_candidate = on_labelled_set(runner, request.labelled, canvases,
                                                                   list(metadata.class_names))
                candidate += labelled_candidate
            result = gate(precision, reference, candidate, score_threshold, top_k, fp32_ap, candidate_ap,
                          thresholds)
        except BaseException:
            for path in files:
                path.unlink(missing_ok=True)
            raise
        result.fp32_seconds_per_image, result.seconds_per_image, result.how = fp32_seconds, seconds, how
        if result.ok:
            # A variant's own model file (INT8: weights quantized on this calibration set) is part of its version.
            graph = {**metadata.graph, **{f"{path.name}_sha256": sha256_of(path) for path in files}}
            triton_config.write_reduced_precision_config(model_dir, precision, replace(metadata, graph=graph),
                                                         result.statement)
        else:
            for path in files:
                path.unlink(missing_ok=True)
        results.append(result)
    return results
