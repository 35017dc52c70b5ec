"""Issue 15.5: a checkpoint cannot run code; its sha256 is known and a zoo name's hash is checked."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from creativelens.errors import UserError
from creativelens.export.zoo import load_detector
from creativelens.model_metadata import sha256_of

MODEL = "faster_rcnn_R_50_FPN_1x"


class _RunsAShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def weights_pkl(tmp_path_factory):
    detector = load_detector(MODEL, random_weights=True)
    state = {k: v.numpy() for k, v in detector.model.state_dict().items()}
    path = tmp_path_factory.mktemp("weights") / "weights.pkl"
    path.write_bytes(pickle.dumps({"model": state, "__author__": "test"}, protocol=2))
    return path


def test_a_pkl_that_would_run_a_shell_command_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"model": {"x": _RunsAShell(marker)}, "__author__": "x"}))
    with pytest.raises(UserError) as refused:
        load_detector(MODEL, weights=str(evil))
    assert not marker.exists()
    message = str(refused.value)
    assert "\n" not in message and str(evil) in message and "posix.system" in message


def test_a_pth_with_code_is_refused_in_one_line(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pth"
    torch.save({"model": {"x": _RunsAShell(marker)}}, evil)
    with pytest.raises(UserError) as refused:
        load_detector(MODEL, weights=str(evil))
    assert not marker.exists()
    assert "\n" not in str(refused.value) and str(evil) in str(refused.value)


def test_weights_load_with_their_sha256(weights_pkl):
    detector = load_detector(MODEL, weights=str(weights_pkl))
    assert detector.weights_sha256 == sha256_of(weights_pkl)
    assert load_detector(MODEL, random_weights=True).weights_sha256 == ""


def test_a_zoo_name_whose_hash_does_not_match_is_refused(weights_pkl, tmp_path):
    digest = sha256_of(weights_pkl)
    wrong = tmp_path / f"model_final_{'0' if digest[0] != '0' else '1'}{digest[1:6]}.pkl"
    right = tmp_path / f"model_final_{digest[:6]}.pkl"
    wrong.write_bytes(weights_pkl.read_bytes())
    right.write_bytes(weights_pkl.read_bytes())
    with pytest.raises(UserError, match="does not start with"):
        load_detector(MODEL, weights=str(wrong))
    assert load_detector(MODEL, weights=str(right)).weights_sha256 == digest
