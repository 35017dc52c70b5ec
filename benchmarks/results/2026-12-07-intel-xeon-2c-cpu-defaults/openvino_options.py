"""Issue 26: OpenVINO's own options against Triton's instance count, on 2 cores, at the export's
canvases (run under the machine's CPU lock; the numbers are in openvino_options.json/.md beside).

Direct (no server, the model's letterboxed inputs prepared before timing, one pass of every image):
PERFORMANCE_HINT LATENCY (the runner's default: 1 stream, every thread on one request) 1 and 2 in
flight, THROUGHPUT (the plugin picks streams) 2 in flight, NUM_STREAMS 2 under LATENCY 2 in flight,
and two runners of one thread each with 2 in flight (what Triton's instance count 2 does: the backend
gives each instance cores / instances threads). Served (the real `creativelens stream` against a real
tritonserver, 2 in flight): the export's config (instance count 1) against the same config with
instance count 2, FP32 and, where its gate passed, BF16.

python benchmarks/results/<this folder>/openvino_options.py REPOSITORY MODEL OUT_DIR [--stills N --frames N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _prepared(paths, canvases):
    import numpy as np

    from creativelens.client.decode import prepare
    from creativelens.client.sources import Item

    inputs = []
    for path in paths:
        boxed = prepare(Item(str(path)), canvases).boxed
        inputs.append((boxed.pixels[None], np.array([[boxed.valid_height, boxed.valid_width]], np.int32)))
    return inputs


def _direct(onnx_file, canvases, inputs, precision, name, runners_threads, in_flight, **options):
    from creativelens.serve.openvino_runner import OpenVinoRunner

    runners = [OpenVinoRunner(onnx_file, canvases, threads=threads, precision=precision, **options)
               for threads in runners_threads]
    for runner in runners:  # one more warm pass per bucket beyond the runner's own warm-up
        for images, sizes in inputs[:3]:
            runner(images, sizes)
    cpu0, started = time.process_time(), time.perf_counter()
    if in_flight == 1:
        for images, sizes in inputs:
            runners[0](images, sizes)
    else:
        with ThreadPoolExecutor(in_flight) as pool:
            list(pool.map(lambda job: runners[job[0] % len(runners)](*job[1]), enumerate(inputs)))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    row = {"name": name, "precision": precision, "in_flight": in_flight, "runners_threads": runners_threads,
           "options": options, "config": runners[0].config, "images": len(inputs), "wall_s": round(wall, 3),
           "images_per_s": round(len(inputs) / wall, 3), "cpu_s_per_image": round(cpu / len(inputs), 3)}
    del runners
    gc.collect()
    print(json.dumps(row), flush=True)
    return row


def _with_instances(repository: Path, model: str, config_name: str, count: int, destination: Path) -> Path:
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    source, target = repository / model, destination / model
    (target / "configs").mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name != "configs" and not (target / entry.name).exists():
            (target / entry.name).symlink_to(entry.absolute())
    config = text_format.Parse((source / "configs" / f"{config_name}.pbtxt").read_text(), model_config_pb2.ModelConfig())
    for group in config.instance_group:
        group.count = count
    (target / "configs" / f"{config_name}.pbtxt").write_text(text_format.MessageToString(config))
    return destination


def _served(repository, model, config_name, count, paths, warmup, work: Path, in_flight: int):
    from creativelens.benchmarks.process_cpu import tree_cpu_seconds
    from creativelens.benchmarks.served import run_stream
    from creativelens.serve.tritonserver import TritonServer

    variant = _with_instances(repository, model, config_name, count, work / f"repo-{config_name}-i{count}")
    with TritonServer(variant, config_name, log_path=work / f"triton-{config_name}-i{count}.log") as server:
        run_stream(warmup, server.grpc_url, work / f"warm-{config_name}-i{count}", model=model, concurrency=1)
        cpu0 = tree_cpu_seconds()
        run = run_stream(paths, server.grpc_url, work / f"run-{config_name}-i{count}", model=model,
                         concurrency=in_flight)
        cpu = tree_cpu_seconds() - cpu0
    summary = run.measurement.summary()
    row = {"name": f"served {config_name} instance count {count}", "config": config_name, "instances": count,
           "in_flight": in_flight, "images": summary["images"], "wall_s": round(summary["wall_s"], 3),
           "images_per_s": round(summary["images_per_s"], 3), "cpu_s_per_image": round(cpu / summary["images"], 3),
           "average_batch_size": round(run.inference_count / max(1, run.execution_count), 2)}
    print(json.dumps(row), flush=True)
    return row


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("repository", type=Path)
    parser.add_argument("model")
    parser.add_argument("out", type=Path)
    parser.add_argument("--stills", type=int, default=11)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--work", type=Path, default=Path("build/bench/work/openvino-options"))
    parser.add_argument("--pinning-check", action="store_true",
                        help="only: 2 runners x 1 thread, 2 in flight, with ENABLE_CPU_PINNING off and on "
                             "(why two single-thread instances used about one core), into openvino_pinning.json")
    parser.add_argument("--served-only", metavar="TAG",
                        help="only the served rows, into openvino_options_TAG.json (e.g. with "
                             "CREATIVELENS_OPENVINO_PINNING=0 in the environment: tritonserver's stubs inherit it)")
    args = parser.parse_args(argv)

    from creativelens.benchmarks.media import bench_media
    from creativelens.benchmarks.suite import _canvases_of, _one_per_bucket, bf16_served_choice
    from creativelens.machine import describe_machine

    machine = describe_machine()
    machine["load_average_before_measuring"] = [round(v, 2) for v in os.getloadavg()]
    media = bench_media(args.work / "media", stills=args.stills, video_frames=args.frames, frame_stride=60).paths
    canvases = _canvases_of(args.repository, args.model)
    onnx_file = args.repository / args.model / "1" / "model.onnx"
    inputs = _prepared(media, canvases)
    bf16 = bf16_served_choice(args.repository, args.model) is not None
    rows = []
    if args.pinning_check:
        for precision in ("f32", "bf16") if bf16 else ("f32",):
            for pinning in (True, False):
                rows.append(_direct(onnx_file, canvases, inputs, precision,
                                    f"2 runners x 1 thread, 2 in flight, ENABLE_CPU_PINNING {pinning}", [1, 1], 2,
                                    pinning=pinning))
        machine["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        result = {"machine": machine, "repository": str(args.repository), "model": args.model,
                  "canvases": [c.name for c in canvases], "images": len(media), "rows": rows}
        (args.out / "openvino_pinning.json").write_text(json.dumps(result, indent=2) + "\n")
        return 0
    for precision in () if args.served_only else ("f32", "bf16") if bf16 else ("f32",):
        rows.append(_direct(onnx_file, canvases, inputs, precision, "LATENCY, 2 threads, 1 in flight (default)", [0], 1))
        rows.append(_direct(onnx_file, canvases, inputs, precision, "LATENCY, 2 threads, 2 in flight", [0], 2))
        rows.append(_direct(onnx_file, canvases, inputs, precision, "THROUGHPUT (streams: plugin's), 2 in flight",
                            [0], 2, hint="THROUGHPUT"))
        rows.append(_direct(onnx_file, canvases, inputs, precision, "LATENCY + NUM_STREAMS 2, 2 in flight",
                            [0], 2, streams=2))
        rows.append(_direct(onnx_file, canvases, inputs, precision, "2 runners x 1 thread (= 2 instances), 2 in flight",
                            [1, 1], 2))
    warmup = _one_per_bucket(media, canvases)
    if args.served_only:
        rows = []
        machine["environment"] = {"CREATIVELENS_OPENVINO_PINNING": os.environ.get("CREATIVELENS_OPENVINO_PINNING")}
    for config_name in ("cpu", "cpu_bf16") if bf16 else ("cpu",):
        for count in (1, 2):
            rows.append(_served(args.repository, args.model, config_name, count, media, warmup, args.work, 2))
    machine["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine, "repository": str(args.repository), "model": args.model,
              "canvases": [c.name for c in canvases], "images": len(media), "rows": rows}
    name = f"openvino_options_{args.served_only}.json" if args.served_only else "openvino_options.json"
    (args.out / name).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
