"""docker-compose.yml (+ docker-compose.tls.yml, + profile cpu): valid compose, and every path,
image, command, port and health check agrees with the code.

There is no Docker engine here. Debian's docker-compose 1.29 validates the files against the
compose specification and resolves them with the values of .env.example; the tests then check the
resolved services against the repository, the `creativelens` command line, the Triton configs and
creativelens.tls, and run the OCR service's own command and health probe for real, plaintext and
TLS (outside a container, with only the packages its image installs importable).
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
import threading
import tomllib
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from creativelens.export import triton_config

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
TLS_FILE = ROOT / "docker-compose.tls.yml"
ENV_EXAMPLE = ROOT / ".env.example"
OCR_DOCKERFILE = ROOT / "ocr_service" / "Dockerfile"
TRITON_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}
GPU_SERVICES = ("triton", "export")
CPU_SERVICES = ("triton-cpu", "client-cpu", "export-cpu")
TLS_SERVICES = ("triton", "triton-cpu", "ocr", "client", "client-cpu")  # every gRPC server and client
CERTS = "/certs"  # where docker-compose.tls.yml mounts TLS_CERT_DIR
COMPOSE_SETTINGS = {"COMPOSE_FILE"}  # read by compose itself from .env, not interpolated


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def run_compose(env_file: Path | str, files=(COMPOSE_FILE,), profiles=(), *arguments: str) -> str:
    """`docker-compose [--file F]... [--profile P]... config ARGS` with `env_file`; its stdout.

    `files=None` names no file: compose then reads COMPOSE_FILE from the env file, as from .env."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (scripts/setup.sh installs Debian's)")
    command = [binary, "--env-file", str(env_file)]
    for file in files or ():
        command += ["--file", str(file)]
    for profile in profiles:
        command += ["--profile", profile]
    result = subprocess.run(
        [*command, "config", *arguments],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},  # no stray MODEL=... from the caller's shell
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = ", ".join(Path(f).name for f in files or ()) or "COMPOSE_FILE"
    assert result.returncode == 0, f"docker-compose rejects {names}:\n{result.stderr}"
    return result.stdout


def resolved_compose(env_file: Path | str, files=(COMPOSE_FILE,), profiles=()) -> dict:
    """The compose files as docker-compose validates and resolves them with `env_file`."""
    return yaml.safe_load(run_compose(env_file, files, profiles))


@pytest.fixture(scope="module")
def compose() -> dict:
    return resolved_compose(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def cpu_compose() -> dict:
    return resolved_compose(ENV_EXAMPLE, profiles=("cpu",))


@pytest.fixture(scope="module")
def tls_compose() -> dict:
    return resolved_compose(ENV_EXAMPLE, files=(COMPOSE_FILE, TLS_FILE), profiles=("cpu",))


def env_file_with(tmp_path: Path, **values: str) -> Path:
    """.env.example with `values` replaced (or added)."""
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines()
             if line.partition("=")[0].strip() not in values]
    path = tmp_path / "changed.env"
    path.write_text("\n".join([*lines, *(f"{key}={value}" for key, value in values.items())]) + "\n")
    return path


def test_env_example_states_the_defaults_the_compose_file_falls_back_to(compose, tls_compose, tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    assert resolved_compose(empty) == compose
    assert resolved_compose(empty, files=(COMPOSE_FILE, TLS_FILE), profiles=("cpu",)) == tls_compose


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


def test_services_are_the_ones_ops_run(compose, cpu_compose):
    assert set(compose["services"]) >= {"triton", "ocr", "client", "export"}
    assert set(cpu_compose["services"]) == {"triton", "ocr", "client", "export", *CPU_SERVICES}
    assert compose["services"]["export"]["profiles"] == ["export"]  # runs only when asked for
    for name in CPU_SERVICES:
        assert cpu_compose["services"][name]["profiles"] == ["cpu"]
    # what `docker compose up` starts without --profile (services with no profile): the GPU stack
    # (docker-compose 1.29's `config` lists profiled services too, so this reads the file)
    default = {name for name, service in cpu_compose["services"].items() if not service.get("profiles")}
    assert default == {"triton", "ocr", "client"}


def test_every_variable_is_documented_in_env_example():
    used = set()
    for file in (COMPOSE_FILE, TLS_FILE):
        used |= set(re.findall(r"\$\{(\w+)", file.read_text()))
    assert used == set(env_example()) - COMPOSE_SETTINGS, "the compose files and .env.example disagree on variables"
    # TLS is off unless asked for, and the line that turns it on names the override that exists
    assert env_example()["COMPOSE_FILE"] == COMPOSE_FILE.name
    assert f"COMPOSE_FILE={COMPOSE_FILE.name}:{TLS_FILE.name}" in ENV_EXAMPLE.read_text()


def test_build_contexts_and_dockerfiles_exist(cpu_compose):
    built = {name: service["build"] for name, service in cpu_compose["services"].items() if "build" in service}
    assert set(built) == {"ocr", "client", "export", *CPU_SERVICES}
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


@pytest.mark.parametrize("variant", ["compose", "tls_compose"])
def test_bind_mounts_are_repository_paths_or_documented_variables(variant, request):
    compose = request.getfixturevalue(variant)
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


def published(service: dict) -> dict[int, str]:
    """container port -> the host address it is published on."""
    addresses = {}
    for entry in service.get("ports", []):  # "ADDRESS:HOST_PORT:CONTAINER_PORT/tcp"
        address, _host_port, container_port = entry.split("/")[0].rsplit(":", 2)
        addresses[int(container_port)] = address
    return addresses


@pytest.mark.parametrize("name", ["triton", "triton-cpu"])
def test_triton_publishes_its_ports_and_checks_readiness(cpu_compose, name):
    triton = cpu_compose["services"][name]
    assert published_container_ports(triton) == set(TRITON_PORTS.values())
    probe = " ".join(triton["healthcheck"]["test"])
    assert f"localhost:{TRITON_PORTS['http']}/v2/health/ready" in probe


@pytest.mark.parametrize("name", ["triton", "triton-cpu", "ocr"])
def test_only_grpc_follows_publish_address_and_http_metrics_stay_on_loopback(name, tmp_path):
    """PUBLISH_ADDRESS=0.0.0.0 opens the gRPC ports (the ones TLS covers), never HTTP or metrics."""
    env = env_file_with(tmp_path, PUBLISH_ADDRESS="0.0.0.0")
    service = resolved_compose(env, profiles=("cpu",))["services"][name]
    grpc_ports = {"ocr": {50051}}.get(name, {TRITON_PORTS["grpc"]})
    for port, address in published(service).items():
        assert address == ("0.0.0.0" if port in grpc_ports else "127.0.0.1"), (name, port, address)
    assert env_example()["HTTP_PUBLISH_ADDRESS"] == env_example()["PUBLISH_ADDRESS"] == "127.0.0.1"


@pytest.mark.parametrize("name", GPU_SERVICES)
def test_gpu_jobs_reserve_a_gpu(compose, name):
    [device] = compose["services"][name]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]


@pytest.mark.parametrize("name", CPU_SERVICES)
def test_cpu_profile_needs_no_gpu(cpu_compose, name):
    assert "deploy" not in cpu_compose["services"][name]


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


# --- profile cpu -------------------------------------------------------------------------


def test_cpu_profile_serves_the_cpu_configs_with_the_projects_own_tritonserver(cpu_compose):
    from creativelens.cli import build_parser

    services = cpu_compose["services"]
    server = services["triton-cpu"]
    # the project's image: setup.sh installs the pinned nvidia-pytriton (tritonserver + python
    # backend) and openvino, which `creativelens serve` runs configs/cpu.pbtxt with
    assert server["image"] == services["client"]["image"] and server["build"] == services["client"]["build"]
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {"nvidia-pytriton", "openvino", "onnxruntime"} <= {Requirement(d).name for d in dependencies}
    arguments = command(server)
    assert arguments[:2] == ["creativelens", "serve"]
    parsed = build_parser().parse_args(arguments[1:])
    assert parsed.config_name == env_example()["CPU_MODEL_CONFIG"] == "cpu" and not parsed.gpu
    example = ROOT / "model_repository" / "faster_rcnn_R_50_FPN_1x"
    for name in ("cpu", "cpu_onnxruntime"):  # the two values .env.example documents
        assert (example / "configs" / f"{name}.pbtxt").is_file() and name in ENV_EXAMPLE.read_text()
    assert (parsed.grpc_port, parsed.http_port, parsed.metrics_port) == (
        TRITON_PORTS["grpc"], TRITON_PORTS["http"], TRITON_PORTS["metrics"])
    assert parsed.address == "0.0.0.0"  # inside the container; PUBLISH_ADDRESS decides the host side
    assert f"{ROOT / 'model_repository'}:{parsed.model_repository}:ro" in server["volumes"]
    assert server["shm_size"] and server["restart"] == "unless-stopped"

    client = services["client-cpu"]
    assert client["depends_on"] == {
        "triton-cpu": {"condition": "service_healthy"},
        "ocr": {"condition": "service_healthy"},
    }
    client_arguments = command(client)
    assert host_port(flag_value(client_arguments, "--server")) == ("triton-cpu", TRITON_PORTS["grpc"])
    # apart from its server, the same job as the GPU stack's client
    assert [a for a in client_arguments if "triton" not in a] == [
        a for a in command(services["client"]) if "triton" not in a]
    assert client["volumes"] == services["client"]["volumes"]

    export = services["export-cpu"]
    export_arguments = command(export)
    assert flag_value(export_arguments, "--device") == "cpu"
    assert [a for a in export_arguments if a not in ("cpu", "cuda")] == [
        a for a in command(services["export"]) if a not in ("cpu", "cuda")]
    assert export["volumes"] == services["export"]["volumes"]


class _ReadyEndpoint(BaseHTTPRequestHandler):
    """Triton's /v2/health/ready: 200 when ready, 400 when not (set through `ready`)."""

    ready = True

    def do_GET(self):  # noqa: N802
        status = 200 if self.path == "/v2/health/ready" and type(self).ready else 400
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_cpu_health_probe_tells_ready_from_not_ready(cpu_compose):
    test = cpu_compose["services"]["triton-cpu"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]  # the project image has python, not curl
    http = ThreadingHTTPServer(("127.0.0.1", 0), _ReadyEndpoint)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{http.server_address[1]}"
    probe = [sys.executable, *(part.replace(f"localhost:{TRITON_PORTS['http']}", address) for part in test[2:])]
    try:
        _ReadyEndpoint.ready = True
        assert subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
        _ReadyEndpoint.ready = False
        assert subprocess.run(probe, capture_output=True, timeout=30).returncode != 0
    finally:
        http.shutdown()
        http.server_close()
    assert subprocess.run(probe, capture_output=True, timeout=30).returncode != 0  # nobody listening


# --- TLS: docker-compose.tls.yml ----------------------------------------------------------


@pytest.fixture
def certs(tmp_path) -> Path:
    """A folder laid out as TLS_CERT_DIR: server.pem, server-key.pem, ca.pem (self-signed)."""
    from tls_fixtures import self_signed_certificate

    folder = tmp_path / "certs"
    folder.mkdir()
    cert, key = self_signed_certificate(folder)
    cert.rename(folder / "server.pem")
    key.rename(folder / "server-key.pem")
    shutil.copy(folder / "server.pem", folder / "ca.pem")
    return folder


def localized(arguments: list[str], certs: Path) -> list[str]:
    """The arguments with the container's /certs/ paths pointing at `certs`."""
    return [a.replace(f"{CERTS}/", f"{certs}/") for a in arguments]


def test_tls_is_off_by_default_and_switched_on_by_compose_file_in_env(compose, tls_compose, tmp_path):
    for name in TLS_SERVICES:
        assert CERTS not in str(compose["services"][name]), f"{name}: TLS must be off by default"
    # the documented switch: COMPOSE_FILE in .env, no --file on the command line
    env = env_file_with(tmp_path, COMPOSE_FILE=f"{COMPOSE_FILE.name}:{TLS_FILE.name}")
    assert yaml.safe_load(run_compose(env, None, ("cpu",))) == tls_compose


def test_tls_changes_only_the_grpc_services_commands_mounts_and_ocr_probe(cpu_compose, tls_compose):
    plain, tls = cpu_compose["services"], tls_compose["services"]
    assert set(plain) == set(tls)
    for name in plain:
        changed = {key for key in plain[name].keys() | tls[name].keys() if plain[name].get(key) != tls[name].get(key)}
        expected = {"command", "volumes"} | ({"healthcheck"} if name == "ocr" else set())
        assert changed == (expected if name in TLS_SERVICES else set()), (name, changed)
        if name in TLS_SERVICES:
            mount = f"{ROOT / env_example()['TLS_CERT_DIR']}:{CERTS}:ro"
            assert set(tls[name]["volumes"]) == {*plain[name].get("volumes", []), mount}, name
    # ports are untouched: HTTP and metrics stay where HTTP_PUBLISH_ADDRESS puts them
    for name in ("triton", "triton-cpu"):
        assert tls[name]["ports"] == plain[name]["ports"] and tls[name]["healthcheck"] == plain[name]["healthcheck"]


@pytest.mark.parametrize("name", ["triton-cpu", "ocr"])
def test_publishing_beyond_loopback_without_tls_warns_loudly(name, certs, tmp_path, monkeypatch, capsys):
    """The servers listen on 0.0.0.0 in their containers; the warning follows PUBLISH_ADDRESS,
    which compose hands them, and TLS."""
    from creativelens.cli import build_parser
    from creativelens.tls import PUBLISHED_ADDRESS_VARIABLE, tls_from_args, warn_if_exposed

    parser = build_parser()
    for address, files, warns in (("127.0.0.1", (COMPOSE_FILE,), False),
                                  ("0.0.0.0", (COMPOSE_FILE,), True),
                                  ("0.0.0.0", (COMPOSE_FILE, TLS_FILE), False)):
        env = env_file_with(tmp_path, PUBLISH_ADDRESS=address)
        service = resolved_compose(env, files, ("cpu",))["services"][name]
        parsed = parser.parse_args(localized(command(service), certs)[1:])
        host = parsed.address if name == "triton-cpu" else parsed.host
        assert host == "0.0.0.0"
        monkeypatch.setenv(PUBLISHED_ADDRESS_VARIABLE, service["environment"][PUBLISHED_ADDRESS_VARIABLE])
        assert warn_if_exposed(host, tls_from_args(parsed), name) == warns, (address, files)
        banner = capsys.readouterr().err
        assert ("WITHOUT TLS" in banner and address in banner) == warns, banner


def test_tls_triton_passes_the_flags_serve_uses(cpu_compose, tls_compose, certs):
    """The NGC image has no creativelens: its flags are written out, and must be exactly what
    creativelens.tls.triton_server_args (what `creativelens serve --tls-*` passes) gives."""
    from creativelens.tls import TlsOptions, triton_server_args

    plain, tls = command(cpu_compose["services"]["triton"]), command(tls_compose["services"]["triton"])
    expected = triton_server_args(TlsOptions(cert=certs / "server.pem", key=certs / "server-key.pem"))
    assert localized(tls, certs) == plain + expected


@pytest.mark.parametrize("name", ["triton-cpu", "ocr", "client", "client-cpu"])
def test_tls_commands_carry_the_mounted_certificates(cpu_compose, tls_compose, certs, name):
    from creativelens.cli import build_parser
    from creativelens.tls import TlsOptions, tls_from_args

    parser = build_parser()
    plain = parser.parse_args(command(cpu_compose["services"][name])[1:])
    parsed = parser.parse_args(localized(command(tls_compose["services"][name]), certs)[1:])
    tls = tls_from_args(parsed)
    assert tls_from_args(plain) is None
    if name.startswith("client"):
        assert tls == TlsOptions(ca=certs / "ca.pem")  # both the Triton and the OCR channel
        assert (parsed.servers, parsed.ocr) == (plain.servers, plain.ocr)
        return
    assert tls == TlsOptions(cert=certs / "server.pem", key=certs / "server-key.pem")
    if name == "triton-cpu":
        from creativelens.serve.tritonserver import TritonServer

        # what `serve` then hands tritonserver: the same SSL flags as the NGC triton service's
        served = TritonServer(certs, parsed.config_name, tls=tls).command(certs)
        assert served[-3:] == localized(command(tls_compose["services"]["triton"])[-3:], certs)


def parser_of(parser: argparse.ArgumentParser, arguments: list[str]) -> argparse.ArgumentParser:
    """The sub-parser (and sub-sub-parser, for `ocr serve`) that `arguments` reach."""
    for word in arguments[1:]:
        commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not commands or word not in commands[0].choices:
            return parser
        parser = commands[0].choices[word]
    return parser


@pytest.mark.parametrize("variant", ["cpu_compose", "tls_compose"])
@pytest.mark.parametrize("name", ["ocr", "client", "export", *CPU_SERVICES])
def test_commands_parse_with_the_creativelens_command_line(variant, name, request):
    from creativelens.cli import build_parser

    parser = build_parser()
    arguments = command(request.getfixturevalue(variant)["services"][name])
    assert arguments[0] == "creativelens"
    try:
        parsed = parser.parse_args(arguments[1:])
    except SystemExit:
        pytest.fail(f"`{' '.join(arguments)}` is refused by the creativelens command line")
    assert parsed.command == arguments[1]
    actions = {flag: action for action in parser_of(parser, arguments)._actions for flag in action.option_strings}
    for flag, value in zip(arguments, arguments[1:]):  # every `--flag VALUE` compose passes lands as given
        action = actions.get(flag)
        if action is not None and action.nargs != 0 and not value.startswith("--"):
            expected = action.type(value) if action.type else value
            landed = getattr(parsed, action.dest)
            assert expected == landed or (isinstance(landed, list) and expected in landed), (flag, value, landed)
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


def health_probe(compose: dict, address: str, certs: Path | None = None) -> list[str]:
    """The ocr service's compose health check, pointed at `address` (and the TLS probe's /certs
    at `certs`), run by this interpreter."""
    test = compose["services"]["ocr"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    parts = [part.replace("localhost:50051", address) for part in test[2:]]
    return [sys.executable, *(localized(parts, certs) if certs else parts)]


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


@pytest.mark.parametrize("variant", ["compose", "tls_compose"])
def test_ocr_service_command_serves_and_turns_healthy_with_only_its_image_packages(variant, request, tmp_path):
    """The compose `ocr` command and health check, on loopback and a free port, in an
    OCR-image-like environment; with TLS on, over a self-signed certificate in TLS_CERT_DIR's layout."""
    compose = request.getfixturevalue(variant)
    certs = request.getfixturevalue("certs") if variant == "tls_compose" else None
    arguments = command(compose["services"]["ocr"])
    if certs:
        arguments = localized(arguments, certs)
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
        probe = health_probe(compose, f"127.0.0.1:{port}", certs)
        deadline = time.monotonic() + 90
        healthy = False
        while not healthy and server.poll() is None and time.monotonic() < deadline:
            healthy = subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
            if not healthy:
                time.sleep(0.5)
        assert healthy, f"the OCR service never turned healthy:\n{log_path.read_text()}"
        if certs:  # TLS is really on: the plaintext probe of docker-compose.yml is refused
            plaintext = health_probe(request.getfixturevalue("compose"), f"127.0.0.1:{port}")
            assert subprocess.run(plaintext, capture_output=True, timeout=30).returncode != 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, log_path.read_text()
