"""A SYNTHETIC brand dataset: made-up logo marks and product shapes pasted on real photos.

Nothing here is a real brand. Five classes (three logo marks, two product shapes) are drawn
with OpenCV and composited, with varied scale (down to ~16 px), position, rotation, colour and
partial occlusion, onto random crops of the real photos and video frames that ship with
scikit-image and Debian's opencv-doc. Unlabelled look-alike distractors (a ring without its
bar, a five-point star's cousin with six points, a plain disc, ...) are pasted too, so the
detector must learn the marks, not "any bright shape". Same seed, same bytes.

Written as COCO json (absolute XYWH, as Detectron2 reads it) and as an Azure-ML-style export
of the same labels (boxes normalised to 0..1), per split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from creativelens import formats
from creativelens.sample_media import sample_stills, sample_video
from creativelens.train.synthetic_base import BASE_CLASSES, draw_base_mark, procedural_backgrounds

CLASSES = ("zephyr_logo", "orbit_logo", "kestrel_logo", "fizz_can", "glow_bottle")
SPLITS = {"train": 240, "val": 60, "test": 60}
IMAGE_SIZE = 320
NOTICE = ("SYNTHETIC dataset: made-up marks pasted on real photos by creativelens.train.synthetic_dataset; "
          "no real brand, no real labelling")
BASE_NOTICE = ("SYNTHETIC base dataset: ten made-up textured shapes (not the brand classes) on real photos and "
               "procedural backgrounds, by creativelens.train.synthetic_dataset; a stand-in for COCO")


@dataclass(frozen=True)
class DatasetFiles:
    root: Path
    class_names: tuple[str, ...]

    def coco_json(self, split: str) -> Path:
        return self.root / "coco" / f"{split}.json"

    def azure_json(self, split: str) -> Path:
        return self.root / "azure" / f"{split}.json"

    def images(self, split: str) -> Path:
        return self.root / "images" / split


def draw_mark(kind: str, size: int, colour, accent) -> tuple[np.ndarray, np.ndarray]:
    """One shape on a transparent square patch: BGR pixels and a 0/255 mask."""
    s = size
    pixels = np.zeros((s, s, 3), np.uint8)
    mask = np.zeros((s, s), np.uint8)
    c = (s // 2, s // 2)
    r = s // 2 - 1

    def both(draw):
        draw(pixels, colour)
        draw(mask, 255)

    if kind == "zephyr_logo":  # disc with a triangle cut-out in the accent colour
        both(lambda im, col: cv2.circle(im, c, r, col, -1))
        tri = np.array([[s * 0.5, s * 0.2], [s * 0.8, s * 0.75], [s * 0.2, s * 0.75]], np.int32)
        cv2.fillPoly(pixels, [tri], accent)
    elif kind == "orbit_logo":  # ring crossed by a bar
        both(lambda im, col: cv2.circle(im, c, int(r * 0.8), col, max(2, s // 8)))
        both(lambda im, col: cv2.rectangle(im, (0, int(s * 0.42)), (s - 1, int(s * 0.58)), col, -1))
    elif kind == "kestrel_logo":  # five-point star
        both(lambda im, col: cv2.fillPoly(im, [_star(c, r, 5)], col))
    elif kind == "fizz_can":  # tall rounded can with a stripe and a top rim
        x1, x2 = int(s * 0.28), int(s * 0.72)
        both(lambda im, col: cv2.rectangle(im, (x1, int(s * 0.06)), (x2, int(s * 0.94)), col, -1))
        cv2.rectangle(pixels, (x1, int(s * 0.4)), (x2, int(s * 0.55)), accent, -1)
        cv2.rectangle(pixels, (x1, int(s * 0.06)), (x2, int(s * 0.12)), (200, 200, 200), -1)
    elif kind == "glow_bottle":  # bottle: body, shoulders, neck
        body = np.array([[s * 0.3, s * 0.95], [s * 0.7, s * 0.95], [s * 0.7, s * 0.45], [s * 0.56, s * 0.3],
                         [s * 0.56, s * 0.05], [s * 0.44, s * 0.05], [s * 0.44, s * 0.3], [s * 0.3, s * 0.45]],
                        np.int32)
        both(lambda im, col: cv2.fillPoly(im, [body], col))
        cv2.rectangle(pixels, (int(s * 0.3), int(s * 0.6)), (int(s * 0.7), int(s * 0.75)), accent, -1)
    # distractors: look-alikes that are not any class
    elif kind == "plain_ring":
        both(lambda im, col: cv2.circle(im, c, int(r * 0.8), col, max(2, s // 8)))
    elif kind == "six_star":
        both(lambda im, col: cv2.fillPoly(im, [_star(c, r, 6)], col))
    elif kind == "plain_disc":
        both(lambda im, col: cv2.circle(im, c, r, col, -1))
    elif kind == "box":
        both(lambda im, col: cv2.rectangle(im, (int(s * 0.15), int(s * 0.3)), (int(s * 0.85), int(s * 0.7)), col, -1))
    else:
        raise ValueError(kind)
    return pixels, mask


DISTRACTORS = ("plain_ring", "six_star", "plain_disc", "box")


def _star(centre, radius, points) -> np.ndarray:
    angles = np.arange(2 * points) * np.pi / points - np.pi / 2
    radii = np.where(np.arange(2 * points) % 2 == 0, radius, radius * 0.42)
    return np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1).astype(np.int32)


def _backgrounds() -> list[np.ndarray]:
    photos = [cv2.imread(str(path), cv2.IMREAD_COLOR) for path in sample_stills()]
    capture = cv2.VideoCapture(str(sample_video()))
    for index in range(0, 795, 100):
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
        if ok:
            photos.append(frame)
    capture.release()
    return [photo for photo in photos if photo is not None]


def _crop(rng: np.random.Generator, photo: np.ndarray, size: int) -> np.ndarray:
    h, w = photo.shape[:2]
    side = int(rng.uniform(0.4, 1.0) * min(h, w))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    image = cv2.resize(photo[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        image = cv2.flip(image, 1)
    return image


def _paste(rng, image, kind, occluded_ok=True, draw=draw_mark, sizes=(18, 110)):
    """Paste one shape; return its tight box (x, y, w, h) in pixels, or None if it did not fit."""
    size = int(np.exp(rng.uniform(np.log(sizes[0]), np.log(sizes[1]))))
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    accent = tuple(int(v) for v in rng.integers(0, 256, 3))
    pixels, mask = draw(kind, size, colour, accent)
    angle = rng.uniform(-35, 35)
    side = int(size * 1.5)
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
    matrix[:, 2] += (side - size) / 2
    pixels = cv2.warpAffine(pixels, matrix, (side, side), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(mask, matrix, (side, side), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(mask > 127)
    if len(xs) == 0:
        return None
    x0, y0 = xs.min(), ys.min()
    pixels, mask = pixels[y0:ys.max() + 1, x0:xs.max() + 1], mask[y0:ys.max() + 1, x0:xs.max() + 1]
    h, w = mask.shape
    H, W = image.shape[:2]
    if h >= H or w >= W:
        return None
    x, y = int(rng.integers(0, W - w)), int(rng.integers(0, H - h))
    alpha = (mask.astype(np.float32) / 255.0)[..., None] * rng.uniform(0.85, 1.0)
    region = image[y:y + h, x:x + w].astype(np.float32)
    image[y:y + h, x:x + w] = (alpha * pixels + (1 - alpha) * region).astype(np.uint8)
    if occluded_ok and rng.random() < 0.3:  # an occluder over up to ~40% of the mark
        ow, oh = int(w * rng.uniform(0.2, 0.6)), int(h * rng.uniform(0.3, 0.7))
        ox = x + (0 if rng.random() < 0.5 else w - ow)
        oy = y + int(rng.integers(0, max(1, h - oh)))
        cv2.rectangle(image, (ox, oy), (ox + ow, oy + oh), tuple(int(v) for v in rng.integers(0, 256, 3)), -1)
    return [float(x), float(y), float(w), float(h)]


@dataclass(frozen=True)
class MarkSet:
    """What one synthetic set pastes: its classes, how a mark is drawn, the look-alikes, sizes."""

    classes: tuple[str, ...]
    splits: dict
    notice: str
    distractors: tuple[str, ...] = DISTRACTORS
    sizes: tuple[int, int] = (18, 110)
    marks_per_image: tuple[int, int] = (1, 4)
    procedural_backgrounds: int = 0


BRAND = MarkSet(CLASSES, SPLITS, NOTICE)
BASE = MarkSet(BASE_CLASSES, {"train": 1200, "val": 150, "test": 150}, BASE_NOTICE, distractors=(),
               sizes=(16, 140), marks_per_image=(1, 6), procedural_backgrounds=12)
MARK_SETS = {"brand": BRAND, "base": BASE}


def generate(root: str | Path, seed: int = 0, splits: dict[str, int] | None = None,
             image_size: int = IMAGE_SIZE, marks: str = "brand") -> DatasetFiles:
    """Write a synthetic dataset under `root` (images/<split>/, coco/<split>.json, azure/<split>.json):
    `marks` "brand" (the five brand classes) or "base" (ten other classes, the stand-in for COCO)."""
    root = Path(root)
    mark_set = MARK_SETS[marks]
    splits = splits or mark_set.splits
    backgrounds = _backgrounds()
    if mark_set.procedural_backgrounds:
        backgrounds += procedural_backgrounds(np.random.default_rng([seed, 99]), mark_set.procedural_backgrounds, 480)
    classes = mark_set.classes
    categories = [{"id": i + 1, "name": name, "supercategory": "synthetic_" + marks} for i, name in enumerate(classes)]
    for split_index, (split, count) in enumerate(splits.items()):
        rng = np.random.default_rng([seed, split_index])
        draw = draw_mark if mark_set is BRAND else draw_base_mark(rng)
        folder = root / "images" / split
        folder.mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for index in range(count):
            image = _crop(rng, backgrounds[int(rng.integers(len(backgrounds)))], image_size)
            if mark_set.distractors:
                for _ in range(int(rng.integers(0, 3))):
                    _paste(rng, image, mark_set.distractors[int(rng.integers(len(mark_set.distractors)))],
                           occluded_ok=False)
            file_name = f"{split}_{index:04d}.jpg"
            for _ in range(int(rng.integers(*mark_set.marks_per_image))):
                class_index = int(rng.integers(len(classes)))
                box = _paste(rng, image, classes[class_index], draw=draw, sizes=mark_set.sizes)
                if box is not None:
                    annotations.append({"id": len(annotations) + 1, "image_id": index + 1,
                                        "category_id": class_index + 1, "bbox": [round(v, 2) for v in box],
                                        "area": round(box[2] * box[3], 2), "iscrowd": 0})
            cv2.imwrite(str(folder / file_name), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            images.append({"id": index + 1, "file_name": file_name, "height": image_size, "width": image_size})
        coco = {"info": {"description": mark_set.notice, "seed": seed, "split": split},
                "images": images, "annotations": annotations, "categories": categories}
        for kind, data in (("coco", coco), ("azure", formats.coco_dataset_to_azure(coco))):
            path = root / kind / f"{split}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data, indent=1))
    (root / "README.txt").write_text(mark_set.notice + f"\nseed {seed}; splits {splits}; classes {', '.join(classes)}\n")
    return DatasetFiles(root, classes)
