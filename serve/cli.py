"""`creativelens serve --model-repository DIR`: the real tritonserver on loopback until Ctrl-C."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from pathlib import Path

from creativelens.tls import add_tls_arguments, tls_from_args, warn_if_exposed

DEFAULT_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}  # Triton's conventional ports


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="run tritonserver over a model repository (CPU configs by default)",
        description="Start the tritonserver binary shipped in nvidia-pytriton on 127.0.0.1, wait "
                    "until every model is ready, print the endpoints, and serve until Ctrl-C or "
                    "SIGTERM. By default each model is served from configs/cpu.pbtxt (FP32), or from "
                    "configs/cpu_bf16.pbtxt (REDUCED PRECISION BF16) where its export's BF16 gate "
                    "passed and this CPU has native BF16; one line per model says which.",
    )
    parser.add_argument("--model-repository", required=True, metavar="DIR")
    parser.add_argument("--gpu", action="store_true",
                        help="load config.pbtxt (native GPU backends) instead of the CPU configs")
    parser.add_argument("--config-name", help="load configs/NAME.pbtxt for every model (overrides --gpu)")
    parser.add_argument("--fp32", action="store_true",
                        help="serve configs/cpu.pbtxt (FP32) even where a gated configs/cpu_bf16.pbtxt and a "
                             "CPU with native BF16 would serve BF16")
    parser.add_argument("--address", default="127.0.0.1",
                        help="listen here (default %(default)s; anything beyond loopback without TLS warns loudly)")
    parser.add_argument("--grpc-port", type=int, default=DEFAULT_PORTS["grpc"], help="default %(default)s")
    parser.add_argument("--http-port", type=int, default=DEFAULT_PORTS["http"], help="default %(default)s")
    parser.add_argument("--metrics-port", type=int, default=DEFAULT_PORTS["metrics"], help="default %(default)s")
    parser.add_argument("--ready-timeout", type=float, default=300.0, metavar="SECONDS",
                        help="give up if a model is not ready by then (default %(default)s)")
    parser.add_argument("--log-file", help="keep the server's log here (default: a new file in the "
                                           "temporary folder, kept after the server stops)")
    add_tls_arguments(parser, server=True)
    parser.set_defaults(handler=run_serve)


def run_serve(args) -> int:
    from creativelens.errors import UserError
    from creativelens.serve.tritonserver import ServerStartError, TritonServer

    if args.fp32 and (args.config_name or args.gpu):
        raise UserError("--fp32 serves configs/cpu.pbtxt; it does not go with --config-name or --gpu")
    config_name, choices = served_configs(args)
    tls = tls_from_args(args)
    # the log outlives the launcher (even a killed one): it is the record of what went wrong
    log_file = args.log_file or Path(tempfile.gettempdir()) / (
        f"creativelens-tritonserver-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log")
    server = TritonServer(
        args.model_repository, config_name, grpc_port=args.grpc_port, http_port=args.http_port,
        metrics_port=args.metrics_port, ready_timeout_s=args.ready_timeout, log_path=log_file,
        address=args.address, tls=tls, served_configs={c.model: c.config_name for c in choices if c.bf16},
    )
    warn_if_exposed(args.address, tls, "tritonserver (gRPC; HTTP and metrics are never encrypted)")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"starting tritonserver over {server.repository} "
          f"({'config.pbtxt' if config_name is None else f'configs/{config_name}.pbtxt'}"
          f"{' or configs/cpu_bf16.pbtxt per model' if server.served_configs else ''})", flush=True)
    for choice in choices:
        print(choice.line, flush=True)
    try:
        server.start()
    except ServerStartError as error:
        hint = ""
        if "unable to find backend" in str(error):
            hint = ("\nhint: the tritonserver of the nvidia-pytriton wheel has only the python backend; "
                    "config.pbtxt (--gpu) needs the onnxruntime/tensorrt/pytorch backends of the NGC "
                    "container (see docker-compose.yml), or serve the CPU configs without --gpu")
        raise UserError(f"{error}{hint}") from None
    try:
        models = ", ".join(sorted(server.model_statistics()))
        print(f"ready: {models}", flush=True)
        print(f"  gRPC     {server.grpc_url}{' (TLS)' if tls else ''}", flush=True)
        print(f"  HTTP     http://{server.http_url}", flush=True)
        print(f"  metrics  {server.metrics_url}", flush=True)
        print(f"  log      {server.log_path}", flush=True)
        print("Ctrl-C to stop", flush=True)
        while not stop.wait(1.0):
            if not server.is_running():
                raise UserError(f"tritonserver exited unexpectedly; see {server.log_path}")
    finally:
        print("stopping tritonserver", flush=True)
        code = server.stop()
    print(f"stopped (exit code {code})", flush=True)
    return 0


def served_configs(args, cpuinfo: str | None = None):
    """(the config name every model is served from, the per-model choices of the CPU default): an
    explicit --config-name or --gpu serves that config for all and makes no choices."""
    from creativelens.serve.bf16_default import FP32_CONFIG_NAME, default_cpu_configs

    if args.config_name or args.gpu:
        return args.config_name or None, []
    if not Path(args.model_repository).is_dir():
        return FP32_CONFIG_NAME, []  # the server's start names the problem
    return FP32_CONFIG_NAME, default_cpu_configs(args.model_repository, cpuinfo, fp32=args.fp32)
