"""Export of the real Faster R-CNN R50 (random weights): files, parity, formats, CLI errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import TEST_CANVASES, TEST_MODEL
from creativelens.canvas import Canvas
from creativelens.errors import UserError
from creativelens.export import parity
from creativelens.export.batched_rcnn import BatchedFasterRCNN
from creativelens.export.model_files import MIN_OPSET, OnnxRunner, TorchRunner, export_onnx
from creativelens.export.repository import sample_batch
from creativelens.export.zoo import load_detector
from creativelens.model_metadata import read_model_metadata, sha256_of
from creativelens.sample_media import sample_stills


@pytest.fixture(scope="module")
def detector():
    return load_detector(TEST_MODEL, random_weights=True)


@pytest.fixture(scope="module")
def photos_320():
    return sample_batch(sample_stills()[:4], Canvas(320, 320))


def test_repository_layout(exported_repository):
    model_dir = exported_repository / TEST_MODEL
    for relative in ("1/model.onnx", "1/model.pt", "1/model.py", "1/openvino_model.py", "labels.txt",
                     "parity.json", "config.pbtxt", "configs/cpu.pbtxt", "configs/cpu_onnxruntime.pbtxt",
                     "configs/cuda.pbtxt", "configs/libtorch.pbtxt"):
        assert (model_dir / relative).is_file(), relative
    labels = (model_dir / "labels.txt").read_text().split("\n")
    assert labels[:3] == ["person", "bicycle", "car"] and len([l for l in labels if l]) == 80
    cpu_config = (model_dir / "configs/cpu.pbtxt").read_text()
    assert '"random_weights"' in cpu_config and '"true"' in cpu_config
    assert ",".join(TEST_CANVASES) in cpu_config
    assert not [p for p in exported_repository.iterdir() if p.name.startswith(".")]


def test_parity_report_passes_with_real_numbers(exported_repository):
    report = json.loads((exported_repository / TEST_MODEL / "parity.json").read_text())
    assert report["ok"] is True and report["random_weights"] is True
    assert report["canvases"] == list(TEST_CANVASES)
    assert {f["format"] for f in report["formats"]} == {"onnx", "torchscript", "openvino"}
    for entry in report["formats"]:
        versus = entry["versus_eager"]
        assert versus["matched"] >= 50, "parity must compare real detections, not empty outputs"
        assert versus["unmatched_reference"] == versus["unmatched_export"] == 0
        assert versus["max_box_diff_px"] <= parity.BOX_TOLERANCE_PX
        assert versus["max_score_diff"] <= parity.SCORE_TOLERANCE
        assert entry["batch_consistency"]["matched"] > 0 and entry["ok"] is True


def test_random_weights_give_a_spread_of_scores(detector, photos_320):
    """Calibrated random weights must detect something, without saturated scores."""
    outputs = TorchRunner(BatchedFasterRCNN(detector.model))(*photos_320)
    scores = np.concatenate([s for _, s, _ in parity.split_outputs(outputs)])
    assert len(scores) > 20
    assert 0.05 < np.median(scores) < 0.9 and scores.max() < 0.999


def test_batch_of_n_equals_n_batches_of_one(exported_repository, photos_320):
    images, sizes = photos_320
    runner = OnnxRunner(exported_repository / TEST_MODEL / "1" / "model.onnx")
    singles = [parity.split_outputs(runner(images[i:i + 1], sizes[i:i + 1]))[0] for i in range(4)]
    for n in (2, 4):
        batched = parity.split_outputs(runner(images[:n], sizes[:n]))
        for single, in_batch in zip(singles, batched):
            assert len(single[1]) == len(in_batch[1]) > 0
            comparison = parity.compare(single, in_batch, 0.05, 100)
            assert comparison.ok and comparison.max_box_diff_px < 1e-3


def test_boxes_stay_inside_each_images_own_valid_region(exported_repository):
    """image_sizes is a real input: a narrow image in a wide canvas gets no boxes in the padding."""
    images, sizes = sample_batch(sample_stills()[:2], Canvas(320, 480))
    sizes[1] = (200, 150)
    images[1, 200:, :] = 0
    images[1, :, 150:] = 0
    boxes, scores, classes, counts = OnnxRunner(exported_repository / TEST_MODEL / "1" / "model.onnx")(images, sizes)
    n = int(counts[1])
    assert n > 0
    assert boxes[1, :n, 2].max() <= 150 and boxes[1, :n, 3].max() <= 200
    assert (classes[1, n:] == -1).all() and (scores[1, n:] == 0).all()


def test_opset_below_16_is_refused_because_it_exports_wrong_boxes(detector, photos_320, tmp_path):
    wrapper = BatchedFasterRCNN(detector.model).eval()
    images, sizes = (torch.from_numpy(a[:1]) for a in photos_320)
    with pytest.raises(UserError, match="opset 11 cannot express"):
        export_onnx(wrapper, images, sizes, tmp_path / "m.onnx", opset=11)
    export_onnx(wrapper, images, sizes, tmp_path / "m16.onnx", opset=MIN_OPSET)
    assert (tmp_path / "m16.onnx").stat().st_size > 100e6


def test_opset_11_really_exports_a_wrong_model(detector, photos_320, tmp_path):
    """The trap the guard above exists for: ROIAlign without aligned=True moves the boxes."""
    import warnings

    wrapper = BatchedFasterRCNN(detector.model).eval()
    images, sizes = photos_320
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (torch.from_numpy(images[:1]), torch.from_numpy(sizes[:1])),
                          str(tmp_path / "old.onnx"), opset_version=11, dynamo=False,
                          input_names=["images", "image_sizes"],
                          output_names=["boxes", "scores", "classes", "num_detections"])
    reference = parity.reference_detections(detector.model, images[:1], sizes[:1])[0]
    exported = parity.split_outputs(OnnxRunner(tmp_path / "old.onnx")(images[:1], sizes[:1]))[0]
    assert not parity.compare(reference, exported, 0.05, 100).ok


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "creativelens.cli", "export", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["--model", "faster_rcnn_R_18_FPN_9x", "--random-weights"], "unknown model 'faster_rcnn_R_18_FPN_9x'"),
    (["--model", TEST_MODEL, "--weights", "/nonexistent/model_final.pth"], "checkpoint /nonexistent/model_final.pth does not exist"),
    (["--model", TEST_MODEL, "--random-weights", "--canvas", "300x320"], "multiples of 32"),
    (["--model", TEST_MODEL, "--random-weights", "--canvas", "big"], "not of the form"),
    (["--config-file", "/nonexistent.yaml", "--weights", "x.pth"], "config file /nonexistent.yaml does not exist"),
])
def test_cli_bad_input_gets_one_line_and_nonzero_exit(tmp_path, args, message):
    result = _cli(*args, "--out", str(tmp_path / "repo"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("creativelens export: error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    """A custom 5-class checkpoint loaded into the 80-class zoo model: shapes differ."""
    config = tmp_path / "custom_5_classes.yaml"
    from detectron2 import model_zoo

    config.write_text(f"_BASE_: {model_zoo.get_config_file('COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml')}\n"
                      "MODEL:\n  ROI_HEADS:\n    NUM_CLASSES: 5\n")
    custom = load_detector("custom", config_file=config, random_weights=True)
    checkpoint = tmp_path / "model_final.pth"
    torch.save({"model": custom.model.state_dict()}, checkpoint)
    result = _cli("--model", TEST_MODEL, "--weights", str(checkpoint), "--out", str(tmp_path / "repo"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"does not fit {TEST_MODEL}" in result.stderr and "other shapes" in result.stderr


def test_custom_trained_checkpoint_exports_with_its_own_class_names(tmp_path):
    from detectron2 import model_zoo

    config = tmp_path / "brand_logos.yaml"
    config.write_text(f"_BASE_: {model_zoo.get_config_file('COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml')}\n"
                      "MODEL:\n  ROI_HEADS:\n    NUM_CLASSES: 3\n")
    labels = tmp_path / "labels.txt"
    labels.write_text("logo\nproduct\nsmile\n")
    trained = load_detector("brand_logos", config_file=config, random_weights=True, labels_file=labels)
    checkpoint = tmp_path / "model_final.pth"
    torch.save({"model": trained.model.state_dict()}, checkpoint)

    result = _cli("--model", "brand_logos", "--config-file", str(config), "--weights", str(checkpoint),
                  "--labels", str(labels), "--canvas", "320x320", "--format", "onnx",
                  "--parity-images", "2", "--out", str(tmp_path / "repo"), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    model_dir = tmp_path / "repo" / "brand_logos"
    assert (model_dir / "labels.txt").read_text().split() == ["logo", "product", "smile"]
    report = json.loads((model_dir / "parity.json").read_text())
    assert report["ok"] and report["random_weights"] is False and report["weights"] == str(checkpoint)
    assert "RANDOM WEIGHTS" not in result.stdout
    for config_name in ("configs/cpu.pbtxt", "configs/cpu_onnxruntime.pbtxt", "config.pbtxt"):
        metadata = read_model_metadata(model_dir, config_name)
        assert metadata.weights_sha256 == sha256_of(checkpoint) and metadata.precision == "fp32"
        assert metadata.class_names == ("logo", "product", "smile")


def test_a_detection_at_an_nms_tie_is_borderline_not_a_mismatch():
    import numpy as np

    from creativelens.export import parity

    strong = [0.0, 0.0, 30.0, 30.0]
    tied = [10.0, 0.0, 40.0, 30.0]  # IoU with `strong` exactly 0.5: suppressed or not by float noise
    reference = (np.array([strong, tied], np.float32), np.array([0.9, 0.4], np.float32), np.array([1, 1]))
    exported = (np.array([strong], np.float32), np.array([0.9], np.float32), np.array([1]))
    assert parity.compare(reference, exported, 0.05, 100, nms_threshold=0.5).ok
    assert parity.compare(reference, exported, 0.05, 100, nms_threshold=0.5).borderline == 1
    assert not parity.compare(reference, exported, 0.05, 100, nms_threshold=0.7).ok
    assert not parity.compare(reference, exported, 0.05, 100).ok
