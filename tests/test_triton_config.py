"""Triton configs: parsed into Triton's real ModelConfig message and checked against the contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from creativelens.canvas import GPU_CANVASES, Canvas
from creativelens.export import triton_config
from creativelens.export.triton_config import (
    CPU_CONFIG,
    CPU_ONNXRUNTIME_CONFIG,
    CUDA_CONFIG,
    LIBTORCH_CONFIG,
    TENSORRT_CONFIG,
    render_model_configs,
    warmup_files,
    write_model_configs,
)

REPOSITORY = Path(__file__).resolve().parents[1] / "model_repository"
EXAMPLE_MODEL = "faster_rcnn_R_50_FPN_1x"
EXAMPLE_MAX_BATCH = 8  # the committed example: GPU canvases, batches of up to 8, 100 detections
GPU_VARIANTS = (TENSORRT_CONFIG, CUDA_CONFIG, LIBTORCH_CONFIG)
ALL_VARIANTS = (*GPU_VARIANTS, CPU_CONFIG, CPU_ONNXRUNTIME_CONFIG)
# The TensorRT accelerator keys Triton's onnxruntime backend accepts (it rejects any other key).
ORT_BACKEND_TRT_KEYS = {
    "precision_mode", "max_workspace_size_bytes", "trt_max_partition_iterations",
    "trt_min_subgraph_size", "int8_calibration_table_name", "int8_use_native_calibration_table",
    "trt_dla_enable", "trt_dla_core", "trt_engine_cache_enable", "trt_engine_cache_path",
    "trt_engine_cache_prefix", "trt_dump_subgraphs", "trt_force_sequential_engine_build",
    "trt_context_memory_sharing_enable", "trt_layer_norm_fp32_fallback", "trt_timing_cache_enable",
    "trt_timing_cache_path", "trt_force_timing_cache", "trt_detailed_build_log",
    "trt_build_heuristics_enable", "trt_sparsity_enable", "trt_builder_optimization_level",
    "trt_auxiliary_streams", "trt_tactic_sources", "trt_extra_plugin_lib_paths",
    "trt_profile_min_shapes", "trt_profile_max_shapes", "trt_profile_opt_shapes",
    "trt_cuda_graph_enable",
}


def parse(text: str) -> mc.ModelConfig:
    return text_format.Parse(text, mc.ModelConfig())


@pytest.fixture(scope="module")
def configs() -> dict[str, mc.ModelConfig]:
    texts = render_model_configs(EXAMPLE_MODEL, GPU_CANVASES, max_batch_size=EXAMPLE_MAX_BATCH)
    assert set(texts) == set(ALL_VARIANTS)
    return {path: parse(text) for path, text in texts.items()}


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_every_variant_declares_the_detector_contract(configs, variant):
    config = configs[variant]
    assert config.name == EXAMPLE_MODEL
    assert config.max_batch_size == EXAMPLE_MAX_BATCH
    inputs = {tensor.name: (tensor.data_type, list(tensor.dims)) for tensor in config.input}
    assert inputs == {
        "images": (mc.TYPE_UINT8, [-1, -1, 3]),
        "image_sizes": (mc.TYPE_INT32, [2]),
    }
    outputs = {tensor.name: tensor for tensor in config.output}
    assert [tensor.name for tensor in config.output] == ["boxes", "scores", "classes", "num_detections"]
    assert (outputs["boxes"].data_type, list(outputs["boxes"].dims)) == (mc.TYPE_FP32, [100, 4])
    assert (outputs["scores"].data_type, list(outputs["scores"].dims)) == (mc.TYPE_FP32, [100])
    assert (outputs["classes"].data_type, list(outputs["classes"].dims)) == (mc.TYPE_INT32, [100])
    assert outputs["classes"].label_filename == "labels.txt"
    count = outputs["num_detections"]
    assert (count.data_type, list(count.dims)) == (mc.TYPE_INT32, [1])
    assert count.HasField("reshape") and list(count.reshape.shape) == []  # the graph emits [N]
    assert config.HasField("dynamic_batching")


@pytest.mark.parametrize("variant", GPU_VARIANTS)
def test_gpu_variants_batch_and_warm_up_every_canvas_bucket(configs, variant):
    config = configs[variant]
    assert [(group.kind, group.count) for group in config.instance_group] == [(mc.ModelInstanceGroup.KIND_GPU, 1)]
    batching = config.dynamic_batching
    assert list(batching.preferred_batch_size) == [4, 8]
    assert 0 < batching.max_queue_delay_microseconds <= 10_000
    warmed = set()
    sizes_files = warmup_files(GPU_CANVASES)
    for warmup in config.model_warmup:
        images, sizes = warmup.inputs["images"], warmup.inputs["image_sizes"]
        assert set(warmup.inputs) == {"images", "image_sizes"}
        assert images.zero_data and images.data_type == mc.TYPE_UINT8
        height, width, channels = images.dims
        assert channels == 3
        assert sizes.data_type == mc.TYPE_INT32 and list(sizes.dims) == [2]
        content = sizes_files[f"{triton_config.WARMUP_DIR}/{sizes.input_data_file}"]
        assert np.frombuffer(content, "<i4").tolist() == [height, width]  # valid size = whole canvas
        warmed.add((Canvas(height, width), warmup.batch_size))
    assert warmed == {(canvas, batch) for canvas in GPU_CANVASES for batch in (1, EXAMPLE_MAX_BATCH)}


def test_tensorrt_config_runs_onnx_in_fp16_with_a_profile_per_bucket_and_a_cached_engine(configs):
    config = configs[TENSORRT_CONFIG]
    assert (config.platform, config.default_model_filename) == ("onnxruntime_onnx", "model.onnx")
    [accelerator] = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt"
    parameters = dict(accelerator.parameters)
    assert set(parameters) <= ORT_BACKEND_TRT_KEYS
    assert parameters["precision_mode"] == "FP16"
    assert parameters["trt_engine_cache_enable"] == "1"
    assert parameters["trt_engine_cache_path"] == triton_config.TRT_CACHE_DIR

    def profiles(key: str) -> list[dict[str, list[int]]]:
        """'a:1x2,b:3,a:4x5,b:6' -> [{'a': [1, 2], 'b': [3]}, {'a': [4, 5], 'b': [6]}]"""
        result: list[dict[str, list[int]]] = []
        for item in parameters[key].split(","):
            name, shape = item.split(":")
            if not result or name in result[-1]:
                result.append({})
            result[-1][name] = [int(side) for side in shape.split("x")]
        return result

    for key, batch in (("trt_profile_min_shapes", 1), ("trt_profile_opt_shapes", 8), ("trt_profile_max_shapes", 8)):
        assert profiles(key) == [
            {"images": [batch, canvas.height, canvas.width, 3], "image_sizes": [batch, 2]}
            for canvas in sorted(GPU_CANVASES)
        ], key


def test_fp32_tensorrt_is_available_for_models_that_fail_fp16_parity():
    text = render_model_configs("m", GPU_CANVASES, max_batch_size=4, tensorrt_precision="FP32")[TENSORRT_CONFIG]
    [accelerator] = parse(text).optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.parameters["precision_mode"] == "FP32"


def test_cuda_fallback_uses_onnx_runtime_without_tensorrt(configs):
    config = configs[CUDA_CONFIG]
    assert (config.platform, config.default_model_filename) == ("onnxruntime_onnx", "model.onnx")
    assert not config.optimization.execution_accelerators.gpu_execution_accelerator


def test_libtorch_config_matches_what_the_libtorch_backend_binds(configs):
    config = configs[LIBTORCH_CONFIG]
    assert (config.platform, config.default_model_filename) == ("pytorch_libtorch", "model.pt")
    # Inputs bind to forward(images, image_sizes) by argument name. Output names without
    # "<name>__<index>" make the backend bind them by position: the module returns the tuple
    # (boxes, scores, classes, num_detections) in exactly the config's order.
    assert [tensor.name for tensor in config.input] == ["images", "image_sizes"]
    assert all("__" not in tensor.name for tensor in config.output)
    assert config.parameters["INFERENCE_MODE"].string_value == "true"


@pytest.mark.parametrize("variant, model_file, parameters", [
    (CPU_CONFIG, "openvino_model.py",
     {"onnx_file": "model.onnx", "inference_threads": "0", "inference_precision": "f32"}),
    (CPU_ONNXRUNTIME_CONFIG, "", {"onnx_file": "model.onnx", "intra_op_threads": "0"}),
])
def test_cpu_configs_run_the_onnx_model_in_the_python_backend(configs, variant, model_file, parameters):
    """cpu.pbtxt: OpenVINO FP32 (openvino_model.py); cpu_onnxruntime.pbtxt: ONNX Runtime (model.py)."""
    config = configs[variant]
    assert config.backend == "python" and not config.platform
    assert config.default_model_filename == model_file
    assert [(group.kind, group.count) for group in config.instance_group] == [(mc.ModelInstanceGroup.KIND_CPU, 1)]
    assert 0 < config.dynamic_batching.max_queue_delay_microseconds <= 2_000
    assert {key: value.string_value for key, value in config.parameters.items()} == parameters
    # Triton's warmup would only delay readiness: the OpenVINO model warms each bucket up itself.
    assert not config.model_warmup
    assert not config.HasField("optimization")


def test_batch_of_one_needs_one_warmup_per_bucket_and_one_preferred_size():
    canvases = [Canvas(320, 320), Canvas(320, 512)]
    config = parse(render_model_configs("m", canvases, max_batch_size=1, detections_per_image=7)[CUDA_CONFIG])
    assert list(config.dynamic_batching.preferred_batch_size) == [1]
    assert sorted((list(w.inputs["images"].dims), w.batch_size) for w in config.model_warmup) == [
        ([320, 320, 3], 1),
        ([320, 512, 3], 1),
    ]
    assert list(config.output[0].dims) == [7, 4]


@pytest.mark.parametrize(
    "options",
    [
        {"max_batch_size": 0},
        {"max_batch_size": 2, "detections_per_image": 0},
        {"max_batch_size": 2, "tensorrt_precision": "INT8"},
    ],
)
def test_impossible_options_are_refused(options):
    with pytest.raises(ValueError):
        render_model_configs("m", GPU_CANVASES, **options)


def test_metadata_parameters_travel_in_every_variant_without_overriding_theirs():
    metadata = {"canvases": "800x800,800x1344", "class_names": '["person", "car"]'}
    texts = render_model_configs("m", GPU_CANVASES, max_batch_size=2, parameters=metadata)
    for variant, text in texts.items():
        parameters = {key: value.string_value for key, value in parse(text).parameters.items()}
        assert metadata.items() <= parameters.items(), variant
    cpu = parse(texts[CPU_CONFIG]).parameters
    assert cpu["onnx_file"].string_value == "model.onnx"
    with pytest.raises(ValueError, match="onnx_file"):
        render_model_configs("m", GPU_CANVASES, max_batch_size=2, parameters={"onnx_file": "other.onnx"})
    with pytest.raises(ValueError, match="inference_precision"):
        render_model_configs("m", GPU_CANVASES, max_batch_size=2, parameters={"inference_precision": "bf16"})


def test_no_canvas_is_refused():
    with pytest.raises(ValueError, match="canvas"):
        render_model_configs("m", [], max_batch_size=2)


def test_write_model_configs_names_the_model_after_its_directory(tmp_path):
    model_dir = tmp_path / "my_detector"
    written = write_model_configs(model_dir, [Canvas(320, 320)], max_batch_size=2)
    assert sorted(path.relative_to(model_dir).as_posix() for path in written) == sorted(
        [*ALL_VARIANTS, "warmup/image_sizes_320x320"]
    )
    assert parse((model_dir / CPU_CONFIG).read_text()).name == "my_detector"
    assert np.fromfile(model_dir / "warmup/image_sizes_320x320", "<i4").tolist() == [320, 320]


def test_write_model_configs_into_a_staging_directory_keeps_the_model_name(tmp_path):
    write_model_configs(tmp_path / ".staging-m", [Canvas(320, 320)], max_batch_size=2, model="m")
    assert {parse((tmp_path / ".staging-m" / v).read_text()).name for v in ALL_VARIANTS} == {"m"}


def test_command_line_writes_a_model_directory(tmp_path, capsys):
    assert triton_config.main([str(tmp_path / "m"), "--canvas", "320x512", "--max-batch-size", "2"]) == 0
    config = parse((tmp_path / "m" / TENSORRT_CONFIG).read_text())
    assert config.max_batch_size == 2
    assert {tuple(w.inputs["images"].dims) for w in config.model_warmup} == {(320, 512, 3)}
    assert "config.pbtxt" in capsys.readouterr().out


def test_command_line_refuses_a_canvas_off_the_stride(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        triton_config.main([str(tmp_path / "m"), "--canvas", "300x500"])
    assert exit_.value.code == 2
    assert "multiples of 32" in capsys.readouterr().err


def test_committed_example_is_what_the_renderer_writes():
    """The example under model_repository/ must never drift from the renderer."""
    model_dir = REPOSITORY / EXAMPLE_MODEL
    expected = render_model_configs(EXAMPLE_MODEL, GPU_CANVASES, max_batch_size=EXAMPLE_MAX_BATCH)
    for relative, text in expected.items():
        assert (model_dir / relative).read_text() == text, (
            f"{relative} drifted: regenerate with `python -m creativelens.export.triton_config "
            f"model_repository/{EXAMPLE_MODEL}`"
        )
    for relative, content in warmup_files(GPU_CANVASES).items():
        assert (model_dir / relative).read_bytes() == content


def test_committed_example_labels_are_detectron2_coco_classes():
    pytest.importorskip("detectron2")
    import detectron2.data.datasets  # noqa: F401  (registers the builtin COCO metadata)
    from detectron2.data import MetadataCatalog

    labels = (REPOSITORY / EXAMPLE_MODEL / "labels.txt").read_text().splitlines()
    assert labels == list(MetadataCatalog.get("coco_2017_val").thing_classes)
    assert len(labels) == 80
