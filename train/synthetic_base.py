"""The SYNTHETIC base set's marks and backgrounds: other made-up shapes that stand in for COCO.

A base detector trained on these ten classes is what brand detectors are fine-tuned from (as
the published job fine-tuned from COCO weights). None of them is a brand class or a brand
look-alike: the brand set's marks stay novel to the base. Marks are filled with a texture
(solid, stripes, checks, a gradient, speckle), and backgrounds are the real photos plus
seeded procedural ones (gradients, stripes, clutter, noise), so the base learns "a mark on
anything", not one palette.
"""

from __future__ import annotations

import cv2
import numpy as np

BASE_CLASSES = ("heart", "crescent", "cross", "hexagon", "arrow", "triangle", "diamond", "bullseye",
                "lightning", "chevron")
TEXTURES = ("solid", "stripes", "checks", "gradient", "speckle")


def _polygon(s: int, points) -> np.ndarray:
    return (np.array(points, np.float64) * s).astype(np.int32)


def base_mask(kind: str, s: int) -> np.ndarray:
    """A 0/255 mask of one base shape on an s x s patch."""
    mask = np.zeros((s, s), np.uint8)
    c, r = (s // 2, s // 2), s // 2 - 1
    if kind == "heart":
        cv2.circle(mask, (int(s * 0.32), int(s * 0.36)), int(s * 0.2), 255, -1)
        cv2.circle(mask, (int(s * 0.68), int(s * 0.36)), int(s * 0.2), 255, -1)
        cv2.fillPoly(mask, [_polygon(s, [[0.13, 0.44], [0.87, 0.44], [0.5, 0.92]])], 255)
    elif kind == "crescent":
        cv2.circle(mask, c, r, 255, -1)
        cv2.circle(mask, (int(s * 0.68), int(s * 0.4)), int(r * 0.85), 0, -1)
    elif kind == "cross":
        cv2.rectangle(mask, (int(s * 0.36), int(s * 0.05)), (int(s * 0.64), int(s * 0.95)), 255, -1)
        cv2.rectangle(mask, (int(s * 0.05), int(s * 0.36)), (int(s * 0.95), int(s * 0.64)), 255, -1)
    elif kind == "hexagon":
        angles = np.arange(6) * np.pi / 3
        cv2.fillPoly(mask, [np.stack([c[0] + r * np.cos(angles), c[1] + r * np.sin(angles)], 1).astype(np.int32)], 255)
    elif kind == "arrow":
        cv2.fillPoly(mask, [_polygon(s, [[0.05, 0.38], [0.55, 0.38], [0.55, 0.15], [0.95, 0.5], [0.55, 0.85],
                                         [0.55, 0.62], [0.05, 0.62]])], 255)
    elif kind == "triangle":
        cv2.fillPoly(mask, [_polygon(s, [[0.5, 0.06], [0.95, 0.9], [0.05, 0.9]])], 255)
    elif kind == "diamond":
        cv2.fillPoly(mask, [_polygon(s, [[0.5, 0.03], [0.8, 0.5], [0.5, 0.97], [0.2, 0.5]])], 255)
    elif kind == "bullseye":
        cv2.circle(mask, c, r, 255, -1)
        cv2.circle(mask, c, int(r * 0.66), 0, -1)
        cv2.circle(mask, c, int(r * 0.33), 255, -1)
    elif kind == "lightning":
        cv2.fillPoly(mask, [_polygon(s, [[0.55, 0.02], [0.2, 0.55], [0.45, 0.55], [0.35, 0.98], [0.8, 0.4],
                                         [0.55, 0.4], [0.7, 0.02]])], 255)
    elif kind == "chevron":
        cv2.fillPoly(mask, [_polygon(s, [[0.05, 0.2], [0.5, 0.55], [0.95, 0.2], [0.95, 0.5], [0.5, 0.85],
                                         [0.05, 0.5]])], 255)
    else:
        raise ValueError(kind)
    return mask


def texture(rng: np.random.Generator, s: int, colour, accent) -> np.ndarray:
    """An s x s BGR fill: solid, stripes, checks, a gradient or speckle of the two colours."""
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    a, b = np.array(colour, np.float32), np.array(accent, np.float32)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    period = max(3.0, s / rng.uniform(3, 8))
    if kind == "solid":
        weight = np.zeros((s, s), np.float32)
    elif kind == "stripes":
        angle = rng.uniform(0, np.pi)
        weight = ((xx * np.cos(angle) + yy * np.sin(angle)) // period % 2).astype(np.float32)
    elif kind == "checks":
        weight = ((xx // period + yy // period) % 2).astype(np.float32)
    elif kind == "gradient":
        weight = yy / max(1, s - 1)
    else:
        weight = (rng.random((s, s)) < 0.3).astype(np.float32)
    return (a * (1 - weight[..., None]) + b * weight[..., None]).astype(np.uint8)


def draw_base_mark(rng: np.random.Generator):
    """A mark drawer for `synthetic_dataset._paste`: textured base shapes."""

    def draw(kind: str, size: int, colour, accent) -> tuple[np.ndarray, np.ndarray]:
        mask = base_mask(kind, size)
        pixels = texture(rng, size, colour, accent)
        pixels[mask == 0] = 0
        return pixels, mask

    return draw


def procedural_backgrounds(rng: np.random.Generator, count: int, size: int) -> list[np.ndarray]:
    """Seeded backgrounds with no photo in them: gradients, stripes, rectangle clutter, noise."""
    backgrounds = []
    for index in range(count):
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        kind = index % 4
        if kind == 0:
            image = texture(rng, size, a, b)
            image = cv2.GaussianBlur(image, (0, 0), 3)
        elif kind == 1:
            image = np.full((size, size, 3), a, np.uint8)
            for _ in range(int(rng.integers(8, 30))):
                x, y = rng.integers(0, size, 2)
                w, h = rng.integers(10, size // 2, 2)
                cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + h)),
                              tuple(int(v) for v in rng.integers(0, 256, 3)), -1)
        elif kind == 2:
            image = np.clip(rng.normal(a, 40, (size, size, 3)), 0, 255).astype(np.uint8)
            image = cv2.GaussianBlur(image, (0, 0), 1.5)
        else:
            yy = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
            image = (a * (1 - yy) + b * yy).astype(np.uint8).repeat(size, 1)
        backgrounds.append(np.ascontiguousarray(image))
    return backgrounds
