"""Issue 12: how many sampled video frames near-duplicate skipping reuses, per threshold.

    .venv/bin/python benchmarks/video_skip.py [--every 10] [--out benchmarks/results]

On Debian opencv-doc's vtest.avi and Megamind.avi, the H.264 cup.mp4, and an ad-like spot
assembled here (short shots with slow pans and cuts, a held end card; libx264 through PyAV),
each sampled frame's pHash (the client's own `decode.frame_hash`) is compared with the last
inferred frame of its video exactly as the client does: within the threshold, the frame
reuses. Reported per video and threshold: the skip rate (share of sampled frames that would
not be sent to the server). Timing and reuse accuracy need a detector run; see the report.
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


def videos(workdir: Path) -> dict[str, Path]:
    cup = workdir / "cup.mp4"
    with gzip.open(CUP) as source, open(cup, "wb") as target:
        shutil.copyfileobj(source, target)
    return {"vtest.avi": OPENCV_DATA / "vtest.avi", "Megamind.avi": OPENCV_DATA / "Megamind.avi",
            "cup.mp4 (H.264)": cup, "ad spot (assembled, H.264)": ad_spot(workdir / "spot.mp4")}


def skip_rates(path: Path, every: int) -> dict:
    hashes = [frame_hash(item.frame_bgr) for item in iter_frames(path, every)]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    machine = describe_machine()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as workdir:
        results = {name: skip_rates(path, args.every) for name, path in videos(Path(workdir)).items()}
    report = {"machine": machine, "every": args.every, "thresholds_bits": list(THRESHOLDS),
              "load_average_before_after": [load_before, os.getloadavg()],
              "timed": False, "detector_run": False, "videos": results}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"video_skip_{machine_slug(machine)}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Near-duplicate frame skipping: skip rate per pHash threshold (every {args.every}th frame)", "",
             "Share of sampled frames whose pHash is within the threshold (bits of 64) of the last inferred frame "
             "of their video (they reuse its detections instead of going to the server). Not timed; no detector "
             "ran, so no speed or reuse-accuracy numbers here.", "",
             "| video | sampled | " + " | ".join(f"≤{t}" for t in THRESHOLDS) + " | median step |",
             "|---|---|" + "---|" * len(THRESHOLDS) + "---|"]
    for name, row in results.items():
        lines.append(f"| {name} | {row['sampled_frames']} | "
                     + " | ".join(f"{row['skip_rate'][t]:.0%}" for t in THRESHOLDS)
                     + f" | {row['step_distance_median']} |")
    lines += ["", f"Machine: {machine['cpu_model']}, {machine['cpu_cores']} cores, no GPU run; load average "
              f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after (other engineers' jobs; skip rates do not "
              "depend on load)."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
