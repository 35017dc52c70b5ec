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
from creativelens.client.decode import prepare
from creativelens.client.rules import Rules
from creativelens.client.sources import Item
from creativelens.detections import Detections
from creativelens.formats import from_model_outputs, to_record
from creativelens.item_result import ItemResult, ModelResult
from creativelens.model_metadata import ModelMetadata, parameters_of


class OnnxDirect:
    def __init__(self, model_dir: Path, rules: Rules | None = None):
        from creativelens.export.model_files import OnnxRunner

        config = read_cpu_config(model_dir)
        parameters = parameters_of(config)
        self.name = config.name
        self.metadata = ModelMetadata.from_parameters(parameters)
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
            prepared = prepare(Item(str(path)), self.metadata.canvases)
            if prepared.error:
                with lock:
                    errors += 1
                return to_record(ItemResult(str(path), error=prepared.error))
            started = time.perf_counter()
            detections = self.detect(prepared.boxed, str(path))
            latency_ms = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(latency_ms)
            if on_image:
                on_image()
            model = ModelResult(self.name, self.metadata.version, detections, None, round(latency_ms, 2))
            return to_record(ItemResult(str(path), width=detections.width, height=detections.height, models=(model,)))

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
        detections = from_model_outputs(boxes[0], scores[0], classes[0], np.asarray(counts).reshape(-1)[0],
                                        self.metadata.class_names, boxed, source=source, model=self.name)
        return self.rules.apply([detections], {self.name: self.metadata.thresholds})[0]
