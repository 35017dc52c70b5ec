"""Fixtures for the serving and streaming tests (the pytest fixtures are imported by
tests/conftest.py): real tritonservers, and media files in every shape of good and bad input.

`geometry_repository` holds `geometry_detector`, a python-backend model with the exported
detector's tensor contract whose "detections" are pure geometry of its input (the whole valid
image region, and its centre quarter). It exists to test the launcher and the client's
bookkeeping (letterbox round trips, resume, faults) in seconds; the detector itself is tested
with the lead's `exported_repository` (real Faster R-CNN R50).
"""

from __future__ import annotations

import json
import shutil
import struct
import textwrap
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from creativelens.canvas import parse_canvas
from creativelens.model_metadata import ModelMetadata
from creativelens.sample_media import sample_stills

GEOMETRY_MODEL = "geometry_detector"
GEOMETRY_CLASSES = ["image", "centre"]
GEOMETRY_CANVASES = "320x320,320x480,480x320"

_MODEL_PY = textwrap.dedent('''
    import json
    import time

    import numpy as np
    import triton_python_backend_utils as pb_utils

    K = 100


    class TritonPythonModel:
        def initialize(self, args):
            parameters = json.loads(args["model_config"]).get("parameters", {})
            self.delay_s = float(parameters.get("delay_s", {}).get("string_value", "0"))
            time.sleep(float(parameters.get("load_delay_s", {}).get("string_value", "0")))

        def execute(self, requests):
            time.sleep(self.delay_s)
            responses = []
            for request in requests:
                images = pb_utils.get_input_tensor_by_name(request, "images").as_numpy()
                sizes = pb_utils.get_input_tensor_by_name(request, "image_sizes").as_numpy()
                n = images.shape[0]
                boxes = np.zeros((n, K, 4), np.float32)
                scores = np.zeros((n, K), np.float32)
                classes = np.full((n, K), -1, np.int32)
                for i, (h, w) in enumerate(sizes.astype(np.float32)):
                    boxes[i, 0] = (0, 0, w, h)
                    boxes[i, 1] = (w / 4, h / 4, 3 * w / 4, 3 * h / 4)
                    scores[i, :2] = (0.95, 0.5)
                    classes[i, :2] = (0, 1)
                count = np.full((n, 1), 2, np.int32)
                outputs = [pb_utils.Tensor("boxes", boxes), pb_utils.Tensor("scores", scores),
                           pb_utils.Tensor("classes", classes),
                           pb_utils.Tensor("num_detections", count)]
                responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
            return responses
''')


def _config(name: str, *, max_batch_size: int = 8, delay_s: float = 0.0, load_delay_s: float = 0.0,
            class_names=GEOMETRY_CLASSES, weights: str = "geometry-v1", thresholds: dict | None = None) -> str:
    parameters = {
        **ModelMetadata(tuple(class_names), tuple(parse_canvas(c) for c in GEOMETRY_CANVASES.split(",")),
                        weights=weights, thresholds=thresholds or {}).to_parameters(),
        "delay_s": str(delay_s),
        "load_delay_s": str(load_delay_s),
    }
    parameter_text = "\n".join(
        f'parameters {{ key: "{key}" value {{ string_value: {json.dumps(value)} }} }}'
        for key, value in parameters.items()
    )
    return textwrap.dedent(f'''
        name: "{name}"
        backend: "python"
        max_batch_size: {max_batch_size}
        input [
          {{ name: "images" data_type: TYPE_UINT8 dims: [ -1, -1, 3 ] }},
          {{ name: "image_sizes" data_type: TYPE_INT32 dims: [ 2 ] }}
        ]
        output [
          {{ name: "boxes" data_type: TYPE_FP32 dims: [ 100, 4 ] }},
          {{ name: "scores" data_type: TYPE_FP32 dims: [ 100 ] }},
          {{ name: "classes" data_type: TYPE_INT32 dims: [ 100 ] }},
          {{ name: "num_detections" data_type: TYPE_INT32 dims: [ 1 ] }}
        ]
        dynamic_batching {{ max_queue_delay_microseconds: 2000 }}
        instance_group [ {{ kind: KIND_CPU count: 1 }} ]
    ''') + parameter_text + "\n"


def write_geometry_model(root: Path, name: str = GEOMETRY_MODEL, *, class_names=GEOMETRY_CLASSES,
                         weights: str = "geometry-v1", thresholds: dict | None = None, delay_s: float = 0.0,
                         load_delay_s: float = 0.0) -> Path:
    """One geometry model named `name`: its class 0 is the whole image (score 0.95), class 1 the
    centre quarter (score 0.5). `weights` stands for its checkpoint: changing it changes the
    model's version."""
    model_dir = root / name
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    (model_dir / "configs").mkdir(exist_ok=True)
    (model_dir / "1" / "model.py").write_text(_MODEL_PY)
    (model_dir / "configs" / "cpu.pbtxt").write_text(
        _config(name, delay_s=delay_s, load_delay_s=load_delay_s, class_names=class_names, weights=weights,
                thresholds=thresholds))
    return model_dir


def write_geometry_repository(root: Path, *, delay_s: float = 0.0, load_delay_s: float = 0.0,
                              broken_model: str | None = None) -> Path:
    """A model repository with `geometry_detector` under configs/cpu.pbtxt.

    `delay_s` slows every batch (for killing a run midway), `load_delay_s` the model's load (for
    the ready timeout); `broken_model` adds a second model whose model.py raises on import.
    """
    write_geometry_model(root, delay_s=delay_s, load_delay_s=load_delay_s)
    if broken_model:
        broken = root / broken_model
        (broken / "1").mkdir(parents=True, exist_ok=True)
        (broken / "configs").mkdir(exist_ok=True)
        (broken / "1" / "model.py").write_text("raise RuntimeError('this model is broken on purpose')\n")
        (broken / "configs" / "cpu.pbtxt").write_text(_config(broken_model))
    return root


def geometry_boxes(width: int, height: int) -> np.ndarray:
    """What `geometry_detector` returns, mapped back to an original image of this size."""
    return np.array([[0, 0, width, height],
                     [width / 4, height / 4, 3 * width / 4, 3 * height / 4]], np.float32)


@pytest.fixture(scope="session")
def geometry_repository(tmp_path_factory) -> Path:
    return write_geometry_repository(tmp_path_factory.mktemp("geometry_repository"))


@pytest.fixture(scope="session")
def geometry_server(geometry_repository):
    """A real tritonserver serving `geometry_detector` for the whole session."""
    from creativelens.serve.tritonserver import TritonServer

    with TritonServer(geometry_repository, ready_timeout_s=120) as server:
        yield server


@pytest.fixture(scope="session")
def detector_server(request):
    """A real tritonserver over the lead's `exported_repository` (Faster R-CNN R50, random
    weights, 320-class canvases); skips when that fixture is not available."""
    from creativelens.serve.tritonserver import TritonServer

    try:
        repository = request.getfixturevalue("exported_repository")
    except pytest.FixtureLookupError:
        pytest.skip("the exported_repository fixture (tests/conftest.py) is not available")
    with TritonServer(repository, ready_timeout_s=600) as server:
        yield server


# --- media ------------------------------------------------------------------------------------

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
    whole = write_video(folder / "whole.avi", 20).read_bytes()
    (folder / "whole.avi").unlink()
    (folder / "truncated.avi").write_bytes(whole[: len(whole) // 2])
    return {
        "zero.jpg": "empty file",
        "truncated.jpg": "truncated",
        "corrupt.png": "corrupt",
        "notes.jpg": "not an image or video",
        "data.bin": "not an image or video",
        "bomb.png": "decompression bomb",
        "empty.mp4": "no frames",
        "truncated.avi": "corrupt or truncated video",
    }


def copy_with_wrong_extension(source: Path, destination: Path) -> Path:
    shutil.copyfile(source, destination)
    return destination
