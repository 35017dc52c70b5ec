"""TLS for every gRPC endpoint of the project: one options type, its command-line flags, and the
credentials each library wants (Triton's server flags, tritonclient's keywords, grpc's).

    parser = argparse.ArgumentParser(); add_tls_arguments(parser)            # a client
    tls = tls_from_args(parser.parse_args())                                 # None: plaintext
    tritonclient.grpc.InferenceServerClient(url, **triton_client_kwargs(tls))
    channel = grpc_channel("127.0.0.1:50051", tls)                           # OCR client

A client turns TLS on with `--tls-ca FILE` (trust these roots; e.g. a self-signed certificate)
or `--tls` (trust the system's roots); `--tls-cert/--tls-key` add a client certificate (mutual
TLS). A server needs `--tls-cert` and `--tls-key`; its `--tls-ca` makes it require client
certificates signed by that CA.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from creativelens.errors import UserError

__all__ = [
    "TlsOptions", "add_tls_arguments", "tls_from_args", "triton_client_kwargs", "triton_server_args",
    "grpc_channel", "grpc_server_credentials", "is_loopback", "warn_if_exposed",
]


@dataclass(frozen=True)
class TlsOptions:
    """PEM files. `ca`: roots to trust (client) or to verify client certificates (server);
    `cert` + `key`: this side's certificate chain and private key."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise UserError("--tls-cert and --tls-key go together: give both or neither")
        for flag, path in (("--tls-ca", self.ca), ("--tls-cert", self.cert), ("--tls-key", self.key)):
            if path is None:
                continue
            try:
                Path(path).read_bytes()
            except OSError as error:
                raise UserError(f"{flag} {path}: {error.strerror or error}") from None

    @property
    def mutual(self) -> bool:
        return self.ca is not None and self.cert is not None

    def read(self, which: str) -> bytes | None:
        path = getattr(self, which)
        return None if path is None else Path(path).read_bytes()


def add_tls_arguments(parser: argparse.ArgumentParser, *, server: bool = False) -> None:
    """--tls-ca/--tls-cert/--tls-key (and, on clients, --tls for the system's roots)."""
    group = parser.add_argument_group("TLS")
    if server:
        group.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate (chain)")
        group.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
        group.add_argument("--tls-ca", metavar="PEM",
                           help="require client certificates signed by this CA (mutual TLS)")
    else:
        group.add_argument("--tls", action="store_true",
                           help="connect with TLS, trusting the system's root certificates")
        group.add_argument("--tls-ca", metavar="PEM",
                           help="connect with TLS, trusting this CA / self-signed certificate")
        group.add_argument("--tls-cert", metavar="PEM", help="client certificate (mutual TLS)")
        group.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")


def tls_from_args(args: argparse.Namespace) -> TlsOptions | None:
    """The options named on the command line; None when TLS is off (plaintext)."""
    ca, cert, key = (getattr(args, name, None) for name in ("tls_ca", "tls_cert", "tls_key"))
    if not (getattr(args, "tls", False) or ca or cert or key):
        return None
    return TlsOptions(*(Path(p) if p else None for p in (ca, cert, key)))


def triton_client_kwargs(tls: TlsOptions | None) -> dict:
    """Keywords for `tritonclient.grpc.InferenceServerClient` (which reads the files itself)."""
    if tls is None:
        return {}
    return {
        "ssl": True,
        "root_certificates": str(tls.ca) if tls.ca else None,
        "private_key": str(tls.key) if tls.key else None,
        "certificate_chain": str(tls.cert) if tls.cert else None,
    }


def triton_server_args(tls: TlsOptions | None) -> list[str]:
    """tritonserver's own gRPC SSL flags (see `tritonserver --help`)."""
    if tls is None:
        return []
    if tls.cert is None:
        raise UserError("serving TLS needs --tls-cert and --tls-key")
    args = [f"--grpc-server-cert={tls.cert}", f"--grpc-server-key={tls.key}"]
    if tls.ca is not None:
        return ["--grpc-use-ssl-mutual=true", *args, f"--grpc-root-cert={tls.ca}"]
    return ["--grpc-use-ssl=true", *args]


def grpc_channel(address: str, tls: TlsOptions | None, options: list[tuple] | tuple = ()):
    """A grpc channel to `address`: secure with `tls`, insecure with None."""
    import grpc

    if tls is None:
        return grpc.insecure_channel(address, options=list(options))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.read("ca"), private_key=tls.read("key"), certificate_chain=tls.read("cert"))
    return grpc.secure_channel(address, credentials, options=list(options))


def grpc_server_credentials(tls: TlsOptions):
    """`grpc.ssl_server_credentials` for a server; a `ca` makes client certificates required."""
    import grpc

    if tls.cert is None:
        raise UserError("serving TLS needs --tls-cert and --tls-key")
    return grpc.ssl_server_credentials(
        [(tls.read("key"), tls.read("cert"))], root_certificates=tls.read("ca"),
        require_client_auth=tls.ca is not None,
    )


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


PUBLISHED_ADDRESS_VARIABLE = "CREATIVELENS_PUBLISH_ADDRESS"  # set by docker-compose.yml: where the port really goes


def warn_if_exposed(host: str, tls: TlsOptions | None, what: str) -> bool:
    """Print a loud warning when `what` is reachable beyond loopback without TLS; True if it did.

    Inside a container a server must listen on 0.0.0.0; what decides its exposure there is the
    address compose publishes the port on, which compose passes in CREATIVELENS_PUBLISH_ADDRESS."""
    published = os.environ.get(PUBLISHED_ADDRESS_VARIABLE)
    if tls is not None or is_loopback(published if published is not None else host):
        return False
    bar = "!" * 78
    where = (f"is published by docker compose on {published} (PUBLISH_ADDRESS)" if published is not None
             else f"listens on {host}")
    fix = ("set PUBLISH_ADDRESS=127.0.0.1 or turn on docker-compose.tls.yml" if published is not None
           else "Pass --tls-cert/--tls-key (see docs/deploy.md)\nor bind 127.0.0.1")
    print(f"{bar}\nWARNING: {what} {where} WITHOUT TLS: anyone who can reach this host can\n"
          f"read and send its traffic in plain text. {fix}.\n{bar}", file=sys.stderr, flush=True)
    return True
