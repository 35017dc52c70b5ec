"""Session fixtures shared by every component's tests.

`exported_repository`: the real Faster R-CNN R50 (random weights), exported once per session
through the same code as `creativelens export`, at small CPU canvases, parity checked.
Set CREATIVELENS_TEST_REPOSITORY to an existing repository to skip the export while developing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from serving_fixtures import detector_server, geometry_repository, geometry_server  # noqa: F401

TEST_MODEL = "faster_rcnn_R_50_FPN_1x"
TEST_CANVASES = ("320x320", "320x480", "480x320")


@pytest.fixture(scope="session")
def exported_repository(tmp_path_factory) -> Path:
    prebuilt = os.environ.get("CREATIVELENS_TEST_REPOSITORY")
    if prebuilt:
        return Path(prebuilt)
    from creativelens.canvas import parse_canvas
    from creativelens.export.repository import export_to_repository
    from creativelens.export.zoo import load_detector
    from creativelens.sample_media import sample_stills

    repository = tmp_path_factory.mktemp("exported") / "repository"
    export_to_repository(
        load_detector(TEST_MODEL, random_weights=True), [parse_canvas(c) for c in TEST_CANVASES],
        repository, sample_stills()[:4], log=lambda message: None,
    )
    return repository
