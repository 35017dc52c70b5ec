"""One row per creative (a still, or a whole video): the tables of the non-label features,
each built in DuckDB from the per-frame tables (features/frames.py), and the final select.

Tables: `creative_base` (format, size, frames, spot length, error, tracks), `role_stats`
(face close-ups, smiles inside faces, logos), `text_stats` (OCR), `video_stats` (duration,
shots, pacing), `creative_warnings` (missing models, failed models, no OCR, no tracks, no shots).
"""

from __future__ import annotations

from creativelens.features.brand import Brand
from creativelens.features.frames import sql_list
from creativelens.features.thresholds import Thresholds


def build_creative_base(con) -> None:
    con.execute("""CREATE OR REPLACE TABLE creative_base AS
        SELECT source, parse_filename(source, true) AS creative_id,
               CASE WHEN count(*) FILTER (WHERE item_error IS NULL) = 0 THEN NULL
                    WHEN bool_and(frame_index IS NULL) THEN 'static' ELSE 'video' END AS format,
               CASE WHEN count(*) FILTER (WHERE item_error IS NULL) = 0 THEN any_value(item_error) END AS error,
               count(*) FILTER (WHERE item_error IS NOT NULL) AS bad_frames, any_value(width) AS width, any_value(height) AS height,
               count(*) FILTER (WHERE item_error IS NULL) AS frames, round(sum(step), 6) AS spot_s,
               source IN (SELECT video FROM tracks) AS tracked
        FROM frames GROUP BY source""")


def build_role_stats(con, brand: Brand, t: Thresholds) -> None:
    """Faces (close-ups), smiles inside a face, logos (big, early), per creative."""
    face, logo = sql_list(brand.roles["face"]), sql_list(brand.roles["logo"])
    early = f"t < {t.opening_s!r}"
    con.execute(f"""CREATE OR REPLACE TABLE role_stats AS
        SELECT source,
               bool_or(share >= {t.face_close_up!r}) FILTER (WHERE label IN {face}) AS face_close_up,
               bool_or(share >= {t.face_close_up!r} AND {early}) FILTER (WHERE label IN {face}) AS face_close_up_first_5s,
               bool_or({early}) FILTER (WHERE label IN {face}) AS face_first_5s,
               bool_or(share >= {t.big_logo!r}) FILTER (WHERE label IN {logo}) AS big_logo,
               bool_or(share >= {t.big_logo!r} AND {early}) FILTER (WHERE label IN {logo}) AS big_logo_first_5s,
               bool_or({early}) FILTER (WHERE label IN {logo}) AS logo_first_5s
        FROM boxes GROUP BY source""")
    _build_smiles(con, brand, t)


def _build_smiles(con, brand: Brand, t: Thresholds) -> None:
    """`smile_stats`: the most smiles inside a face on one frame (a still: its count). A smile
    is inside when `t.smile_inside` of its box lies in one face box of the same frame."""
    con.execute(f"""CREATE OR REPLACE TABLE smile_stats AS
        WITH s AS (SELECT * FROM boxes WHERE label IN {sql_list(brand.roles['smile'])}),
             f AS (SELECT * FROM boxes WHERE label IN {sql_list(brand.roles['face'])}),
             inside AS (
                SELECT s.box_id, any_value(s.source) AS source, any_value(s.frame_index) AS frame_index,
                       max(greatest(0, least(s.x2, f.x2) - greatest(s.x1, f.x1))
                           * greatest(0, least(s.y2, f.y2) - greatest(s.y1, f.y1))
                           / nullif((s.x2 - s.x1) * (s.y2 - s.y1), 0)) AS fraction
                FROM s JOIN f ON s.source = f.source AND s.frame_index IS NOT DISTINCT FROM f.frame_index
                GROUP BY s.box_id),
             per_frame AS (SELECT source, frame_index, count(*) AS n FROM inside
                           WHERE fraction >= {t.smile_inside!r} GROUP BY source, frame_index)
        SELECT source, max(n) AS smiles_in_faces FROM per_frame GROUP BY source""")


def build_text_stats(con, t: Thresholds) -> None:
    """OCR per creative: the most words and text share on one frame, brand mentions."""
    con.execute(f"""CREATE OR REPLACE TABLE text_stats AS
        SELECT source, bool_or(ocr_ran) AS ocr_ran, count(*) FILTER (WHERE ocr_error IS NOT NULL) AS ocr_errors,
               max(words) AS ocr_words, max(text_share) AS text_share, max(words) > 0 AS text_present,
               bool_or(words > 0 AND t < {t.opening_s!r}) AS text_first_5s,
               max(brand_mentions) AS brand_mentions, max(brand_mentions) > 0 AS brand_mentioned,
               bool_or(brand_mentions > 0 AND t < {t.opening_s!r}) AS brand_mentioned_first_5s
        FROM frame_text GROUP BY source""")


def build_video_stats(con, t: Thresholds) -> None:
    """Duration, shots, mean shot length, first shot, dynamic start, quick pacing (from `shots`)."""
    n, window = int(t.pacing_shots), float(t.pacing_window_s)
    con.execute(f"""CREATE OR REPLACE TABLE video_stats AS
        WITH starts AS (SELECT source, unnest(shot_starts) AS start FROM shots),
             paced AS (SELECT source, lead(start, {n - 1}) OVER (PARTITION BY source ORDER BY start) - start < {window!r}
                              AS quick, start FROM starts),
             pacing AS (SELECT source, coalesce(bool_or(quick), false) AS quick_pacing,
                               count(*) FILTER (WHERE start < {t.opening_s!r}) >= {n} AS quick_pacing_first_5s
                        FROM paced GROUP BY source)
        SELECT s.source, round(coalesce(s.duration_s, c.spot_s), 6) AS duration_s, len(s.shot_starts) AS shots,
               round(coalesce(s.duration_s, c.spot_s) / len(s.shot_starts), 6) AS mean_shot_s,
               round(CASE WHEN s.shot_starts IS NULL THEN NULL WHEN len(s.shot_starts) > 1 THEN s.shot_starts[2] ELSE coalesce(s.duration_s, c.spot_s) END, 6)
                   AS first_shot_s, p.quick_pacing, p.quick_pacing_first_5s, s.shot_warning
        FROM shots s JOIN creative_base c USING (source) LEFT JOIN pacing p USING (source)""")
