"""The exported ONNX model called directly in ONNX Runtime, no server: what Triton costs.

It does what the served pipeline does minus Triton: the client's own decode and letterbox,
the model (batch of one, `concurrency` images in flight from a thread pool, ONNX Runtime
threads as the model's CPU config sets them), boxes back to original pixels, the client's
default threshold, one JSONL record per image. Latency is timed as the client times it: from
the moment the letterboxed image goes to the model until its detections are in hand.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from creativelens.benchmarks.measurement import Measurement
from creativelens.benchmarks.model_cache import read_cpu_config
from creativelens.canvas import Canvas, parse_canvas, to_original
from creativelens.client.decode import prepare
from creativelens.client.rules import Rules
from creativelens.client.sources import Item
from creativelens.detections import Detections
from creativelens.formats import to_record


class OnnxDirect:
    def __init__(self, model_dir: Path, rules: Rules | None = None):
        from creativelens.export.model_files import OnnxRunner

        config = read_cpu_config(model_dir)
        parameters = {key: value.string_value for key, value in config.parameters.items()}
        self.name = config.name
        self.class_names: list[str] = json.loads(parameters["class_names"])
        self.canvases: tuple[Canvas, ...] = tuple(
            parse_canvas(name) for name in parameters.get("canvases", "").split(",") if name
        )
        self.intra_op_threads = int(parameters.get("intra_op_threads", "0"))
        self.runner = OnnxRunner(model_dir / "1" / parameters.get("onnx_file", "model.onnx"),
                                 threads=self.intra_op_threads)
        self.rules = rules or Rules()

    def run(self, paths: Sequence[Path], jsonl_path: Path, concurrency: int,
            on_image: Callable[[], None] | None = None) -> Measurement:
        lock = threading.Lock()
        latencies: list[float] = []
        errors = 0

        def one(path: Path) -> dict:
            nonlocal errors
            prepared = prepare(Item(str(path)), self.canvases)
            if prepared.error:
                with lock:
                    errors += 1
                return to_record(Detections.empty(source=str(path)), error=prepared.error)
            started = time.perf_counter()
            detections = self.detect(prepared.boxed, str(path))
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
            if on_image:
                on_image()
            return to_record(detections)

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency, thread_name_prefix="onnx-direct") as pool, \
                open(jsonl_path, "w") as sink:
            for record in pool.map(one, paths):
                sink.write(json.dumps(record) + "\n")
        wall_s = time.perf_counter() - started
        return Measurement(len(latencies), errors, wall_s, 0.0, latencies)

    def detect(self, boxed, source: str = "") -> Detections:
        sizes = np.array([[boxed.valid_height, boxed.valid_width]], np.int32)
        boxes, scores, classes, counts = self.runner(boxed.pixels[None], sizes)
        count = int(np.asarray(counts).reshape(-1)[0])
        class_ids = classes[0, :count].astype(np.int32)
        names = tuple(self.class_names[c] for c in class_ids)
        detections = Detections(to_original(boxes[0, :count], boxed), scores[0, :count], class_ids, names,
                                source=source, width=boxed.original_width, height=boxed.original_height,
                                model=self.name)
        return self.rules.apply([detections])[0]
