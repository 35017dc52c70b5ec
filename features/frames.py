"""The per-frame tables every creative feature is aggregated from, built in DuckDB from the
`items` view (features/reading.py): `frames` (one row per still or sampled frame, with the
seconds it stands for), `boxes` (one row per kept detection, with its share of the frame) and
`frame_text` (OCR words, text share and brand mentions per frame).

A sampled frame stands for the video time until the next sampled frame (the last one for the
median step), exactly as the stream's screen time (client/screen_time.py) counts it.
"""

from __future__ import annotations

from creativelens.features.thresholds import Thresholds

OCR_JSON = '{"ocr_text": "VARCHAR", "ocr_words": [{"text": "VARCHAR", "box": ["DOUBLE"]}], "ocr_error": "VARCHAR"}'
NORMALISE = "trim(regexp_replace(strip_accents(lower({})), '[^a-z0-9]+', ' ', 'g'))"


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_list(values) -> str:
    return "(" + ", ".join(sql_text(v) for v in values) + ")" if values else "(NULL)"


def build_frames(con) -> None:
    """`frames`: source, frame_index, t, width, height, extra, item_error, step (null for stills)."""
    con.execute("""CREATE OR REPLACE TABLE frames AS
        WITH f AS (SELECT source, frame_index, any_value(timestamp_s) AS t, any_value(width) AS width,
                          any_value(height) AS height, any_value(extra) FILTER (WHERE extra IS NOT NULL) AS extra,
                          any_value(error) FILTER (WHERE model IS NULL) AS item_error
                   FROM items GROUP BY source, frame_index),
             g AS (SELECT *, CASE WHEN frame_index IS NOT NULL AND item_error IS NULL THEN
                               lead(t) OVER (PARTITION BY source, frame_index IS NULL OR item_error IS NOT NULL
                                             ORDER BY frame_index) - t END AS gap FROM f)
        SELECT * EXCLUDE (gap), CASE WHEN frame_index IS NOT NULL AND item_error IS NULL THEN
               round(coalesce(gap, median(gap) OVER (PARTITION BY source), 0), 6) END AS step FROM g""")


def build_boxes(con, thresholds: Thresholds) -> None:
    """`boxes`: one row per detection scoring at least `thresholds.score`, with label_key, share
    of the frame, normalised centre and the frame's time."""
    con.execute(f"""CREATE OR REPLACE TABLE boxes AS
        WITH u AS (SELECT source, frame_index, model, width::DOUBLE AS width, height::DOUBLE AS height,
                          unnest(detections) AS det FROM items
                   WHERE error IS NULL AND model IS NOT NULL)
        SELECT row_number() OVER () AS box_id, u.source, u.frame_index, model, u.det.label AS label,
               u.det.box::DOUBLE[] AS b, label_key(u.det.label) AS label_key, u.det.score AS score,
               b[1] AS x1, b[2] AS y1, b[3] AS x2, b[4] AS y2,
               (b[3] - b[1]) * (b[4] - b[2]) / nullif(u.width * u.height, 0) AS share,
               (b[1] + b[3]) / 2 / nullif(u.width, 0) AS cx,
               (b[2] + b[4]) / 2 / nullif(u.height, 0) AS cy, f.t, f.step
        FROM u JOIN frames f ON f.source = u.source AND f.frame_index IS NOT DISTINCT FROM u.frame_index
        WHERE u.det.score >= {float(thresholds.score)!r}::FLOAT  -- compared as stored (float32)""")


def define_macros(con) -> None:
    con.execute("CREATE OR REPLACE MACRO label_key(x) AS trim(regexp_replace(lower(x), '[^a-z0-9]+', '_', 'g'), '_')")
    con.execute(f"CREATE OR REPLACE MACRO normalise_text(x) AS {NORMALISE.format('x')}")


def brand_pattern(con, names) -> str | None:
    """A regex matching any brand name as whole words in `doubled` text (longest name first);
    None without names."""
    normal = [con.execute("SELECT normalise_text(?)", [n]).fetchone()[0] for n in names]
    normal = sorted({n for n in normal if n}, key=len, reverse=True)
    return " (" + "|".join(n.replace(" ", "  ") for n in normal) + ") " if normal else None


def build_frame_text(con, names) -> None:
    """`frame_text`: per frame, whether OCR ran, words, text share of the frame (sum of word
    boxes, at most 1), brand mentions (whole words, case and accents ignored)."""
    pattern = brand_pattern(con, names)
    mentions = (f"len(regexp_extract_all(' ' || replace(normalise_text(words_text), ' ', '  ') || ' ', "
                f"{sql_text(pattern)}))" if pattern else "NULL::BIGINT")
    con.execute(f"""CREATE OR REPLACE TABLE frame_text AS
        WITH j AS (SELECT source, frame_index, t, width, height, from_json(extra, '{OCR_JSON}') AS x
                   FROM frames WHERE item_error IS NULL),
             w AS (SELECT *, coalesce(array_to_string(list_transform(x.ocr_words, v -> v.text), ' '), x.ocr_text, '')
                             AS words_text FROM j)
        SELECT source, frame_index, t, x.ocr_text IS NOT NULL OR x.ocr_words IS NOT NULL AS ocr_ran,
               x.ocr_error AS ocr_error, len(coalesce(x.ocr_words, [])) AS words,
               least(1.0, coalesce(list_sum(list_transform(x.ocr_words,
                     v -> (v.box[3] - v.box[1]) * (v.box[4] - v.box[2]))), 0) / nullif(width * height, 0)) AS text_share,
               {mentions} AS brand_mentions
        FROM w""")
