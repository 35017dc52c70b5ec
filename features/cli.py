"""`creativelens features`: one row per creative from stream/spark results, and the impressions
join for marketing-mix models (docs/features.md)."""

from __future__ import annotations

import argparse

from creativelens.errors import UserError

MAX_LINES = 20


def add_commands(subparsers) -> None:
    from creativelens.features.thresholds import add_threshold_flags

    parser = subparsers.add_parser(
        "features", help="creative features (ABCD-style) from stream/spark results, and the MMM impressions table",
        description="One row per creative (still or video) from the Parquet results of `stream` or `spark`; "
                    "with --impressions, the modelling table (docs/features.md).")
    parser.add_argument("results", nargs="+", help="results folders of `creativelens stream` or `creativelens spark`")
    parser.add_argument("--out", required=True, help="folder for features.parquet/.csv (and the modelling table)")
    parser.add_argument("--brand", help="brand file: names and spellings, labels, roles (docs/features.md)")
    parser.add_argument("--impressions", help="CSV: creative_id, date, impressions[, channel, geo, spend]")
    parser.add_argument("--no-shots", action="store_true", help="do not decode the videos for shots (faster)")
    add_threshold_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from creativelens.features.brand import load_brand
    from creativelens.features.run import run_features
    from creativelens.features.thresholds import thresholds_from_args

    try:
        thresholds = thresholds_from_args(args)
    except ValueError as error:
        raise UserError(str(error)) from None
    summary = run_features(args.results, args.out, load_brand(args.brand), thresholds,
                           impressions=args.impressions, shots=not args.no_shots)
    _print_summary(summary)
    return 0


def _print_summary(summary: dict) -> None:
    formats = ", ".join(f"{n} {f}" for f, n in summary["by_format"].items())
    print(f"features: {summary['creatives']} creatives ({formats}) from {summary['rows']} rows of "
          f"{len(summary['folders'])} folder(s) ({', '.join(sorted(set(summary['folders'].values())))})")
    if summary["duplicate_keys"]:
        print(f"note: {summary['duplicate_keys']} (item, model) rows given more than once: the latest kept")
    _lines("warning", summary["warnings"], "features.csv (error, warnings)")
    if "impressions" in summary:
        check = summary["impressions"]
        _lines("impressions", check["problems"], "impressions_checked.csv (status)")
        print(f"impressions: {check['matched_creatives']} creatives matched, {check['unknown_ids']} creative ids unknown, "
              f"{check['creatives_without_impressions']} creatives without impressions; lines: "
              + ", ".join(f"{n} {s}" for s, n in check["statuses"].items()))
        if check["ignored_columns"]:
            print(f"impressions: columns not used: {', '.join(check['ignored_columns'])}")
        if check["flagged"]:
            print(f"flagged (<= min share of impressions): {', '.join(check['flagged'])}")
    print(f"wrote: {', '.join(summary['outputs'])}")


def _lines(prefix: str, lines: list[str], where: str) -> None:
    for line in lines[:MAX_LINES]:
        print(f"{prefix}: {line}")
    if len(lines) > MAX_LINES:
        print(f"{prefix}: ... and {len(lines) - MAX_LINES} more in {where}")
