"""Start and stop the real `tritonserver` binary that ships inside the `nvidia-pytriton` wheel.

    with TritonServer("build/repo") as server:          # CPU configs (configs/cpu.pbtxt)
        print(server.grpc_url)                           # 127.0.0.1:PORT
        ...
        server.model_statistics()                        # {"model": ModelStatistics(...)}

The wheel carries the binary, the python backend and the python-backend stubs, but not laid out
as `--backend-directory` expects, so the launcher builds that directory in a temporary folder.
It binds every endpoint to loopback on free (or given) ports, waits until every model of the
repository is READY (naming the model that failed and its reason, instead of Triton's silent
hang when a python stub cannot start), stops with SIGTERM (SIGKILL after a grace period) and
removes the python backend's shared-memory regions it created.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from creativelens.client.triton_statistics import ModelStatistics, read_model_statistics
from creativelens.errors import UserError
from creativelens.serve.served_repository import assemble
from creativelens.tls import TlsOptions, triton_client_kwargs, triton_server_args

SHM_DIR = Path("/dev/shm")
SHM_REGION_PREFIX = "triton_python_backend_shm_region_"
LOOPBACK = "127.0.0.1"


class ServerStartError(RuntimeError):
    """tritonserver exited, or a model did not become ready in time (the message says which)."""


def pytriton_root() -> Path:
    """The `tritonserver` folder inside the installed nvidia-pytriton wheel."""
    try:
        import pytriton
    except ImportError:
        raise UserError("nvidia-pytriton is not installed: run `make setup`") from None
    root = Path(pytriton.__file__).parent / "tritonserver"
    if not (root / "bin" / "tritonserver").is_file():
        raise UserError(f"{root}/bin/tritonserver is missing: reinstall nvidia-pytriton")
    return root


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def check_port_free(address: str, port: int, what: str) -> None:
    """UserError (one line, naming the port) when `address:port` is already taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as error:
            raise UserError(f"{what} port {port} on {address} is in use ({error.strerror or error}): "
                            f"stop what holds it or pass --{what.lower()}-port") from None


def _build_backend_directory(root: Path, destination: Path) -> Path:
    """`<destination>/python/` with the backend library, its utils and this Python's stub."""
    python_dir = destination / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        raise UserError(f"nvidia-pytriton has no python-backend stub for Python {version}")
    for source in (root / "backends/python/libtriton_python.so",
                   root / "backends/python/triton_python_backend_utils.py", stub):
        (python_dir / source.name).symlink_to(source)
    return destination


def _server_environment(root: Path) -> dict[str, str]:
    """PATH and LD_LIBRARY_PATH so that the stub runs this interpreter's environment.

    The stub starts `python3` from PATH (the venv's, with numpy<2 and onnxruntime) and links
    libpython: the wheel's bundled libraries and this interpreter's own LIBDIR must come first,
    or a system libpython of another patch level loads beside this stdlib.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    libraries = [str(root.parent.parent / "nvidia_pytriton.libs"), sysconfig.get_config_var("LIBDIR")]
    if env.get("LD_LIBRARY_PATH"):
        libraries.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(libraries)
    return env


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the launching process dies (even by SIGKILL)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class TritonServer:
    """One tritonserver process over `repository`, on loopback.

    `config_name="cpu"` loads each model's `configs/cpu.pbtxt` (python backend → ONNX Runtime);
    `config_name=None` loads `config.pbtxt` (native GPU backends, for hosts whose tritonserver
    has them). `served_configs` (model -> config name) serves those models from their
    `configs/<name>.pbtxt` instead (through a repository of links, see served_repository.py):
    `{"acme": "cpu_bf16"}` serves acme at BF16 beside the others' cpu.pbtxt. Ports default to
    free ones (the `creativelens serve` command passes Triton's conventional 8000/8001/8002 instead); `address` is where the endpoints listen (loopback by
    default); `tls` turns on Triton's own gRPC SSL. `log_path` keeps the server's output (default: a
    temporary file, removed by `stop`); its last lines are quoted in start errors.
    """

    def __init__(
        self,
        repository: str | Path,
        config_name: str | None = "cpu",
        *,
        grpc_port: int | None = None,
        http_port: int | None = None,
        metrics_port: int | None = None,
        ready_timeout_s: float = 180.0,
        stop_timeout_s: float = 15.0,
        log_path: str | Path | None = None,
        extra_args: tuple[str, ...] = (),
        address: str = LOOPBACK,
        tls: TlsOptions | None = None,
        client_tls: TlsOptions | None = None,
        served_configs: Mapping[str, str] | None = None,
    ) -> None:
        self.repository = Path(repository).absolute()
        self.config_name = config_name
        self.served_configs = dict(served_configs or {})
        self.served_repository = self.repository  # the links' repository while served_configs are served
        self.grpc_port = grpc_port or free_port()
        self.http_port = http_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.extra_args = tuple(extra_args)
        self.address = address
        self.tls = tls
        # the launcher's own client (readiness, statistics): by default it trusts the served
        # certificate itself (right for a self-signed one); a CA-signed or mutual setup passes its own
        self.client_tls = client_tls or (TlsOptions(ca=tls.ca or tls.cert, cert=tls.cert if tls.ca else None,
                                                    key=tls.key if tls.ca else None) if tls else None)
        self._given_ports = {"HTTP": http_port, "gRPC": grpc_port, "metrics": metrics_port}
        self._requested_log_path = Path(log_path) if log_path else None
        self.log_path: Path | None = None
        self._process: subprocess.Popen | None = None
        self._workdir: Path | None = None
        self._shm_prefix = f"{SHM_REGION_PREFIX}creativelens_{uuid.uuid4().hex[:12]}_"

    @property
    def _client_host(self) -> str:
        return LOOPBACK if self.address in ("0.0.0.0", "") else self.address

    @property
    def grpc_url(self) -> str:
        return f"{self._client_host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"{self._client_host}:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self._client_host}:{self.metrics_port}/metrics"

    def client_kwargs(self) -> dict:
        """Keywords for tritonclient.grpc.InferenceServerClient(self.grpc_url, **...)."""
        return triton_client_kwargs(self.client_tls)

    @property
    def shm_prefix(self) -> str:
        """This server's python-backend shared-memory regions: /dev/shm/<shm_prefix>*."""
        return self._shm_prefix

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self, backend_directory: Path) -> list[str]:
        root = pytriton_root()
        args = [
            str(root / "bin" / "tritonserver"),
            f"--model-repository={self.served_repository}",
            f"--backend-directory={backend_directory}",
            f"--cache-directory={root / 'caches'}",
            f"--http-address={self.address}", f"--http-port={self.http_port}",
            f"--grpc-address={self.address}", f"--grpc-port={self.grpc_port}",
            f"--metrics-address={self.address}", f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            "--pinned-memory-pool-byte-size=0",
            # Keep serving when a model fails: the launcher reads the failure reason from the
            # repository index and stops the server itself.
            "--exit-on-error=false",
            "--strict-readiness=true",
            f"--backend-config=python,shm-region-prefix-name={self._shm_prefix}",
        ]
        if self.config_name:
            args.append(f"--model-config-name={self.config_name}")
        return args + triton_server_args(self.tls) + list(self.extra_args)

    def start(self) -> "TritonServer":
        if not self.repository.is_dir():
            raise UserError(f"model repository {self.repository} is not a folder")
        if self.is_running():
            return self
        for what, port in self._given_ports.items():
            if port:
                check_port_free(self.address, port, what)
        root = pytriton_root()
        self._workdir = Path(tempfile.mkdtemp(prefix="creativelens-triton-"))
        backend_directory = _build_backend_directory(root, self._workdir / "backends")
        if self.served_configs:
            try:
                self.served_repository = assemble(self.repository, self._workdir / "repository", self.config_name,
                                                  self.served_configs)
            except BaseException:
                self.stop()
                raise
        self.log_path = self._requested_log_path or self._workdir / "tritonserver.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.command(backend_directory), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=_server_environment(root),
                start_new_session=True,  # Ctrl-C reaches the launcher, which stops the server
                preexec_fn=_die_with_parent,
            )
        try:
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until_ready(self) -> None:
        """Until every model in the repository is READY; ServerStartError names the laggard."""
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        deadline = time.monotonic() + self.ready_timeout_s
        client = grpcclient.InferenceServerClient(self.grpc_url, **self.client_kwargs())
        models: list[dict] = []
        try:
            while True:
                if not self.is_running():
                    raise ServerStartError(
                        f"tritonserver exited with code {self._process.returncode} while starting"
                        f"{self._log_excerpt()}"
                    )
                try:
                    models = client.get_model_repository_index(as_json=True).get("models", [])
                except InferenceServerException:
                    models = []  # not listening yet
                failed = [m for m in models if m.get("state") == "UNAVAILABLE"]
                if failed:
                    reasons = "; ".join(f"{m['name']}: {m.get('reason') or 'no reason given'}"
                                        for m in failed)
                    raise ServerStartError(f"model failed to load: {reasons}{self._log_excerpt()}")
                if models and all(m.get("state") == "READY" for m in models):
                    return
                if time.monotonic() > deadline:
                    # Triton opens its endpoints only after the first load: until then, the log.
                    pending = [f"{m['name']} ({m.get('state') or 'not loaded'})"
                               for m in models if m.get("state") != "READY"]
                    pending = pending or [f"{name} (LOADING)" for name in self._models_loading_per_log()]
                    raise ServerStartError(
                        f"not ready after {self.ready_timeout_s:.0f} s: "
                        f"{', '.join(pending) or 'server not answering on ' + self.grpc_url}"
                        f"{self._log_excerpt()}"
                    )
                time.sleep(0.25)
        finally:
            client.close()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL to the whole process group after `stop_timeout_s`; cleans up."""
        process, self._process = self._process, None
        code = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(process.pid, signal.SIGKILL)  # stubs left behind, if any
            except ProcessLookupError:
                pass
            code = process.wait()
        self.remove_shared_memory()
        if self._workdir is not None:  # the links, and the log unless log_path was given
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
            self.served_repository = self.repository
        return code

    def remove_shared_memory(self) -> list[Path]:
        """Delete the python backend's /dev/shm regions of this server (and only this one)."""
        regions = list(SHM_DIR.glob(f"{self._shm_prefix}*")) if SHM_DIR.is_dir() else []
        for region in regions:
            region.unlink(missing_ok=True)
        return regions

    def model_statistics(self, model: str = "") -> dict[str, ModelStatistics]:
        """Triton's inference/execution counts per model (all models when `model` is empty)."""
        import tritonclient.grpc as grpcclient

        client = grpcclient.InferenceServerClient(self.grpc_url, **self.client_kwargs())
        try:
            return read_model_statistics(client, model)
        finally:
            client.close()

    def _models_loading_per_log(self) -> list[str]:
        """Models whose load started but neither finished nor failed, per the server log."""
        if self.log_path is None or not self.log_path.is_file():
            return []
        loading: dict[str, None] = {}
        for line in self.log_path.read_text(errors="replace").splitlines():
            if match := re.search(r'"loading: ([^:"]+):', line):
                loading[match[1]] = None
            elif match := re.search(r"(?:successfully loaded|failed to load) '([^']+)'", line):
                loading.pop(match[1], None)
        return list(loading)

    def _log_excerpt(self, lines: int = 25) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return ""
        tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"\n--- last lines of {self.log_path} ---\n" + "\n".join(tail)

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
