"""`creativelens serve` serves a model's gated configs/cpu_bf16.pbtxt by default where the CPU has
native BF16, says so per model, and serves configs/cpu.pbtxt otherwise or when told (--fp32,
--config-name, --gpu).

The BF16 gate itself is constructed here (numbers written into parity.json and the config, as the
exporter writes them when its gate passes): these tests judge which config is served, not BF16's
accuracy (tests/test_export_reduced_precision*.py and test_reduced_precision_thresholds.py do)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import TEST_MODEL
from creativelens.errors import UserError
from creativelens.export import reduced_precision, triton_config
from creativelens.model_metadata import read_model_metadata
from creativelens.serve import bf16_default
from creativelens.serve.cli import served_configs

CPUINFO_WITH_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"
CPUINFO_WITHOUT_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n"
CLI = [sys.executable, "-m", "creativelens.cli"]
PLAIN = "plain_fp32"  # a second model without a BF16 config, served beside the gated one


def _passing_gate() -> reduced_precision.ReducedPrecisionGate:
    return reduced_precision.ReducedPrecisionGate(
        "bf16", matched=97, fp32_detections=100, candidate_detections=99, fp32_ap=40.0, candidate_ap=39.89,
        how="OpenVINO, INFERENCE_PRECISION_HINT=bf16", judged_at="the client's default threshold 0.85")


def _record_gate(model_dir, gate) -> None:
    """Into parity.json as the exporter records it (a fresh file: the copy's files are hard links)."""
    path = model_dir / "parity.json"
    report = json.loads(path.read_text()) if path.is_file() else {}
    report["reduced_precision"] = [gate.to_json()]
    path.unlink(missing_ok=True)
    path.write_text(json.dumps(report))


def _renamed_copy(source, destination) -> None:
    """The exported model under another name (Triton wants a config's name to be its folder's)."""
    shutil.copytree(source, destination, copy_function=os.link)
    for config in [destination / triton_config.TENSORRT_CONFIG, *(destination / "configs").glob("*.pbtxt")]:
        text = config.read_text().replace(f'name: "{TEST_MODEL}"', f'name: "{destination.name}"')
        config.unlink()
        config.write_text(text)


@pytest.fixture(scope="module")
def repository(exported_repository, tmp_path_factory):
    """The real R50 export twice: TEST_MODEL with a passing BF16 gate and its cpu_bf16.pbtxt, PLAIN without."""
    repository = tmp_path_factory.mktemp("bf16-default") / "repo"
    gated = repository / TEST_MODEL
    shutil.copytree(exported_repository / TEST_MODEL, gated, copy_function=os.link)
    gate = _passing_gate()
    triton_config.write_reduced_precision_config(gated, "bf16", read_model_metadata(gated, triton_config.CPU_CONFIG),
                                                 gate.statement)
    _record_gate(gated, gate)
    _renamed_copy(exported_repository / TEST_MODEL, repository / PLAIN)
    return repository


def _fake_model(folder, *, bf16_config=True, gate=None):
    folder.mkdir(parents=True)
    if bf16_config:
        (folder / "configs").mkdir()
        (folder / triton_config.REDUCED_PRECISION_CONFIGS["bf16"]).write_text("# written when the gate passed\n")
    if gate is not None:
        _record_gate(folder, gate)
    return folder


def test_bf16_is_chosen_only_with_a_bf16_cpu_a_bf16_config_and_a_passing_gate(tmp_path):
    failed = _passing_gate()
    failed.matched = 50
    _fake_model(tmp_path / "acme", gate=_passing_gate())
    _fake_model(tmp_path / "no_config", bf16_config=False)
    _fake_model(tmp_path / "no_gate")
    _fake_model(tmp_path / "stale", gate=failed)
    chosen = {c.model: c for c in bf16_default.default_cpu_configs(tmp_path, CPUINFO_WITH_BF16)}
    assert {m: c.config_name for m, c in chosen.items()} == {
        "acme": "cpu_bf16", "no_config": "cpu", "no_gate": "cpu", "stale": "cpu"}
    assert chosen["acme"].line == (
        "acme: serving REDUCED PRECISION BF16 from configs/cpu_bf16.pbtxt (gate passed: 97.0 % of FP32's "
        "detections found, 98.0 % of its own are FP32's at the client's default threshold 0.85; AP drop 0.11 "
        "points; --fp32 serves configs/cpu.pbtxt)")
    assert chosen["no_config"].line == "no_config: serving FP32 (configs/cpu.pbtxt)"
    assert chosen["no_gate"].line.endswith("not served: parity.json records no passing BF16 gate")
    assert "not served: its gate failed: bf16 not written: it finds 50.0%" in chosen["stale"].line

    without = bf16_default.default_cpu_configs(tmp_path, CPUINFO_WITHOUT_BF16)
    assert [c.config_name for c in without] == ["cpu"] * 4
    assert without[0].line == ("acme: serving FP32 (configs/cpu.pbtxt); configs/cpu_bf16.pbtxt not served: this CPU "
                               "has no native BF16 (avx512_bf16 or amx_bf16), where BF16 is emulated and slower")
    opted_out = bf16_default.default_cpu_configs(tmp_path, CPUINFO_WITH_BF16, fp32=True)
    assert [c.config_name for c in opted_out] == ["cpu"] * 4 and opted_out[0].line.endswith("not served: --fp32 given")


def test_the_repository_of_links_swaps_one_config_of_one_model(tmp_path):
    from creativelens.serve.served_repository import assemble

    for model in ("acme", "faces"):
        (tmp_path / "repo" / model / "1").mkdir(parents=True)
        (tmp_path / "repo" / model / "configs").mkdir()
        for name in ("cpu", "cpu_bf16"):
            (tmp_path / "repo" / model / "configs" / f"{name}.pbtxt").write_text(f"{model} {name}")
    served = assemble(tmp_path / "repo", tmp_path / "served", "cpu", {"acme": "cpu_bf16"})
    assert (served / "acme" / "configs" / "cpu.pbtxt").read_text() == "acme cpu_bf16"
    assert (served / "acme" / "configs" / "cpu_bf16.pbtxt").read_text() == "acme cpu_bf16"
    assert (served / "acme" / "1").resolve() == (tmp_path / "repo" / "acme" / "1")
    assert (served / "faces" / "configs" / "cpu.pbtxt").read_text() == "faces cpu"
    assert (tmp_path / "repo" / "acme" / "configs" / "cpu.pbtxt").read_text() == "acme cpu"  # untouched
    with pytest.raises(UserError, match="no model folder nobody"):
        assemble(tmp_path / "repo", tmp_path / "again", "cpu", {"nobody": "cpu_bf16"})


def _args(*flags, repository="."):
    from creativelens.cli import build_parser

    return build_parser().parse_args(["serve", "--model-repository", str(repository), *flags])


def test_an_explicit_config_or_the_opt_out_serves_what_it_names(tmp_path):
    _fake_model(tmp_path / "acme", gate=_passing_gate())
    config_name, choices = served_configs(_args(repository=tmp_path), CPUINFO_WITH_BF16)
    assert config_name == "cpu" and [(c.model, c.config_name) for c in choices] == [("acme", "cpu_bf16")]
    for flags, expected in ((["--config-name", "cpu"], "cpu"), (["--config-name", "cpu_int8"], "cpu_int8"),
                            (["--gpu"], None)):
        assert served_configs(_args(*flags, repository=tmp_path), CPUINFO_WITH_BF16) == (expected, [])
    config_name, choices = served_configs(_args("--fp32", repository=tmp_path), CPUINFO_WITH_BF16)
    assert config_name == "cpu" and [c.config_name for c in choices] == ["cpu"]
    from creativelens.serve.cli import run_serve

    with pytest.raises(UserError, match="--fp32 serves configs/cpu.pbtxt; it does not go with --config-name"):
        run_serve(_args("--fp32", "--config-name", "cpu"))


def _serve(repository, *flags):
    """`creativelens serve` on free ports until it is ready: (the process, its output so far, the gRPC url)."""
    from creativelens.serve.tritonserver import free_port

    grpc_port = free_port()
    launcher = subprocess.Popen(
        [*CLI, "serve", "--model-repository", str(repository), "--grpc-port", str(grpc_port),
         "--http-port", str(free_port()), "--metrics-port", str(free_port()), "--ready-timeout", "120",
         "--log-file", str(repository.parent / f"tritonserver-{grpc_port}.log"), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in launcher.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C") or launcher.poll() is not None:
            break
    return launcher, "".join(lines), f"127.0.0.1:{grpc_port}"


def _stop(launcher) -> None:
    launcher.send_signal(signal.SIGTERM)
    try:
        launcher.wait(30)
    except subprocess.TimeoutExpired:
        launcher.kill()
        launcher.wait()


def _detect(url: str, model: str) -> np.ndarray:
    import tritonclient.grpc as grpcclient

    from creativelens.canvas import Canvas
    from creativelens.export.repository import sample_batch
    from creativelens.sample_media import sample_stills

    images, sizes = sample_batch(sample_stills()[:1], Canvas(320, 320))
    inputs = [grpcclient.InferInput("images", list(images.shape), "UINT8"),
              grpcclient.InferInput("image_sizes", list(sizes.shape), "INT32")]
    inputs[0].set_data_from_numpy(images)
    inputs[1].set_data_from_numpy(sizes)
    client = grpcclient.InferenceServerClient(url)
    try:
        return client.infer(model, inputs, client_timeout=60).as_numpy("num_detections")
    finally:
        client.close()


def test_serve_answers_with_the_bf16_version_by_default_beside_an_fp32_model(repository):
    from creativelens.client.served_models import fetch_served_models

    bf16_here = reduced_precision.bf16_refusal() is None  # this machine's own /proc/cpuinfo
    launcher, output, url = _serve(repository)
    try:
        assert output.rstrip().endswith("Ctrl-C to stop"), output
        served = {model.name: model for model in fetch_served_models(url)}
        assert served[PLAIN].metadata.precision == "fp32" and not served[PLAIN].version.endswith("-bf16")
        assert f"{PLAIN}: serving FP32 (configs/cpu.pbtxt)\n" in output
        gated = served[TEST_MODEL]
        if bf16_here:
            assert f"{TEST_MODEL}: serving REDUCED PRECISION BF16 from configs/cpu_bf16.pbtxt (gate passed: " in output
            assert gated.metadata.precision == "bf16" and gated.version.endswith("-bf16")
            fp32_version = read_model_metadata(repository / TEST_MODEL, triton_config.CPU_CONFIG).version
            assert gated.version.split("-")[0] == fp32_version.split("-")[0] and gated.version != fp32_version
        else:
            assert "configs/cpu_bf16.pbtxt not served: this CPU has no native BF16" in output
            assert gated.metadata.precision == "fp32"
        assert int(_detect(url, TEST_MODEL).reshape(-1)[0]) > 0  # the chosen config runs (random weights detect plenty)
        print(output)
    finally:
        _stop(launcher)
    assert (repository / TEST_MODEL / "configs" / "cpu.pbtxt").is_file()  # the repository itself is untouched


def test_fp32_opt_out_serves_configs_cpu(repository):
    from creativelens.client.served_models import fetch_served_models

    launcher, output, url = _serve(repository, "--fp32")
    try:
        assert output.rstrip().endswith("Ctrl-C to stop"), output
        assert f"{TEST_MODEL}: serving FP32 (configs/cpu.pbtxt); configs/cpu_bf16.pbtxt not served: --fp32 given" in output
        assert {m.name: m.metadata.precision for m in fetch_served_models(url)} == {TEST_MODEL: "fp32", PLAIN: "fp32"}
    finally:
        _stop(launcher)
