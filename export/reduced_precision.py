"""The gate for reduced-precision exports (BF16, INT8): same detections as FP32, not same bits.

BF16 moves scores by ~1e-2 and boxes by a pixel or two, so the FP32 parity tolerances
(0.5 px, 1e-3) would always refuse it. This gate asks what a user sees instead: the detections
FP32 reports are reported again (same class, same object, by parity's matcher), few new ones
appear, and, when a labelled set was scored, COCO AP drops by at most `MAX_AP_DROP_POINTS`.
A config that serves reduced precision is written only when its gate passes (`precision` in
ModelMetadata says which), and the refusal says why in one line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from creativelens.export import parity

MIN_MATCHED_SHARE = 0.95  # of FP32's detections found again, and of the candidate's that FP32 has
MAX_AP_DROP_POINTS = 0.5  # COCO AP (0-100) on a labelled set, FP32 minus reduced precision
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # without one of them OpenVINO emulates BF16: slower, not faster
CPUINFO = Path("/proc/cpuinfo")


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


@dataclass
class ReducedPrecisionGate:
    precision: str
    matched: int
    fp32_detections: int
    candidate_detections: int
    fp32_ap: float | None = None
    candidate_ap: float | None = None

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
            return f"{self.precision} not written: FP32 detected nothing on the gate's images, so nothing was compared"
        if self.recall < MIN_MATCHED_SHARE:
            return (f"{self.precision} not written: it finds {self.recall:.1%} of FP32's detections "
                    f"(needs {MIN_MATCHED_SHARE:.0%})")
        if self.agreement < MIN_MATCHED_SHARE:
            return (f"{self.precision} not written: only {self.agreement:.1%} of its detections are FP32's "
                    f"(needs {MIN_MATCHED_SHARE:.0%})")
        drop = self.ap_drop_points
        if drop is not None and drop > MAX_AP_DROP_POINTS:
            return (f"{self.precision} not written: AP {self.candidate_ap:.2f} is {drop:.2f} points below "
                    f"FP32's {self.fp32_ap:.2f} (at most {MAX_AP_DROP_POINTS} allowed)")
        return None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def to_json(self) -> dict:
        return dict(asdict(self), recall=self.recall, agreement=self.agreement, ap_drop_points=self.ap_drop_points,
                    ok=self.ok, reason=self.reason, reduced_precision=True,
                    ap_gate_run=self.ap_drop_points is not None)


def gate(precision: str, fp32, candidate, score_threshold: float, top_k: int,
         fp32_ap: float | None = None, candidate_ap: float | None = None) -> ReducedPrecisionGate:
    """Compare per-image (boxes, scores, classes) of the candidate with FP32's through parity's matcher."""
    total = parity.Comparison()
    fp32_count = candidate_count = 0
    for reference, detections in zip(fp32, candidate, strict=True):
        comparison = parity.compare(reference, detections, score_threshold, top_k)
        total.add(comparison)
        fp32_count += comparison.matched + comparison.unmatched_reference
        candidate_count += comparison.matched + comparison.unmatched_export
    return ReducedPrecisionGate(precision, total.matched, fp32_count, candidate_count, fp32_ap, candidate_ap)
