"""How long `creativelens report` takes on a 10,000-item results folder, and how big the report is.

The folder is synthesised from the records of a real `creativelens stream` run (`--from`): each
still record is repeated under a distinct file name (a hard link to the same photo, so every
item's image is decoded and thumbnailed on its own, as in a real run of 10,000 files), with its
boxes jittered and a second model added, and the run's video frames are kept as they are. The
report is then built once, timed, and its size on disk measured. Run under the CPU lock:

    flock /tmp/cpu.lock .venv/bin/python -m creativelens.benchmarks.report_scale --from RESULTS

Writes benchmarks/results/report_scale_<machine>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from creativelens import formats
from creativelens.machine import describe_machine, machine_slug

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def synthesise(source: Path, out: Path, items: int, seed: int = 0) -> dict:
    """A stream results folder of `items` records made from `source`'s records."""
    from creativelens.report.inputs import read_results

    rng = random.Random(seed)
    real = read_results(source).items
    records = [formats.to_record(item) for item in real]
    stills = [r for r in records if r["frame_index"] is None and r["error"] is None]
    others = [r for r in records if r not in stills]
    if not stills:
        raise SystemExit(f"{source} has no still records to repeat")
    media = out / "media"
    media.mkdir(parents=True)
    results = out / "results"
    results.mkdir()
    lines = [json.dumps(r) for r in others]
    for n in range(items - len(others)):
        record = json.loads(json.dumps(stills[n % len(stills)]))
        original = Path(formats.unescape_name(record["source"]))
        linked = media / f"{n // 1000:03d}" / f"creative_{n:05d}{original.suffix}"
        linked.parent.mkdir(exist_ok=True)
        os.link(original, linked)
        record["source"] = str(linked)
        extra = {}
        for model, answer in list(record["models"].items()):
            for det in answer["detections"]:
                det["score"] = round(min(0.999, max(0.05, det["score"] * rng.uniform(0.6, 1.05))), 4)
                det["box"] = [round(v + rng.uniform(-4, 4), 2) for v in det["box"]]
            extra[f"{model}_b"] = {"version": "synthetic-b", "error": None, "latency_ms": answer.get("latency_ms"),
                                   "detections": [dict(d, label=d["label"] + "_b") for d in answer["detections"]
                                                  if rng.random() < 0.5]}
        record["models"].update(extra)
        lines.append(json.dumps(formats.to_record(formats.from_record(record))))
    (results / "detections.jsonl").write_text("\n".join(lines) + "\n")
    for name in ("summary.json", "run.json", "tracks.parquet", "screen_time.parquet"):
        if (source / name).is_file():
            shutil.copyfile(source / name, results / name)
    return {"items": len(lines), "repeated_still_records": len(stills), "kept_records": len(others),
            "source_records": len(records)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, required=True, help="a real stream results folder")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--workers", type=int, help="thumbnail processes (default: the usable cores)")
    parser.add_argument("--keep", type=Path, help="build the report here and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    from creativelens.report import build_report

    machine = describe_machine()
    with tempfile.TemporaryDirectory(prefix="report-scale-") as tmp:
        tmp = Path(tmp)
        made = synthesise(args.source, tmp, args.items)
        out = args.keep or tmp / "report"
        if args.keep and out.exists():
            shutil.rmtree(out)
        started = time.perf_counter()
        summary = build_report(tmp / "results", out, workers=args.workers)
        seconds = time.perf_counter() - started
        files = [p for p in out.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        data_js = (out / "data.js").stat().st_size
    result = {"machine": machine, "folder": made, "report_items": summary.items, "videos": summary.videos,
              "images_missing": summary.images_missing, "generation_s": round(seconds, 2),
              "items_per_s": round(summary.items / seconds, 1), "bytes_on_disk": size,
              "mib_on_disk": round(size / 2**20, 1), "files": len(files), "data_js_bytes": data_js,
              "workers": args.workers or len(os.sched_getaffinity(0))}
    slug = machine_slug(machine)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"report_scale_{slug}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS_DIR / f"report_scale_{slug}.md").write_text("\n".join([
        f"# creativelens report on {summary.items:,} items ({slug})", "",
        f"Machine: {machine['cpu_model']}, {machine['cpu_cores']} cores, load at start {machine['load_average_at_start']}; "
        f"run under /tmp/cpu.lock; {result['workers']} thumbnail processes.", "",
        f"Folder: {made['repeated_still_records']} still records of a real `creativelens stream` run ({args.source}) "
        f"repeated under distinct file names (hard links: every image decoded on its own) with jittered boxes and a "
        f"second model's boxes per model, plus the run's {made['kept_records']} other records (video frames, bad inputs).", "",
        "| what | measured |", "|---|---|",
        f"| generation time | {seconds:.1f} s ({result['items_per_s']} items/s) |",
        f"| size on disk | {result['mib_on_disk']} MiB in {len(files):,} files |",
        f"| data.js (every item's boxes, loaded at open) | {data_js / 2**20:.1f} MiB |",
        "", "The gallery shows 48 creatives a page; each item's full record is loaded on opening it "
        "(records/chunk_*.js, 200 a file).", ""]))
    print(json.dumps({k: result[k] for k in ("report_items", "generation_s", "mib_on_disk", "files")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
