"""Labelled data in, the Detectron2 way: COCO json or an Azure ML Studio export, checked, registered.

An Azure export (boxes normalised to 0..1) is converted by `creativelens.formats` to absolute
XYWH and written beside the run as plain COCO json; that file is registered with
`register_coco_instances`, so Detectron2's own loader reads it (bbox_mode XYWH_ABS, iscrowd 0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from creativelens import formats
from creativelens.errors import UserError

LABEL_FORMATS = ("auto", "coco", "azure")
BOX_TOLERANCE_PX = 1.0


@dataclass(frozen=True)
class LabelledSplit:
    name: str  # the DatasetCatalog name
    coco_json: Path  # absolute-XYWH COCO json (converted when the input was Azure's)
    images: Path
    class_names: tuple[str, ...]
    source_format: str


def detect_format(dataset: dict) -> str:
    """'azure' when every box lies inside the unit square (normalised), else 'coco'."""
    boxes = [a.get("bbox") for a in dataset.get("annotations", [])]
    if boxes and all(isinstance(b, list) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b)
                     and max(b[0] + b[2], b[1] + b[3]) <= 1.0 + 1e-6 for b in boxes):
        return "azure"
    return "coco"


def read_coco(json_path: str | Path, images: str | Path, labels_format: str = "auto") -> dict:
    """The dataset as absolute-XYWH COCO, checked record by record (UserError names file and record)."""
    json_path, images = Path(json_path), Path(images)
    if labels_format not in LABEL_FORMATS:
        raise UserError(f"--labels-format {labels_format!r}: choose one of {', '.join(LABEL_FORMATS)}")
    try:
        dataset = json.loads(json_path.read_text())
    except OSError as error:
        raise UserError(f"{json_path}: cannot read labels ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{json_path}: not JSON ({error})") from None
    if not isinstance(dataset, dict) or not all(isinstance(dataset.get(k), list) for k in ("images", "annotations", "categories")):
        raise UserError(f"{json_path}: not a COCO dataset (needs 'images', 'annotations' and 'categories' lists)")
    if not images.is_dir():
        raise UserError(f"{json_path}: image folder {images} does not exist")
    _check_records(json_path, images, dataset)
    kind = detect_format(dataset) if labels_format == "auto" else labels_format
    if kind == "azure":
        dataset = formats.azure_dataset_to_coco(dataset)
    else:
        dataset = {**dataset, "annotations": [{"iscrowd": 0, **a} for a in dataset["annotations"]]}
    _check_boxes(json_path, dataset)
    dataset.setdefault("info", {})["labels_format"] = kind
    return dataset


def _check_records(json_path: Path, images: Path, dataset: dict) -> None:
    if not dataset["images"]:
        raise UserError(f"{json_path}: empty split (no images)")
    if not dataset["annotations"]:
        raise UserError(f"{json_path}: empty split (no annotations)")
    if not dataset["categories"]:
        raise UserError(f"{json_path}: no categories")
    categories = set()
    for category in dataset["categories"]:
        if not isinstance(category, dict) or "id" not in category or "name" not in category:
            raise UserError(f"{json_path}: category {category!r} lacks 'id' or 'name'")
        categories.add(category["id"])
    ids = set()
    for image in dataset["images"]:
        if not isinstance(image, dict) or not all(k in image for k in ("id", "file_name", "width", "height")):
            raise UserError(f"{json_path}: image record {image!r} lacks id/file_name/width/height")
        if not (images / image["file_name"]).is_file():
            raise UserError(f"{json_path}: image {image['id']}: file {images / image['file_name']} is missing")
        ids.add(image["id"])
    for annotation in dataset["annotations"]:
        record = annotation.get("id", "?") if isinstance(annotation, dict) else "?"
        if not isinstance(annotation, dict) or not all(k in annotation for k in ("image_id", "category_id", "bbox")):
            raise UserError(f"{json_path}: annotation {record}: lacks image_id/category_id/bbox")
        if annotation["category_id"] not in categories:
            raise UserError(f"{json_path}: annotation {record}: unknown category id {annotation['category_id']!r}")
        if annotation["image_id"] not in ids:
            raise UserError(f"{json_path}: annotation {record}: unknown image id {annotation['image_id']!r}")
        box = annotation["bbox"]
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
            raise UserError(f"{json_path}: annotation {record}: bbox {box!r} is not [x, y, w, h]")


def _check_boxes(json_path: Path, dataset: dict) -> None:
    sizes = {image["id"]: (image["width"], image["height"]) for image in dataset["images"]}
    for annotation in dataset["annotations"]:
        x, y, w, h = annotation["bbox"]
        width, height = sizes[annotation["image_id"]]
        t = BOX_TOLERANCE_PX
        if w <= 0 or h <= 0 or x < -t or y < -t or x + w > width + t or y + h > height + t:
            raise UserError(f"{json_path}: annotation {annotation.get('id', '?')}: box {[round(v, 2) for v in annotation['bbox']]} "
                            f"is outside its {width}x{height} image {annotation['image_id']}")


def class_names_of(dataset: dict) -> tuple[str, ...]:
    """Category names in Detectron2's contiguous order (sorted by category id)."""
    return tuple(c["name"] for c in sorted(dataset["categories"], key=lambda c: c["id"]))


def register_split(name: str, json_path: str | Path, images: str | Path, work_dir: str | Path,
                   labels_format: str = "auto") -> LabelledSplit:
    """Check, convert if needed, and register one split in Detectron2's DatasetCatalog."""
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.data.datasets import register_coco_instances

    dataset = read_coco(json_path, images, labels_format)
    converted = Path(work_dir) / "labels" / f"{name}.json"
    converted.parent.mkdir(parents=True, exist_ok=True)
    converted.write_text(json.dumps(dataset))
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_coco_instances(name, {}, str(converted), str(Path(images).resolve()))
    return LabelledSplit(name, converted, Path(images), class_names_of(dataset), dataset["info"]["labels_format"])
