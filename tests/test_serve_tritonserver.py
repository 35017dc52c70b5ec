"""The tritonserver launcher and `creativelens serve`, against the real binary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from creativelens.serve.tritonserver import SHM_DIR, ServerStartError, TritonServer
from serving_fixtures import GEOMETRY_MODEL, write_geometry_repository


def infer_once(url: str) -> np.ndarray:
    client = grpcclient.InferenceServerClient(url)
    images = grpcclient.InferInput("images", [1, 320, 320, 3], "UINT8")
    images.set_data_from_numpy(np.zeros((1, 320, 320, 3), np.uint8))
    sizes = grpcclient.InferInput("image_sizes", [1, 2], "INT32")
    sizes.set_data_from_numpy(np.array([[200, 320]], np.int32))
    try:
        return client.infer(GEOMETRY_MODEL, [images, sizes]).as_numpy("boxes")
    finally:
        client.close()


def test_serves_on_loopback_and_counts_batches(geometry_server):
    assert geometry_server.grpc_url.startswith("127.0.0.1:")
    assert geometry_server.http_url.startswith("127.0.0.1:")
    assert geometry_server.metrics_url.startswith("http://127.0.0.1:")
    before = geometry_server.model_statistics()[GEOMETRY_MODEL]
    boxes = infer_once(geometry_server.grpc_url)
    np.testing.assert_allclose(boxes[0, 0], [0, 0, 320, 200])
    after = geometry_server.model_statistics(GEOMETRY_MODEL)[GEOMETRY_MODEL]
    assert after.inference_count == before.inference_count + 1
    assert after.execution_count == before.execution_count + 1
    assert after.average_batch_size >= 1.0


def test_stop_leaves_no_process_and_no_shared_memory(geometry_repository):
    server = TritonServer(geometry_repository).start()
    pid = server.pid
    infer_once(server.grpc_url)
    assert list(SHM_DIR.glob(f"{server.shm_prefix}*")), "the python backend uses shared memory"
    assert server.stop() == 0  # SIGTERM was enough
    assert not server.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not list(SHM_DIR.glob(f"{server.shm_prefix}*"))


def test_a_model_that_fails_to_load_is_named_with_its_reason(tmp_path):
    repository = write_geometry_repository(tmp_path, broken_model="broken_detector")
    server = TritonServer(repository, ready_timeout_s=60)
    with pytest.raises(ServerStartError, match=r"broken_detector.*broken on purpose"):
        server.start()
    assert not server.is_running()
    assert not list(SHM_DIR.glob(f"{server.shm_prefix}*"))


def test_a_model_still_loading_at_the_timeout_is_named(tmp_path):
    repository = write_geometry_repository(tmp_path, load_delay_s=120)
    server = TritonServer(repository, ready_timeout_s=5)
    with pytest.raises(ServerStartError, match=rf"not ready after 5 s: {GEOMETRY_MODEL} \(LOADING\)"):
        server.start()
    assert not server.is_running()


def test_serve_command_prints_endpoints_and_stops_on_sigterm(geometry_repository):
    command = [sys.executable, "-m", "creativelens.cli", "serve",
               "--model-repository", str(geometry_repository)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        text = "".join(lines)
        assert f"ready: {GEOMETRY_MODEL}" in text
        grpc_url = next(l.split()[1] for l in lines if l.strip().startswith("gRPC"))
        assert grpc_url.startswith("127.0.0.1:")
        infer_once(grpc_url)
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, text + rest
    assert "stopped (exit code 0)" in rest


def test_serve_command_reports_a_missing_repository(tmp_path):
    result = subprocess.run([sys.executable, "-m", "creativelens.cli", "serve", "--model-repository",
                             str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "is not a folder" in result.stderr


def test_gpu_configs_on_a_host_without_gpu_backends_fail_with_a_hint(tmp_path):
    repository = write_geometry_repository(tmp_path)
    config = (repository / GEOMETRY_MODEL / "configs" / "cpu.pbtxt").read_text()
    gpu_config = config.replace('backend: "python"', 'backend: "onnxruntime"')
    (repository / GEOMETRY_MODEL / "config.pbtxt").write_text(gpu_config)
    result = subprocess.run([sys.executable, "-m", "creativelens.cli", "serve", "--gpu",
                             "--model-repository", str(repository), "--ready-timeout", "60"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert f"model failed to load: {GEOMETRY_MODEL}" in result.stderr
    assert "hint: the tritonserver of the nvidia-pytriton wheel has only the python backend" in result.stderr
