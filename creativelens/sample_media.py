"""Real media that ships inside installed packages: the demo's input and the tests' fixtures."""

from __future__ import annotations

from pathlib import Path

OPENCV_DOC_DATA = Path("/usr/share/doc/opencv-doc/examples/data")

# Photos with COCO objects in them (people, cups, cats, cars, sports balls, ...).
SKIMAGE_PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png")
OPENCV_PHOTOS = ("messi5.jpg", "basketball1.png", "fruits.jpg", "home.jpg", "baboon.jpg", "apple.jpg")
OPENCV_VIDEO = "vtest.avi"  # 795 frames of pedestrians and parked cars


def skimage_data_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def sample_stills() -> list[Path]:
    """Real photos from scikit-image and Debian's opencv-doc, those that are installed."""
    candidates = [skimage_data_dir() / name for name in SKIMAGE_PHOTOS]
    candidates += [OPENCV_DOC_DATA / name for name in OPENCV_PHOTOS]
    return [path for path in candidates if path.is_file()]


def sample_video() -> Path:
    path = OPENCV_DOC_DATA / OPENCV_VIDEO
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install Debian's opencv-doc (scripts/setup.sh does)")
    return path
