"""`creativelens report` without a browser: results folders in every state (constructed ItemResults
written in the project's own record format and derived outputs), read and built into a report.

The folders and their expected counts are report_fixtures.py's (the browser tests filter the same)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from creativelens import formats
from report_fixtures import constructed_records, read_data, write_results

@pytest.fixture(scope="module")
def constructed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report_constructed")
    records = constructed_records(folder)
    return records, write_results(folder, records)


def test_a_constructed_folder_builds_and_says_what_is_missing(constructed, tmp_path):
    from creativelens.report import build_report

    records, results = constructed
    before = (results / "detections.jsonl").read_bytes()
    summary = build_report(results, tmp_path / "report", workers=1)
    assert (results / "detections.jsonl").read_bytes() == before  # the half-written line is left as it was
    data = read_data(tmp_path / "report")
    assert summary.items == len(records) == len(data["items"])  # the cut line is not an item
    assert data["overview"]["stills"] == 4 and data["overview"]["frames"] == 6 and data["overview"]["videos"] == 1
    assert [b["error"] for b in data["overview"]["bad_inputs"]] == ["not an image or a video (nothing decodes it)"]
    problems = " | ".join(data["problems"])
    assert "last line is cut short" in problems
    assert "moved_away.jpg" in problems and "1 images could not be read" in problems
    assert "model mystery" in problems and "unknown" in problems
    assert any("RANDOM WEIGHTS: logos" in w for w in data["overview"]["warnings"])
    models = {m["name"]: m for m in data["overview"]["models"]}
    assert models["logos"]["per_label"] == {"logo": 10, "product": 1}
    assert models["faces"]["per_label"] == {"face": 6} and not models["faces"]["random_weights"]
    # every image that exists got a thumbnail and a view image; the moved one none
    for item in data["items"]:
        if "th" in item and "m" not in item:
            assert (tmp_path / "report" / item["th"]).stat().st_size > 500
            assert (tmp_path / "report" / item["vw"]).stat().st_size > 500
    moved = next(i for i in data["items"] if i["n"] == "moved_away.jpg")
    assert "moved" in moved["m"] and not (tmp_path / "report" / moved["th"]).exists()
    video = data["videos"][0]
    assert [data["items"][i]["f"] for i in video["items"]] == [0, 2, 4, 6, 8, 10]
    assert [data["items"][i].get("r") for i in video["items"]] == [None, None, 2, None, None, 8]
    face_row = next(r for r in video["rows"] if r["label"] == "face" and r["track"] is None)
    assert face_row["segments"] == [[0.0, 0.8]]  # on frames 0-6, each standing until the next sample
    assert any(r["track"] is not None for r in video["rows"])  # tracks from detections.parquet's track ids
    assert video["screen_time"] and {r["label"] for r in video["screen_time"]} == {"face", "logo"}


def test_ocr_words_and_excluded_regions_are_in_the_record(constructed, tmp_path):
    from creativelens.report import build_report

    records, results = constructed
    build_report(results, tmp_path / "report", workers=1)
    data = read_data(tmp_path / "report")
    first = next(i for i in data["items"] if i["n"].startswith("still_0"))
    text = (tmp_path / "report" / "records" / "chunk_0000.js").read_text()
    chunk = json.loads(text[text.index(",") + 1:text.rindex(")")])
    entry = chunk[first["i"]]
    assert [w["text"] for w in entry["record"]["ocr_words"]] == ["BIG", "SALE"]
    assert first["o"] == 2
    # the logo and product boxes were excluded from OCR (the client's default labels)
    assert len(entry["ocr_excluded"]) == 2 and entry["ocr_excluded_labels"] == ["logo", "product"]


def test_a_spark_folder_reads_into_the_same_items(constructed, tmp_path):
    """Spark's Hive layout (model=*/run_date=*/, null model as __HIVE_DEFAULT_PARTITION__), written
    from the same rows as stream's Parquet (`formats.to_parquet_rows`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from creativelens.report import read_results

    records, _ = constructed
    rows = [row for r in records for row in formats.to_parquet_rows(formats.from_record(r))]
    spark = tmp_path / "spark"
    for model in {row["model"] for row in rows}:
        part = spark / "detections" / f"model={model or '__HIVE_DEFAULT_PARTITION__'}" / "run_date=2026-12-01"
        part.mkdir(parents=True)
        mine = [{k: v for k, v in row.items() if k != "model"} for row in rows if row["model"] == model]
        schema = formats.parquet_schema()
        schema = schema.remove(schema.get_field_index("model"))
        pq.write_table(pa.Table.from_pylist(mine, schema), part / "part-00000.parquet")
    folder = read_results(spark)
    assert folder.layout == "spark"
    by_key = {i.key: i for i in folder.items}
    assert len(by_key) == len(records)
    for r in records:
        item = by_key[formats.from_record(r).key]
        assert item.error == r["error"]
        assert sorted(item.model_names) == sorted(r["models"])
        for name, answer in r["models"].items():
            assert [d["label"] for d in answer["detections"]] == list(item.model(name).detections.labels)


def test_cli_misuse_and_bad_folders_are_one_line(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "creativelens.cli", "report", *args],
                              capture_output=True, text=True, timeout=120)

    missing = run(str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "no such directory" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = run(str(tmp_path / "empty"), "--out", str(tmp_path / "r"))
    assert empty.returncode == 2 and "holds no results" in empty.stderr and len(empty.stderr.strip().splitlines()) == 1
    half = run(str(tmp_path / "empty"), "--out", str(tmp_path / "r"), "--coco-json", "x.json")
    assert half.returncode == 2 and "go together" in half.stderr


def test_an_out_folder_with_other_files_is_refused(constructed, tmp_path):
    from creativelens.errors import UserError
    from creativelens.report import build_report

    _, results = constructed
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.docx").write_text("mine")
    with pytest.raises(UserError, match="other files"):
        build_report(results, tmp_path / "busy", workers=1)
    assert (tmp_path / "busy" / "thesis.docx").read_text() == "mine"


def test_box_outcomes_count_as_the_evaluations_own_matching():
    """The per-box verdicts drawn in the report add up to `train.accuracy.match_image`'s counts."""
    import numpy as np

    from creativelens.detections import Detections
    from creativelens.report.evaluation_view import box_outcomes
    from creativelens.train.accuracy import Labels, match_image

    rng = np.random.default_rng(3)
    for _ in range(50):
        n, m = rng.integers(0, 6), rng.integers(0, 5)
        corners = rng.uniform(0, 80, (n, 2))
        pred = Detections(np.hstack([corners, corners + rng.uniform(5, 40, (n, 2))]).astype(np.float32),
                          rng.uniform(0, 1, n).astype(np.float32), rng.integers(0, 2, n).astype(np.int32),
                          tuple("ab"[c] for c in rng.integers(0, 2, n)))
        pred = Detections(pred.xyxy, pred.scores, pred.class_ids, tuple("ab"[c] for c in pred.class_ids))
        corners = rng.uniform(0, 80, (m, 2))
        labels = Labels(np.hstack([corners, corners + rng.uniform(5, 40, (m, 2))]), rng.integers(0, 2, m).astype(np.int32))
        for k in (0, 1):
            tp, fp, missed = box_outcomes(pred, labels.xyxy, labels.class_ids, k, 0.3)
            counts = match_image(pred, labels, k, 0.3)
            assert (len(tp), len(fp), len(missed)) == (counts.tp, counts.fp, counts.fn)


def test_an_evaluation_is_drawn_in_three_colours_and_adds_up(constructed, tmp_path):
    """`creativelens evaluate`'s own functions make the evaluation folder over the constructed stills'
    `logos` detections; the report draws each verdict and its counts equal evaluation.json's."""
    import cv2
    import numpy as np

    from creativelens.report import build_report
    from creativelens.report.drawing import OUTCOME_COLOURS
    from creativelens.train.evaluation import evaluate, write_report

    records, results = constructed
    stills = [r for r in records if r["frame_index"] is None and r["error"] is None and Path(r["source"]).is_file()]
    images_dir = Path(stills[0]["source"]).parent
    dataset = {"categories": [{"id": 1, "name": "logo"}, {"id": 2, "name": "product"}], "images": [], "annotations": []}
    for n, r in enumerate(stills):
        dataset["images"].append({"id": n, "file_name": Path(r["source"]).name, "width": r["width"], "height": r["height"]})
        x1, y1, x2, y2 = r["models"]["logos"]["detections"][0]["box"]
        # image 0: the logo labelled where it was found (TP); image 1: elsewhere (FP + miss); image 2: a product missed
        box = [x1, y1, x2 - x1, y2 - y1] if n == 0 else [r["width"] * 0.6, r["height"] * 0.6, 40, 40]
        dataset["annotations"].append({"id": n, "image_id": n, "category_id": 1 if n < 2 else 2, "bbox": box,
                                       "iscrowd": 0, "area": box[2] * box[3]})
    coco = tmp_path / "labels.json"
    coco.write_text(json.dumps(dataset))

    predictions = {Path(r["source"]).name: formats.from_record(r).model("logos").detections for r in stills}
    result = evaluate(dataset, predictions, ["logo", "product"], {"logo": 0.5, "product": 0.5})
    write_report(result, tmp_path / "eval", "Evaluation of logos")
    build_report(results, tmp_path / "report", evaluation=tmp_path / "eval", coco_json=coco, images_dir=images_dir,
                 evaluation_model="logos", workers=1)
    section = read_data(tmp_path / "report")["evaluation"]
    total = result["counts"]
    assert section["drawn_counts"] == {"tp": total["tp"], "fp": total["fp"], "miss": total["fn"]}
    assert total["tp"] >= 1 and total["fp"] >= 1 and total["fn"] >= 1
    assert "evaluation/confusion_matrix.png" in section["plots"] and "evaluation/threshold_plot.png" in section["plots"]
    pictures = [cv2.imread(str(tmp_path / "report" / image["image"]))[:, :, ::-1] for image in section["images"]]
    for outcome, colour in OUTCOME_COLOURS.items():
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert any((np.abs(p.astype(int) - rgb).max(axis=2) < 30).sum() > 50 for p in pictures), outcome


def test_a_features_folder_is_read_whatever_its_columns_and_linked(constructed, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from creativelens.report import build_report

    records, results = constructed
    features = tmp_path / "features"
    features.mkdir()
    sources = sorted({r["source"] for r in records})
    pq.write_table(pa.table({"creative": sources, "logo_seconds": [float(n) for n in range(len(sources))],
                             "has_text": [n % 2 == 0 for n in range(len(sources))]}), features / "creatives.parquet")
    (features / "broken.parquet").write_bytes(b"PAR1 half written")
    build_report(results, tmp_path / "report", features=features, workers=1)
    data = read_data(tmp_path / "report")
    table = next(t for t in data["features"]["tables"] if t["name"] == "creatives.parquet")
    assert table["columns"] == ["creative", "logo_seconds", "has_text"] and table["link_column"] == "creative"
    assert len(table["rows"]) == len(sources)
    assert any("broken.parquet is unreadable" in p for p in data["problems"])
