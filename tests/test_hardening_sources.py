"""Issue 15.1: an OSError on one input (permission, FIFO, symlink loop, vanished file) is that
item's error record with the OS's reason; the other inputs still come out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from creativelens.client.sources import iter_items
from creativelens.sample_media import sample_stills

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
LIST_ITEMS = ("import json, sys; from creativelens.client.sources import iter_items; "
              "print(json.dumps([[i.source, i.error] for i in iter_items(sys.argv[1:])]))")


@pytest.fixture
def public_dir():
    folder = Path(tempfile.mkdtemp(prefix="cl-harden-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _errors(items) -> dict[str, str | None]:
    return {Path(source).name: error for source, error in items}


def test_fifo_and_symlink_loop_are_named(public_dir):
    shutil.copy(sample_stills()[0], public_dir / "good.jpg")
    os.mkfifo(public_dir / "pipe.jpg")
    os.symlink(public_dir / "loop-b", public_dir / "loop-a")
    os.symlink(public_dir / "loop-a", public_dir / "loop-b")
    in_folder = _errors([i.source, i.error] for i in iter_items([str(public_dir)]))
    named = _errors([i.source, i.error] for i in iter_items([str(public_dir / "pipe.jpg"), str(public_dir / "loop-a")]))
    for errors in (in_folder, named):
        assert "FIFO" in errors["pipe.jpg"]
        assert "symlink loop" in errors["loop-a"]
    assert in_folder["good.jpg"] is None


def test_unreadable_file_is_an_error_record_and_the_rest_go_on(public_dir):
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed: cannot run as an unprivileged user")
    good = [shutil.copy(path, public_dir / f"{n}-{Path(path).name}") for n, path in enumerate(sample_stills()[:2])]
    locked = public_dir / "1a-locked.jpg"
    shutil.copy(sample_stills()[0], locked)
    locked.chmod(0o000)
    sealed = public_dir / "sealed"
    sealed.mkdir()
    shutil.copy(sample_stills()[0], sealed / "inside.jpg")
    sealed.chmod(0o000)
    probe = subprocess.run([*NOBODY, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot switch to uid 65534: {probe.stderr.decode().strip()}")
    for args in ([str(public_dir)], [str(locked), *map(str, good)]):
        done = subprocess.run([*NOBODY, sys.executable, "-c", LIST_ITEMS, *args], capture_output=True,
                              text=True, timeout=60, cwd=public_dir)
        if "Permission denied" in done.stderr and "python" in done.stderr.lower() and not done.stdout:
            pytest.skip(f"uid 65534 cannot run this interpreter: {done.stderr.strip()[-200:]}")
        assert done.returncode == 0, done.stderr
        errors = _errors(json.loads(done.stdout))
        assert errors["1a-locked.jpg"] == "cannot read: Permission denied"
        assert all(errors[Path(path).name] is None for path in good)
        if args == [str(public_dir)]:
            assert errors["sealed"] == "cannot read folder: Permission denied"


def test_vanished_file_is_an_error_record(public_dir):
    first, second = (shutil.copy(sample_stills()[0], public_dir / name) for name in ("a.jpg", "b.jpg"))
    items = iter_items([str(public_dir)])
    assert next(items).error is None
    os.unlink(second)
    gone = next(items)
    assert Path(gone.source).name == "b.jpg" and "vanished" in gone.error
