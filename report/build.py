"""`build_report(results, out)`: a results folder -> a static report folder (index.html + images).

The report is plain files that work from the file system: `index.html`, `app.js` and
`style.css` (templates/, no CDN), `data.js` (every item with its boxes, the overview, the
videos' timelines, features and evaluation; a script, because browsers refuse `fetch` on
file:// pages), `records/chunk_NNNN.js` (each item's full record, loaded when the item is
opened) and `media/` (thumbnails and view images). The browser draws the boxes as SVG over the
images, so that the filters decide what is visible.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from creativelens import formats
from creativelens.errors import OutputNotWritable, UserError
from creativelens.item_result import ItemResult, escape_name
from creativelens.report.images import ImageJob, image_paths, write_images
from creativelens.report.inputs import ResultsFolder, read_results

TEMPLATES = Path(__file__).parent / "templates"
RECORDS_PER_CHUNK = 200
PAGE_SIZE = 48


@dataclass
class ReportSummary:
    out: Path
    items: int
    videos: int
    images_missing: int
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    bytes_on_disk: int = 0

    def lines(self) -> list[str]:
        lines = [f"report: {self.out / 'index.html'} ({self.items} items, {self.videos} videos, "
                 f"{self.bytes_on_disk / 2**20:.1f} MiB, {self.seconds:.1f} s)"]
        lines += [f"  note: {problem}" for problem in self.problems[:10]]
        if len(self.problems) > 10:
            lines.append(f"  ... and {len(self.problems) - 10} more notes in the report's overview")
        return lines


def build_report(results: str | Path, out: str | Path, *, features: str | Path | None = None,
                 evaluation: str | Path | None = None, coco_json: str | Path | None = None,
                 images_dir: str | Path | None = None, evaluation_model: str | None = None,
                 title: str | None = None, workers: int | None = None) -> ReportSummary:
    started = time.perf_counter()
    results, out = Path(results), Path(out)
    folder = read_results(results)
    if out.resolve() == results.resolve():
        raise UserError("--out must be a folder of its own, not the results folder")
    _prepare(out)
    items = sorted(folder.items, key=lambda r: (r.source, -1 if r.frame_index is None else r.frame_index))
    models = sorted({m.model for item in items for m in item.models})
    from creativelens.report.drawing import model_colours

    colours = model_colours(models)
    labels = sorted({label for item in items for m in item.models for label in m.detections.labels})
    model_index, label_index = {m: i for i, m in enumerate(models)}, {label: i for i, label in enumerate(labels)}
    videos = sorted({item.source for item in items if item.frame_index is not None})
    video_index = {source: i for i, source in enumerate(videos)}

    jobs = [ImageJob(i, item.source, item.frame_index) for i, item in enumerate(items) if item.error is None]
    missing = write_images(jobs, out, workers)
    excluded_labels = _ocr_excluded_labels(folder.settings)
    compact, records = [], []
    for i, item in enumerate(items):
        record = formats.to_record(item)  # the on-disk form: its field names are the documented ones
        compact.append(_compact(i, item, record, model_index, label_index, video_index, missing))
        records.append(_full_record(item, record, folder, excluded_labels))
    _write_records(out, records)
    problems = list(folder.problems)
    if missing:
        example = next(iter(missing.items()))
        problems.append(f"{len(missing)} images could not be read now, so their boxes are drawn on an empty canvas "
                        f"(e.g. {items[example[0]].source}: {example[1]})")
    model_info = _models(folder, items, models, colours)
    problems += [f"model {m['name']}: {m['unknown']}" for m in model_info if m.get("unknown")]

    sections = {}
    if features is None:
        from creativelens.report.features_table import find_features

        features = find_features(results)
    if features is not None:
        from creativelens.report.features_table import read_features

        sections["features"] = read_features(Path(features), [escape_name(s) for s in {i.source for i in items}],
                                             problems)
    if evaluation is not None:
        from creativelens.report.evaluation_view import build_evaluation

        sections["evaluation"] = build_evaluation(Path(evaluation), None if coco_json is None else Path(coco_json),
                                                  None if images_dir is None else Path(images_dir), items,
                                                  evaluation_model, out, problems)
    data = {
        "title": title or f"CreativeLens report of {results.resolve()}",
        "results": str(results.resolve()), "layout": folder.layout,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "models": models, "colours": [colours[m] for m in models], "labels": labels,
        "page_size": PAGE_SIZE, "records_per_chunk": RECORDS_PER_CHUNK,
        "overview": _overview(folder, items, compact, model_info, videos, missing),
        "problems": problems,
        "items": compact,
        "videos": [_video(source, items, folder, video_index[source]) for source in videos],
        **sections,
    }
    (out / "data.js").write_text("window.REPORT_DATA = " + json.dumps(data, separators=(",", ":"))  # NaN is a JS global: data.js is a script
                                 + ";\n")
    for name in ("index.html", "app.js", "style.css"):
        shutil.copyfile(TEMPLATES / name, out / name)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return ReportSummary(out, len(items), len(videos), len(missing), problems, round(time.perf_counter() - started, 2),
                         size)


def _prepare(out: Path) -> None:
    """An empty folder, or one that holds an earlier report (replaced); anything else is refused."""
    try:
        if out.exists():
            if not out.is_dir():
                raise UserError(f"--out {out} exists and is not a folder")
            if any(out.iterdir()) and not (out / "data.js").is_file():
                raise UserError(f"--out {out} is a folder with other files in it: choose an empty or new folder")
            for name in ("media", "records", "evaluation"):
                shutil.rmtree(out / name, ignore_errors=True)
        (out / "media").mkdir(parents=True, exist_ok=True)
        (out / "records").mkdir(exist_ok=True)
    except PermissionError as error:
        raise OutputNotWritable(f"cannot write the report to {out}: {error.strerror}") from None


def _compact(i: int, item: ItemResult, record: dict, model_index, label_index, video_index, missing) -> dict:
    name = Path(item.source).name
    entry = {"i": i, "n": name if item.frame_index is None else f"{name} #{item.frame_index}",
             "s": escape_name(item.source), "w": item.width, "h": item.height}
    if item.frame_index is not None:
        entry.update(v=video_index[item.source], f=item.frame_index, t=item.timestamp_s)
    if item.error is not None:
        entry["e"] = item.error
    else:
        entry["th"], entry["vw"] = image_paths(i)
    if i in missing:
        entry["m"] = missing[i]
    if record.get("reused_from") is not None:
        entry["r"] = record["reused_from"]
    if record.get("ocr_words"):
        entry["o"] = len(record["ocr_words"])
    if "ocr_text" in record:
        entry["x"] = 1
    entry["d"] = [[model_index[m.model], label_index[label], round(float(score), 3),
                   *[round(float(v), 1) for v in box]]
                  for m in item.models if m.error is None
                  for box, score, label in zip(m.detections.xyxy, m.detections.scores, m.detections.labels)]
    errors = {m.model: m.error for m in item.models if m.error is not None}
    if errors:
        entry["me"] = errors
    return entry


def _ocr_excluded_labels(settings: dict | None) -> tuple[str, ...]:
    from creativelens.client.ocr import DEFAULT_EXCLUDED_LABELS

    chosen = ((settings or {}).get("rules") or {}).get("ocr_exclude")
    return tuple(chosen) if chosen else tuple(DEFAULT_EXCLUDED_LABELS)


def _full_record(item: ItemResult, record: dict, folder: ResultsFolder, excluded_labels) -> dict:
    entry = {"record": record}
    if "ocr_text" in record or "ocr_error" in record:
        from creativelens.ocr_service.client import exclusion_boxes

        entry["ocr_excluded"] = [list(box) for det in item.detections() for box in exclusion_boxes(det, excluded_labels)]
        entry["ocr_excluded_labels"] = list(excluded_labels)
    source = record["source"]
    tracks = {m.model: folder.track_ids[(source, item.frame_index, m.model)] for m in item.models
              if (source, item.frame_index, m.model) in folder.track_ids}
    if tracks:
        entry["tracks"] = tracks
    return entry


def _write_records(out: Path, records: list[dict]) -> None:
    for start in range(0, len(records), RECORDS_PER_CHUNK):
        chunk = start // RECORDS_PER_CHUNK
        text = json.dumps(records[start:start + RECORDS_PER_CHUNK], separators=(",", ":"), default=str)
        (out / "records" / f"chunk_{chunk:04d}.js").write_text(f"window.reportRecords({chunk},{text});\n")


def _models(folder: ResultsFolder, items: list[ItemResult], models: list[str], colours: dict) -> list[dict]:
    summary_models = (folder.summary or {}).get("models") or {}
    settings_models = (folder.settings or {}).get("models") or {}
    info = []
    for name in models:
        answers = [m for item in items for m in item.models if m.model == name]
        versions = sorted({m.version for m in answers})
        known = summary_models.get(name) or {}
        random = bool(known.get("random_weights")) or any(v.startswith("random-") for v in versions)
        per_label: dict[str, int] = {}
        for m in answers:
            for label in m.detections.labels:
                per_label[label] = per_label.get(label, 0) + 1
        latencies = [m.latency_ms for m in answers if m.latency_ms is not None]
        entry = {"name": name, "colour": colours[name], "versions": versions, "random_weights": random,
                 "synthetic": "synthetic" in name.lower() or bool(known.get("synthetic")),
                 "items": len(answers), "errors": sum(1 for m in answers if m.error is not None),
                 "detections": sum(per_label.values()), "per_label": per_label,
                 "latency_ms": _percentiles(latencies), "triton": known.get("triton") or {},
                 "thresholds": (settings_models.get(name) or {}).get("thresholds") or {}}
        if not known and name not in settings_models:
            entry["unknown"] = ("not in this folder's summary.json or run.json: its weights (random or trained) "
                                "and thresholds are unknown; shown as recorded")
        info.append(entry)
    return info


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]  # noqa: E731
    return {"p50": round(pick(0.5), 1), "p95": round(pick(0.95), 1), "mean": round(statistics.fmean(values), 1)}


def _overview(folder: ResultsFolder, items: list[ItemResult], compact: list[dict], model_info: list[dict],
              videos: list[str], missing) -> dict:
    summary = folder.summary or {}
    speed = {key: summary[key] for key in ("wall_s", "items_per_s", "inferences_per_s", "inferences", "items_done",
                                           "reused", "reconnects", "failovers", "complete", "failure", "server")
             if key in summary}
    bad = [{"name": item.key, "error": item.error}
           for item in items if item.error is not None]
    random_models = [m["name"] for m in model_info if m["random_weights"]]
    synthetic_models = [m["name"] for m in model_info if m["synthetic"]]
    warnings = []
    if random_models or summary.get("random_weights"):
        warnings.append("RANDOM WEIGHTS: " + (", ".join(random_models) or "a model of this run")
                        + " — the boxes show the plumbing and the speed, not real objects")
    if synthetic_models:
        warnings.append("SYNTHETIC: " + ", ".join(synthetic_models)
                        + " — trained on a synthetic brand dataset, not on real creatives")
    return {"items": len(items), "stills": sum(1 for i in items if i.frame_index is None and i.error is None),
            "frames": sum(1 for i in items if i.frame_index is not None and i.error is None),
            "videos": len(videos), "bad_inputs": bad, "models": model_info, "speed": speed, "warnings": warnings,
            "ocr_items": sum(1 for c in compact if c.get("x")),
            "reused_frames": sum(1 for c in compact if "r" in c),
            "images_missing": len(missing), "settings": folder.settings or {}}


def _video(source: str, items: list[ItemResult], folder: ResultsFolder, index: int) -> dict:
    frames = [(i, item) for i, item in enumerate(items) if item.source == source and item.frame_index is not None]
    frames.sort(key=lambda pair: pair[1].frame_index)
    escaped = escape_name(source)
    screen = [row for row in folder.screen_time if row.get("video") == escaped]
    times = [item.timestamp_s for _, item in frames]
    known = all(t is not None for t in times)
    if not known:  # no timestamps: the timeline counts frames
        times = [float(n) for n in range(len(frames))]
    steps = [b - a for a, b in zip(times, times[1:])]
    last_step = statistics.median(steps) if steps else 1.0
    ends = [*times[1:], times[-1] + last_step] if times else []
    spot = next((row["spot_seconds"] for row in screen if row.get("spot_seconds")), None) or (ends[-1] if ends else 0)
    rows: dict[tuple, dict] = {}
    for (i, item), start, end in zip(frames, times, ends):
        for m in item.models:
            if m.error is not None:
                continue
            track_ids = folder.track_ids.get((escaped, item.frame_index, m.model))
            for n, label in enumerate(m.detections.labels):
                for key in ((m.model, label, None), (m.model, label, track_ids[n]) if track_ids else None):
                    if key is None:
                        continue
                    row = rows.setdefault(key, {"model": m.model, "label": label, "track": key[2], "segments": []})
                    _extend(row["segments"], start, end)
    for track in folder.tracks:  # tracks known only from the tracks table (no per-frame ids): first..last
        if track.get("video") == escaped and (track["model"], track["label"], track["track_id"]) not in rows:
            if track.get("first_s") is not None and track.get("last_s") is not None:
                rows[(track["model"], track["label"], track["track_id"])] = {
                    "model": track["model"], "label": track["label"], "track": track["track_id"],
                    "segments": [[track["first_s"], track["last_s"] + last_step]]}
    ordered = sorted(rows.values(), key=lambda r: (r["model"], r["label"], -1 if r["track"] is None else r["track"]))
    return {"id": index, "name": Path(source).name, "source": escaped, "items": [i for i, _ in frames],
            "times": [round(t, 3) for t in times], "duration": round(float(spot), 3), "timed": known,
            "rows": ordered, "screen_time": screen,
            "tracks": [t for t in folder.tracks if t.get("video") == escaped]}


def _extend(segments: list, start: float, end: float) -> None:
    if segments and abs(segments[-1][1] - start) < 1e-6:
        segments[-1][1] = round(end, 3)
    else:
        segments.append([round(start, 3), round(end, 3)])
