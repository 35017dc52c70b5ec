"""docker-compose.yml: valid compose, and every path, image, command and port agrees with the code.

There is no Docker engine here. Debian's docker-compose 1.29 validates the file against the
compose specification and resolves it with the values of .env.example; the tests then check the
resolved services against the repository, the `creativelens` command line, the Triton configs,
and run the OCR service's own command and health probe for real (outside a container, with only
the packages its image installs importable).
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from concurrent import futures
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from creativelens.export import triton_config

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
OCR_DOCKERFILE = ROOT / "ocr_service" / "Dockerfile"
TRITON_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}
GPU_SERVICES = ("triton", "export")


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def resolved_compose(env_file: Path | str) -> dict:
    """The compose file as docker-compose validates and resolves it with `env_file`."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (scripts/setup.sh installs Debian's)")
    result = subprocess.run(
        [binary, "--env-file", str(env_file), "--file", str(COMPOSE_FILE), "config"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},  # no stray MODEL=... from the caller's shell
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"docker-compose rejects {COMPOSE_FILE.name}:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def compose() -> dict:
    return resolved_compose(ENV_EXAMPLE)


def test_env_example_states_the_defaults_the_compose_file_falls_back_to(compose, tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    assert resolved_compose(empty) == compose


def command(service: dict) -> list[str]:
    value = service["command"]
    return shlex.split(value) if isinstance(value, str) else list(value)


def flag_value(arguments: list[str], flag: str) -> str:
    for index, argument in enumerate(arguments):
        if argument == flag:
            return arguments[index + 1]
        if argument.startswith(flag + "="):
            return argument.split("=", 1)[1]
    raise AssertionError(f"{flag} missing from {arguments}")


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def published_container_ports(service: dict) -> set[int]:
    ports = set()
    for entry in service.get("ports", []):
        text = entry if isinstance(entry, str) else str(entry.get("target"))
        ports.add(int(text.split("/")[0].rsplit(":", 1)[-1]))
    return ports


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_services_are_the_ones_ops_run(compose):
    assert set(compose["services"]) == {"triton", "ocr", "client", "export"}
    assert compose["services"]["export"]["profiles"] == ["export"]  # runs only when asked for


def test_every_variable_is_documented_in_env_example():
    used = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()))
    assert used == set(env_example()), "docker-compose.yml and .env.example disagree on variables"


def test_build_contexts_and_dockerfiles_exist(compose):
    built = {name: service["build"] for name, service in compose["services"].items() if "build" in service}
    assert set(built) == {"ocr", "client", "export"}
    for name, build in built.items():
        context = Path(build["context"])
        assert context.resolve() == ROOT, f"{name} must build from the repository root"
        assert (context / build["dockerfile"]).is_file(), f"{name}: {build['dockerfile']} is missing"


def test_root_image_is_installed_by_the_setup_script():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    assert "bash scripts/setup.sh" in dockerfile
    assert (ROOT / "scripts" / "setup.sh").is_file()
    requires_python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert ">=3.11" in requires_python


def test_build_context_leaves_out_the_host_environment_and_model_files():
    ignored = (ROOT / ".dockerignore").read_text().split()
    # a copied .venv would make setup.sh skip the install and leave host paths in the image
    assert ".venv" in ignored
    assert {"model_repository/*/[0-9]*/model.onnx", "model_repository/*/[0-9]*/model.pt"} <= set(ignored)


def test_ocr_image_has_tesseract_and_its_models():
    dockerfile = OCR_DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    for package in ("tesseract-ocr", "tesseract-ocr-eng", "tesseract-ocr-osd"):
        assert re.search(rf"\s{re.escape(package)}(\s|$)", dockerfile), package
    assert "creativelens.ocr_service.build_protos" in dockerfile  # the gRPC code is generated


def test_bind_mounts_are_repository_paths_or_documented_variables(compose):
    documented = {value for value in env_example().values() if value.startswith("./")}
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("/"):
                assert source in compose.get("volumes", {}), f"{name}: undeclared volume {source}"
                continue
            relative = Path(source).relative_to(ROOT).as_posix()
            assert (ROOT / relative).exists() or f"./{relative}" in documented, (
                f"{name} mounts {relative}, which is neither in the repository nor in .env.example"
            )


def test_triton_serves_the_repository_read_only_with_the_gpu_configs(compose):
    triton = compose["services"]["triton"]
    assert re.fullmatch(r"nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3", triton["image"])
    arguments = command(triton)
    assert arguments[0] == "tritonserver"
    assert flag_value(arguments, "--model-control-mode") == "none"
    repository = flag_value(arguments, "--model-repository")
    assert f"{ROOT / 'model_repository'}:{repository}:ro" in triton["volumes"]
    cache_mounts = [v for v in triton["volumes"] if v.split(":")[1] == triton_config.TRT_CACHE_DIR]
    assert cache_mounts and cache_mounts[0].split(":")[0] in compose["volumes"]
    # The default config name has no configs/<name>.pbtxt, so every model falls back to
    # config.pbtxt (TensorRT); the other names documented in .env.example all exist.
    example = ROOT / "model_repository" / "faster_rcnn_R_50_FPN_1x"
    default_name = flag_value(arguments, "--model-config-name")
    assert not (example / "configs" / f"{default_name}.pbtxt").exists()
    assert (example / triton_config.TENSORRT_CONFIG).is_file()
    for name in ("cuda", "libtorch", "cpu"):
        assert (example / "configs" / f"{name}.pbtxt").is_file()
        assert name in ENV_EXAMPLE.read_text()


def test_triton_publishes_its_ports_and_checks_readiness(compose):
    triton = compose["services"]["triton"]
    assert published_container_ports(triton) == set(TRITON_PORTS.values())
    probe = " ".join(triton["healthcheck"]["test"])
    assert f"localhost:{TRITON_PORTS['http']}/v2/health/ready" in probe


@pytest.mark.parametrize("name", GPU_SERVICES)
def test_gpu_jobs_reserve_a_gpu(compose, name):
    [device] = compose["services"][name]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]


def test_client_waits_for_healthy_servers_and_talks_to_their_ports(compose):
    services = compose["services"]
    client = services["client"]
    assert client["depends_on"] == {
        "triton": {"condition": "service_healthy"},
        "ocr": {"condition": "service_healthy"},
    }
    arguments = command(client)
    assert arguments[:2] == ["creativelens", "stream"]
    assert host_port(flag_value(arguments, "--server")) == ("triton", TRITON_PORTS["grpc"])
    ocr_host, ocr_port = host_port(flag_value(arguments, "--ocr"))
    assert ocr_host == "ocr"
    assert ocr_port == int(flag_value(command(services["ocr"]), "--port"))
    assert ocr_port in published_container_ports(services["ocr"])
    assert f"localhost:{ocr_port}" in " ".join(services["ocr"]["healthcheck"]["test"])
    mounts = {volume.split(":")[1] for volume in client["volumes"]}
    assert {arguments[2], flag_value(arguments, "--out")} <= mounts


def test_export_writes_into_the_mounted_repository(compose):
    export = compose["services"]["export"]
    arguments = command(export)
    assert arguments[:2] == ["creativelens", "export"]
    assert flag_value(arguments, "--device") == "cuda"
    assert flag_value(arguments, "--model") == env_example()["MODEL"]
    assert f"{ROOT / 'model_repository'}:{flag_value(arguments, '--out')}:rw" in export["volumes"]


@pytest.mark.parametrize("name", ["ocr", "client", "export"])
def test_commands_parse_with_the_creativelens_command_line(compose, name):
    from creativelens.cli import build_parser

    parser = build_parser()
    arguments = command(compose["services"][name])
    assert arguments[0] == "creativelens"
    registered = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if arguments[1] not in registered.choices:
        pytest.skip(f"`creativelens {arguments[1]}` is not registered yet")
    try:
        parsed = parser.parse_args(arguments[1:])
    except SystemExit:
        pytest.fail(f"`{' '.join(arguments)}` is refused by the creativelens command line")
    assert callable(parsed.handler)
    if name == "ocr":
        defaults = parser.parse_args(["ocr", "serve"])
        assert parsed.port == defaults.port, "compose should serve OCR on the CLI's default port"


def ocr_image_env(tmp_path: Path) -> dict[str, str]:
    """An environment where only what ocr_service/Dockerfile installs can be imported.

    A sitecustomize.py (inherited by the OCR pool's spawned workers through PYTHONPATH) refuses
    every project dependency outside the Dockerfile's OCR_PACKAGES and their requirements.
    """
    dockerfile = OCR_DOCKERFILE.read_text()
    ocr_packages = re.search(r'^ARG OCR_PACKAGES="([^"]+)"', dockerfile, re.MULTILINE)[1].split()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {canonicalize_name(Requirement(d).name) for d in project}
    assert {canonicalize_name(p) for p in ocr_packages} <= pinned, "OCR packages must be pinned in pyproject"

    def closure(names) -> set[str]:
        seen, todo = set(), [canonicalize_name(n) for n in names]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for text in metadata.requires(name) or []:
                requirement = Requirement(text)
                if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                    todo.append(canonicalize_name(requirement.name))
        return seen

    excluded = closure(pinned) - closure(ocr_packages) | {"sal-detectron2"}
    blocked = sorted(
        module
        for module, distributions in metadata.packages_distributions().items()
        if all(canonicalize_name(d) in excluded for d in distributions)
    )
    assert {"torch", "detectron2", "tritonclient"} <= set(blocked)
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        f"BLOCKED = {set(blocked)!r}\n"
        "class NotInOcrImage:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in BLOCKED:\n"
        "            raise ModuleNotFoundError(f'{name} is not installed in the OCR image', name=name)\n"
        "sys.meta_path.insert(0, NotInOcrImage())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.update(dockerfile_env(dockerfile))
    return env


def dockerfile_env(dockerfile: str) -> dict[str, str]:
    joined = dockerfile.replace("\\\n", " ")
    values = {}
    for line in joined.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                key, _, value = item.partition("=")
                values[key] = value
    return values


def health_probe(compose: dict, address: str) -> list[str]:
    """The ocr service's compose health check, pointed at `address`, run by this interpreter."""
    test = compose["services"]["ocr"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    return [sys.executable, *(part.replace("localhost:50051", address) for part in test[2:])]


def test_ocr_health_probe_tells_serving_from_not_serving(compose):
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        probe = health_probe(compose, f"127.0.0.1:{port}")
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        assert subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert subprocess.run(probe, capture_output=True, timeout=30).returncode != 0
    finally:
        server.stop(grace=None)
    assert subprocess.run(probe, capture_output=True, timeout=30).returncode != 0  # nobody listening


def test_command_line_builds_with_only_the_ocr_image_packages(tmp_path):
    """Every component's add_commands must keep heavy imports inside its handlers."""
    check = "from creativelens.cli import build_parser; build_parser().parse_args(['ocr', 'serve'])"
    result = subprocess.run(
        [sys.executable, "-c", check], env=ocr_image_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"`creativelens ocr serve` cannot start in the OCR image:\n{result.stderr}"


def test_ocr_service_command_serves_and_turns_healthy_with_only_its_image_packages(compose, tmp_path):
    """The compose `ocr` command, on loopback and a free port, in an OCR-image-like environment."""
    arguments = command(compose["services"]["ocr"])
    port = free_port()
    arguments[arguments.index("--host") + 1] = "127.0.0.1"
    arguments[arguments.index("--port") + 1] = str(port)
    runner = "import sys; from creativelens.cli import main; sys.exit(main(sys.argv[1:]))"
    log_path = tmp_path / "ocr.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-c", runner, *arguments[1:], "--workers", "1"],
            env=ocr_image_env(tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        probe = health_probe(compose, f"127.0.0.1:{port}")
        deadline = time.monotonic() + 90
        healthy = False
        while not healthy and server.poll() is None and time.monotonic() < deadline:
            healthy = subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
            if not healthy:
                time.sleep(0.5)
        assert healthy, f"the OCR service never turned healthy:\n{log_path.read_text()}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, log_path.read_text()
