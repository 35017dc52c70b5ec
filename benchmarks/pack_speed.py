"""Issue 22's speed table: a creative through N detectors, packed at each sharing level, against N
separate served models and the seeds' one-image-at-a-time loop running N detectors.

    python -m creativelens.benchmarks.pack_speed [--counts 1,5,10,20] [--out benchmarks/results]

The detectors: the locally trained SYNTHETIC base (`train/train_synthetic.sh base`: R18-FPN, ten
classes) and copies of it whose own parts at each level are perturbed (the compute of a detector
does not depend on its weights' values; the report says so):

    pack trunk          N detectors sharing backbone + FPN, each with its own RPN, box head, predictor
    pack proposals      + sharing the RPN: own box head (fc1, fc2) and predictor
    pack box-features   + sharing the box head: own predictor only
    separate served     N models on one tritonserver, one request each per image (the N=1 export, copied)
    seed loop           `DefaultPredictor`, one image at a time, N passes per image, its own process,
                        no server up

Every served row runs the real client (`stream`) against a tritonserver serving only that row's
repository (OpenVINO FP32, `configs/cpu.pbtxt`), at the exporter's default CPU canvases, over the
bundled sample stills; one warm-up pass first. Building the repositories is not timed.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from creativelens.benchmarks.cpu_lock import held
from creativelens.benchmarks.process_cpu import machine_busy_cpu_seconds, tree_cpu_seconds
from creativelens.machine import describe_machine, machine_slug
from creativelens.sample_media import sample_stills

LEVELS = ("trunk", "proposals", "box-features")
OWN_PARTS = {  # what each detector of a pack has of its own, by level; "separate": everything
    "trunk": ("proposal_generator.", "roi_heads."),
    "proposals": ("roi_heads.",),
    "box-features": ("roi_heads.box_predictor.",),
    "separate": ("backbone.", "proposal_generator.", "roi_heads."),
}


def load_base(base: Path):
    from creativelens.export.zoo import load_detector
    from creativelens.train.outputs import from_training

    config, weights, labels, _ = from_training(base)
    return load_detector("base", config_file=config, weights=weights, labels_file=labels, log=lambda m: None)


def copies(base, level: str, count: int) -> list[tuple[str, object]]:
    """The base and count - 1 copies with the level's own parts perturbed (distinct weights)."""
    named = [("d00", base)]
    for index in range(1, count):
        model = copy.deepcopy(base.model)
        generator = torch.Generator().manual_seed(index)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.startswith(OWN_PARTS[level]):
                    parameter.mul_(1 + 1e-3 * torch.randn(parameter.shape, generator=generator))
        digest = hashlib.sha256(f"{base.weights_sha256}-{level}-{index}".encode()).hexdigest()
        named.append((f"d{index:02d}", dataclasses.replace(base, name=f"d{index:02d}", model=model,
                                                           weights=f"{base.weights} (perturbed copy {index})",
                                                           weights_sha256=digest)))
    return named


def build(base_folder: Path, work: Path, counts: list[int], lock: Path | None) -> dict[str, Path]:
    """Repository per served row (kept: a re-run reuses them)."""
    from creativelens.canvas import CPU_CANVASES
    from creativelens.export.pack import members
    from creativelens.export.pack_repository import export_pack
    from creativelens.export.repository import export_to_repository

    images = sample_stills()[:2]
    base = load_base(base_folder)
    repositories = {}
    single = work / "single"
    if not (single / "base" / "parity.json").exists():
        with held(lock):
            export_to_repository(base, list(CPU_CANVASES), single, images, torchscript=False, log=lambda m: None)
    repositories["single"] = single
    for count in counts:
        if count == 1:
            continue
        separate = work / f"separate-{count}"
        if not separate.exists():
            for index in range(count):
                target = separate / f"d{index:02d}"
                shutil.copytree(single / "base", target)
                for config in [*target.glob("*.pbtxt"), *target.glob("configs/*.pbtxt")]:
                    config.write_text(re.sub(r'^name: "base"', f'name: "d{index:02d}"', config.read_text(), flags=re.M))
        repositories[f"separate-{count}"] = separate
        for level in LEVELS:
            repository = work / f"pack-{level}-{count}"
            if not (repository / "pack" / "parity.json").exists():
                with held(lock):
                    export_pack("pack", members(copies(base, level, count)), list(CPU_CANVASES), repository, images,
                                log=lambda m: print(m, flush=True) if "copies for" in m else None)
            repositories[f"pack-{level}-{count}"] = repository
    return repositories


def served_rate(repository: Path, media: list[str], work: Path) -> dict:
    from creativelens.client.settings import RunSettings
    from creativelens.client.stream import stream
    from creativelens.serve.tritonserver import TritonServer

    with TritonServer(repository, "cpu", ready_timeout_s=900) as server:
        shutil.rmtree(work / "warmup", ignore_errors=True)
        stream(media[:3], server.grpc_url, work / "warmup", RunSettings())
        shutil.rmtree(work / "timed", ignore_errors=True)
        machine_before, ours_before, started = machine_busy_cpu_seconds(), tree_cpu_seconds(), time.monotonic()
        summary = stream(media, server.grpc_url, work / "timed", RunSettings())
        wall = time.monotonic() - started
        others = machine_busy_cpu_seconds() - machine_before - (tree_cpu_seconds() - ours_before)
    assert summary.complete and summary.items_done == len(media), summary.failure
    return {"images": len(media), "detectors": len(summary.models), "wall_s": round(wall, 2),
            "images_per_s": round(len(media) / wall, 3), "other_processes_cores": round(max(others, 0) / wall, 3)}


def seed_loop_rate(base_folder: Path, media: list[str], count: int) -> dict:
    """The seed loop with `count` detectors, in a process of its own (nothing else loaded there)."""
    result = subprocess.run([sys.executable, "-m", "creativelens.benchmarks.pack_speed", "--seed-loop-child",
                             str(count), "--base", str(base_folder), *media], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def seed_loop_child(base_folder: Path, media: list[str], count: int) -> None:
    import cv2

    from creativelens.benchmarks.seed_loop import SeedLoop
    from creativelens.canvas import CPU_CANVASES

    loops = [SeedLoop(detector, CPU_CANVASES) for _, detector in copies(load_base(base_folder), "separate", count)]
    for loop in loops:
        loop.predict(cv2.imread(media[0]))  # warm-up, not timed
    before, machine_before, started = os.times(), machine_busy_cpu_seconds(), time.monotonic()
    for path in media:
        image = cv2.imread(path)
        for loop in loops:
            loop.predict(image)
    wall = time.monotonic() - started
    after = os.times()
    ours = after.user + after.system - before.user - before.system
    others = machine_busy_cpu_seconds() - machine_before - ours
    print(json.dumps({"images": len(media), "detectors": count, "wall_s": round(wall, 2),
                      "images_per_s": round(len(media) / wall, 3), "other_processes_cores":
                      round(max(others, 0) / wall, 3), "torch_threads": torch.get_num_threads()}))


def write_report(report: dict, folder: Path) -> None:
    rows, counts = report["rows"], report["counts"]
    ways = list(dict.fromkeys(row["way"] for row in rows))
    rate = {(row["way"], row["detectors"]): row["images_per_s"] for row in rows}
    one = rate[("separate served", 1)]
    lines = [f"# N detectors per creative: packs vs separate models vs the seeds' loop ({report['machine']['cpu_model']}, "
             f"{report['machine']['cpu_cores']} cores, no GPU)", "",
             "**SYNTHETIC weights trained here** (the R18-FPN base of `train/train_synthetic.sh base`, ten classes); "
             "detectors 2..N are copies of it with the weights of their own parts perturbed (the compute does not depend "
             "on the values). Separate served models are copies of the N = 1 export. Served: OpenVINO FP32 through "
             f"tritonserver and the real client, canvases {', '.join(report['canvases'])}, {report['images']} sample "
             "stills, after a warm-up pass; the seed loop in its own process with no server up.", "",
             "Images per second with all N detectors (cost of N as a multiple of one detector served alone):", "",
             "| way | " + " | ".join(f"N = {n}" for n in counts) + " |", "|---|" + "---|" * len(counts)]
    for way in ways:
        cells = []
        for n in counts:
            value = rate.get((way, n), one if n == 1 and way.startswith("pack") else None)  # a pack of one is the detector alone
            cells.append("-" if value is None else f"{value} ({one / value:.2f}x)")
        lines.append(f"| {way} | " + " | ".join(cells) + " |")
    lines += ["", "N = 1 of a pack is the detector served alone.", "",
              f"Goal: 20 detectors for at most 2x the cost of one. " + "; ".join(
                  f"{way}: {one / rate[(way, max(counts))]:.2f}x" for way in ways if (way, max(counts)) in rate), "",
              "Reproduce: `train/train_synthetic.sh base 1800`, then `python -m creativelens.benchmarks.pack_speed`.", ""]
    (folder / "README.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=Path("build/trained/synthetic-base"))
    parser.add_argument("--counts", default="1,5,10,20")
    parser.add_argument("--work-dir", type=Path, default=Path("build/bench-pack"))
    parser.add_argument("--lock", type=Path, help="a lock file held while building each repository and while timing")
    parser.add_argument("--seed-loop-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("media", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed_loop_child:
        seed_loop_child(args.base, args.media, args.seed_loop_child)
        return 0

    print("!!! SYNTHETIC weights; detectors 2..N are perturbed copies (speed only) !!!", flush=True)
    counts = [int(n) for n in args.counts.split(",")]
    work = args.work_dir.absolute()
    work.mkdir(parents=True, exist_ok=True)
    repositories = build(args.base, work, counts, args.lock)
    media = [str(p) for p in sample_stills()]
    rows = []
    with held(args.lock):
        machine = describe_machine()
        for count in counts:
            ways = [("separate served", "single" if count == 1 else f"separate-{count}")]
            if count > 1:
                ways += [(f"pack {level}", f"pack-{level}-{count}") for level in LEVELS]
            for way, key in ways:
                row = {"way": way, "detectors": count, **served_rate(repositories[key], media, work)}
                rows.append(row)
                print(f"{way}, N = {count}: {row['images_per_s']} images/s", flush=True)
            row = {"way": "seed loop", **seed_loop_rate(args.base, media, count)}
            rows.append(row)
            print(f"seed loop, N = {count}: {row['images_per_s']} images/s", flush=True)
    from creativelens.canvas import CPU_CANVASES

    report = {"what": "issue 22: N detectors per creative", "synthetic": True, "machine": machine,
              "counts": counts, "canvases": [c.name for c in CPU_CANVASES], "images": len(media), "rows": rows}
    folder = args.out / f"pack_speed_{machine_slug(machine)}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    write_report(report, folder)
    print((folder / "README.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
