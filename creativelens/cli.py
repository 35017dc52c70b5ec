"""`creativelens <command>`: a thin layer over each component's library functions.

Each component registers its own sub-commands through `add_commands(subparsers)` in its
`cli.py`; heavy imports (torch, detectron2, tritonclient) happen inside the handlers so that
`creativelens --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from creativelens.errors import UserError

COMPONENT_CLIS = (
    "creativelens.export.cli",
    "creativelens.export.pack_cli",
    "creativelens.serve.cli",
    "creativelens.client.cli",
    "creativelens.ocr_service.cli",
    "creativelens.benchmarks.cli",
    "creativelens.spark.cli",
    "creativelens.train.cli",
    "creativelens.report.cli",
    "creativelens.demo",
    "creativelens.features.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="creativelens",
        description="Detectron2 detectors served by Triton for ad-creative analysis.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMPONENT_CLIS:
        importlib.import_module(module_name).add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as error:
        print(f"creativelens {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"creativelens {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
