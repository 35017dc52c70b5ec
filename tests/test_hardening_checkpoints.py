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


# Issue 25.3: a checkpoint that does not fit the architecture is refused, naming what does not fit.

@pytest.fixture(scope="module")
def state(weights_pkl):
    return {k: torch.from_numpy(v) for k, v in pickle.loads(weights_pkl.read_bytes())["model"].items()}


def _export(tmp_path, capsys, weights, *flags):
    from creativelens.cli import main

    code = main(["export", "--model", MODEL, "--weights", str(weights), "--out", str(tmp_path / "repo"), *flags])
    return code, capsys.readouterr().err.strip()


BOX_PREDICTOR = ("roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.cls_score.bias",
                 "roi_heads.box_predictor.bbox_pred.weight", "roi_heads.box_predictor.bbox_pred.bias")


def test_missing_tensors_are_refused_by_name(state, tmp_path, capsys):
    path = tmp_path / "headless.pth"
    torch.save({"model": {k: v for k, v in state.items() if k not in BOX_PREDICTOR}}, path)
    code, err = _export(tmp_path, capsys, path)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "4 of" in err and "missing" in err and all(key in err for key in BOX_PREDICTOR)
    assert not (tmp_path / "repo" / MODEL).exists()


def test_unexpected_tensors_are_refused_unless_allowed(state, tmp_path, capsys):
    path = tmp_path / "extra.pth"
    torch.save({"model": {**state, "bogus.extra.weight": torch.zeros(3)}}, path)
    code, err = _export(tmp_path, capsys, path)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "bogus.extra.weight" in err and "--allow-unused-weights" in err and "missing" not in err
    said = []
    detector = load_detector(MODEL, weights=str(path), allow_unused_weights=True, log=said.append)
    assert len(said) == 1 and "bogus.extra.weight" in said[0]
    loaded = detector.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_a_tensor_of_another_shape_is_a_shape_mismatch_not_also_missing(state, tmp_path, capsys):
    path = tmp_path / "eleven_classes.pth"
    key = "roi_heads.box_predictor.cls_score.weight"
    torch.save({"model": {**state, key: torch.zeros(11, state[key].shape[1])}}, path)
    code, err = _export(tmp_path, capsys, path)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"1 tensors of other shapes: {key} [11, 1024] (model [81, 1024])" in err
    assert "missing" not in err


@pytest.mark.parametrize("content, says", [
    (b"hello, this is not a checkpoint\n", "a text file, not a checkpoint (it begins 'hello, this is not a checkpoint')"),
    (b"", "empty (0 bytes)"),
])
@pytest.mark.parametrize("suffix", [".pth", ".pkl"])
def test_a_file_that_is_no_checkpoint_says_what_it_is(tmp_path, capsys, content, says, suffix):
    path = tmp_path / f"text{suffix}"
    path.write_bytes(content)
    code, err = _export(tmp_path, capsys, path)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert str(path) in err and says in err


def test_a_truncated_checkpoint_says_so(state, tmp_path, capsys):
    whole = tmp_path / "whole.pth"
    torch.save({"model": state}, whole)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    code, err = _export(tmp_path, capsys, cut)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "truncated" in err
