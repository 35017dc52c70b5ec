"""`creativelens serve`: Triton's conventional ports by default (issue 10), a port in use in one
line, the log kept when the launcher is killed (15.8), and Triton's own gRPC TLS (15.9)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from creativelens.serve.tritonserver import TritonServer, free_port
from creativelens.tls import TlsOptions, triton_client_kwargs
from serving_fixtures import GEOMETRY_MODEL
from tls_fixtures import self_signed_certificate

CLI = [sys.executable, "-m", "creativelens.cli"]


def _taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _infer(url: str, **kwargs) -> np.ndarray:
    client = grpcclient.InferenceServerClient(url, **kwargs)
    images = grpcclient.InferInput("images", [1, 320, 320, 3], "UINT8")
    images.set_data_from_numpy(np.zeros((1, 320, 320, 3), np.uint8))
    sizes = grpcclient.InferInput("image_sizes", [1, 2], "INT32")
    sizes.set_data_from_numpy(np.array([[200, 320]], np.int32))
    try:
        return client.infer(GEOMETRY_MODEL, [images, sizes], client_timeout=30).as_numpy("boxes")
    finally:
        client.close()


def test_serve_defaults_to_triton_ports_and_keeps_its_log_when_killed(geometry_repository):
    taken = [port for port in (8000, 8001, 8002) if _taken(port)]
    if taken:
        pytest.skip(f"ports {taken} are taken on this machine: cannot test serve's default ports")
    launcher = subprocess.Popen([*CLI, "serve", "--model-repository", str(geometry_repository),
                                 "--ready-timeout", "120"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    lines = []
    try:
        for line in launcher.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        output = "".join(lines)
        assert "gRPC     127.0.0.1:8001" in output and "http://127.0.0.1:8000" in output, output
        assert "127.0.0.1:8002/metrics" in output
        log = Path(next(l.split()[-1] for l in lines if l.strip().startswith("log ")))
        np.testing.assert_allclose(_infer("127.0.0.1:8001")[0, 0], [0, 0, 320, 200])
        launcher.kill()
        launcher.wait(10)
        deadline = time.monotonic() + 20
        while not all(not _taken(p) for p in (8000, 8001, 8002)) and time.monotonic() < deadline:
            time.sleep(0.2)  # the server dies with its launcher (PDEATHSIG)
        assert log.is_file() and "Started GRPCInferenceService" in log.read_text(errors="replace")
        log.unlink()
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()


def test_a_port_in_use_is_one_line_naming_it(geometry_repository):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run([*CLI, "serve", "--model-repository", str(geometry_repository),
                               "--grpc-port", str(port), "--http-port", str(free_port()),
                               "--metrics-port", str(free_port())], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip()
    assert "\n" not in message and f"gRPC port {port}" in message and "in use" in message, message


def test_exposed_without_tls_warns_loudly():
    done = subprocess.run([*CLI, "serve", "--model-repository", "/nonexistent", "--address", "0.0.0.0"],
                          capture_output=True, text=True, timeout=60)
    assert "WARNING" in done.stderr and "WITHOUT TLS" in done.stderr


def test_triton_tls_round_trip(geometry_repository, tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    with TritonServer(geometry_repository, tls=TlsOptions(cert=cert, key=key), ready_timeout_s=120) as server:
        boxes = _infer(server.grpc_url, **triton_client_kwargs(TlsOptions(ca=cert)))
        np.testing.assert_allclose(boxes[0, 0], [0, 0, 320, 200])
        with pytest.raises(InferenceServerException):
            _infer(server.grpc_url)  # plaintext is refused
