"""Media files for the streaming tests: real photos and video in every shape of bad input."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import av
import numpy as np
from PIL import Image

from creativelens.sample_media import sample_stills


def write_video(path: Path, frames: int, size: tuple[int, int] = (160, 96), fps: int = 10) -> Path:
    """An H.264 (mp4) or MPEG-4 video of `frames` moving gradients, written with PyAV."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if path.suffix == ".mp4" else "mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        container.start_encoding()  # writes the header even when no frame follows
        x = np.arange(width, dtype=np.uint8)[None, :, None]
        for index in range(frames):
            pixels = np.broadcast_to((x + index * 8).astype(np.uint8), (height, width, 3)).copy()
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_png_header_bomb(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def write_stills_in_every_format(folder: Path) -> dict[str, tuple[int, int]]:
    """One real photo saved as jpg, png, gif (animated), webp, tiff, bmp: name -> (w, h)."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.open(sample_stills()[0]).convert("RGB")
    photo.thumbnail((200, 200))
    sizes = {}
    for extension in ("jpg", "png", "webp", "tiff", "bmp"):
        photo.save(folder / f"photo.{extension}")
        sizes[f"photo.{extension}"] = photo.size
    second = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    photo.save(folder / "animated.gif", save_all=True, append_images=[second])
    sizes["animated.gif"] = photo.size
    return sizes


def write_bad_inputs(folder: Path) -> dict[str, str]:
    """Every kind of bad input: file name -> a fragment of the expected error message."""
    folder.mkdir(parents=True, exist_ok=True)
    real_jpeg = next(p for p in sample_stills() if p.suffix == ".jpg")
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(real_jpeg.read_bytes()[:2000])
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (folder / "notes.jpg").write_text("this is text, not a picture\n" * 20)
    (folder / "data.bin").write_bytes(np.random.default_rng(0).bytes(4096))
    write_png_header_bomb(folder / "bomb.png")
    write_video(folder / "empty.mp4", 0)
    return {
        "zero.jpg": "empty file",
        "truncated.jpg": "truncated",
        "corrupt.png": "corrupt",
        "notes.jpg": "not an image or video",
        "data.bin": "not an image or video",
        "bomb.png": "decompression bomb",
        "empty.mp4": "no frames",
    }


def copy_with_wrong_extension(source: Path, destination: Path) -> Path:
    shutil.copyfile(source, destination)
    return destination
