"""`creativelens ocr eval`: word recall/precision and speed of pytesseract-per-call and of the
service (tesserocr pool behind real gRPC), with Otsu and with Sauvola thresholding, and what
the exclusion step costs (mask vs drop vs none), on the tuning split, the held-out split or both
side by side (`--split`; see `eval_set.py`). Writes PREFIX.json and PREFIX.md.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from creativelens.ocr_service.eval_set import SPLITS, EvalImage, build_eval_set, tokens

SPLIT_CHOICES = (*SPLITS, "both")


@dataclass(frozen=True)
class Configuration:
    key: str  # short name for `ocr eval --configurations`
    name: str
    engine: str  # "pytesseract" (one process per call, sequential) or "service"
    thresholding: str
    exclusion: str  # "mask", "drop" or "none" (boxes not sent)
    page_segmentation_mode: int = 3
    service_engine: str = "tesseract"  # the service's engine (`ocr serve --engine`)


CONFIGURATIONS = (
    Configuration("pytesseract", "pytesseract per call, Otsu (the seeds' way, baseline)", "pytesseract", "otsu", "mask"),
    Configuration("regions", "service, regions: DB detector + Tesseract per line (default)", "service", "otsu",
                  "mask", service_engine="regions"),
    Configuration("regions-drop", "service, regions, exclusion by dropping words", "service", "otsu", "drop",
                  service_engine="regions"),
    Configuration("regions-none", "service, regions, no exclusion boxes sent", "service", "otsu", "none",
                  service_engine="regions"),
    Configuration("rapidocr", "service, rapidocr: PP-OCRv4 end to end", "service", "otsu", "mask",
                  service_engine="rapidocr"),
    Configuration("pytesseract-sauvola", "pytesseract per call, Sauvola", "pytesseract", "sauvola", "mask"),
    Configuration("tesseract", "service, tesseract page mode, Sauvola (its default)", "service", "sauvola", "mask"),
    Configuration("tesseract-otsu", "service, tesseract page mode, Otsu", "service", "otsu", "mask"),
    Configuration("tesseract-psm11", "service, tesseract page mode, Otsu, --psm 11 (sparse text)", "service", "otsu",
                  "mask", 11),
)


def configurations_named(keys: str | None) -> tuple[Configuration, ...]:
    """The configurations for a comma-separated list of keys, in that order (None: all)."""
    if not keys:
        return CONFIGURATIONS
    known = {configuration.key: configuration for configuration in CONFIGURATIONS}
    wanted = [key.strip() for key in keys.split(",") if key.strip()]
    unknown = [key for key in wanted if key not in known]
    if unknown or not wanted:
        from creativelens.errors import UserError

        raise UserError(f"unknown ocr eval configuration {', '.join(unknown) or repr(keys)}; known: {', '.join(known)}")
    return tuple(known[key] for key in wanted)


# Also scored: only the words Tesseract is at least this confident about (0-100).
CONFIDENCE_FLOOR = 60


@dataclass
class ImageScore:
    name: str
    kind: str
    truth: int
    predicted: int
    matched: int
    excluded: int
    leaked: int
    confident_predicted: int
    confident_matched: int
    latency_ms: float
    exclusion_ms: float
    recognize_ms: float


def score(image: EvalImage, words) -> tuple[int, int, int, int]:
    """(truth words, predicted words, matched, leaked). `words` are `Word`s (or a plain string).
    A predicted token matches an unmatched truth token with the same text; where the truth has
    boxes, the predicted word's centre must also lie in that word's box (grown by half its
    height). Predicted tokens left over are leaks if they are excluded words."""
    if isinstance(words, str):
        predicted = [(token, None) for token in tokens(words)]
    else:
        predicted = [(token, word.box) for word in words for token in tokens(word.text)]
    located = bool(image.truth_boxes)
    unmatched: dict[str, list[int]] = {}
    for index, token in enumerate(image.truth):
        unmatched.setdefault(token, []).append(index)
    matched, leftover = 0, Counter()
    for token, box in predicted:
        candidates = unmatched.get(token, [])
        hit = next((i for i in candidates
                    if not located or box is None or _centre_inside(box, image.truth_boxes[i])), None)
        if hit is None:
            leftover[token] += 1
        else:
            candidates.remove(hit)
            matched += 1
    leaked = leftover & Counter(image.excluded)
    return len(image.truth), len(predicted), matched, sum(leaked.values())


def _centre_inside(box, truth_box) -> bool:
    grow = (truth_box[3] - truth_box[1]) / 2
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return (truth_box[0] - grow <= x <= truth_box[2] + grow) and (truth_box[1] - grow <= y <= truth_box[3] + grow)


def run_evaluation(
    out_prefix: str | None, workers: int, rendered: int, note: str = "",
    configurations: tuple[Configuration, ...] = CONFIGURATIONS, include_real: bool = True, hard: int = 72,
    split: str = "both", held_out: int = 64,
) -> dict:
    from creativelens.machine import describe_machine, machine_slug

    if split not in SPLIT_CHOICES:
        from creativelens.errors import UserError

        raise UserError(f"unknown ocr eval split {split!r}; known: {', '.join(SPLIT_CHOICES)}")
    splits = SPLITS if split == "both" else (split,)
    machine = describe_machine()
    out_prefix = out_prefix or f"benchmarks/results/ocr_eval_{machine_slug(machine)}"
    images_by_split, sets = {}, {}
    for name in splits:
        if name == "tuning":
            print(f"ocr eval: tuning split: rendering {rendered} ads and {hard} hard creatives, loading its package text images")
        else:
            print(f"ocr eval: held-out split: rendering {held_out} creatives, loading its package text images")
        images, missing = build_eval_set(rendered, include_real=include_real, hard=hard, split=name,
                                         held_out=held_out)
        for line in missing:
            print(f"ocr eval: left out {line}")
        images_by_split[name] = images
        sets[name] = {
            "rendered": rendered if name == "tuning" else 0, "hard": hard if name == "tuning" else 0,
            "held_out": held_out if name == "held-out" else 0,
            "real": [i.name for i in images if i.kind == "real"],
            "left_out": missing, "truth_words": sum(len(i.truth) for i in images),
            "excluded_words": sum(len(i.excluded) for i in images),
            "fonts": sorted({f for i in images for f in i.fonts}),
            "layouts": sorted({i.layout for i in images}),
            "backgrounds": sorted({i.background for i in images}),
        }

    results = {name: [] for name in splits}
    for configuration in configurations:
        print(f"ocr eval: {configuration.name} on " + ", ".join(
            f"{len(images_by_split[name])} {name} images" for name in splits))
        outcomes = _run_configuration(configuration, images_by_split, workers)
        for name in splits:
            results[name].append(outcomes[name])
            summary = outcomes[name]["summary"]
            print(f"  {name}: recall {summary['recall']:.3f} precision {summary['precision']:.3f} "
                  f"{summary['images_per_s']:.2f} images/s")

    report = {
        "machine": machine,
        "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        "note": note,
        "workers": workers,
        "omp_thread_limit_for_pytesseract": os.environ.get("OMP_THREAD_LIMIT"),
        "splits": {name: {"set": sets[name], "configurations": results[name]} for name in splits},
    }
    out = Path(out_prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown_report(report))
    print(f"ocr eval: wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return report


def _run_configuration(configuration: Configuration, images_by_split: dict[str, list[EvalImage]],
                       workers: int) -> dict[str, dict]:
    """Each split's outcome, every split read by the same engines (one server for the service)."""
    from creativelens.benchmarks.process_cpu import tree_cpu_seconds

    timed = {}
    if configuration.engine == "pytesseract":
        run = _pytesseract_runner(configuration)
        for name, images in images_by_split.items():
            cpu_before, started = tree_cpu_seconds(), time.perf_counter()
            answers = [run(image) for image in images]
            timed[name] = (answers, time.perf_counter() - started, tree_cpu_seconds() - cpu_before)
    else:
        server, client, run = _service_runner(configuration, workers)
        try:
            first = next(iter(images_by_split.values()))
            for image in first[:workers]:  # warm every engine before timing
                run(image)
            for name, images in images_by_split.items():
                cpu_before, started = tree_cpu_seconds(), time.perf_counter()
                with ThreadPoolExecutor(max_workers=workers) as threads:
                    answers = list(threads.map(run, images))
                timed[name] = (answers, time.perf_counter() - started, tree_cpu_seconds() - cpu_before)
        finally:
            client.close()
            server.stop()
    return {name: _outcome(configuration, images_by_split[name], *timed[name]) for name in images_by_split}


def _outcome(configuration: Configuration, images: list[EvalImage], answers, wall_s: float, cpu_s: float) -> dict:
    scores = []
    for image, (result, latency_ms) in zip(images, answers):
        truth, predicted, matched, leaked = score(image, result.words)
        confident = [w for w in result.words if w.confidence >= CONFIDENCE_FLOOR]
        _, confident_predicted, confident_matched, _ = score(image, confident)
        scores.append(ImageScore(
            image.name, image.kind, truth, predicted, matched, len(image.excluded), leaked,
            confident_predicted, confident_matched,
            round(latency_ms, 1), round(result.timings.exclusion_ms, 3), round(result.timings.recognize_ms, 1),
        ))
    return {
        "configuration": asdict(configuration),
        "summary": _summarise(scores, wall_s, cpu_s),
        "by_kind": {kind: _summarise([s for s in scores if s.kind == kind])
                    for kind in sorted({s.kind for s in scores})},
        "images": [asdict(s) for s in scores],
    }


def _request_boxes(configuration: Configuration, image: EvalImage):
    return [] if configuration.exclusion == "none" else image.exclusion_boxes


def _pytesseract_runner(configuration: Configuration):
    from creativelens.ocr_service.decoding import decode
    from creativelens.ocr_service.options import RecognitionOptions
    from creativelens.ocr_service.reference import recognise_with_pytesseract

    options = RecognitionOptions(
        page_segmentation_mode=configuration.page_segmentation_mode,
        thresholding=configuration.thresholding,
        exclusion_mode="mask" if configuration.exclusion == "none" else configuration.exclusion,
    )

    def run(image: EvalImage):
        started = time.perf_counter()
        result = recognise_with_pytesseract(decode(image.image), _request_boxes(configuration, image), options)
        return result, 1000 * (time.perf_counter() - started)

    return run


def _service_runner(configuration: Configuration, workers: int):
    from creativelens.ocr_service.client import OcrClient
    from creativelens.ocr_service.engines import engine_factory
    from creativelens.ocr_service.server import OcrServer, ServerConfig

    factory = engine_factory(configuration.service_engine)
    server = OcrServer(ServerConfig(port=0, workers=workers), engine_factory=factory).start()
    exclusion_mode = None if configuration.exclusion == "none" else configuration.exclusion
    client = OcrClient(
        server.address, page_segmentation_mode=configuration.page_segmentation_mode,
        thresholding=configuration.thresholding, exclusion_mode=exclusion_mode,
    )

    def run(image: EvalImage):
        started = time.perf_counter()
        result = client.recognise(image.image, _request_boxes(configuration, image), timeout=300)
        return result, 1000 * (time.perf_counter() - started)

    return server, client, run


def _summarise(scores: list[ImageScore], wall_s: float | None = None, cpu_s: float | None = None) -> dict:
    truth = sum(s.truth for s in scores)
    predicted = sum(s.predicted for s in scores)
    matched = sum(s.matched for s in scores)
    excluded = sum(s.excluded for s in scores)
    confident_predicted = sum(s.confident_predicted for s in scores)
    confident_matched = sum(s.confident_matched for s in scores)
    recall = matched / truth if truth else 0.0
    precision = matched / predicted if predicted else 0.0
    summary = {
        "images": len(scores),
        "truth_words": truth, "predicted_words": predicted, "matched_words": matched,
        "recall": round(recall, 4), "precision": round(precision, 4),
        "f1": round(2 * recall * precision / (recall + precision), 4) if recall + precision else 0.0,
        "excluded_words": excluded, "leaked_words": sum(s.leaked for s in scores),
        f"recall_confidence_{CONFIDENCE_FLOOR}": round(confident_matched / truth, 4) if truth else 0.0,
        f"precision_confidence_{CONFIDENCE_FLOOR}": round(confident_matched / confident_predicted, 4)
        if confident_predicted else 0.0,
        "mean_latency_ms": round(sum(s.latency_ms for s in scores) / len(scores), 1),
        "mean_recognize_ms": round(sum(s.recognize_ms for s in scores) / len(scores), 1),
        "mean_exclusion_ms": round(sum(s.exclusion_ms for s in scores) / len(scores), 3),
    }
    if wall_s is not None:
        summary.update(wall_s=round(wall_s, 2), images_per_s=round(len(scores) / wall_s, 2),
                       cpu_s_per_image=round(cpu_s / len(scores), 3))
    return summary


def markdown_report(report: dict) -> str:
    machine = report["machine"]
    splits = report["splits"]
    lines = [
        "# OCR evaluation: pytesseract per call vs the OCR service",
        "",
        f"Machine: {machine['cpu_model']}, {machine['cpu_cores']} cores "
        f"({machine['cpu_cores_usable']} usable), {machine['memory_gib']} GiB; load average "
        f"{machine['load_average_at_start']} at start, {report['load_average_at_end']} at end. "
        f"Commit {machine['git_commit']}.",
        "",
    ]
    if report["note"]:
        lines += [f"Conditions: {report['note']}", ""]
    lines += [
        "Two splits that share no font, layout, background or ad copy: **tuning** (engine defaults "
        "may be chosen on it) and **held-out** (judged on only; see `ocr_service/eval_held_out.py`).",
        "",
    ]
    if len(splits) > 1:
        names = list(splits)
        lines += ["| configuration | " + " | ".join(f"{n} recall / precision / F1" for n in names) + " |",
                  "|---|" + "---|" * len(names)]
        for position, result in enumerate(next(iter(splits.values()))["configurations"]):
            cells = []
            for name in names:
                s = splits[name]["configurations"][position]["summary"]
                cells.append(f"{s['recall']:.3f} / {s['precision']:.3f} / {s['f1']:.3f}")
            lines.append(f"| {result['configuration']['name']} | " + " | ".join(cells) + " |")
        lines.append("")
    for name, part in splits.items():
        lines += _split_section(name, part, report["workers"])
    lines += [
        "Recall = truth words found / truth words; precision = words found that are in the truth / "
        "words returned (lower case, split on non-alphanumerics; on rendered images a word counts only "
        "where its truth box is: centre inside the box grown by half its height; the real images' truth "
        "has no boxes, there it is a bag of words). Leaked = words "
        "returned that belong only to an exclusion box. Latency is per image as the client saw it "
        "(with concurrency for the service); exclusion ms is the time spent masking or dropping. "
        "CPU s/image counts user + system time of this process and every process it started "
        "(`tesseract` runs, worker processes), so it is less disturbed than images/s by other "
        "work on the machine.",
        "",
    ]
    return "\n".join(lines)


def _split_section(name: str, part: dict, workers: int) -> list[str]:
    labelled, configurations = part["set"], part["configurations"]
    real = f"{len(labelled['real'])} real package images ({', '.join(labelled['real'])})"
    if name == "tuning":
        described = (
            f"{labelled['rendered']} rendered ad-like images (seeded; Liberation/DejaVu fonts, sizes, colours, photo "
            f"backgrounds from skimage.data, blocks rotated up to ±4°, a logo box to exclude), "
            f"{labelled.get('hard', 0)} hard creatives (one challenge each, equal numbers: busy photo, light on dark, "
            f"outlined, 8-16 px text, 120-200 px text, 5-15° rotation; two or three blocks and a logo each) and {real}")
    else:
        described = (
            f"{labelled['held_out']} creatives (seeded; equal numbers of: ad, 9-15 px text, low contrast, 8-20° "
            f"rotation, stylised fonts, busy photo, drop shadow, light on dark; in centred, right-aligned, "
            f"bottom-anchored and split-panel layouts; Noto, FreeFont, URW base35 and Comfortaa fonts; opencv-doc "
            f"photos, skimage moon/clock/colorwheel, drawn gradients, stripes and dots) and {real}")
    lines = [
        f"## {name} split",
        "",
        f"Set: {described}; {labelled['truth_words']} truth words, {labelled['excluded_words']} words inside "
        f"exclusion boxes; {len(labelled.get('fonts', []))} fonts, layouts {', '.join(labelled.get('layouts', []))}.",
        "",
        f"The service runs {workers} tesserocr worker processes behind gRPC on loopback, "
        f"fed by {workers} concurrent client threads; pytesseract runs one `tesseract` process "
        "per image, one image at a time, as the seeds did. Tesseract --psm 3 (its default) and "
        "exclusion boxes masked unless the row says otherwise.",
        "",
        f"| configuration | recall | precision | F1 | recall / precision, confidence ≥ {CONFIDENCE_FLOOR} "
        "| leaked / excluded | images/s | CPU s/image | mean latency ms | mean exclusion ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in configurations:
        s = result["summary"]
        confident = (f"{s[f'recall_confidence_{CONFIDENCE_FLOOR}']:.3f} / "
                     f"{s[f'precision_confidence_{CONFIDENCE_FLOOR}']:.3f}")
        lines.append(
            f"| {result['configuration']['name']} | {s['recall']:.3f} | {s['precision']:.3f} | {s['f1']:.3f} "
            f"| {confident} "
            f"| {s['leaked_words']} / {s['excluded_words']} | {s['images_per_s']:.2f} | {s['cpu_s_per_image']:.3f} "
            f"| {s['mean_latency_ms']:.0f} | {s['mean_exclusion_ms']:.2f} |"
        )
    kind_names = sorted({k for result in configurations for k in result["by_kind"]})
    lines += ["", f"By subset, {name} split (recall / precision / F1):", "",
              "| configuration | " + " | ".join(kind_names) + " |", "|---|" + "---|" * len(kind_names)]
    for result in configurations:
        kinds = result["by_kind"]
        cells = [f"{kinds[k]['recall']:.2f} / {kinds[k]['precision']:.2f} / {kinds[k]['f1']:.2f}" if k in kinds else "–"
                 for k in kind_names]
        lines.append(f"| {result['configuration']['name']} | " + " | ".join(cells) + " |")
    real_names = labelled["real"]
    if real_names:
        lines += ["", "Real images, words found / truth words:", "",
                  "| configuration | " + " | ".join(real_names) + " |",
                  "|---|" + "---|" * len(real_names)]
        for result in configurations:
            found = {i["name"]: f"{i['matched']} / {i['truth']} ({i['predicted']} read)"
                     for i in result["images"] if i["kind"] == "real"}
            lines.append(f"| {result['configuration']['name']} | " + " | ".join(found[n] for n in real_names) + " |")
    lines.append("")
    return lines
