"""`creativelens features` on a real `stream` results folder: a still and a video assembled
from known shots, streamed through a real tritonserver (the geometry detector: class `image`
is the whole frame at 0.95, `centre` its centre quarter at 0.5, below the stream's 0.85)."""

from __future__ import annotations

import pyarrow.parquet as pq

from features_rows import write_shots_video
from serving_fixtures import GEOMETRY_MODEL

from creativelens.client.settings import RunSettings
from creativelens.client.stream import stream
from creativelens.features import Brand, Thresholds
from creativelens.features.run import run_features
from creativelens.sample_media import sample_stills


def test_features_of_a_real_stream_folder_agree_with_its_screen_time_and_tracks(geometry_server, tmp_path):
    still = sample_stills()[0]
    video = write_shots_video(tmp_path / "spot.mp4", [10, 5, 5, 5, 5, 50])
    results = tmp_path / "results"
    summary = stream([str(still), str(video)], geometry_server.grpc_url, results, RunSettings(every=5), progress=False)
    assert summary.complete and not summary.errors
    run_features([results], tmp_path / "features", Brand(), Thresholds())
    table = {r["creative_id"]: r for r in pq.read_table(tmp_path / "features" / "features.parquet").to_pylist()}
    picture, spot = table[still.stem], table["spot"]
    assert (picture["format"], picture["label_image_max_share"], picture["label_image_largest_cx"]) == ("static", 1.0, 0.5)
    assert "label_centre_present" not in picture  # scored 0.5: the stream did not keep it
    assert (spot["format"], spot["frames"], spot["duration_s"], spot["shots"], spot["first_shot_s"]) == \
        ("video", 16, 8.0, 6, 1.0)
    screen = pq.read_table(results / "screen_time.parquet").to_pylist()
    [image] = [r for r in screen if r["model"] == GEOMETRY_MODEL and r["label"] == "image"]
    assert spot["label_image_seconds"] == image["seconds_on_screen"] == 8.0
    assert spot["label_image_share_of_spot"] == image["share_of_spot"]
    assert spot["label_image_first_s"] == image["first_appearance_s"] == 0.0
    assert spot["label_image_appearances"] == image["tracks"]
    assert spot["warnings"] == "no OCR text in the results (text features null)"
