"""The impressions file, checked line by line in DuckDB: every line gets a `status` (ok, or
what is wrong with it) and the creative it names, so nothing is dropped without a word.

Columns: `creative_id`, `date` (ISO, YYYY-MM-DD), `impressions` (a number, 0 or more), and
optionally `channel`, `geo`, `spend`. A creative_id names a creative by its file name without
extension (`spot_a`), its file name (`spot_a.mp4`) or its path as the results name it; one
that names two creatives is ambiguous. The same (creative, date, channel, geo) twice: the
later lines are duplicates and are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from creativelens.errors import UserError

REQUIRED = ("creative_id", "date", "impressions")
OPTIONAL = ("channel", "geo", "spend")
EXTRA_FIELD = "_extra_field_"  # fields past the header's (null_padding gives them columns)


@dataclass
class ImpressionCheck:
    dimensions: tuple[str, ...]  # of channel, geo: those the file has
    has_spend: bool
    statuses: dict[str, int] = field(default_factory=dict)  # status -> lines
    problems: list[str] = field(default_factory=list)  # one line per bad input line
    matched_creatives: int = 0
    unknown_ids: int = 0
    creatives_without_impressions: int = 0
    ignored_columns: tuple[str, ...] = ()


def check_impressions(con, path: str | Path) -> ImpressionCheck:
    """Table `impressions_checked` (every line, its status and creative) from the file at `path`."""
    columns = _read(con, Path(path))
    check = ImpressionCheck(tuple(c for c in ("channel", "geo") if c in columns), "spend" in columns,
                            ignored_columns=tuple(c for c in columns if c not in REQUIRED + OPTIONAL
                                                  and not c.startswith(EXTRA_FIELD)))
    _build_aliases(con)
    con.execute(_checked_sql(columns))
    _count(con, check)
    return check


def _read(con, path: Path) -> list[str]:
    if not path.is_file():
        raise UserError(f"--impressions {path}: no such file")
    try:
        con.read_csv(str(path), delimiter=",", header=True, all_varchar=True, null_padding=True
                     ).create_view("raw_impressions")
        raw = con.sql("SELECT * FROM raw_impressions LIMIT 0").columns
        columns = [c.strip().lower() for c in raw]
    except Exception as error:  # DuckDB's own errors name the line that broke the CSV
        raise UserError(f"--impressions {path}: not a readable CSV ({str(error).splitlines()[0]})") from None
    with path.open(encoding="utf-8", errors="replace") as file:
        named = len(file.readline().split(","))
    columns[named:] = [f"{EXTRA_FIELD}{name}" for name in raw[named:]]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise UserError(f"--impressions {path}: no {', '.join(missing)} column (has: {', '.join(columns)})")
    return columns


def _build_aliases(con) -> None:
    """`creative_aliases`: each name a creative_id may use -> the creatives it names."""
    con.execute("""CREATE OR REPLACE TABLE creative_aliases AS
        WITH a AS (SELECT creative_id AS alias, source FROM creative_base
                   UNION SELECT parse_filename(source), source FROM creative_base
                   UNION SELECT source, source FROM creative_base)
        SELECT alias, min(source) AS source, count(DISTINCT source) AS creatives FROM a GROUP BY alias""")


def _checked_sql(columns: list[str]) -> str:
    optional = ", ".join(f"coalesce(trim(\"{c}\"), '') AS {c}" if c in columns else f"NULL::VARCHAR AS {c}"
                         for c in ("channel", "geo"))
    spend = 'try_cast(trim("spend") AS DOUBLE)' if "spend" in columns else "NULL::DOUBLE"
    extra = " OR ".join(f'"{c[len(EXTRA_FIELD):]}" IS NOT NULL' for c in columns if c.startswith(EXTRA_FIELD)) or "false"
    return f"""CREATE OR REPLACE TABLE impressions_checked AS
        WITH r AS (SELECT row_number() OVER () + 1 AS line, {extra} AS extra_fields, trim(creative_id) AS creative_id, trim(date) AS date_text,
                          try_cast(trim(date) AS DATE) AS date, trim(impressions) AS impressions_text,
                          try_cast(trim(impressions) AS DOUBLE) AS impressions, {optional}, {spend} AS spend
                   FROM raw_impressions),
             d AS (SELECT *, min(line) OVER (PARTITION BY creative_id, date, channel, geo) AS first_line FROM r)
        SELECT d.line, d.creative_id, d.date, d.channel, d.geo, d.impressions, d.spend, a.source, c.format,
               CASE WHEN d.extra_fields THEN 'more fields than the header has columns'
                    WHEN d.creative_id IS NULL OR d.creative_id = '' THEN 'no creative_id'
                    WHEN d.date IS NULL THEN 'bad date ' || coalesce('"' || d.date_text || '"', '(empty)') || ' (YYYY-MM-DD)'
                    WHEN d.impressions IS NULL OR isnan(d.impressions) OR isinf(d.impressions) THEN
                         'impressions ' || coalesce('"' || d.impressions_text || '"', '(empty)') || ' is not a number'
                    WHEN d.impressions < 0 THEN 'negative impressions ' || d.impressions_text
                    WHEN a.creatives > 1 THEN 'ambiguous creative_id: names ' || a.creatives || ' creatives (use the path)'
                    WHEN a.source IS NULL THEN 'unknown creative (not in the results)'
                    WHEN c.format IS NULL THEN 'creative is bad input in the results: ' || c.error
                    WHEN d.line > d.first_line THEN 'duplicate of line ' || d.first_line || ' (not counted)'
                    ELSE 'ok' END AS status
        FROM d LEFT JOIN creative_aliases a ON a.alias = d.creative_id
        LEFT JOIN creative_base c ON c.source = a.source ORDER BY d.line"""


def _count(con, check: ImpressionCheck) -> None:
    check.statuses = dict(con.execute(
        "SELECT CASE WHEN status LIKE 'duplicate%' THEN 'duplicate' WHEN status LIKE 'bad date%' THEN 'bad date' "
        "WHEN status LIKE 'negative%' THEN 'negative impressions' WHEN status LIKE 'impressions %' THEN 'not a number' "
        "ELSE status END, count(*) FROM impressions_checked GROUP BY 1 ORDER BY 1").fetchall())
    check.problems = [f"line {line}: {status} (creative_id {creative_id!r})" for line, status, creative_id in con.execute(
        "SELECT line, status, creative_id FROM impressions_checked WHERE status <> 'ok' ORDER BY line").fetchall()]
    check.matched_creatives, check.unknown_ids, check.creatives_without_impressions = con.execute("""
        SELECT (SELECT count(DISTINCT source) FROM impressions_checked WHERE status = 'ok'),
               (SELECT count(DISTINCT creative_id) FROM impressions_checked WHERE status LIKE 'unknown%'),
               (SELECT count(*) FROM creative_base WHERE format IS NOT NULL AND source NOT IN
                   (SELECT source FROM impressions_checked WHERE status = 'ok'))""").fetchone()
