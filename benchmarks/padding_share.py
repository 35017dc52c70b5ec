"""How much of what the served model computes is letterbox padding, per canvas set (issue 26's
ad-shaped canvases lever), against what the seed loop computes for the same image.

Geometry only, no model: for each image size, the canvas `choose_canvas` picks, the letterboxed
valid area, and the seed loop's input (Detectron2's ResizeShortestEdge at the bucket's sides,
padded to a multiple of 32). The served model's cost scales with the canvas's pixels, the seed
loop's with its padded input's: their ratio is the served pipeline's handicap before any speed-up.

`python -m creativelens.benchmarks.padding_share [IMAGE ...]` (default: the bench media) prints
JSON; the ad platforms' spec sizes are listed beside, labelled as spec sizes, not real creatives.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence

from creativelens.canvas import AD_CANVASES, CPU_CANVASES, STRIDE, Canvas, choose_canvas
from creativelens.benchmarks.media import AD_SPEC_SIZES as _AD_SPECS

# The large ad platforms' common creative sizes (h, w): 1:1, 4:5, 9:16, 16:9, 1.91:1.
AD_SPEC_SIZES = tuple(_AD_SPECS.values())
CANVAS_SETS = {"cpu defaults": CPU_CANVASES, "ad-shaped": AD_CANVASES}


def _up(value: float) -> int:
    return math.ceil(value / STRIDE) * STRIDE


def image_cost(height: int, width: int, canvases: Sequence[Canvas]) -> dict:
    from creativelens.benchmarks.seed_loop import resized_size

    canvas = choose_canvas(height, width, canvases)
    scale = min(canvas.height / height, canvas.width / width)
    valid = round(height * scale) * round(width * scale)
    seed_h, seed_w = resized_size(height, width, canvas)
    return {"canvas": canvas.name, "canvas_pixels": canvas.height * canvas.width, "valid_pixels": valid,
            "seed_pixels": _up(seed_h) * _up(seed_w)}


def padding_share(sizes: Iterable[tuple[int, int]], canvases: Sequence[Canvas]) -> dict:
    costs = [image_cost(h, w, canvases) for h, w in sizes]
    canvas_pixels = sum(cost["canvas_pixels"] for cost in costs)
    per_canvas: dict[str, int] = {}
    for cost in costs:
        per_canvas[cost["canvas"]] = per_canvas.get(cost["canvas"], 0) + 1
    valid_pixels = sum(cost["valid_pixels"] for cost in costs)
    return {
        "canvases": [canvas.name for canvas in canvases],
        "images": len(costs),
        # the image's own pixels computed per image: the scale it was seen at
        "valid_pixels_per_image": round(valid_pixels / len(costs)),
        "padding_share": round(1 - sum(cost["valid_pixels"] for cost in costs) / canvas_pixels, 4),
        "served_pixels_per_image": round(canvas_pixels / len(costs)),
        "seed_loop_pixels_per_image": round(sum(cost["seed_pixels"] for cost in costs) / len(costs)),
        "served_over_seed_pixels": round(canvas_pixels / sum(cost["seed_pixels"] for cost in costs), 3),
        "images_per_canvas": per_canvas,
    }


def per_canvas_set(sizes: Sequence[tuple[int, int]]) -> dict:
    """padding_share of `sizes` on each canvas set (the exporter's default CPU buckets, the ad-shaped)."""
    return {name: padding_share(sizes, canvases) for name, canvases in CANVAS_SETS.items()}


def main(argv: list[str]) -> int:
    import cv2

    if argv:
        paths = argv
    else:
        from pathlib import Path

        from creativelens.benchmarks.media import bench_media

        paths = [str(p) for p in bench_media(Path("build/bench/work/padding/media"), stills=None, video_frames=12,
                                             frame_stride=60).paths]
    sizes = [cv2.imread(path).shape[:2] for path in paths]
    report = {}
    for label, size_set in (("bench media", sizes), ("ad spec sizes (not real creatives)", AD_SPEC_SIZES)):
        report[label] = per_canvas_set(size_set)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
