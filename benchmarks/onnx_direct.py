"""The exported ONNX model called directly in a runtime (ONNX Runtime or OpenVINO), no server:
what Triton costs.

It does what the served pipeline does minus Triton: the client's own decode and letterbox,
the model (batch of one, `concurrency` images in flight from a thread pool, the runtime's
threads as the model's CPU config sets them; OpenVINO compiled per canvas bucket and warmed up,
as the served config does), boxes back to original pixels, the client's
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


RUNTIMES = ("onnxruntime", "openvino", "openvino-bf16")  # openvino-bf16: only on a CPU with native BF16


class OnnxDirect:
    def __init__(self, model_dir: Path, rules: Rules | None = None, runtime: str = "onnxruntime"):
        from creativelens.export.model_files import OnnxRunner
        from creativelens.serve.openvino_runner import OpenVinoRunner

        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        config = read_cpu_config(model_dir)
        parameters = parameters_of(config)
        self.name = config.name
        self.runtime = runtime
        self.metadata = ModelMetadata.from_parameters(parameters)
        # each runtime's threads as the serving config sets them (0: every core the process may use)
        self.threads = int(parameters.get("intra_op_threads" if runtime == "onnxruntime" else "inference_threads", "0"))
        onnx_file = model_dir / "1" / parameters.get("onnx_file", "model.onnx")
        self.runner = (OnnxRunner(onnx_file, threads=self.threads) if runtime == "onnxruntime"
                       else OpenVinoRunner(onnx_file, self.metadata.canvases, threads=self.threads,
                                           precision="bf16" if runtime == "openvino-bf16" else "f32"))
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
            detections = self.detect(prepared.boxed)
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

    def detect(self, boxed) -> Detections:
        sizes = np.array([[boxed.valid_height, boxed.valid_width]], np.int32)
        boxes, scores, classes, counts = self.runner(boxed.pixels[None], sizes)
        detections = from_model_outputs(boxes[0], scores[0], classes[0], np.asarray(counts).reshape(-1)[0],
                                        self.metadata.class_names, boxed)
        return self.rules.apply({self.name: detections}, {self.name: self.metadata.thresholds})[self.name]
