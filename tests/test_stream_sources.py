"""Inputs, content sniffing, frame sampling and decoding of the streaming client (no server)."""

from __future__ import annotations

import numpy as np
import pytest

from creativelens.canvas import parse_canvas
from creativelens.client.decode import decode_still, prepare, prepared_in_background
from creativelens.client.settings import RunSettings
from creativelens.client.sources import Finished, MediaError, expand_inputs, iter_frames, iter_items, sniff
from creativelens.sample_media import sample_stills, sample_video
from serving_fixtures import (copy_with_wrong_extension, write_bad_inputs, write_png_header_bomb,
                              write_stills_in_every_format, write_video)

CANVASES = [parse_canvas(text) for text in ("320x320", "320x480", "480x320")]


def test_stills_are_recognised_by_content_in_every_format(tmp_path):
    sizes = write_stills_in_every_format(tmp_path)
    for name, (width, height) in sizes.items():
        assert sniff(tmp_path / name) == "still", name
        pixels = decode_still(tmp_path / name)
        assert pixels.shape == (height, width, 3) and pixels.dtype == np.uint8


def test_gif_uses_its_first_frame(tmp_path):
    write_stills_in_every_format(tmp_path)
    first = decode_still(tmp_path / "animated.gif").astype(int)
    reference = decode_still(tmp_path / "photo.png").astype(int)
    flipped = reference[:, ::-1]
    assert np.abs(first - reference).mean() < np.abs(first - flipped).mean()


def test_extension_does_not_decide(tmp_path):
    png_named_jpg = copy_with_wrong_extension(sample_stills()[0], tmp_path / "really_a_png.jpg")
    video_named_png = write_video(tmp_path / "clip.avi", 3).rename(tmp_path / "clip.png")
    assert sniff(png_named_jpg) == "still"
    assert sniff(video_named_png) == "video"
    assert [item.frame_index for item in iter_items([str(video_named_png)], RunSettings(every=1))] == [0, 1, 2]


@pytest.mark.parametrize("every", [1, 7, 10, 100])
def test_video_frames_every_nth_with_timestamps(tmp_path, every):
    video = write_video(tmp_path / "clip.mp4", 23, fps=10)
    frames = list(iter_frames(video, RunSettings(every=every)))
    assert [f.frame_index for f in frames] == list(range(0, 23, every))
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 10 for i in range(0, 23, every)])
    assert all(f.frame_bgr.shape == (96, 160, 3) for f in frames)


def test_known_video_frame_count():
    """vtest.avi (opencv-doc) has 795 frames: 0, 100, ..., 700 with a stride of 100."""
    frames = list(iter_frames(sample_video(), RunSettings(every=100)))
    assert [f.frame_index for f in frames] == list(range(0, 795, 100))
    assert frames[1].timestamp_s == pytest.approx(100 / 10, rel=0.01)  # vtest.avi runs at 10 fps


def test_bad_inputs_become_error_items_with_clear_messages(tmp_path):
    expected = write_bad_inputs(tmp_path)
    items = {item.source.rsplit("/", 1)[1]: item for item in iter_items([str(tmp_path)])}
    prepared = {name: prepare(item, CANVASES) for name, item in items.items()}
    assert set(prepared) == set(expected)
    for name, fragment in expected.items():
        assert prepared[name].error and fragment in prepared[name].error, (name, prepared[name].error)


def test_pixel_limit_applies_to_stills_and_frames(tmp_path):
    still = copy_with_wrong_extension(sample_stills()[0], tmp_path / "photo.png")
    with pytest.raises(MediaError, match="decompression bomb"):
        sniff(still, max_pixels=1000)
    assert "decompression bomb" in prepare(next(iter_items([str(still)], RunSettings(max_pixels=1000))), CANVASES).error
    video = write_video(tmp_path / "clip.mp4", 3)
    frames = list(iter_frames(video, RunSettings(every=1, max_pixels=1000)))
    assert len(frames) == 1 and "decompression bomb" in frames[0].error
    with pytest.raises(MediaError, match="decompression bomb"):
        sniff(write_png_header_bomb(tmp_path / "bomb.png", 20_000, 20_000))


def test_inputs_folders_globs_lists_and_missing_paths(tmp_path):
    write_stills_in_every_format(tmp_path / "a" / "b")
    write_video(tmp_path / "clip.avi", 2)
    listing = tmp_path / "list.txt"
    listing.write_text("# my media\nclip.avi\na/b/photo.jpg\nmissing.png\n")
    paths = [str(p) for p in expand_inputs([str(tmp_path / "a")]) if not hasattr(p, "error")]
    assert len(paths) == 6 and paths == sorted(paths)
    globbed = list(expand_inputs([str(tmp_path / "**" / "*.png")]))
    assert [p.name for p in globbed] == ["photo.png"]
    listed = list(expand_inputs([str(listing), str(tmp_path / "a" / "b" / "photo.jpg")]))
    assert [getattr(p, "name", None) for p in listed[:2]] == ["clip.avi", "photo.jpg"]
    assert listed[2].error == "no such file or folder" and listed[2].source.endswith("missing.png")
    assert len(listed) == 3, "a path named twice is analysed once"


def test_items_already_done_are_skipped_not_decoded(tmp_path):
    video = write_video(tmp_path / "clip.avi", 6)
    done = {f"{video}#frame=0", f"{video}#frame=4"}
    skipped = []
    items = list(iter_items([str(video)], RunSettings(every=2), Finished(is_done=done.__contains__, on_skip=skipped.append)))
    assert [i.frame_index for i in items] == [2]
    assert sorted(s.frame_index for s in skipped) == [0, 4]


def test_letterbox_in_background_keeps_order_and_picks_the_closest_bucket(tmp_path):
    video = write_video(tmp_path / "clip.avi", 5, size=(192, 96))
    portrait = tmp_path / "portrait.png"
    from PIL import Image
    Image.new("RGB", (100, 160), "white").save(portrait)
    inputs = [str(video), str(portrait)]
    prepared = list(prepared_in_background(iter_items(inputs, RunSettings(every=1)), CANVASES, workers=2, lookahead=2))
    assert [p.item.frame_index for p in prepared] == [0, 1, 2, 3, 4, None]
    assert prepared[0].boxed.canvas.name == "320x480"
    assert (prepared[0].boxed.valid_height, prepared[0].boxed.valid_width) == (240, 480)
    assert prepared[-1].boxed.canvas.name == "480x320"


def test_items_stream_lazily_whatever_the_input_length(tmp_path):
    """A never-ending source still yields its first items: nothing lists all inputs or frames."""
    from itertools import count, islice

    from creativelens.client.sources import Item

    still = str(sample_stills()[0])
    endless = (Item(still) for _ in count())
    first = list(islice(prepared_in_background(endless, CANVASES, workers=2, lookahead=4), 5))
    assert len(first) == 5 and all(p.error is None for p in first)
    frames = iter_items([str(sample_video())], RunSettings(every=1))
    assert [next(frames).frame_index for _ in range(3)] == [0, 1, 2]
