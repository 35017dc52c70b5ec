"""The spark-submit entry point: `spark-submit [spark options] spark_entry.py INPUT... --servers ... --out ...`
runs the same job as `creativelens spark`, with the master and resources spark-submit sets
(`--master` here defaults to none: spark-submit's). Also `python -m creativelens.spark ...`."""

from __future__ import annotations

import argparse
import sys

from creativelens.errors import UserError


def main(argv: list[str] | None = None) -> int:
    from creativelens.spark.cli import add_arguments, run_spark

    parser = argparse.ArgumentParser(prog="creativelens-spark",
                                     description="The CreativeLens labelling job on Apache Spark.")
    add_arguments(parser, master_default=None)
    args = parser.parse_args(argv)
    try:
        return run_spark(args)
    except UserError as error:
        print(f"creativelens spark: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
