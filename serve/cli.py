"""`creativelens serve --model-repository DIR`: the real tritonserver on loopback until Ctrl-C."""

from __future__ import annotations

import signal
import threading


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="run tritonserver over a model repository (CPU configs by default)",
        description="Start the tritonserver binary shipped in nvidia-pytriton on 127.0.0.1, wait "
                    "until every model is ready, print the endpoints, and serve until Ctrl-C or "
                    "SIGTERM.",
    )
    parser.add_argument("--model-repository", required=True, metavar="DIR")
    parser.add_argument("--gpu", action="store_true",
                        help="load config.pbtxt (native GPU backends) instead of configs/cpu.pbtxt")
    parser.add_argument("--config-name", help="load configs/NAME.pbtxt (overrides --gpu)")
    parser.add_argument("--grpc-port", type=int, help="default: a free port")
    parser.add_argument("--http-port", type=int, help="default: a free port")
    parser.add_argument("--metrics-port", type=int, help="default: a free port")
    parser.add_argument("--ready-timeout", type=float, default=300.0, metavar="SECONDS",
                        help="give up if a model is not ready by then (default %(default)s)")
    parser.add_argument("--log-file", help="keep the server's log here (default: a temporary file)")
    parser.set_defaults(handler=run_serve)


def run_serve(args) -> int:
    from creativelens.errors import UserError
    from creativelens.serve.tritonserver import ServerStartError, TritonServer

    config_name = args.config_name or (None if args.gpu else "cpu")
    server = TritonServer(
        args.model_repository, config_name, grpc_port=args.grpc_port, http_port=args.http_port,
        metrics_port=args.metrics_port, ready_timeout_s=args.ready_timeout, log_path=args.log_file,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"starting tritonserver over {server.repository} "
          f"({'config.pbtxt' if config_name is None else f'configs/{config_name}.pbtxt'})", flush=True)
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
        print(f"  gRPC     {server.grpc_url}", flush=True)
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
