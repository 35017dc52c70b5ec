"""Which CPU config `creativelens serve` serves each model from by default: BF16 where it is safe.

A model is served from `configs/cpu_bf16.pbtxt` (OpenVINO, INFERENCE_PRECISION_HINT=bf16) instead of
`configs/cpu.pbtxt` (FP32) when the CPU computes BF16 natively and the export's BF16 gate passed:
the exporter writes that config only then, and its parity.json records the gate. Anything else
serves FP32. Each choice comes with the line `serve` prints for it at start-up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from creativelens.export.reduced_precision import BF16_CPU_FLAGS, bf16_refusal
from creativelens.export.triton_config import CPU_CONFIG, REDUCED_PRECISION_CONFIGS

FP32_CONFIG_NAME = "cpu"
BF16_CONFIG_NAME = "cpu_bf16"
OPT_OUT = "--fp32"


@dataclass(frozen=True)
class Choice:
    model: str
    config_name: str  # configs/<config_name>.pbtxt serves the model
    line: str  # said at start-up

    @property
    def bf16(self) -> bool:
        return self.config_name == BF16_CONFIG_NAME


def default_cpu_configs(repository: str | Path, cpuinfo: str | None = None, *, fp32: bool = False) -> list[Choice]:
    """One choice per model folder of `repository` (sorted); `cpuinfo`: /proc/cpuinfo text (this
    machine's when None); `fp32`: the user opted out (`--fp32`)."""
    if fp32:
        cpu_refusal = f"{OPT_OUT} given"
    elif bf16_refusal(cpuinfo):
        cpu_refusal = f"this CPU has no native BF16 ({' or '.join(BF16_CPU_FLAGS)}), where BF16 is emulated and slower"
    else:
        cpu_refusal = None
    return [_choose(model_dir, cpu_refusal) for model_dir in sorted(Path(repository).iterdir())
            if model_dir.is_dir() and not model_dir.name.startswith(".")]


def _choose(model_dir: Path, refusal: str | None) -> Choice:
    model = model_dir.name
    fp32 = f"{model}: serving FP32 ({CPU_CONFIG})"
    if not (model_dir / REDUCED_PRECISION_CONFIGS["bf16"]).is_file():
        return Choice(model, FP32_CONFIG_NAME, fp32)
    if refusal:
        return Choice(model, FP32_CONFIG_NAME, f"{fp32}; {REDUCED_PRECISION_CONFIGS['bf16']} not served: {refusal}")
    gate = _bf16_gate(model_dir)
    if gate is None or not gate.get("ok"):
        why = "parity.json records no passing BF16 gate" if gate is None else f"its gate failed: {gate.get('reason')}"
        return Choice(model, FP32_CONFIG_NAME, f"{fp32}; {REDUCED_PRECISION_CONFIGS['bf16']} not served: {why}")
    return Choice(model, BF16_CONFIG_NAME, f"{model}: serving REDUCED PRECISION BF16 from "
                                           f"{REDUCED_PRECISION_CONFIGS['bf16']} ({_gate_numbers(gate)}; "
                                           f"{OPT_OUT} serves {CPU_CONFIG})")


def _bf16_gate(model_dir: Path) -> dict | None:
    try:
        report = json.loads((model_dir / "parity.json").read_text())
    except (OSError, ValueError):
        return None
    return next((g for g in report.get("reduced_precision", []) if g.get("precision") == "bf16"), None)


def _gate_numbers(gate: dict) -> str:
    # an export gated before the thresholds were judged counted every detection the graph reports
    judged = gate.get("judged_at") or "every score the graph reports"
    drop = gate.get("ap_drop_points")
    ap = "AP not gated (no labelled set)" if drop is None else f"AP drop {drop:.2f} points"
    return (f"gate passed: {100 * gate['recall']:.1f} % of FP32's detections found, "
            f"{100 * gate['agreement']:.1f} % of its own are FP32's at {judged}; {ap}")


def gate_numbers(gate: dict) -> str:
    """The BF16 gate's numbers as `serve` says them at start-up (the bench's report quotes them too)."""
    return _gate_numbers(gate)


def bf16_gate(model_dir: Path) -> dict | None:
    """parity.json's BF16 gate record of `model_dir`, None when it has none."""
    return _bf16_gate(model_dir)
