"""Per-label columns: for every label (of every model, or the brand file's `labels`), one set
of `label_<key>_<stat>` columns per creative, built in DuckDB from `boxes` and `tracks`.

A label's key is its name in lower case with every run of other characters as `_` (`Brand
Cue` -> `brand_cue`). A label found by several models counts the boxes of all of them.
"""

from __future__ import annotations

from creativelens.features.frames import sql_text
from creativelens.features.thresholds import Thresholds

# stat -> (aggregate over label_stats for one label, value for a creative without the label:
#          'all' formats, or 'video' only (null for stills))
LABEL_STATS = {
    "present": ("bool_or(true)", "false", "all"),
    "count": ("max(count)", "0", "all"),
    "max_share": ("max(max_share)", "0.0", "all"),
    "mean_share": ("max(mean_share)", "0.0", "all"),
    "largest_cx": ("max(cx)", None, "all"),
    "largest_cy": ("max(cy)", None, "all"),
    "first_s": ("max(first_s)", None, "video"),
    "seconds": ("max(seconds)", "0.0", "video"),
    "share_of_spot": ("max(share_of_spot)", "0.0", "video"),
    "first_5s": ("bool_or(first_5s)", "false", "video"),
    "appearances": ("max(appearances)", None, "video"),
}


def build_label_stats(con, thresholds: Thresholds) -> None:
    """`label_stats`: one row per (creative, label key)."""
    con.execute(f"""CREATE OR REPLACE TABLE label_stats AS
        WITH per_frame AS (
            SELECT source, frame_index, label_key, any_value(t) AS t, any_value(step) AS step, count(*) AS n,
                   max(share) AS max_share, sum(share) AS sum_share, arg_max(cx, share) AS cx, arg_max(cy, share) AS cy
            FROM boxes GROUP BY source, frame_index, label_key),
        tracked AS (SELECT video AS source, label_key(label) AS label_key, count(DISTINCT (model, track_id)) AS appearances
                    FROM tracks GROUP BY ALL),
        spot AS (SELECT source, sum(step) AS spot_s FROM frames GROUP BY source)
        SELECT p.source, p.label_key, max(n) AS count, round(max(max_share), 6) AS max_share,
               round(sum(sum_share) / sum(n), 6) AS mean_share, round(arg_max(cx, max_share), 6) AS cx,
               round(arg_max(cy, max_share), 6) AS cy, min(t) AS first_s,
               round(sum(step), 6) AS seconds, bool_or(t < {float(thresholds.opening_s)!r}) AS first_5s,
               round(round(sum(step), 6) / nullif(round(any_value(spot.spot_s), 6), 0), 6) AS share_of_spot,
               any_value(tracked.appearances) AS appearances
        FROM per_frame p LEFT JOIN tracked USING (source, label_key) LEFT JOIN spot USING (source)
        GROUP BY p.source, p.label_key""")


def label_keys(con, wanted) -> list[str]:
    """The keys of `wanted` labels (the brand file's), else of every label in `boxes`."""
    if wanted:
        return list(dict.fromkeys(con.execute("SELECT label_key(?)", [w]).fetchone()[0] for w in wanted))
    return [row[0] for row in con.execute("SELECT DISTINCT label_key FROM boxes ORDER BY 1").fetchall()]


def build_label_wide(con, keys: list[str]) -> None:
    """`label_wide`: one row per creative with a label, `label_<key>_<stat>` columns."""
    aggregates = [f'{aggregate} FILTER (WHERE label_key = {sql_text(key)}) AS "label_{key}_{stat}"'
                  for key in keys for stat, (aggregate, _, _) in LABEL_STATS.items()]
    con.execute(f"""CREATE OR REPLACE TABLE label_wide AS
        SELECT s.source, {', '.join(aggregates) or 'NULL AS no_label'}
        FROM label_stats s JOIN creative_base c USING (source) GROUP BY s.source""")


def label_columns(keys: list[str]) -> list[str]:
    """Select expressions over `creative_base c` LEFT JOIN `label_wide lw`, missing labels filled."""
    out = []
    for key in keys:
        for stat, (_, fill, formats) in LABEL_STATS.items():
            name = f'"label_{key}_{stat}"'
            value = f"coalesce(lw.{name}, {fill})" if fill is not None else f"lw.{name}"
            if stat == "appearances":
                value = f"CASE WHEN c.tracked THEN coalesce(lw.{name}, 0) END"
            out.append(f"CASE WHEN c.error IS NULL AND (c.format = 'video' OR '{formats}' = 'all') THEN {value} END AS {name}")
    return out
