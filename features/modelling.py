"""The marketing-mix modelling table: per date (and channel/geo when the impressions file has
them), for each boolean feature and format, the impressions of creatives with the feature and
without it — the published Part IV's "creative impressions when a brand cue appears" against
"when it does not". `with + without = total` of that day and format, always.

Long form (`modelling_long`): one row per (date, dims, format, feature); wide form
(`modelling_wide`): one row per (date, dims) with `<format>__impressions` and
`<format>__<feature>__with` / `__without` columns, zeros where nothing ran — the shape Robyn's
`dt_input`, Meridian's and PyMC-Marketing's data frames take (one column per media/organic
variable). A feature with `min_impression_share` of its format's impressions or less is
flagged (`flagged`), as the study left such features out.
"""

from __future__ import annotations

from creativelens.features.impressions import ImpressionCheck
from creativelens.features.thresholds import Thresholds


def boolean_features(con) -> list[str]:
    return [name for name, kind in con.execute("SELECT column_name, column_type FROM (DESCRIBE features)").fetchall()
            if kind == "BOOLEAN"]


def build_modelling(con, check: ImpressionCheck, thresholds: Thresholds) -> list[str]:
    """Tables `modelling_long` and `modelling_wide`; returns the flagged (format, feature) names."""
    dims = ", ".join(["date", *check.dimensions])
    _build_feature_values(con)
    spend = (", coalesce(sum(spend) FILTER (WHERE value), 0) AS spend_with, "
             "coalesce(sum(spend) FILTER (WHERE value IS NOT TRUE), 0) AS spend_without") if check.has_spend else ""
    con.execute(f"""CREATE OR REPLACE TABLE modelling_long AS
        WITH imp AS (SELECT {dims}, source, format, impressions, spend FROM impressions_checked WHERE status = 'ok'),
             cells AS (SELECT {dims}, imp.format, v.feature,
                              coalesce(sum(impressions) FILTER (WHERE value), 0) AS impressions_with,
                              coalesce(sum(impressions) FILTER (WHERE value IS NOT TRUE), 0) AS impressions_without,
                              sum(impressions) AS impressions_total{spend}
                       FROM imp JOIN feature_values v ON v.creative = imp.source
                       JOIN applicable a ON a.format = imp.format AND a.feature = v.feature GROUP BY ALL)
        SELECT *, round(sum(impressions_with) OVER w / nullif(sum(impressions_total) OVER w, 0), 6) AS feature_share,
               coalesce(sum(impressions_with) OVER w / nullif(sum(impressions_total) OVER w, 0), 0)
                   <= {thresholds.min_impression_share!r} AS flagged
        FROM cells WINDOW w AS (PARTITION BY format, feature) ORDER BY {dims}, format, feature""")
    _build_wide(con, dims)
    return [f"{f}__{n}" for f, n in con.execute(
        "SELECT DISTINCT format, feature FROM modelling_long WHERE flagged ORDER BY 1, 2").fetchall()]


def _build_feature_values(con) -> None:
    """`feature_values` (creative, format, feature, value) and `applicable` (format, feature):
    a feature that is null for every creative of a format (video-only ones for stills) has no
    rows for that format."""
    columns = ", ".join(f'"{c}"' for c in boolean_features(con))
    con.execute(f"""CREATE OR REPLACE TABLE feature_values AS
        SELECT * FROM (SELECT creative, format, {columns} FROM features WHERE format IS NOT NULL)
        UNPIVOT INCLUDE NULLS (value FOR feature IN ({columns}))""")
    con.execute("""CREATE OR REPLACE TABLE applicable AS
        SELECT format, feature FROM feature_values GROUP BY ALL HAVING count(value) > 0""")


def _build_wide(con, dims: str) -> None:
    con.execute(f"""CREATE OR REPLACE TABLE wide_totals AS
        PIVOT (SELECT {dims}, format || '__impressions' AS name, impressions FROM impressions_checked WHERE status = 'ok')
        ON name USING sum(impressions) GROUP BY {dims}""")
    con.execute(f"""CREATE OR REPLACE TABLE wide_features AS
        PIVOT (SELECT {dims}, format || '__' || feature AS name, impressions_with, impressions_without FROM modelling_long)
        ON name USING sum(impressions_with) AS "_with", sum(impressions_without) AS "_without" GROUP BY {dims}""")
    con.execute(f"""CREATE OR REPLACE TABLE modelling_wide AS
        SELECT {dims}, coalesce(COLUMNS(* EXCLUDE ({dims})), 0)
        FROM wide_totals t LEFT JOIN wide_features f USING ({dims}) ORDER BY {dims}""")
