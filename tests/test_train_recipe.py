"""Issue 21: the scratch recipe is what --from-scratch writes; fine-tuning from a base of other
classes loads the trunk bit for bit and re-initialises exactly the class-dependent layers;
--freeze keeps the frozen parts bit-identical; a short real run learns; the grid's tie rule."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import yaml

from creativelens.train import recipe
from creativelens.train.synthetic_dataset import BASE_CLASSES, CLASSES, generate

R18 = ["--config", "faster_rcnn_R_50_FPN_1x", "--set", "MODEL.RESNETS.DEPTH=18",
       "--set", "MODEL.RESNETS.RES2_OUT_CHANNELS=64", "--set", "DATALOADER.NUM_WORKERS=0"]


def _train(data, out, *flags, val="val"):
    completed = subprocess.run(
        [sys.executable, "-m", "creativelens.cli", "train", *flags, "--train-json", str(data.coco_json("train")),
         "--train-images", str(data.images("train")), "--val-json", str(data.coco_json(val)),
         "--val-images", str(data.images(val)), "--out", str(out)],
        capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed.stdout


def _value(config: dict, key: str):
    for part in key.split("."):
        config = config[part]
    return config


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A (barely) trained base detector on the ten base classes, and a brand dataset."""
    root = tmp_path_factory.mktemp("recipe")
    base_data = generate(root / "base-data", seed=3, splits={"train": 4, "val": 2}, image_size=96, marks="base")
    brand_data = generate(root / "brand-data", seed=3, splits={"train": 4, "val": 2}, image_size=96)
    out = root / "base"
    log = _train(base_data, out, *R18, "--from-scratch", "--iterations", "2", "--ims-per-batch", "2",
                 "--set", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE=64")
    return out, brand_data, log


def test_from_scratch_writes_the_measured_recipe_into_config_yaml(base):
    out, _, log = base
    config = yaml.safe_load((out / "config.yaml").read_text())
    for choice in recipe.SCRATCH:
        if choice.key != "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE":
            assert _value(config, choice.key) == choice.value, choice.key
            assert f"{choice.key} = {choice.value}: {choice.why}" in log or choice.key == "MODEL.WEIGHTS"
    assert config["MODEL"]["ROI_HEADS"]["BATCH_SIZE_PER_IMAGE"] == 64  # --set wins, and says so
    assert "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 64 (--set; the recipe's 128)" in log
    assert config["SOLVER"]["BASE_LR"] == pytest.approx(recipe.scratch_lr(2)) == pytest.approx(0.01)
    assert config["INPUT"]["MIN_SIZE_TRAIN"] == [96] and config["INPUT"]["MIN_SIZE_TEST"] == 96
    assert "learning rate 0.01 (scratch recipe: 0.08 x 2 / 16" in log
    assert (out / "labels.txt").read_text().split() == list(BASE_CLASSES)


def _reinitialised(line: str) -> list[str]:
    import re

    return re.findall(r"(\w+\.\w+) \[[\d, ]+\] -> ", line.split("re-initialised ")[1].split("; ")[0])


def test_fine_tuning_loads_the_trunk_bit_for_bit_and_reinitialises_only_the_predictor(base):
    from detectron2.modeling import build_model

    from creativelens.train.start_weights import StartWeights
    from creativelens.train.training import TrainSpec, configure

    out, brand, _ = base
    spec = TrainSpec(str(out / "config.yaml"), brand.coco_json("train"), brand.images("train"), brand.coco_json("val"),
                     brand.images("val"), out.parent / "unused", weights=str(out / "model_final.pth"))
    model = build_model(configure(spec, len(CLASSES)))
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    said = []
    StartWeights(model, CLASSES, said.append).load_start(str(out / "model_final.pth"))
    checkpoint = torch.load(out / "model_final.pth", map_location="cpu", weights_only=True)["model"]
    loaded = model.state_dict()
    predictor = {k for k in loaded if k.startswith("roi_heads.box_predictor.")}
    assert predictor == {f"roi_heads.box_predictor.{layer}.{kind}" for layer in ("cls_score", "bbox_pred")
                         for kind in ("weight", "bias")}
    for key, tensor in loaded.items():
        if key in predictor:
            assert torch.equal(tensor, fresh[key]), key  # the fresh initialisation, not the base's
            assert tensor.shape != checkpoint[key].shape
        else:
            assert torch.equal(tensor, torch.as_tensor(checkpoint[key])), key
    assert len(said) == 1 and "its 10 classes are not the dataset's 5" in said[0]
    assert sorted(_reinitialised(said[0])) == sorted(k.removeprefix("roi_heads.box_predictor.") for k in predictor)
    assert "cls_score.weight [11, 1024] -> [6, 1024]" in said[0] and "bbox_pred.weight [40, 1024] -> [20, 1024]" in said[0]


def test_a_base_of_another_architecture_is_one_line(base, tmp_path):
    out, brand, _ = base
    completed = subprocess.run(
        [sys.executable, "-m", "creativelens.cli", "train", "--config", "faster_rcnn_R_50_FPN_1x",
         "--set", "MODEL.RESNETS.DEPTH=18", "--set", "MODEL.RESNETS.RES2_OUT_CHANNELS=64",
         "--weights", str(out / "model_final.pth"), "--iterations", "1",
         "--train-json", str(brand.coco_json("train")), "--train-images", str(brand.images("train")),
         "--val-json", str(brand.coco_json("val")), "--val-images", str(brand.images("val")), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert "Traceback" not in completed.stderr
    assert "does not fit this model" in completed.stderr and "train with the base's own config.yaml" in completed.stderr


@pytest.mark.parametrize("level", ["trunk", "box-features"])
def test_frozen_parts_stay_bit_identical_to_the_base(base, tmp_path, level):
    from creativelens.train.freezing import FREEZE_LEVELS, digest

    out, brand, _ = base
    log = _train(brand, tmp_path / "head", "--config", str(out / "config.yaml"), "--weights",
                 str(out / "model_final.pth"), "--freeze", level, "--iterations", "2", "--ims-per-batch", "2",
                 "--set", "SOLVER.BASE_LR=0.05")
    before = torch.load(out / "model_final.pth", map_location="cpu", weights_only=True)["model"]
    after = torch.load(tmp_path / "head" / "model_final.pth", map_location="cpu", weights_only=True)["model"]
    frozen = [k for k in after if k.startswith(FREEZE_LEVELS[level])]
    trained = [k for k in after if not k.startswith(FREEZE_LEVELS[level]) and not k.startswith("roi_heads.box_predictor")
               and k in before]
    assert frozen and digest(after, frozen) == digest(before, frozen)
    assert json.loads((tmp_path / "head" / "frozen.json").read_text())["sha256"] == digest(before, frozen)
    assert any(not torch.equal(after[k], before[k]) for k in trained) or level == "box-features"
    assert not any(torch.equal(after[k], before[k]) for k in trained if k.endswith("weight")) or level == "box-features"
    assert f"--freeze {level}: {len(frozen)} tensors" in log


def test_freeze_without_start_weights_is_one_line(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "creativelens.cli", "train", *R18, "--from-scratch", "--freeze", "trunk",
         "--train-json", "x.json", "--train-images", ".", "--val-json", "x.json", "--val-images", ".",
         "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1


def test_a_short_real_run_learns(tmp_path):
    """The start checkpoint (one step from scratch) against the same run 120 steps on: the AP on
    the images it trains on must rise well above the start's (a broken loader, augmentation,
    learning rate or loss would keep it near zero)."""
    from creativelens.train.evaluation import coco_metrics, predict_checkpoint
    from creativelens.train.labels import read_coco

    data = generate(tmp_path / "data", seed=4, splits={"train": 6, "val": 2}, image_size=128)
    common = [*R18, "--ims-per-batch", "2", "--set", "SEED=1"]
    _train(data, tmp_path / "start", *common, "--from-scratch", "--iterations", "1", val="train")
    _train(data, tmp_path / "trained", "--config", str(tmp_path / "start" / "config.yaml"),
           "--weights", str(tmp_path / "start" / "model_final.pth"), "--iterations", "120",
           "--ims-per-batch", "2", "--set", "DATALOADER.NUM_WORKERS=0", "--set", "SOLVER.BASE_LR=0.02", val="train")
    dataset = read_coco(data.coco_json("train"), data.images("train"))

    def ap(folder):
        predictions, names = predict_checkpoint(folder / "config.yaml", folder / "model_final.pth",
                                                data.images("train"), dataset)
        return coco_metrics(dataset, predictions, names)["AP50"]

    start, trained = ap(tmp_path / "start"), ap(tmp_path / "trained")
    assert trained > max(0.2, start + 0.15), (start, trained)


def test_the_grid_winner_breaks_ties_by_ap_then_grid_order():
    from creativelens.train.grid import winner

    runs = [{"name": "a", "accuracy": 0.5, "AP": 0.4}, {"name": "b", "accuracy": 0.7, "AP": 0.3},
            {"name": "c", "accuracy": 0.7, "AP": 0.6}, {"name": "d", "accuracy": 0.7, "AP": 0.6}]
    assert winner(runs)["name"] == "c"
    assert winner(runs[:2])["name"] == "b"
    assert winner([runs[3], runs[2]])["name"] == "d"


def test_the_base_set_is_other_classes_and_the_same_bytes_for_a_seed(tmp_path):
    import hashlib

    def files(root):
        return {p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}

    first = generate(tmp_path / "a", seed=7, splits={"train": 3}, image_size=96, marks="base")
    second = generate(tmp_path / "b", seed=7, splits={"train": 3}, image_size=96, marks="base")
    assert files(first.root) == files(second.root)
    assert not set(BASE_CLASSES) & set(CLASSES)
    labels = json.loads(first.coco_json("train").read_text())
    assert {c["name"] for c in labels["categories"]} == set(BASE_CLASSES) and labels["annotations"]
