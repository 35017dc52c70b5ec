"""Labelled data in, the Detectron2 way: COCO json or an Azure ML Studio export, checked, registered.

An Azure export (boxes normalised to 0..1) is converted by `creativelens.formats` to absolute
XYWH and written beside the run as plain COCO json; that file is registered with
`register_coco_instances`, so Detectron2's own loader reads it (bbox_mode XYWH_ABS, iscrowd 0).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from creativelens import formats
from creativelens.errors import UserError

LABEL_FORMATS = ("auto", "coco", "azure")
BOX_TOLERANCE_PX = 1.0
# Labels files are read whole (json), and Python holds every record as objects: about
# LABELS_MEMORY_FACTOR bytes of memory per byte of file while reading and checking (7.4-8.0
# measured, 23-69 MB files: benchmarks/results/labels_memory_amd-epyc-2c.json). Above
# MAX_LABELS_MB a file is refused before it is read, naming --max-labels-mb that raises it; one
# whose reading would not fit the memory available now is refused whatever the limit, rather
# than killed by the kernel half-way.
MAX_LABELS_MB = 100.0
LABELS_MEMORY_FACTOR = 10
# Training matches every labelled box of an image against every anchor (boxes x anchors IoU,
# ~25 k anchors on a 320 px image): 500 k boxes on one image need ~50 GB there. Dense shelf
# datasets (SKU-110K) reach ~700 per image; more than this is refused (--max-boxes-per-image).
MAX_BOXES_PER_IMAGE = 2000


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


def read_coco(json_path: str | Path, images: str | Path, labels_format: str = "auto",
              max_labels_mb: float = MAX_LABELS_MB, max_boxes_per_image: int = MAX_BOXES_PER_IMAGE) -> dict:
    """The dataset as absolute-XYWH COCO, checked record by record (UserError names file and record)."""
    json_path, images = Path(json_path), Path(images)
    if labels_format not in LABEL_FORMATS:
        raise UserError(f"--labels-format {labels_format!r}: choose one of {', '.join(LABEL_FORMATS)}")
    dataset = _load_json(json_path, max_labels_mb)
    if not isinstance(dataset, dict) or not all(isinstance(dataset.get(k), list) for k in ("images", "annotations", "categories")):
        raise UserError(f"{json_path}: not a COCO dataset (needs 'images', 'annotations' and 'categories' lists)")
    if not images.is_dir():
        raise UserError(f"{json_path}: image folder {images} does not exist")
    _check_records(json_path, images, dataset, max_boxes_per_image)
    kind = detect_format(dataset) if labels_format == "auto" else labels_format
    if kind == "azure":
        dataset = formats.azure_dataset_to_coco(dataset)
    else:
        _check_not_normalised(json_path, dataset)
        dataset = {**dataset, "annotations": [{"iscrowd": 0, **a} for a in dataset["annotations"]]}
    _check_boxes(json_path, dataset)
    dataset.setdefault("info", {})["labels_format"] = kind
    return dataset


def _load_json(json_path: Path, max_labels_mb: float):
    """The parsed file, refused before reading when it is larger than the limit or than what the
    memory available now can hold while it is read (instead of the kernel killing the process)."""
    try:
        size = json_path.stat().st_size
    except OSError as error:
        raise UserError(f"{json_path}: cannot read labels ({error.strerror})") from None
    if size > max_labels_mb * 1e6:
        raise UserError(f"{json_path}: {size / 1e6:.1f} MB of labels is over the {max_labels_mb:g} MB limit "
                        f"(reading takes about {LABELS_MEMORY_FACTOR}x the file in memory); "
                        f"raise it with --max-labels-mb if this is really one split")
    available = _available_memory_bytes()
    if available is not None and size * LABELS_MEMORY_FACTOR > available:
        raise UserError(f"{json_path}: reading {size / 1e6:.1f} MB of labels needs about "
                        f"{size * LABELS_MEMORY_FACTOR / 1e9:.1f} GB of memory, {available / 1e9:.1f} GB is available")
    try:
        data = json_path.read_bytes()
    except OSError as error:
        raise UserError(f"{json_path}: cannot read labels ({error.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserError(f"{json_path}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); "
                        f"JSON labels must be UTF-8: re-save the file as UTF-8") from None
    del data
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{json_path}: not JSON ({error})") from None
    except RecursionError:
        raise UserError(f"{json_path}: not a COCO dataset (nested too deeply)") from None


def _available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), or None where it cannot be told."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _is_id(value) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_records(json_path: Path, images: Path, dataset: dict, max_boxes_per_image: int = MAX_BOXES_PER_IMAGE) -> None:
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
        if not isinstance(category["id"], int) or isinstance(category["id"], bool):
            raise UserError(f"{json_path}: category {category['name']!r}: id {category['id']!r} is not an integer")
        if not isinstance(category["name"], str) or not category["name"].strip():
            raise UserError(f"{json_path}: category {category['id']}: name {category['name']!r} is not a name")
        if category["id"] in categories:
            raise UserError(f"{json_path}: category id {category['id']} is given twice")
        categories.add(category["id"])
    ids, files = set(), {}
    for image in dataset["images"]:
        if not isinstance(image, dict) or not all(k in image for k in ("id", "file_name", "width", "height")):
            raise UserError(f"{json_path}: image record {_short(image)} lacks id/file_name/width/height")
        if not _is_id(image["id"]):
            raise UserError(f"{json_path}: image record {_short(image)}: id {image['id']!r} is not an integer or string")
        record = image["id"]
        if not isinstance(image["file_name"], str) or not image["file_name"]:
            raise UserError(f"{json_path}: image {record}: file_name {image['file_name']!r} is not a file name")
        for side in ("width", "height"):
            if not isinstance(image[side], int) or isinstance(image[side], bool) or image[side] < 1:
                raise UserError(f"{json_path}: image {record}: {side} {image[side]!r} is not a positive integer")
        if record in ids:
            raise UserError(f"{json_path}: image id {record!r} is given to two image records")
        path = images / image["file_name"]
        if not path.is_file():
            raise UserError(f"{json_path}: image {record}: file {path} is missing")
        key = path.resolve()
        if key in files:
            raise UserError(f"{json_path}: image {record}: file {image['file_name']} is already image {files[key]!r} "
                            "(one image listed twice would be trained on and counted twice)")
        ids.add(record)
        files[key] = record
    annotation_ids, per_image = set(), dict.fromkeys(ids, 0)
    for annotation in dataset["annotations"]:
        record = annotation.get("id", "?") if isinstance(annotation, dict) else "?"
        if not isinstance(annotation, dict) or not all(k in annotation for k in ("id", "image_id", "category_id", "bbox")):
            raise UserError(f"{json_path}: annotation {_short(record)}: lacks id/image_id/category_id/bbox")
        if not _is_id(record):
            raise UserError(f"{json_path}: annotation id {_short(record)} is not an integer or string")
        if record in annotation_ids:
            raise UserError(f"{json_path}: annotation id {record!r} is given twice (annotation ids must be unique)")
        annotation_ids.add(record)
        category = annotation["category_id"]
        if not isinstance(category, int) or isinstance(category, bool) or category not in categories:
            raise UserError(f"{json_path}: annotation {record}: unknown category id {_short(category)}")
        if not _is_id(annotation["image_id"]) or annotation["image_id"] not in ids:
            raise UserError(f"{json_path}: annotation {record}: unknown image id {_short(annotation['image_id'])}")
        per_image[annotation["image_id"]] += 1
        if per_image[annotation["image_id"]] > max_boxes_per_image:
            raise UserError(f"{json_path}: image {annotation['image_id']} has more than {max_boxes_per_image} labelled boxes "
                            "(training matches each against every anchor; memory grows with both); "
                            "raise --max-boxes-per-image if that is really so")
        box = annotation["bbox"]
        if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
            raise UserError(f"{json_path}: annotation {record}: bbox {_short(box)} is not [x, y, w, h]")
        if not all(math.isfinite(v) for v in box):
            raise UserError(f"{json_path}: annotation {record}: bbox {box} has a non-finite coordinate")


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _check_not_normalised(json_path: Path, dataset: dict) -> None:
    """In absolute (COCO) labels, a box inside the unit square is an Azure-style normalised box
    that slipped in (a 0.3 x 0.4 px box is no object): refuse rather than train on it."""
    sizes = {image["id"]: (image["width"], image["height"]) for image in dataset["images"]}
    for annotation in dataset["annotations"]:
        x, y, w, h = annotation["bbox"]
        width, height = sizes[annotation["image_id"]]
        if max(x + w, y + h) <= 1.0 + 1e-6 and max(width, height) > 2:
            raise UserError(f"{json_path}: annotation {annotation['id']}: box {annotation['bbox']} lies inside 0..1, "
                            f"an Azure-style normalised box among absolute COCO pixels (its image is {width}x{height}); "
                            "convert it to pixels (or the whole file to one format)")


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
                   labels_format: str = "auto", max_labels_mb: float = MAX_LABELS_MB,
                   max_boxes_per_image: int = MAX_BOXES_PER_IMAGE) -> LabelledSplit:
    """Check, convert if needed, and register one split in Detectron2's DatasetCatalog."""
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.data.datasets import register_coco_instances

    dataset = read_coco(json_path, images, labels_format, max_labels_mb, max_boxes_per_image)
    converted = Path(work_dir) / "labels" / f"{name}.json"
    converted.parent.mkdir(parents=True, exist_ok=True)
    converted.write_text(json.dumps(dataset))
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_coco_instances(name, {}, str(converted), str(Path(images).resolve()))
    return LabelledSplit(name, converted, Path(images), class_names_of(dataset), dataset["info"]["labels_format"])
