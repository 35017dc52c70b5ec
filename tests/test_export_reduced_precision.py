"""The reduced-precision gate: detections like FP32's pass, a model that loses or invents them is refused."""

from __future__ import annotations

import numpy as np
import pytest

from creativelens.export import reduced_precision

CPUINFO_WITH_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n"
CPUINFO_WITHOUT_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n"


def _image(rng, n=20):
    corners = rng.uniform(0, 300, (n, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + rng.uniform(20, 80, (n, 2)).astype(np.float32)], axis=1)
    return boxes, rng.uniform(0.3, 0.99, n).astype(np.float32), rng.integers(0, 5, n)


def _fp32(seed=0):
    rng = np.random.default_rng(seed)
    return [_image(rng) for _ in range(3)]


def test_bf16_like_drift_passes_where_fp32_parity_would_not():
    fp32 = _fp32()
    rng = np.random.default_rng(1)
    # BF16's kind of change: boxes off by up to 1.5 px, scores by up to 0.01
    drifted = [(b + rng.uniform(-1.5, 1.5, b.shape).astype(np.float32), s + rng.uniform(-0.01, 0.01, s.shape), c)
               for b, s, c in fp32]
    result = reduced_precision.gate("bf16", fp32, drifted, score_threshold=0.05, top_k=100)
    assert result.ok and result.reason is None and result.matched == 60 == result.fp32_detections
    assert result.to_json()["reduced_precision"] is True and result.to_json()["ap_gate_run"] is False


def test_a_model_that_loses_detections_is_refused_with_a_reason():
    fp32 = _fp32()
    lossy = [(b[:15], s[:15], c[:15]) for b, s, c in fp32]  # a quarter of the objects gone
    result = reduced_precision.gate("int8", fp32, lossy, score_threshold=0.05, top_k=100)
    assert not result.ok and result.recall == 45 / 60
    assert result.reason.startswith("int8 not written: it finds 75.0% of FP32's detections")


def test_a_model_that_moves_classes_is_refused():
    fp32 = _fp32()
    relabelled = [(b, s, (c + 1) % 5) for b, s, c in fp32]
    assert not reduced_precision.gate("bf16", fp32, relabelled, 0.05, 100).ok


def test_ap_drop_beyond_the_tolerance_is_refused_even_with_matching_detections():
    fp32 = _fp32()
    assert reduced_precision.gate("bf16", fp32, fp32, 0.05, 100, fp32_ap=40.0, candidate_ap=39.6).ok
    refused = reduced_precision.gate("bf16", fp32, fp32, 0.05, 100, fp32_ap=40.0, candidate_ap=39.0)
    assert not refused.ok and "1.00 points below" in refused.reason


def test_bf16_refused_on_a_cpu_without_native_bf16():
    assert reduced_precision.bf16_refusal(CPUINFO_WITH_BF16) is None
    reason = reduced_precision.bf16_refusal(CPUINFO_WITHOUT_BF16)
    assert reason and "\n" not in reason and "avx512_bf16" in reason


def test_this_machines_cpuinfo_is_read():
    assert "fpu" in reduced_precision.cpu_flags() or not reduced_precision.CPUINFO.exists()


# --- the export CLI's reduced-precision flags (in-process: the same parser, handler and error line) ---

def _export(tmp_path, *flags):
    from creativelens.cli import main

    return main(["export", "--model", "faster_rcnn_R_50_FPN_1x", "--random-weights", "--out",
                 str(tmp_path / "repo"), *flags])


def test_export_cli_refuses_bf16_on_a_simulated_cpu_without_bf16_before_exporting(tmp_path, monkeypatch, capsys):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO_WITHOUT_BF16)
    monkeypatch.setattr(reduced_precision, "CPUINFO", cpuinfo)
    assert _export(tmp_path, "--precision", "bf16") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("creativelens export: error: BF16 not written: this CPU has no native BF16")
    assert not (tmp_path / "repo").exists()  # refused before any export work


def test_export_cli_accepts_bf16_on_a_simulated_cpu_with_bf16(tmp_path, monkeypatch):
    from creativelens.cli import build_parser
    from creativelens.export.cli import check_precision_flags

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO_WITH_BF16)
    monkeypatch.setattr(reduced_precision, "CPUINFO", cpuinfo)
    args = build_parser().parse_args(["export", "--model", "m", "--out", "o", "--precision", "bf16"])
    assert check_precision_flags(args) == ("bf16",)


@pytest.mark.parametrize("flags, message", [
    (["--precision", "int8"], "--precision int8 needs --calibration-images DIR"),
    (["--calibration-images", "."], "need --precision bf16 or int8"),
    (["--precision", "int8", "--calibration-images", "/nonexistent"], "--calibration-images /nonexistent: not a folder"),
    (["--precision", "int8", "--calibration-images", ".", "--gate-images", "."], "needs both --gate-coco-json"),
])
def test_export_cli_precision_misuse_is_one_line_and_exit_2(tmp_path, capsys, flags, message):
    assert _export(tmp_path, *flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_int8_refused_up_front_without_nncf(monkeypatch):
    import builtins

    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "nncf" else real_import(name, *a, **k))
    assert reduced_precision.refusal("int8") == f"int8 not written: OpenVINO NNCF is not installed (pip install {reduced_precision.NNCF_PIN})"


def test_reduced_precision_config_is_cpu_config_that_says_reduced_precision():
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    from creativelens.canvas import CPU_CANVASES
    from creativelens.export import triton_config
    from creativelens.model_metadata import ModelMetadata

    metadata = ModelMetadata(("logo",), CPU_CANVASES, weights="w.pth", weights_sha256="ab" * 32)
    texts = triton_config.render_model_configs("m", CPU_CANVASES, max_batch_size=8, parameters=metadata.to_parameters())
    cpu = text_format.Parse(texts[triton_config.CPU_CONFIG], mc.ModelConfig())
    text = triton_config.render_reduced_precision_config(
        texts[triton_config.CPU_CONFIG], "int8", ModelMetadata(**{**metadata.__dict__, "precision": "int8"}).to_parameters(),
        "REDUCED PRECISION INT8 (test): numbers")
    assert text.startswith("# CPU, python backend + OpenVINO INT8: REDUCED PRECISION")
    int8 = text_format.Parse(text, mc.ModelConfig())
    parameters = {k: v.string_value for k, v in int8.parameters.items()}
    assert parameters["precision"] == "int8" and parameters["reduced_precision"].startswith("REDUCED PRECISION")
    assert parameters["openvino_model_file"] == "model_int8.xml" and parameters["openvino_batch_one"] == "true"
    version = ModelMetadata.from_parameters(parameters).version  # weights, then a hash that covers the precision
    assert version.startswith("abababababab-") and version.endswith("-int8") and version != metadata.version
    assert int8.default_model_filename == "openvino_model.py" == cpu.default_model_filename
    assert (int8.input, int8.output, int8.instance_group, int8.max_batch_size) == \
        (cpu.input, cpu.output, cpu.instance_group, cpu.max_batch_size)


def test_gate_statement_and_summary_say_reduced_precision():
    fp32 = _fp32()
    result = reduced_precision.gate("int8", fp32, fp32, 0.05, 100, fp32_ap=40.0, candidate_ap=39.8)
    result.how = "test"
    assert result.statement.startswith("REDUCED PRECISION INT8 (test)") and "AP 39.80 vs FP32 40.00" in result.statement
    assert "PASS (reduced precision" in result.summary()
    assert result.to_json()["note"].startswith("REDUCED PRECISION")
