"""`creativelens features` on results written with the project's Parquet schema: known
creatives with exact answers (a still, a video assembled from known shots), stream's and
Spark's layouts of the same rows, bad input, the impressions join checked by hand, the CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from features_rows import detection, ocr, row, write_shots_video, write_spark, write_stream

from creativelens.features import Brand, Thresholds
from creativelens.features.run import run_features

BRAND = Brand(names=("Akme", "Akme Corp"))
VIDEO_SHOTS = [10, 5, 5, 5, 5, 50]  # frames at 10 fps: shots start at 0, 1, 1.5, 2, 2.5, 3 s; 8 s in all


def still_rows() -> list[dict]:
    """still_a (1000x500): a logo of 3.5 % of the frame, a face of 18 %, a smile inside it, one
    outside every face, one half inside; OCR 'Big SALE at AKMÉ!' (four words of 100x50 px)."""
    boxes = [[0, 0, 100, 50]] * 4
    return [
        row("/ads/still_a.jpg", "brand", [detection("logo", [0, 0, 100, 175]), detection("face", [500, 0, 800, 300]),
                                          detection("smile", [600, 100, 700, 150]), detection("smile", [0, 400, 50, 450]),
                                          detection("smile", [750, 100, 850, 150])],
            extra=ocr("Big", "SALE", "at", "AKMÉ!", boxes=boxes)),
        row("/ads/still_b.png", "brand", [], extra=ocr("AKME", "Corp", "akmeland")),
        row("/ads/still_c.jpg", "brand", [detection("logo", [0, 0, 10, 10], score=0.6)], extra=ocr()),
    ]


def video_rows(path: str) -> list[dict]:
    """Every 5th frame (0.5 s) of an 8 s, 160x96 video: a face of 25 % at 0-0.5 s, a logo of 5 %
    at 2.0-3.0 s, two products at 6.0 s and one at 6.5 s, 'Akme' read at 6.0 s."""
    rows = []
    for i in range(16):
        t = i * 0.5
        found = [detection("face", [0, 0, 80, 48])] if t <= 0.5 else []
        found += [detection("logo", [0, 0, 32, 24])] if 2.0 <= t <= 3.0 else []
        found += [detection("product", [0, 0, 16, 16])] * (2 if t == 6.0 else 1 if t == 6.5 else 0)
        rows.append(row(path, "brand", found, frame_index=i * 5, timestamp_s=t, width=160, height=96,
                        extra=ocr("Akme") if t == 6.0 else ocr()))
    return rows


@pytest.fixture
def video(tmp_path) -> str:
    return str(write_shots_video(tmp_path / "spot.mp4", VIDEO_SHOTS))


def features_of(tmp_path, rows, brand=BRAND, thresholds=Thresholds(), layout=write_stream, **kwargs) -> dict:
    folder = layout(tmp_path / f"results_{layout.__name__}", rows)
    run_features([folder], tmp_path / f"out_{layout.__name__}", brand, thresholds, **kwargs)
    table = pq.read_table(tmp_path / f"out_{layout.__name__}" / "features.parquet").to_pylist()
    return {Path(r["creative"]).name: r for r in table}


def test_a_still_with_a_logo_of_known_area_known_words_and_smiles(tmp_path):
    still = features_of(tmp_path, still_rows())["still_a.jpg"]
    assert (still["format"], still["creative_id"], still["frames"]) == ("static", "still_a", 1)
    assert still["label_logo_max_share"] == 0.035 and still["big_logo"] is True
    assert (still["label_logo_largest_cx"], still["label_logo_largest_cy"]) == (0.05, 0.175)
    assert still["label_face_max_share"] == 0.18 and still["face_close_up"] is True
    assert still["label_smile_count"] == 3 and still["smiles_in_faces"] == 1  # the outside and half-inside ones: no
    assert (still["ocr_words"], still["text_share"], still["text_present"]) == (4, 0.04, True)
    assert (still["brand_mentions"], still["brand_mentioned"]) == (1, True)
    assert still["logo_first_5s"] is None and still["duration_s"] is None  # video-only
    assert still["warnings"] is None


def test_brand_names_are_whole_words_longest_first_case_and_accents_ignored(tmp_path):
    creatives = features_of(tmp_path, still_rows())
    assert creatives["still_b.png"]["brand_mentions"] == 1  # 'AKME Corp' once; 'akmeland' is another word
    assert creatives["still_c.jpg"]["brand_mentioned"] is False and creatives["still_c.jpg"]["text_present"] is False
    assert features_of(tmp_path, still_rows(), brand=Brand())["still_a.jpg"]["brand_mentions"] is None


def test_every_threshold_is_overridable(tmp_path):
    strict = Thresholds(big_logo=0.036, face_close_up=0.2, smile_inside=0.5, score=0.7)
    creatives = features_of(tmp_path, still_rows(), thresholds=strict)
    assert creatives["still_a.jpg"]["big_logo"] is False and creatives["still_a.jpg"]["face_close_up"] is False
    assert creatives["still_a.jpg"]["smiles_in_faces"] == 2  # half inside counts at 0.5
    assert creatives["still_c.jpg"]["label_logo_present"] is False  # its logo scored 0.6
    assert features_of(tmp_path, still_rows())["still_c.jpg"]["label_logo_present"] is True
    with pytest.raises(ValueError, match="big_logo"):
        Thresholds(big_logo=1.5)


def test_a_video_assembled_from_known_shots(tmp_path, video):
    spot = features_of(tmp_path, video_rows(video))["spot.mp4"]
    assert (spot["format"], spot["frames"], spot["duration_s"], spot["shots"]) == ("video", 16, 8.0, 6)
    assert (spot["mean_shot_s"], spot["first_shot_s"], spot["dynamic_start"]) == (1.333333, 1.0, True)
    assert spot["quick_pacing"] is True and spot["quick_pacing_first_5s"] is True
    assert (spot["label_logo_first_s"], spot["label_logo_seconds"], spot["label_logo_share_of_spot"]) == (2.0, 1.5, 0.1875)
    assert spot["logo_first_5s"] is True and spot["big_logo"] is True and spot["label_logo_max_share"] == 0.05
    assert (spot["label_product_count"], spot["label_product_first_s"], spot["label_product_seconds"]) == (2, 6.0, 1.0)
    assert spot["label_product_first_5s"] is False
    assert spot["face_close_up_first_5s"] is True and spot["label_face_max_share"] == 0.25
    assert spot["brand_mentioned"] is True and spot["brand_mentioned_first_5s"] is False
    assert spot["brand_first_5s"] is True  # the logo at 2 s
    assert spot["warnings"] == "no tracks for this video (label appearances null)"


def test_pacing_and_dynamic_start_follow_their_thresholds(tmp_path, video):
    slow = Thresholds(pacing_window_s=2.0, dynamic_start_s=1.0)
    spot = features_of(tmp_path, video_rows(video), thresholds=slow)["spot.mp4"]
    assert spot["quick_pacing"] is False and spot["dynamic_start"] is False  # 2.0 s for 5 shots; first shot 1.0 s
    assert spot["quick_pacing_first_5s"] is True


def test_stream_and_spark_layouts_of_the_same_rows_give_the_same_features(tmp_path, video):
    rows = still_rows() + video_rows(video) + [row("/ads/broken.jpg", None, error="not an image or video")]
    stream = features_of(tmp_path, rows)
    spark = features_of(tmp_path, rows, layout=write_spark)
    assert stream == spark and len(stream) == 5
    assert stream["broken.jpg"]["error"] == "not an image or video" and stream["broken.jpg"]["format"] is None


def test_missing_models_failed_models_no_ocr_no_tracks_and_no_video_file(tmp_path):
    rows = [row("/ads/both.jpg", "logos", [detection("logo", [0, 0, 10, 10])]), row("/ads/both.jpg", "faces"),
            row("/ads/only_logos.jpg", "logos"),
            row("/ads/failed.jpg", "logos"), row("/ads/failed.jpg", "faces", error="server said INTERNAL"),
            *[row("/gone/spot.mp4", "logos", frame_index=i, timestamp_s=i / 10) for i in range(3)]]
    creatives = features_of(tmp_path, rows)
    assert creatives["both.jpg"]["warnings"] == "no OCR text in the results (text features null)"
    assert "no results of model faces" in creatives["only_logos.jpg"]["warnings"]
    assert "model faces failed on 1 item(s)" in creatives["failed.jpg"]["warnings"]
    gone = creatives["spot.mp4"]
    assert gone["shots"] is None and "shots not found: cannot open the video" in gone["warnings"]
    assert gone["duration_s"] == 0.3 and "no results of model faces" in gone["warnings"]  # from the samples


def test_tracks_give_appearances_and_a_video_without_tracks_says_so(tmp_path):
    import pyarrow as pa

    from creativelens.client.screen_time import TRACKS_PARQUET
    from creativelens.formats import tracks_schema

    rows = [row(f"/ads/{name}.mp4", "logos", [detection("logo", [0, 0, 10, 10])], frame_index=i, timestamp_s=i / 10)
            for name in ("tracked", "untracked") for i in range(2)]
    folder = write_stream(tmp_path / "results", rows)
    track = {"video": "/ads/tracked.mp4", "model": "logos", "label": "logo", "first_s": 0.0, "last_s": 0.1,
             "seconds_on_screen": 0.2, "frames_seen": 2, "max_score": 0.9, "mean_score": 0.9,
             "largest_box": [0, 0, 10, 10], "largest_box_share": 0.0002}
    pq.write_table(pa.Table.from_pylist([dict(track, track_id=1), dict(track, track_id=2)], tracks_schema()),
                   folder / TRACKS_PARQUET)
    run_features([folder], tmp_path / "out", Brand(), Thresholds(), shots=False)
    table = {Path(r["creative"]).stem: r for r in pq.read_table(tmp_path / "out" / "features.parquet").to_pylist()}
    assert table["tracked"]["label_logo_appearances"] == 2 and table["untracked"]["label_logo_appearances"] is None
    assert "no tracks for this video" in table["untracked"]["warnings"]
    assert "no tracks" not in table["tracked"]["warnings"]


IMPRESSIONS = """creative_id,date,impressions,geo
still_a,2026-03-01,600,north
still_b,2026-03-01,400,north
spot,2026-03-01,1000,north
still_a,2026-03-02,10,north
still_b,2026-03-02,990,north
spot.mp4,2026-03-02,500,north
still_a,2026-03-01,5,south
ghost,2026-03-01,70,north
still_a,2026-03-01,600,north
still_b,03/01/2026,5,north
spot,2026-03-02,-1,north
"""


def modelling(tmp_path, video, thresholds=Thresholds()):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "impressions.csv").write_text(IMPRESSIONS)
    con = duckdb.connect()
    folder = write_stream(tmp_path / "results", still_rows() + video_rows(video))
    summary = run_features([folder], tmp_path / "out", BRAND, thresholds, impressions=tmp_path / "impressions.csv",
                           con=con)
    return con, summary["impressions"]


def test_the_impressions_join_checked_by_hand(tmp_path, video):
    con, check = modelling(tmp_path, video)
    cells = {(str(d), g, f): (w, wo, t) for d, g, f, w, wo, t in con.execute(
        "SELECT date, geo, format, impressions_with, impressions_without, impressions_total FROM modelling_long "
        "WHERE feature = 'big_logo'").fetchall()}
    assert cells == {("2026-03-01", "north", "static"): (600, 400, 1000), ("2026-03-02", "north", "static"): (10, 990, 1000),
                     ("2026-03-01", "south", "static"): (5, 0, 5), ("2026-03-01", "north", "video"): (1000, 0, 1000),
                     ("2026-03-02", "north", "video"): (500, 0, 500)}
    assert con.execute("SELECT count(*) FROM modelling_long WHERE format = 'static' AND feature = 'logo_first_5s'"
                       ).fetchone()[0] == 0  # video-only: no rows for stills
    wide = {str(r[0]) + r[1]: r for r in con.execute(
        'SELECT date, geo, "static__big_logo__with", "static__impressions", "video__impressions" FROM modelling_wide'
    ).fetchall()}
    assert wide["2026-03-02north"][2:] == (10, 1000, 500) and wide["2026-03-01south"][2:] == (5, 5, 0)


def test_with_plus_without_is_the_days_impressions_of_the_format_for_every_feature(tmp_path, video):
    con, _ = modelling(tmp_path, video)
    broken = con.execute("""SELECT count(*) FROM modelling_long m JOIN (
            SELECT date, geo, format, sum(impressions) AS day_total FROM impressions_checked WHERE status = 'ok'
            GROUP BY ALL) d USING (date, geo, format)
        WHERE m.impressions_with + m.impressions_without <> d.day_total OR m.impressions_total <> d.day_total""").fetchone()
    missing = con.execute("""SELECT count(*) FROM (SELECT DISTINCT date, geo, format FROM impressions_checked
                                                   WHERE status = 'ok') d JOIN applicable a USING (format)
                             ANTI JOIN modelling_long m USING (date, geo, format, feature)""").fetchone()
    features = con.execute("SELECT format, count(*) FROM applicable GROUP BY 1 ORDER BY 1").fetchall()
    assert broken == (0,) and missing == (0,) and features == [("static", 9), ("video", 23)], features


def test_bad_impression_lines_each_get_one_line_and_nothing_is_dropped(tmp_path, video):
    con, check = modelling(tmp_path, video)
    assert check["problems"] == [
        "line 9: unknown creative (not in the results) (creative_id 'ghost')",
        "line 10: duplicate of line 2 (not counted) (creative_id 'still_a')",
        "line 11: bad date \"03/01/2026\" (YYYY-MM-DD) (creative_id 'still_b')",
        "line 12: negative impressions -1 (creative_id 'spot')"]
    assert con.execute("SELECT count(*) FROM impressions_checked").fetchone()[0] == 11
    assert (check["matched_creatives"], check["unknown_ids"], check["creatives_without_impressions"]) == (3, 1, 1)
    assert (tmp_path / "out" / "impressions_checked.csv").read_text().count("\n") == 12


def test_features_under_the_minimum_share_of_impressions_are_flagged(tmp_path, video):
    con, check = modelling(tmp_path, video)
    share, flagged = con.execute("SELECT DISTINCT feature_share, flagged FROM modelling_long "
                                 "WHERE format = 'static' AND feature = 'big_logo'").fetchone()
    assert share == round(615 / 2005, 6) and flagged is False and "static__label_product_present" in check["flagged"]
    _, strict = modelling(tmp_path / "strict", video, Thresholds(min_impression_share=0.31))
    assert "static__big_logo" in strict["flagged"]


def test_the_cli_writes_both_tables_and_misuse_is_one_line(tmp_path, video, capsys):
    from creativelens.cli import main

    folder = write_stream(tmp_path / "results", still_rows() + video_rows(video))
    (tmp_path / "impressions.csv").write_text(IMPRESSIONS)
    (tmp_path / "brand.json").write_text('{"names": ["Akme"]}')
    assert main(["features", str(folder), "--out", str(tmp_path / "out"), "--brand", str(tmp_path / "brand.json"),
                 "--impressions", str(tmp_path / "impressions.csv"), "--big-logo", "0.04"]) == 0
    printed = capsys.readouterr().out
    assert "features: 4 creatives (3 static, 1 video)" in printed and "line 12: negative impressions" in printed
    for name in ("features.csv", "modelling_long.parquet", "modelling_wide.csv", "modelling_columns.json"):
        assert (tmp_path / "out" / name).is_file()
    with pytest.raises(SystemExit) as help_exit:
        main(["features", "--help"])
    assert help_exit.value.code == 0 and "--min-impression-share" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text('{"names": ["Akme"], "colour": "red"}')
    for argv, message in (([str(tmp_path / "nowhere")], "not a results folder"),
                          ([str(folder), "--big-logo", "2"], "big_logo must be between 0 and 1"),
                          ([str(folder), "--brand", str(tmp_path / "bad.json")], "unknown keys ['colour']"),
                          ([str(folder), "--impressions", str(tmp_path / "none.csv")], "no such file")):
        assert main(["features", *argv, "--out", str(tmp_path / "o2")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_the_docs_table_is_the_code_s(tmp_path):
    from creativelens.features.docs import columns_markdown, thresholds_markdown

    docs = (Path(__file__).parents[1] / "docs" / "features.md").read_text()
    assert columns_markdown() in docs and thresholds_markdown() in docs
    names = {f.name for f in dataclasses.fields(Thresholds)}
    assert all(f"`{name}`" in docs for name in names)


def test_ragged_impression_lines_and_a_damaged_results_file_are_one_line_each(tmp_path, capsys):
    from creativelens.cli import main

    folder = write_stream(tmp_path / "results", still_rows())
    (tmp_path / "ragged.csv").write_text("creative_id,date,impressions\nstill_a,2026-01-01,3\n"
                                         "still_a,2026-01-02,4,extra\nstill_b,2026-01-03\n")
    assert main(["features", str(folder), "--out", str(tmp_path / "out"), "--impressions",
                 str(tmp_path / "ragged.csv")]) == 0
    printed = capsys.readouterr().out
    assert "line 3: more fields than the header has columns" in printed
    assert "line 4: impressions (empty) is not a number" in printed and "1 ok" in printed
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "detections.parquet").write_bytes(b"PAR1 not really")
    assert main(["features", str(damaged), "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "cannot read the results" in err and "detections.parquet" in err and err.count("\n") == 1
