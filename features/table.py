"""The features table: one row per creative, its columns defined once here (name, which
formats have it, the SQL, what it means, where its definition comes from), the per-creative
warnings, and `build_features`, which runs every step over results folders.

`docs/features.md` is generated from `COLUMNS` and `labels.LABEL_STATS` (`features docs`).
"""

from __future__ import annotations

from dataclasses import dataclass

from creativelens.features import creative, frames, labels
from creativelens.features.brand import Brand
from creativelens.features.reading import Results, register_results
from creativelens.features.shots import shots_table
from creativelens.features.thresholds import Thresholds

ABCD = "Google ABCD"
TEXT = "CASE WHEN ts.ocr_ran THEN {} END"
BRAND = "CASE WHEN ts.ocr_ran AND {{names}} THEN {} END"

# name, formats ("all" | "video" | "any": also for bad input), SQL, meaning, source
COLUMNS = (
    ("creative", "any", "c.source", "the still's or video's path as the results name it", "results `source`"),
    ("creative_id", "any", "c.creative_id", "the file name without its extension: the impressions file's creative_id",
     "CreativeLens"),
    ("format", "any", "c.format", "`static` (a still) or `video`; null for bad input", "the published Part IV"),
    ("error", "any", "c.error", "why the item could not be analysed (bad input); every feature is then null", "results `error`"),
    ("warnings", "any", "w.warnings", "what is missing or failed (models, OCR, tracks, shots), `; `-separated", "CreativeLens"),
    ("width", "all", "c.width", "pixels", "results"),
    ("height", "all", "c.height", "pixels", "results"),
    ("frames", "all", "c.frames", "stills: 1; video: sampled frames analysed", "results"),
    ("duration_s", "video", "v.duration_s", "the video's length (frames / fps; from the samples when the file is gone)",
     "PySceneDetect"),
    ("shots", "video", "v.shots", "shots found by PySceneDetect's ContentDetector over every frame", "PySceneDetect"),
    ("mean_shot_s", "video", "v.mean_shot_s", "duration_s / shots", "PySceneDetect"),
    ("first_shot_s", "video", "v.first_shot_s", "length of the first shot", "PySceneDetect"),
    ("dynamic_start", "video", "v.first_shot_s < {dynamic_start_s}", "first shot shorter than `dynamic_start_s`", ABCD),
    ("quick_pacing", "video", "v.quick_pacing", "`pacing_shots` shots start within some `pacing_window_s` seconds", ABCD),
    ("quick_pacing_first_5s", "video", "v.quick_pacing_first_5s", "`pacing_shots` shots start before `opening_s`", ABCD),
    ("face_close_up", "all", "coalesce(r.face_close_up, false)", "a face box covers `face_close_up` of the frame or more",
     ABCD),
    ("face_close_up_first_5s", "video", "coalesce(r.face_close_up_first_5s, false)", "a close-up before `opening_s`", ABCD),
    ("face_first_5s", "video", "coalesce(r.face_first_5s, false)", "a face before `opening_s`", ABCD),
    ("smiles_in_faces", "all", "coalesce(sm.smiles_in_faces, 0)",
     "smiles inside a face box (`smile_inside` of the smile box); video: the most on one frame", "the published pipeline"),
    ("smile_in_face", "all", "coalesce(sm.smiles_in_faces, 0) > 0", "smiles_in_faces > 0", "the published pipeline"),
    ("big_logo", "all", "coalesce(r.big_logo, false)", "a logo box covers `big_logo` of the frame or more", ABCD),
    ("big_logo_first_5s", "video", "coalesce(r.big_logo_first_5s, false)", "a big logo before `opening_s`", ABCD),
    ("logo_first_5s", "video", "coalesce(r.logo_first_5s, false)", "a logo before `opening_s`", ABCD),
    ("ocr_words", "all", TEXT.format("ts.ocr_words"), "OCR words (video: the most on one frame); null without OCR",
     "OCR sidecar"),
    ("text_share", "all", TEXT.format("round(ts.text_share, 6)"),
     "share of the frame under OCR word boxes (sum, at most 1; video: the most on one frame)", "OCR sidecar"),
    ("text_present", "all", TEXT.format("ts.text_present"), "any OCR word (ABCD's supers)", ABCD),
    ("text_first_5s", "video", TEXT.format("coalesce(ts.text_first_5s, false)"), "an OCR word before `opening_s`", ABCD),
    ("brand_mentions", "all", BRAND.format("ts.brand_mentions"),
     "brand names in the OCR text, whole words, case and accents ignored (video: most on one frame); null without "
     "OCR or brand names", "brand file `names`"),
    ("brand_mentioned", "all", BRAND.format("ts.brand_mentioned"), "brand_mentions > 0", ABCD),
    ("brand_mentioned_first_5s", "video", BRAND.format("coalesce(ts.brand_mentioned_first_5s, false)"),
     "a brand name read before `opening_s`", ABCD),
    ("brand_first_5s", "video", "coalesce(r.logo_first_5s, false) OR coalesce(ts.brand_mentioned_first_5s, false)",
     "a logo or a brand name before `opening_s`", ABCD),
)


@dataclass
class FeatureRun:
    results: Results
    label_keys: list[str]
    creatives: int


def build_features(con, folders, brand: Brand, thresholds: Thresholds, shots: bool = True) -> FeatureRun:
    """Table `features` (one row per creative) from the results `folders`."""
    results = register_results(con, folders)
    frames.define_macros(con)
    frames.build_frames(con)
    frames.build_boxes(con, thresholds)
    frames.build_frame_text(con, brand.names)
    creative.build_creative_base(con)
    _register_shots(con, thresholds, shots)
    creative.build_role_stats(con, brand, thresholds)
    creative.build_text_stats(con, thresholds)
    creative.build_video_stats(con, thresholds)
    labels.build_label_stats(con, thresholds)
    keys = labels.label_keys(con, brand.labels)
    labels.build_label_wide(con, keys)
    _build_warnings(con)
    con.execute(_final_select(keys, brand, thresholds))
    return FeatureRun(results, keys, con.execute("SELECT count(*) FROM features").fetchone()[0])


def _register_shots(con, thresholds: Thresholds, enabled: bool) -> None:
    videos = [row[0] for row in con.execute(
        "SELECT source FROM creative_base WHERE format = 'video' ORDER BY source").fetchall()]
    con.register("shots", shots_table(videos, thresholds, enabled))


def _build_warnings(con) -> None:
    con.execute("""CREATE OR REPLACE TABLE creative_warnings AS
        WITH cover AS (SELECT source, model, count(*) AS n, count(*) FILTER (WHERE error IS NOT NULL) AS failed
                       FROM items WHERE model IS NOT NULL GROUP BY ALL),
             grid AS (SELECT c.source, c.frames, m.model, cover.n, cover.failed
                      FROM creative_base c CROSS JOIN (SELECT DISTINCT model FROM cover) m
                      LEFT JOIN cover USING (source, model) WHERE c.error IS NULL),
             w AS (SELECT source, 'no results of model ' || model AS warning FROM grid WHERE n IS NULL
                   UNION ALL SELECT source, 'model ' || model || ' on ' || n || ' of ' || frames || ' frames'
                             FROM grid WHERE n < frames
                   UNION ALL SELECT source, 'model ' || model || ' failed on ' || failed || ' item(s)'
                             FROM grid WHERE failed > 0
                   UNION ALL SELECT source, bad_frames || ' frame(s) were bad input' FROM creative_base
                             WHERE error IS NULL AND bad_frames > 0
                   UNION ALL SELECT c.source, 'no OCR text in the results (text features null)' FROM creative_base c
                             LEFT JOIN text_stats USING (source) WHERE c.error IS NULL AND ocr_ran IS NOT TRUE
                   UNION ALL SELECT source, 'OCR failed on ' || ocr_errors || ' frame(s)' FROM text_stats WHERE ocr_errors > 0
                   UNION ALL SELECT source, 'no tracks for this video (label appearances null)' FROM creative_base
                             WHERE format = 'video' AND NOT tracked
                   UNION ALL SELECT source, shot_warning FROM video_stats WHERE shot_warning IS NOT NULL)
        SELECT source, string_agg(warning, '; ' ORDER BY warning) AS warnings FROM w GROUP BY source""")


def _final_select(keys, brand: Brand, thresholds: Thresholds) -> str:
    names = "true" if brand.names else "false"
    columns = [_wrap(sql.format(names=names, **thresholds.as_dict()) if "{" in sql else sql, formats) + f' AS "{name}"'
               for name, formats, sql, _, _ in COLUMNS]
    return f"""CREATE OR REPLACE TABLE features AS SELECT {', '.join(columns + labels.label_columns(keys))}
        FROM creative_base c LEFT JOIN creative_warnings w USING (source) LEFT JOIN role_stats r USING (source)
        LEFT JOIN smile_stats sm USING (source) LEFT JOIN text_stats ts USING (source)
        LEFT JOIN video_stats v USING (source) LEFT JOIN label_wide lw USING (source) ORDER BY c.source"""


def _wrap(sql: str, formats: str) -> str:
    if formats == "any":
        return sql
    if formats == "video":
        return f"CASE WHEN c.format = 'video' THEN {sql} END"
    return f"CASE WHEN c.error IS NULL THEN {sql} END"
