"""Issue 12: how many sampled video frames near-duplicate skipping reuses, per threshold.

    .venv/bin/python benchmarks/video_skip.py [--every 10] [--out benchmarks/results]

On Debian opencv-doc's vtest.avi and Megamind.avi, the H.264 cup.mp4, and an ad-like spot
assembled here (short shots with slow pans and cuts, a held end card; libx264 through PyAV),
each sampled frame's pHash (the client's own `decode.frame_hash`) is compared with the last
inferred frame of its video exactly as the client does: within the threshold, the frame
reuses. Reported per video and threshold: the skip rate (share of sampled frames that would
not be sent to the server).

With `--repository REPO --model NAME` (a trained detector: random weights make reuse accuracy
meaningless), a real tritonserver (CPU config) serves it and every video, plus a brand spot
assembled here with the SYNTHETIC brand's marks on screen, is streamed twice through the real
client: every sampled frame inferred (`repeat_threshold=None`) and with skipping at the
default threshold; images/s of both, side by side. Reuse accuracy per threshold comes from the
first run: each frame the threshold would reuse gets its reference frame's detections, compared
with the model's own on that frame (same label, IoU >= 0.5, one to one).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from creativelens.client.decode import frame_hash
from creativelens.client.settings import RunSettings
from creativelens.client.sources import iter_frames
from creativelens.machine import describe_machine, machine_slug

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
CUP = Path("/usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz")
THRESHOLDS = (0, 2, 4, 6, 8, 10, 12)


def ad_spot(path: Path, fps: int = 25) -> Path:
    """Four 1.6 s shots of real photographs, each a slow pan/zoom, hard cuts, a 4 s held end card."""
    import av
    import cv2
    from skimage import data

    width, height = 640, 360
    stills = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"

        def emit(rgb):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)

        for still in stills:
            big = cv2.resize(still, (width * 3 // 2, height * 3 // 2), interpolation=cv2.INTER_AREA)
            frames = int(1.6 * fps)
            for i in range(frames):  # pan across the picture
                x = int(i * (big.shape[1] - width) / frames)
                emit(big[: height, x: x + width])
        card = np.full((height, width, 3), 245, np.uint8)
        cv2.rectangle(card, (220, 120), (420, 240), (200, 30, 30), -1)
        cv2.putText(card, "BRAND", (240, 195), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 3)
        for _ in range(4 * fps):
            emit(card)
        for packet in stream.encode():
            container.mux(packet)
    return path


def brand_spot(path: Path, fps: int = 25) -> Path:
    """Five 2 s shots of real photographs, each a slow pan with one SYNTHETIC brand mark drifting
    across it, hard cuts, then a 4 s held pack shot with a logo and a can."""
    import av
    import cv2
    from skimage import data

    from creativelens.train.synthetic_dataset import draw_mark

    width, height = 640, 360
    stills = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.hubble_deep_field()]
    marks = [("zephyr_logo", 90), ("fizz_can", 120), ("orbit_logo", 80), ("glow_bottle", 130), ("kestrel_logo", 90)]

    def paste(frame, kind, size, x, y):
        pixels, mask = draw_mark(kind, size, (40, 60, 220), (250, 250, 250))
        alpha = (mask > 127)[..., None]
        frame[y:y + size, x:x + size] = np.where(alpha, pixels, frame[y:y + size, x:x + size])

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"

        def emit(bgr):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr[..., ::-1]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)

        for still, (kind, size) in zip(stills, marks):
            big = cv2.resize(cv2.cvtColor(still, cv2.COLOR_RGB2BGR), (width * 3 // 2, height * 3 // 2),
                             interpolation=cv2.INTER_AREA)
            frames = 2 * fps
            for i in range(frames):  # pan across the picture while the mark drifts the other way
                x = int(i * (big.shape[1] - width) / frames)
                shot = big[: height, x: x + width].copy()
                paste(shot, kind, size, 400 - int(i * 150 / frames), (height - size) // 2)
                emit(shot)
        card = np.full((height, width, 3), 235, np.uint8)
        paste(card, "zephyr_logo", 110, 130, 125)
        paste(card, "fizz_can", 150, 380, 105)
        for _ in range(4 * fps):
            emit(card)
        for packet in stream.encode():
            container.mux(packet)
    return path


def videos(workdir: Path) -> dict[str, Path]:
    cup = workdir / "cup.mp4"
    with gzip.open(CUP) as source, open(cup, "wb") as target:
        shutil.copyfileobj(source, target)
    return {"vtest.avi": OPENCV_DATA / "vtest.avi", "Megamind.avi": OPENCV_DATA / "Megamind.avi",
            "cup.mp4 (H.264)": cup, "ad spot (assembled, H.264)": ad_spot(workdir / "spot.mp4")}


def skip_rates(path: Path, every: int) -> dict:
    hashes = [frame_hash(item.frame_bgr) for item in iter_frames(path, RunSettings(every=every))]
    rates = {}
    for threshold in THRESHOLDS:
        reference, reused = None, 0
        for hashed in hashes:
            if reference is not None and hashed - reference <= threshold:
                reused += 1
            else:
                reference = hashed
        rates[threshold] = round(reused / len(hashes), 4)
    steps = [hashes[i] - hashes[i - 1] for i in range(1, len(hashes))]
    return {"sampled_frames": len(hashes), "skip_rate": rates,
            "step_distance_median": float(np.median(steps)) if steps else None}


def same_detections(reused, own) -> tuple[bool, int]:
    """(every detection of both matched one to one: same label, IoU >= 0.5; own detections matched)."""
    import torch
    from torchvision.ops import box_iou

    if len(reused) == 0 or len(own) == 0:
        return len(reused) == len(own), 0
    iou = box_iou(torch.as_tensor(reused.xyxy, dtype=torch.float64), torch.as_tensor(own.xyxy, dtype=torch.float64))
    iou[torch.as_tensor(reused.class_ids)[:, None] != torch.as_tensor(own.class_ids)[None, :]] = 0
    matched, taken = 0, set()
    for i in torch.argsort(torch.as_tensor(reused.scores), descending=True).tolist():
        candidates = [(float(iou[i, j]), j) for j in range(len(own)) if j not in taken and iou[i, j] >= 0.5]
        if candidates:
            taken.add(max(candidates)[1])
            matched += 1
    return matched == len(reused) == len(own), matched


def reuse_accuracy(path: Path, every: int, own: dict[int, object]) -> dict:
    """Per threshold: of the frames it would reuse, the share whose reused detections equal the
    model's own on that frame, and the share of the model's detections on them recovered."""
    hashes = [(item.frame_index, frame_hash(item.frame_bgr)) for item in iter_frames(path, RunSettings(every=every))]
    rows = {}
    for threshold in THRESHOLDS:
        reference, reused, equal, recovered, total = None, 0, 0, 0, 0
        for index, hashed in hashes:
            if reference is not None and hashed - reference[1] <= threshold:
                reused += 1
                same, matched = same_detections(own[reference[0]], own[index])
                equal += same
                recovered += matched
                total += len(own[index])
            else:
                reference = (index, hashed)
        rows[threshold] = {"reused": reused, "frames_equal": round(equal / reused, 4) if reused else None,
                           "detections_recovered": round(recovered / total, 4) if total else None}
    return rows


def detector_runs(named: dict[str, Path], repository: Path, model: str, every: int, work: Path) -> dict:
    from creativelens.client.ledger import read_detections
    from creativelens.client.settings import DEFAULT_REPEAT_THRESHOLD
    from creativelens.client.stream import stream
    from creativelens.item_result import split_item_name
    from creativelens.serve.tritonserver import TritonServer

    results = {}
    with TritonServer(repository, "cpu", ready_timeout_s=600) as server:
        warm = work / "warm-up"
        stream([str(next(iter(named.values())))], server.grpc_url, warm, RunSettings(models=(model,), every=every * 10))
        for name, path in named.items():
            runs = {}
            for label, threshold in (("every_frame", None), ("skipping", DEFAULT_REPEAT_THRESHOLD)):
                out = work / f"{path.stem}-{label}"
                shutil.rmtree(out, ignore_errors=True)
                summary = stream([str(path)], server.grpc_url, out,
                                 RunSettings(models=(model,), every=every, repeat_threshold=threshold),
                                 log=lambda message: None)
                done = summary.items_done
                runs[label] = {"frames": done, "inferred": summary.models[model].inferred, "reused": summary.reused,
                               "wall_s": round(summary.wall_s, 2),
                               "frames_per_s": round(done / summary.wall_s, 3) if summary.wall_s else None}
                if threshold is None:
                    own = {split_item_name(key)[1]: det for key, det in read_detections(out, model).items()}
            runs["speedup"] = round(runs["skipping"]["frames_per_s"] / runs["every_frame"]["frames_per_s"], 3)
            runs["detections_per_frame"] = round(sum(len(d) for d in own.values()) / max(len(own), 1), 2)
            runs["reuse_accuracy"] = reuse_accuracy(path, every, own)
            results[name] = runs
            print(f"{name}: every frame {runs['every_frame']['frames_per_s']} frames/s, skipping "
                  f"{runs['skipping']['frames_per_s']} ({runs['speedup']}x)", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--repository", type=Path, help="a model repository serving a trained --model")
    parser.add_argument("--model", help="the served model (with --repository)")
    args = parser.parse_args()
    if bool(args.repository) != bool(args.model):
        parser.error("--repository and --model go together")
    machine = describe_machine()
    load_before = os.getloadavg()
    detector = None
    with tempfile.TemporaryDirectory() as workdir:
        named = videos(Path(workdir))
        named["brand spot (assembled, SYNTHETIC marks)"] = brand_spot(Path(workdir) / "brand-spot.mp4")
        results = {name: skip_rates(path, args.every) for name, path in named.items()}
        if args.repository:
            detector = detector_runs(named, args.repository.absolute(), args.model, args.every, Path(workdir))
    report = {"machine": machine, "every": args.every, "thresholds_bits": list(THRESHOLDS),
              "load_average_before_after": [load_before, os.getloadavg()],
              "timed": detector is not None, "detector_run": detector is not None, "model": args.model,
              "videos": results, "detector": detector}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"video_skip_{machine_slug(machine)}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Near-duplicate frame skipping: skip rate per pHash threshold (every {args.every}th frame)", "",
             "Share of sampled frames whose pHash is within the threshold (bits of 64) of the last inferred frame "
             "of their video (they reuse its detections instead of going to the server).", "",
             "| video | sampled | " + " | ".join(f"≤{t}" for t in THRESHOLDS) + " | median step |",
             "|---|---|" + "---|" * len(THRESHOLDS) + "---|"]
    for name, row in results.items():
        lines.append(f"| {name} | {row['sampled_frames']} | "
                     + " | ".join(f"{row['skip_rate'][t]:.0%}" for t in THRESHOLDS)
                     + f" | {row['step_distance_median']} |")
    if detector:
        lines += ["", f"## Through the server: `{args.model}` (SYNTHETIC brand detector trained here), CPU tritonserver", "",
                  "Each video streamed twice by the real client: every sampled frame inferred, then with skipping at "
                  "the default threshold. Reuse accuracy: of the frames a threshold reuses, the share whose reused "
                  "detections equal the model's own on that frame (same label, IoU >= 0.5, one to one), and the "
                  "share of the model's own detections on them that the reused ones recover.", "",
                  "| video | frames | detections/frame | every frame, frames/s | skipping, frames/s | speedup |",
                  "|---|---|---|---|---|---|"]
        for name, row in detector.items():
            lines.append(f"| {name} | {row['every_frame']['frames']} | {row['detections_per_frame']} | "
                         f"{row['every_frame']['frames_per_s']} | {row['skipping']['frames_per_s']} | {row['speedup']}x |")
        lines += ["", "| video | " + " | ".join(f"≤{t}: equal / recovered" for t in THRESHOLDS) + " |",
                  "|---|" + "---|" * len(THRESHOLDS)]
        for name, row in detector.items():
            cells = []
            for t in THRESHOLDS:
                r = row["reuse_accuracy"][t]
                cells.append("—" if not r["reused"] else
                             f"{r['frames_equal']:.0%} / {'—' if r['detections_recovered'] is None else format(r['detections_recovered'], '.0%')}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Machine: {machine['cpu_model']}, {machine['cpu_cores']} cores, no GPU run; load average "
              f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after (skip rates and reuse accuracy do not "
              "depend on load; frames/s do)."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
