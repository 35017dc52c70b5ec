"""What to analyse: expand inputs into media files, sniff them by content, and yield items.

An item is one still or one sampled video frame, named by `item_name(source, frame_index)`
(its key in every sink and in the resume ledger). How videos are sampled is the run's
`RunSettings`; what an earlier run finished is a `Finished`. Everything is lazy: folders are walked,
list files read and videos decoded while the pipeline consumes, so memory does not grow with
the number of files or the length of a video. Bad input never raises here: it becomes an item
with an `error` message.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from creativelens.client.settings import DEFAULT_MAX_PIXELS, RunSettings
from creativelens.item_result import item_name

PLAUSIBLE_FRAME_RATES = (1.0, 300.0)  # outside (or none): --fps falls back to every Nth frame
GLOB_CHARACTERS = set("*?[")


class MediaError(Exception):
    """A file that cannot be analysed; the message says why, for the error record."""


@dataclass(frozen=True)
class Item:
    """One still or video frame. Stills are decoded later (in the worker pool); frames arrive
    decoded because a video can only be decoded in order."""

    source: str
    frame_index: int | None = None
    timestamp_s: float | None = None
    frame_bgr: np.ndarray | None = None
    error: str | None = None
    warning: str | None = None  # e.g. a video whose frame rate made --fps fall back to --every
    # Finished by an earlier run, and decoded again only so that its video's repeat decisions
    # replay as in an uninterrupted run (see `Finished.replay`): never sent or recorded.
    done: bool = False

    @property
    def key(self) -> str:
        return item_name(self.source, self.frame_index)


@dataclass(frozen=True)
class Finished:
    """What an earlier run finished: `is_done(key)` items are skipped (handed to `on_skip`); a
    finished frame for which `replay(key)` holds (its detections were inferred, not reused) is
    decoded again and yielded marked `done`, so that the frames after it make the same repeat
    decisions as in an uninterrupted run."""

    is_done: Callable[[str], bool] = lambda key: False
    on_skip: Callable[[Item], None] = lambda item: None
    replay: Callable[[str], bool] = lambda key: False


NOTHING_FINISHED = Finished()


# --- inputs -> paths ---------------------------------------------------------------------------

def expand_inputs(inputs: Iterable[str]) -> Iterator[Path | Item]:
    """Files, folders (recursive, sorted), globs and list files -> media paths, once each.

    A path that does not exist comes out as an error `Item`. A text file named on the command
    line (or in a list file) is read as a list of paths, one per line (`#` starts a comment,
    relative paths are relative to the list file's folder); a text file found inside a folder
    is just a file that is not media.
    """
    seen: set[str] = set()

    def emit(path: Path) -> Iterator[Path]:
        name = os.path.abspath(path)
        if name not in seen:
            seen.add(name)
            yield Path(name)

    def expand(text: str, base: Path, depth: int) -> Iterator[Path | Item]:
        path = Path(text)
        if not path.is_absolute():
            path = base / path
        if path.is_dir():
            for found in _walk(path):
                if isinstance(found, Item):
                    yield found
                else:
                    yield from emit(found)
        elif path.is_file():
            if depth < 4 and _is_path_list(path):
                for line in path.read_text(encoding="utf-8").splitlines():
                    line = line.strip()
                    if line and not line.startswith("#"):
                        yield from expand(line, path.parent, depth + 1)
            else:
                yield from emit(path)
        elif GLOB_CHARACTERS & set(text):
            matches = sorted(glob.glob(str(path), recursive=True))
            if not matches:
                yield Item(os.path.abspath(path), error=f"no file matches the pattern {text!r}")
            for match in matches:
                yield from expand(match, base, depth)
        else:
            yield Item(os.path.abspath(path), error=_not_a_file(path) or "no such file or folder")

    for text in inputs:
        yield from expand(text, Path.cwd(), 0)


def _walk(folder: Path) -> Iterator[Path | Item]:
    """Files under `folder`, sorted; a subfolder that cannot be listed is an error `Item`."""
    unreadable: list[OSError] = []
    for root, dirs, files in os.walk(folder, onerror=unreadable.append):
        while unreadable:
            error = unreadable.pop()
            yield Item(os.path.abspath(error.filename), error=f"cannot read folder: {_reason(error)}")
        dirs.sort()
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name
    for error in unreadable:
        yield Item(os.path.abspath(error.filename), error=f"cannot read folder: {_reason(error)}")


def _reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "symlink loop (too many levels of symbolic links)"
    return error.strerror or str(error)


def _not_a_file(path: Path) -> str | None:
    """Why `path` is no regular, readable file (the OS's reason), or None when it is one."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        return None if error.errno == errno.ENOENT and not os.path.islink(path) else f"cannot read: {_reason(error)}"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a media file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a media file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a media file"
    if stat.S_ISDIR(mode) or not stat.S_ISREG(mode):
        return None
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as error:
        return f"cannot read: {_reason(error)}"
    return None


def _is_path_list(path: Path) -> bool:
    """A small UTF-8 text file whose first line names an existing path (or a glob)."""
    try:
        if path.stat().st_size > 50_000_000:
            return False
        with open(path, "rb") as handle:
            head = handle.read(4096)
        if b"\0" in head:
            return False
        text = head.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            candidate = Path(line) if Path(line).is_absolute() else path.parent / line
            return candidate.exists() or bool(GLOB_CHARACTERS & set(line)) or Path(line).exists()
    return False


# --- content sniffing --------------------------------------------------------------------------

def sniff(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """'still' or 'video', judged by content (never by extension); MediaError otherwise."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise MediaError(f"cannot read: {error.strerror or error}") from None
    if size == 0:
        raise MediaError("empty file (0 bytes)")
    if _pillow_dimensions(path, max_pixels) or _opencv_reads(path):
        return "still"
    container = _ffmpeg_container(path)
    if container is None:
        if _looks_like_video(path):
            raise MediaError("corrupt or truncated video: it starts like a video container, but FFmpeg "
                             "cannot open it")
        raise MediaError("not an image or video: content not recognised by Pillow, OpenCV or FFmpeg")
    name, video_streams = container
    if not video_streams:
        raise MediaError(f"video has no frames (FFmpeg reads a {name} container without a video stream)")
    return "video"


def _pillow_dimensions(path: Path, max_pixels: int) -> tuple[int, int] | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
    except Image.DecompressionBombError as error:
        raise MediaError(f"refused as a decompression bomb: {error}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    check_dimensions(width, height, max_pixels)
    return width, height


def _opencv_reads(path: Path) -> bool:
    import cv2

    try:
        return bool(cv2.haveImageReader(str(path)))
    except cv2.error:
        return False


def _ffmpeg_container(path: Path) -> tuple[str, int] | None:
    """(format name, number of video streams) of a container FFmpeg recognises, else None.

    FFmpeg's still-image demuxers (which trust the extension) do not count: Pillow and OpenCV
    have already said the content is no image.
    """
    import av

    try:
        with av.open(str(path)) as container:
            name = container.format.name
            formats = set(name.split(","))
            if formats & {"image2", "image2pipe", "tty"} or any(f.endswith("_pipe") for f in formats):
                return None
            return name, len(container.streams.video)
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        return None


def _looks_like_video(path: Path) -> bool:
    """The magic bytes of common video containers (AVI, MP4/MOV, Matroska/WebM, FLV, Ogg, MPEG)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return False
    return ((head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX")) or head[4:8] == b"ftyp"
            or head.startswith((b"\x1a\x45\xdf\xa3", b"FLV", b"OggS", b"\x00\x00\x01\xba")))


def check_dimensions(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise MediaError(f"invalid dimensions {width}x{height}")
    if width * height > max_pixels:
        raise MediaError(
            f"refused as a decompression bomb: {width}x{height} = {width * height:,} pixels "
            f"exceeds the limit of {max_pixels:,} (--max-pixels)"
        )


# --- paths -> items ----------------------------------------------------------------------------

def iter_items(inputs: Iterable[str], settings: RunSettings = RunSettings(),
               finished: Finished = NOTHING_FINISHED) -> Iterator[Item]:
    """Every still and every sampled video frame of `inputs`, skipping finished keys (see
    `items_of_file`)."""
    for entry in expand_inputs(inputs):
        if isinstance(entry, Item):
            if finished.is_done(entry.key):
                finished.on_skip(entry)
            else:
                yield entry
        else:
            yield from items_of_file(entry, settings, finished)


def items_of_file(path: Path, settings: RunSettings = RunSettings(),
                  finished: Finished = NOTHING_FINISHED) -> Iterator[Item]:
    """The still, or the sampled frames (`settings.every`, or `settings.fps`), of one file that
    are not finished yet; bad input as one error item. The one place where a file becomes items
    (`stream` and the Spark tasks). A video is still decoded to reach its unfinished frames."""
    for item in _items_of_file(path, settings, finished):
        if item.done or finished.is_done(item.key):
            finished.on_skip(item)
            if item.done and item.frame_bgr is not None:
                yield item
        else:
            yield item


def _items_of_file(path: Path, settings: RunSettings, finished: Finished) -> Iterator[Item]:
    source = str(path)
    if finished.is_done(item_name(source, None)):
        yield Item(source, done=True)  # a finished still, or a video that failed as a whole
        return
    problem = _not_a_file(path)
    if problem is None and not path.exists():
        problem = "cannot read: the file vanished (no such file)"
    if problem is not None:
        yield Item(source, error=problem)
        return
    try:
        kind = sniff(path, settings.max_pixels)
    except MediaError as error:
        yield Item(source, error=str(error))
        return
    except OSError as error:
        yield Item(source, error=f"cannot read: {_reason(error)}")
        return
    if kind == "still":
        yield Item(source)
    else:
        yield from iter_frames(path, settings, finished)


def iter_frames(path: Path, settings: RunSettings = RunSettings(),
                finished: Finished = NOTHING_FINISHED) -> Iterator[Item]:
    """Frames 0, every, 2*every, ... of the first video stream, with their timestamps.

    With `fps`, the first frame at or after each tick 0, 1/fps, 2/fps, ... of video time
    instead, so sources of any frame rate sample the same moments. A video whose frame rate is
    missing or implausible (`PLAUSIBLE_FRAME_RATES`) falls back to every `every`-th frame, and
    each of its items carries a `warning` saying so.

    Finished frames come out marked `done`, without pixels unless `finished.replay` holds for
    them. A video that cannot be opened or has no frames is one error item; a
    decoding failure after some frames is an error item at the frame where decoding stopped.
    """
    import av

    source = str(path)
    every, fps, max_pixels = settings.every, settings.fps, settings.max_pixels
    index = -1
    try:
        with av.open(source) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            check_dimensions(stream.codec_context.width, stream.codec_context.height, max_pixels)
            rate = stream.average_rate or stream.guessed_rate
            warning = None
            if fps is not None and not (rate and PLAUSIBLE_FRAME_RATES[0] <= float(rate) <= PLAUSIBLE_FRAME_RATES[1]):
                warning = (f"frame rate {'missing' if not rate else f'{float(rate):g} fps, implausible'}: "
                           f"sampled every {every}th frame instead of --fps {fps:g}")
            next_tick = 0
            for index, frame in enumerate(container.decode(stream)):
                timestamp = _timestamp(frame, index, rate)
                if fps is None or warning is not None:
                    if index % every:
                        continue
                else:
                    # ticks count in units of 1/fps; a frame within 1 µs of a tick is on it
                    if timestamp * fps < next_tick - 1e-6 * fps:
                        continue
                    next_tick = int(timestamp * fps + 1e-6 * fps) + 1
                if frame.width * frame.height > max_pixels:
                    check_dimensions(frame.width, frame.height, max_pixels)
                key = item_name(source, index)
                if finished.is_done(key):
                    pixels = frame.to_ndarray(format="bgr24") if finished.replay(key) else None
                    yield Item(source, index, timestamp, frame_bgr=pixels, warning=warning, done=True)
                    continue
                yield Item(source, index, timestamp, frame_bgr=frame.to_ndarray(format="bgr24"), warning=warning)
    except MediaError as error:
        yield Item(source, error=str(error)) if index < 0 else Item(source, index + 1, error=str(error))
        return
    except (av.FFmpegError, OSError, ValueError, IndexError) as error:
        message = f"video cannot be decoded: {error}"
        yield Item(source, error=message) if index < 0 else Item(source, index + 1, error=message)
        return
    if index < 0:
        yield Item(source, error="video has no frames")


def _timestamp(frame, index: int, rate: Fraction | None) -> float | None:
    if frame.pts is not None and frame.time_base is not None:
        return round(float(frame.pts * frame.time_base), 6)
    if rate:
        return round(index / float(rate), 6)
    return None
