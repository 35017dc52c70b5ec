"""Measure reduced precision on an exported model: OpenVINO FP32 vs INT8 (and BF16 where the CPU
has it) called directly, batch 1, the same letterboxed images, plus each variant's gate.

    python -m creativelens.export.reduced_precision_bench MODEL_DIR --calibration-images DIR \\
        [--gate-coco-json J --gate-images D] --images DIR --out benchmarks/results/reduced_precision_NAME

Writes NAME.json (every run, one per model directory, with the machine and its load) and NAME.md.
The gates run on a hard-linked copy of MODEL_DIR: the export itself is left as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from creativelens.export import reduced_precision


def time_runner(runner, inputs, rounds: int) -> float:
    runner(*inputs[0])  # first call of a graph
    started = time.perf_counter()
    for _ in range(rounds):
        for images, sizes in inputs:
            runner(images, sizes)
    return round((time.perf_counter() - started) / (rounds * len(inputs)), 4)


def measure(model_dir: Path, calibration: Path, images: Path, labelled, rounds: int) -> dict:
    from creativelens.export import triton_config
    from creativelens.machine import describe_machine
    from creativelens.model_metadata import read_model_metadata
    from creativelens.sample_media import sample_stills
    from creativelens.serve.openvino_runner import OpenVinoRunner

    machine = describe_machine()
    metadata = read_model_metadata(model_dir, triton_config.CPU_CONFIG)
    canvases = list(metadata.canvases)
    precisions = tuple(p for p in reduced_precision.PRECISIONS if reduced_precision.refusal(p) is None)
    request = reduced_precision.Request(precisions, reduced_precision.calibration_inputs(calibration, canvases),
                                        str(calibration), labelled)
    timing_inputs = reduced_precision.calibration_inputs(images, canvases, limit=12)
    with tempfile.TemporaryDirectory(prefix="reduced-precision-") as scratch:
        copy = Path(scratch) / model_dir.name
        shutil.copytree(model_dir, copy, copy_function=os.link)
        onnx_path = copy / "1" / "model.onnx"
        seconds = {"fp32": time_runner(OpenVinoRunner(onnx_path, canvases), timing_inputs, rounds)}
        for precision in precisions:
            runner, files, _ = reduced_precision.BUILDERS[precision](onnx_path, canvases, request, print)
            seconds[precision] = time_runner(runner, timing_inputs, rounds)
            for path in files:
                path.unlink()
        gates = reduced_precision.add_reduced_precision(copy, request, sample_stills()[:4], score_threshold=0.05,
                                                        top_k=100)
    return {
        "model_dir": str(model_dir), "random_weights": metadata.random_weights, "weights": metadata.weights,
        "canvases": [c.name for c in canvases],
        "timing": {"runtime": "OpenVINO called directly (OpenVinoRunner), batch 1", "images": str(images),
                   "image_count": len(timing_inputs), "rounds": rounds, "seconds_per_image": seconds,
                   "speedup_vs_fp32": {p: round(seconds["fp32"] / s, 2) for p, s in seconds.items()}},
        "calibration": {"images": str(calibration), "count": len(request.calibration)},
        "gates": [g.to_json() for g in gates],
        "bf16_refusal": reduced_precision.refusal("bf16"),
        "machine": machine, "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
    }


def from_parity(model_dir: Path, load_at_start: list) -> dict:
    """A run from an export's own parity.json (`creativelens export --precision ...`): its gates, and
    the seconds per image they measured (batch 1, the parity photos), without running anything."""
    from creativelens.machine import describe_machine

    report = json.loads((model_dir / "parity.json").read_text())
    gates = report["reduced_precision"]
    seconds = {"fp32": gates[0]["fp32_seconds_per_image"], **{g["precision"]: g["seconds_per_image"] for g in gates}}
    machine = describe_machine()
    machine["load_average_at_start"] = load_at_start
    return {
        "model_dir": str(model_dir), "random_weights": report["random_weights"], "weights": report["weights"],
        "canvases": report["canvases"],
        "timing": {"runtime": "OpenVINO called directly (the export's gate), batch 1", "images": "the parity photos",
                   "image_count": len(report["images"]) * len(report["canvases"]), "rounds": 1,
                   "seconds_per_image": seconds,
                   "speedup_vs_fp32": {p: round(seconds["fp32"] / s, 2) for p, s in seconds.items()}},
        "calibration": {"images": gates[0]["how"], "count": None},
        "gates": gates, "bf16_refusal": None,
        "machine": machine, "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
    }


def write(out: Path, run: dict) -> None:
    path = out.with_suffix(".json")
    runs = json.loads(path.read_text())["runs"] if path.exists() else []
    runs = [r for r in runs if r["model_dir"] != run["model_dir"]] + [run]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"what": "REDUCED PRECISION (OpenVINO INT8/BF16) vs FP32: speed and gates",
                                "runs": runs}, indent=2) + "\n")
    lines = ["# Reduced precision on CPU: OpenVINO FP32 vs INT8 / BF16", "",
             "Direct runtime (`OpenVinoRunner`), batch 1, the same letterboxed images for every precision; "
             "gates against FP32 on the parity photos (and AP on a labelled set where given). "
             "Written by `python -m creativelens.export.reduced_precision_bench`.", ""]
    for r in runs:
        m = r["machine"]
        lines += [f"## {r['model_dir']} ({'RANDOM WEIGHTS' if r['random_weights'] else r['weights']})", "",
                  f"{m['cpu_model']}, {m['cpu_cores_usable']} cores; load average {m['load_average_at_start']} "
                  f"at start, {r['load_average_at_end']} at end; canvases {', '.join(r['canvases'])}; "
                  f"{r['timing']['image_count']} images x {r['timing']['rounds']} rounds; INT8: "
                  f"{r['calibration']['images']} ({r['calibration']['count'] or 'see parity.json'} images).", "",
                  "| precision | s/image | vs FP32 | gate | found of FP32's | own known to FP32 | AP (FP32) |",
                  "|---|---|---|---|---|---|---|"]
        gates = {g["precision"]: g for g in r["gates"]}
        for precision, s in r["timing"]["seconds_per_image"].items():
            g = gates.get(precision)
            gate = "-" if g is None else ("PASS" if g["ok"] else "REFUSED")
            found = "-" if g is None else f"{g['recall']:.1%}"
            known = "-" if g is None else f"{g['agreement']:.1%}"
            ap = "-" if g is None or g["candidate_ap"] is None else f"{g['candidate_ap']:.2f} ({g['fp32_ap']:.2f})"
            lines.append(f"| {precision} | {s} | {r['timing']['speedup_vs_fp32'][precision]}x | {gate} | {found} | {known} | {ap} |")
        lines += [""] + [f"- {g['precision']}: matched shares judged at {g['judged_at']}" for g in r["gates"]
                         if g.get("judged_at")]
        lines += [f"- {g['precision']}: {g['reason']}" for g in r["gates"] if g["reason"]]
        if r["bf16_refusal"]:
            lines.append(f"- bf16: {r['bf16_refusal']}")
        lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m creativelens.export.reduced_precision_bench")
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--calibration-images", type=Path)
    parser.add_argument("--images", type=Path, help="timing images (up to 12 used)")
    parser.add_argument("--from-parity", metavar="LOAD1,LOAD5,LOAD15",
                        help="record the gates of MODEL_DIR's parity.json (an export --precision run) instead "
                        "of measuring; the load average while it ran")
    parser.add_argument("--gate-coco-json", type=Path)
    parser.add_argument("--gate-images", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.from_parity:
        write(args.out, from_parity(args.model_dir, [float(v) for v in args.from_parity.split(",")]))
        return 0
    if not (args.calibration_images and args.images):
        parser.error("--calibration-images and --images are needed to measure")
    labelled = None
    if args.gate_coco_json:
        from creativelens.train.labels import read_coco

        labelled = (read_coco(args.gate_coco_json, args.gate_images), args.gate_images)
    run = measure(args.model_dir, args.calibration_images, args.images, labelled, args.rounds)
    write(args.out, run)
    print(json.dumps({k: run[k] for k in ("timing",)}, indent=1))
    for g in run["gates"]:
        print(g["precision"], "PASS" if g["ok"] else g["reason"], f"recall {g['recall']:.3f} agreement {g['agreement']:.3f}",
              f"AP {g['candidate_ap']} vs {g['fp32_ap']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
