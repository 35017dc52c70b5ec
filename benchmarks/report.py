"""A bench run's results on disk: results.json (every number), report.md, PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"
THROUGHPUT_PLOT = "throughput_vs_concurrency.png"
LATENCY_PLOT = "latency_percentiles.png"
MAX_BATCH_PLOT = "max_batch_size.png"
PIPELINE_TITLES = {
    "seed_loop": "(a) seed loop, alone in its process",
    "served": "(b) served, OpenVINO FP32 (default CPU config)",
    "served_onnxruntime": "(b2) served, ONNX Runtime config",
    "served_bf16": "(b3) served, OpenVINO BF16: REDUCED PRECISION (serve's default on this CPU)",
    "openvino_direct": "(c) OpenVINO direct",
    "onnx_direct": "(c2) ONNX Runtime direct",
    "openvino_bf16_direct": "(c3) OpenVINO BF16 direct (reduced precision)",
}
QUIET_MEAN_CORES = 0.1  # other processes' CPU while passes are timed
QUIET_MAX_CORES = 0.3
REPORT_SECTIONS = ("Summary", "Baseline", "Machine", "Model and input size", "Media", "Method", "Pipelines",
                   "Reduced precision served", "Ad-shaped canvases",
                   "Concurrency sweep", "Max batch size sweep", "Canvas sweep", "GPU runtimes",
                   "perf_analyzer", "Targets")


def write_results(results: dict, out_dir: Path) -> dict:
    """Write plots, report.md and results.json into `out_dir`; returns the file names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(results, out_dir)
    results["files"] = {"results": RESULTS_FILE, "report": REPORT_FILE, "plots": plots,
                        "perf_analyzer": results.get("perf_analyzer", {}).get("files", [])}
    (out_dir / REPORT_FILE).write_text(render_markdown(results))
    (out_dir / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n")
    return results["files"]


# --- plots ---------------------------------------------------------------------------------------

def write_plots(results: dict, out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    rows = results["sweeps"]["concurrency"]
    concurrencies = [row["concurrency"] for row in rows]
    title = f"{results['model']['name']} on {_machine_line(results['machine'])}"

    figure, axes = plt.subplots(figsize=(7, 4.5))
    swept = [kind for kind in PIPELINE_TITLES if kind != "seed_loop" and kind in rows[0]]
    for kind, style in zip(swept, ("o-", "o--", "o:", "s-", "s--", "s:")):
        axes.plot(concurrencies, [row[kind]["images_per_s"] for row in rows], style, label=PIPELINE_TITLES[kind])
    perf_rows = [row for row in results["perf_analyzer"].get("rows", []) if "inferences_per_s" in row]
    if perf_rows:
        axes.plot([row["concurrency"] for row in perf_rows], [row["inferences_per_s"] for row in perf_rows],
                  "^--", label="perf_analyzer (model only, one image)")
    axes.axhline(results["pipelines"]["seed_loop"]["images_per_s"], color="grey", linestyle=":",
                 label=PIPELINE_TITLES["seed_loop"])
    axes.set_xscale("log", base=2)
    axes.set_xticks(concurrencies, [str(c) for c in concurrencies])
    axes.set_xlabel("requests in flight (concurrency)")
    axes.set_ylabel("images / s")
    axes.set_ylim(bottom=0)
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out_dir / THROUGHPUT_PLOT, dpi=110)
    plt.close(figure)
    written.append(THROUGHPUT_PLOT)

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    pipelines = results["pipelines"]
    names = [name for name in PIPELINE_TITLES if name in pipelines]
    positions = range(len(names))
    left.bar([p - 0.2 for p in positions], [pipelines[n]["latency_ms_p50"] for n in names], 0.4, label="p50")
    left.bar([p + 0.2 for p in positions], [pipelines[n]["latency_ms_p95"] for n in names], 0.4, label="p95")
    left.set_xticks(list(positions), [PIPELINE_TITLES[n].split(" ", 1)[1] for n in names], fontsize=8)
    left.set_ylabel("latency per image (ms)")
    left.set_title("headline settings", fontsize=9)
    left.legend(fontsize=8)
    for kind, marker, color in (("served", "o", "C0"), ("openvino_direct", "s", "C1")):
        for percentile, style in (("p50", "-"), ("p95", "--")):
            right.plot(concurrencies, [row[kind][f"latency_ms_{percentile}"] for row in rows], marker + style,
                       color=color, label=f"{PIPELINE_TITLES[kind].split(' ', 1)[1]} {percentile}")
    right.set_xscale("log", base=2)
    right.set_xticks(concurrencies, [str(c) for c in concurrencies])
    right.set_xlabel("requests in flight (concurrency)")
    right.set_ylabel("latency per image (ms)")
    right.set_ylim(bottom=0)
    right.set_title("over concurrency", fontsize=9)
    right.legend(fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(out_dir / LATENCY_PLOT, dpi=110)
    plt.close(figure)
    written.append(LATENCY_PLOT)

    sweep = results["sweeps"]["max_batch_size"]
    if sweep:
        figure, axes = plt.subplots(figsize=(6, 4))
        labels = [str(row["max_batch_size"]) for row in sweep]
        bars = axes.bar(labels, [row["served"]["images_per_s"] for row in sweep])
        for bar, row in zip(bars, sweep):
            axes.annotate(f"avg batch {row['served'].get('average_batch_size', 0):.2f}",
                          (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                          fontsize=8)
        axes.set_xlabel(f"Triton max_batch_size (concurrency {sweep[0]['concurrency']})")
        axes.set_ylabel("images / s (served)")
        axes.set_title(title, fontsize=9)
        figure.tight_layout()
        figure.savefig(out_dir / MAX_BATCH_PLOT, dpi=110)
        plt.close(figure)
        written.append(MAX_BATCH_PLOT)
    return written


# --- markdown ------------------------------------------------------------------------------------

def render_markdown(results: dict) -> str:
    lines = [*_summary_lines(results), *baseline_lines(results), *_setup_lines(results),
             *reduced_precision_lines(results), *ads_lines(results), *_sweep_lines(results),
             "", "## GPU runtimes", "", *_gpu_lines(results["sweeps"]["gpu"]),
             "", "## perf_analyzer", "", *_perf_analyzer_lines(results["perf_analyzer"]),
             "", "## Targets", "", *_target_lines(results["comparison"], results["pipelines"])]
    return "\n".join(lines) + "\n"


def _summary_lines(results: dict) -> list[str]:
    machine, model, comparison = results["machine"], results["model"], results["comparison"]
    pipelines, targets = results["pipelines"], comparison["targets"]
    return [
        f"# CreativeLens bench — {results['mode']} mode, {results['started_at'][:10]}",
        "",
        f"{_machine_line(machine)}; {model['name']} with "
        + ("**random weights** (no zoo weights offline: speed only, detections meaningless)"
           if model["random_weights"] else f"weights {model['weights']}"
           + (f" (the `creativelens train` folder {model['from_training']}, classes "
              f"{', '.join(model.get('class_names', []))}), in every row" if model.get("from_training") else ""))
        + ".",
        "",
        "## Summary",
        "",
        *_load_caveat(machine),
        _table(["pipeline", "images/s", "per pass", "p50 ms", "p95 ms", "CPU s/image", "cores busy", "setting"],
               [[PIPELINE_TITLES[name], _f(p["images_per_s"], 2),
                 " / ".join(f"{rate:.2f}" for rate in p.get("images_per_s_per_pass", [])) or "—",
                 _f(p["latency_ms_p50"], 0),
                 _f(p["latency_ms_p95"], 0), _f(p["cpu_s_per_image"], 2), _f(p["cores_busy"], 2),
                 _setting(name, p)] for name, p in pipelines.items()]),
        "",
        f"- Speedup of (b) over (a): **{comparison['speedup_served_over_seed']:.2f}×** "
        f"(target ≥ {targets['speedup_min']}×: {_verdict(targets['speedup_met'])}); every pipeline over (a): "
        + ", ".join(f"{PIPELINE_TITLES[name].split(' ', 1)[0]} {gain:.2f}×"
                    for name, gain in comparison["speedup_over_seed"].items()) + ".",
        *_bf16_summary_lines(comparison, pipelines),
        f"- The client's own cost per image (decode + letterbox, before any model): "
        f"{results['client_cost']['decode_letterbox_ms_per_image']} ms wall, "
        f"{results['client_cost']['decode_letterbox_cpu_ms_per_image']} ms CPU.",
        f"- Triton's overhead of (b) over (c), the same runtime, each at its best concurrency: "
        f"**{comparison['triton_overhead_pct']:.1f} %** (target < {targets['triton_overhead_max_pct']:.0f} %: "
        f"{_verdict(targets['triton_overhead_met'])}).",
        f"- Average batch Triton formed for (b): {_f(pipelines['served'].get('average_batch_size'), 2)} "
        f"(max_batch_size {pipelines['served'].get('max_batch_size')}).",
        f"- The seeds' {comparison['seed_job_hours']:.0f}-hour job through the measured speedup over the clean "
        "baseline: "
        f"**{comparison['projected_job_hours']:.1f} hours** "
        f"({comparison['seed_job_hours']:.0f} h / {comparison['speedup_served_over_seed']:.2f}).",
        "",
    ]


def _bf16_summary_lines(comparison: dict, pipelines: dict) -> list[str]:
    if "served_bf16" not in pipelines:
        return []
    from creativelens.serve.bf16_default import gate_numbers

    targets = comparison["targets"]
    return [f"- **REDUCED PRECISION** (b3) served BF16, what `creativelens serve` serves by default on this CPU "
            f"for this export: **{comparison['speedup_served_bf16_over_seed']:.2f}×** the seed loop (target ≥ "
            f"{targets['bf16_speedup_min']}×: {_verdict(targets['bf16_speedup_met'])}); the 210-hour job → "
            f"**{comparison['projected_job_hours_bf16']:.1f} hours**. Its accuracy gate: "
            f"{gate_numbers(pipelines['served_bf16']['gate']['gate'])}."]


def reduced_precision_lines(results: dict) -> list[str]:
    """The served BF16 row: why it was measured (or not), loudly reduced precision, the gate's numbers."""
    lines = ["## Reduced precision served", ""]
    served = results.get("reduced_precision_served")
    if not served:
        return lines + ["Not measured: `creativelens serve` would serve this export at FP32 here (no native BF16 "
                        "on this CPU, no configs/cpu_bf16.pbtxt, or its gate did not pass), so there is no "
                        "served BF16 row.", ""]
    from creativelens.serve.bf16_default import gate_numbers

    gate = served["gate"]
    bf16, fp32 = results["pipelines"]["served_bf16"], results["pipelines"]["served"]
    lines += [
        "**REDUCED PRECISION.** (b3) serves configs/cpu_bf16.pbtxt (OpenVINO, INFERENCE_PRECISION_HINT=bf16), "
        "timed like (b): only its own tritonserver up, the same client, media and concurrencies.",
        "",
        f"- What `creativelens serve` says at start-up for this model here: `{served['serve_line']}`",
        f"- The export's gate (parity.json): {gate_numbers(gate)}; {gate.get('fp32_detections')} FP32 detections, "
        f"{gate.get('candidate_detections')} BF16, {gate.get('matched')} matched"
        + (f"; AP {gate['candidate_ap']:.2f} (BF16) vs {gate['fp32_ap']:.2f} (FP32)"
           if gate.get("fp32_ap") is not None and gate.get("candidate_ap") is not None else "") + ".",
        f"- Served BF16 {bf16['images_per_s']:.2f} images/s against served FP32 {fp32['images_per_s']:.2f} "
        f"({bf16['images_per_s'] / fp32['images_per_s']:.2f}×), each at its best concurrency; CPU s/image "
        f"{_f(bf16['cpu_s_per_image'], 2)} vs {_f(fp32['cpu_s_per_image'], 2)}.",
        "",
    ]
    return lines


def ads_lines(results: dict) -> list[str]:
    """Creative-shaped images at the default and the ad-shaped canvases: padding share and speed."""
    lines = ["## Ad-shaped canvases", ""]
    ads = results.get("ads")
    if not ads:
        return lines + ["Not run (no --ads-repository).", ""]
    media = ads["media"]
    lines += [
        f"{media['images']} creative-SHAPED images ({', '.join(f'{n} {name}' for name, n in media['per_ratio'].items())}"
        f"; sizes {', '.join(f'{name} {h}x{w}' for name, (h, w) in media['sizes_hw'].items())}): {media['made_from']} "
        "— the shapes of real creatives, not real ads. Each canvas set's rows: the seed loop in its own process at "
        "that set's input sizes, each served config with only its own server up, at the concurrency it did best at "
        f"above; {ads['rounds']} round(s).",
        "",
        _table(["canvas set", "media", "padding share", "served px/image", "image px/image", "seed loop px/image",
                "served / seed px"],
               [[label, where, f"{100 * p['padding_share']:.1f} %", p["served_pixels_per_image"],
                 p["valid_pixels_per_image"], p["seed_loop_pixels_per_image"], f"{p['served_over_seed_pixels']:.3f}"]
                for where, sets in ads["padding"].items() for label, p in sets.items()]),
        "",
    ]
    kinds = [kind for kind in ("served", "served_bf16") if any(kind in row for row in ads["rows"])]
    header = ["canvas set", "buckets", "(a) seed loop images/s"]
    for kind in kinds:
        title = PIPELINE_TITLES[kind].split(" ", 1)[0]
        header += [f"{title} images/s", f"{title} / own (a)", f"{title} / (a) at defaults"]
    rows = []
    for row in ads["rows"]:
        cells = [row["canvas_set"], ", ".join(row["canvases"]), _f(row["seed_loop"]["images_per_s"], 2)]
        for kind in kinds:
            if kind in row:
                cells += [_f(row[kind]["images_per_s"], 2), f"{row['speedup_over_own_seed_loop'][kind]:.2f}×",
                          f"{row['speedup_over_default_seed_loop'][kind]:.2f}×"]
            else:
                cells += ["— (not gated)", "—", "—"]
        rows.append(cells)
    return lines + [_table(header, rows), "",
                    "(b3) is REDUCED PRECISION (BF16). '/ own (a)': over the seed loop at the same canvas set's "
                    "input sizes; '/ (a) at defaults': over the seed loop at the default canvases, on the same images.",
                    ""]


def baseline_lines(results: dict) -> list[str]:
    """How the baseline was protected, and what the old way of timing it cost."""
    check = results["baseline_check"]
    clean, beside = check["clean"], check["beside"]
    spent = check["beside_cpu_s"]
    servers = [name for name in spent if name.startswith("tritonserver")]
    return [
        "## Baseline",
        "",
        "- How it was protected: the seed loop and every direct runtime ran each in a fresh process of its own "
        "(`benchmarks/fresh_process.py`), started after the previous pass had ended, with no tritonserver up "
        f"and no OpenVINO / ONNX Runtime imported there (runtime modules in the seed loop's process: "
        f"{', '.join(clean['process']['runtime_modules']) or 'none'}; in the bench's own process: "
        f"{', '.join(check['bench_process_runtime_modules']) or 'none'}); each served config ran with only its "
        "own tritonserver up. The headline speedup and the projection use this clean seed loop only.",
        f"- The same seed loop timed once more, back to back, the way the bench used to run it (the direct "
        f"runtimes {', '.join(beside['process']['beside'])} loaded and warmed in its process, both served "
        f"configs up and warmed): **{check['beside_images_per_s']:.2f} images/s** against "
        f"**{check['clean_images_per_s']:.2f}** clean, {abs(check['slowdown_pct']):.1f} % "
        + ("slower." if check["slowdown_pct"] >= 0 else "faster (within noise: nothing beside it took CPU, below)."
           if abs(check["slowdown_pct"]) < 5 else "faster."),
        f"- Where the CPU went during that pass ({_f(beside['wall_s'], 1)} s wall, 2 × that in core-seconds "
        f"available on {results['machine']['cpu_cores']} cores): the seed loop's own threads "
        f"{_f(spent['seed_loop_threads'], 2)} s, the runtimes' threads in its process "
        f"{_f(spent['runtime_threads_in_its_process'], 2)} s, "
        + ", ".join(f"{name} {_f(spent[name], 2)} s" for name in servers)
        + f", the idle bench process {_f(spent['bench_process'], 2)} s, other processes "
        f"{_f(spent['other_processes'], 2)} s. Clean pass: seed loop's threads "
        f"{_f(clean['observed']['pipeline_threads_cpu_s'], 2)} s over {_f(clean['wall_s'], 1)} s; torch threads "
        f"{clean['process'].get('torch_threads')} clean, {beside['process'].get('torch_threads')} beside.",
        "",
    ]


def _setup_lines(results: dict) -> list[str]:
    machine, model = results["machine"], results["model"]
    others = machine.get("other_processes_during_passes")
    lines = [
        "## Machine",
        "",
        f"- CPU: {machine['cpu_model']}, {machine['cpu_cores']} cores ({machine['cpu_cores_usable']} usable); "
        f"memory {machine['memory_gib']} GiB; GPU: {', '.join(machine['gpus']) or 'none'}.",
        f"- Load average (1, 5, 15 min) at start: {', '.join(str(v) for v in machine['load_average_at_start'])}; "
        f"when measuring began (after any export and model loading): "
        f"{', '.join(str(v) for v in machine['load_average_before_measuring'])}; at the end: "
        f"{', '.join(str(v) for v in machine['load_average_at_end'])}; highest 1-minute value seen at the "
        f"start of a pass: {machine.get('load_average_1min_max_during_run', 'not recorded')} (load averages "
        "count the bench's own threads too).",
        "- Other processes while passes were timed (machine busy time minus the bench's process tree): "
        + (f"{others['cpu_s']} CPU s, {others['cores_busy_mean']} cores on average, "
           f"{others['cores_busy_max_pass']} in the busiest pass." if others else "not recorded."),
        f"- {machine['os']}, Python {machine['python']}; git {machine['git_commit']}.",
        "- " + ", ".join(f"{name} {version}" for name, version in machine["software"].items()) + ".",
        "",
        "## Model and input size",
        "",
        f"- {model['name']}, weights `{model['weights']}`, canvas buckets {', '.join(model['canvases'])}, "
        f"Triton max_batch_size {model['max_batch_size']}.",
        f"- Same input size: {model['input_size_matching']}",
        "- Seed loop (INPUT.MIN_SIZE_TEST, INPUT.MAX_SIZE_TEST) per bucket: "
        + ", ".join(f"{name} → {tuple(size)}" for name, size in model["seed_loop_input_sizes"].items()) + ".",
        "",
        "## Media",
        "",
        f"{results['media']['images']} images: {len(results['media']['stills'])} sample stills "
        f"({', '.join(results['media']['stills'])}) and {len(results['media']['video_frames'])} frames of "
        f"{results['media']['video']} (every {results['media']['frame_stride']}th).",
        "",
        "## Method",
        "",
        f"One machine: a warm-up image per bucket and pipeline (not timed), then "
        f"{results['plan']['rounds']} round(s) of [seed loop; each served config and direct runtime at each "
        f"concurrency {results['plan']['concurrencies']}], every other round in reverse order; the seed loop "
        "and each direct runtime in a fresh process of its own, each served config with only its own server "
        "up (see Baseline). A pipeline's numbers "
        "add up its passes. images/s = images / wall seconds of the passes (the served pass's wall time is "
        "the client's own, from its first read to its last record). Latency: seed loop from `cv2.imread` to "
        "its row; served and direct from the moment the letterboxed image is sent to the model until its "
        "detections are in hand. CPU: user+system seconds of the whole process tree (bench, tritonserver and "
        "its python stubs, the stream client including its start-up) over each served pass; a fresh process's own CPU "
        "over its timed pass.",
        "",
        "## Pipelines",
        "",
    ]
    return lines + [f"- {PIPELINE_TITLES[name]}: {p['description']}." for name, p in results["pipelines"].items()]


def _sweep_lines(results: dict) -> list[str]:
    sweeps = results["sweeps"]
    lines = [
        "## Concurrency sweep",
        "",
        _table(["in flight", "(b) images/s", "(b) p50 ms", "(b) p95 ms", "(b) avg batch", "(b2) images/s",
                "(b3) BF16 served images/s",
                "(c) images/s", "(c) p50 ms", "(c2) images/s", "(c3) BF16 images/s", "Triton overhead (b) vs (c)"],
               [[row["concurrency"], _f(row["served"]["images_per_s"], 2), _f(row["served"]["latency_ms_p50"], 0),
                 _f(row["served"]["latency_ms_p95"], 0), _f(row["served"].get("average_batch_size"), 2),
                 _f(row["served_onnxruntime"]["images_per_s"], 2),
                 _f(row.get("served_bf16", {}).get("images_per_s"), 2),
                 _f(row["openvino_direct"]["images_per_s"], 2), _f(row["openvino_direct"]["latency_ms_p50"], 0),
                 _f(row["onnx_direct"]["images_per_s"], 2),
                 _f(row.get("openvino_bf16_direct", {}).get("images_per_s"), 2), f"{row['triton_overhead_pct']:.1f} %"]
                for row in sweeps["concurrency"]]),
        "",
        f"![throughput vs concurrency]({THROUGHPUT_PLOT})",
        "",
        f"![latency percentiles]({LATENCY_PLOT})",
        "",
        "## Max batch size sweep",
        "",
    ]
    if sweeps["max_batch_size"]:
        lines += [
            _table(["max_batch_size", "in flight", "images/s", "p50 ms", "p95 ms", "avg batch", "measured in"],
                   [[row["max_batch_size"], row["concurrency"], _f(row["served"]["images_per_s"], 2),
                     _f(row["served"]["latency_ms_p50"], 0), _f(row["served"]["latency_ms_p95"], 0),
                     _f(row["served"].get("average_batch_size"), 2), row["measured_in"]]
                    for row in sweeps["max_batch_size"]]),
            "",
            f"![max batch size]({MAX_BATCH_PLOT})" if MAX_BATCH_PLOT in results.get("files", {}).get("plots", [])
            else "",
        ]
    else:
        lines.append("Not run in this mode.")
    lines += [
        "",
        "## Canvas sweep",
        "",
        _table(["canvas buckets", "(a) images/s", "(b) images/s", "(b) in flight", "speedup"],
               [[", ".join(row["canvases"]), _f(row["seed_loop"]["images_per_s"], 2),
                 _f(row["served"]["images_per_s"], 2), row["concurrency"],
                 f"{row['speedup_served_over_seed']:.2f}×"] for row in sweeps["canvas"]]),
        "",
    ]
    return lines


def _load_caveat(machine: dict) -> list[str]:
    """A warning when other processes took CPU while passes were timed.

    The load average cannot tell: the bench's own threads (up to 8 requests in flight) raise it.
    """
    others = machine.get("other_processes_during_passes")
    if others is None:
        return ["**Caveat: this run did not record what other processes used**; see the load averages "
                "under Machine (they include the bench's own threads).", ""]
    if others["cores_busy_mean"] <= QUIET_MEAN_CORES and others["cores_busy_max_pass"] <= QUIET_MAX_CORES:
        return []
    return [f"**Caveat: the machine was not quiet**: other processes took {others['cores_busy_mean']:.2f} "
            f"cores on average while passes were timed (up to {others['cores_busy_max_pass']:.2f} in one pass) "
            f"on {machine['cpu_cores']} cores, so these numbers are lower and noisier than on an idle "
            "machine; the interleaved order spreads the disturbance over the pipelines but cannot remove it.",
            ""]


def _gpu_lines(gpu: dict) -> list[str]:
    if "skipped" in gpu:
        return [f"Not run: {gpu['skipped']}. On a GPU host the same command times ONNX Runtime + CUDA, "
                "ONNX Runtime + TensorRT FP16 and libtorch (TorchScript) on this export, at batch sizes "
                "1/4/8 (`benchmarks/gpu_sweep.py`)."]
    lines = [f"Canvas {gpu['canvas']}, {gpu['repeats']} timed batches each."]
    rows = []
    for runtime, outcome in gpu["runtimes"].items():
        if "skipped" in outcome:
            rows.append([runtime, "—", f"skipped: {outcome['skipped']}", "", ""])
            continue
        rows += [[runtime, b["batch_size"], _f(b["images_per_s"], 1), _f(b["batch_latency_ms_p50"], 1),
                  _f(b["batch_latency_ms_p95"], 1)] for b in outcome["batches"]]
    return lines + ["", _table(["runtime", "batch", "images/s", "p50 ms/batch", "p95 ms/batch"], rows)]


def _perf_analyzer_lines(perf: dict) -> list[str]:
    if "skipped" in perf:
        return [f"Not run: {perf['skipped']}."]
    settings = perf["settings"]
    lines = [
        f"Triton's perf_analyzer 2.51 over gRPC against the same server (headline config), one real "
        f"letterboxed image ({perf['input']['image']}, canvas {perf['input']['canvas']}) per request, "
        f"windows of {settings['requests_per_window']} answers, stability {settings['stability_percentage']} %, "
        f"at most {settings['max_trials']} trials. Its own tables: "
        + ", ".join(f"[{name}](perf_analyzer/{name})" for name in perf["files"] if name.endswith(".txt")) + ".",
        "",
    ]
    rows = []
    for row in perf["rows"]:
        if "error" in row:
            rows.append([row["concurrency"], f"error: {row['error']}", "", "", "", ""])
        else:
            rows.append([row["concurrency"], _f(row["inferences_per_s"], 2), _f(row["latency_ms_p50"], 0),
                         _f(row["latency_ms_p95"], 0), _f(row["server_queue_ms"], 0),
                         _f(row["server_compute_infer_ms"], 0)])
    return lines + [_table(["in flight", "inferences/s", "p50 ms", "p95 ms", "server queue ms",
                            "server compute ms"], rows)]


def _target_lines(comparison: dict, pipelines: dict) -> list[str]:
    targets = comparison["targets"]
    seed, served, direct = pipelines["seed_loop"], pipelines["served"], pipelines["openvino_direct"]
    return [
        f"- Served ≥ {targets['speedup_min']}× the seed loop at the same input size: "
        f"{_verdict(targets['speedup_met'])} ({comparison['speedup_served_over_seed']:.2f}×).",
        *([f"- REDUCED PRECISION served BF16 ≥ {targets['bf16_speedup_min']}× the seed loop: "
           f"{_verdict(targets['bf16_speedup_met'])} ({comparison['speedup_served_bf16_over_seed']:.2f}×)."]
          if "bf16_speedup_met" in targets else []),
        f"- Triton's overhead < {targets['triton_overhead_max_pct']:.0f} % against direct OpenVINO at "
        f"the best concurrency: {_verdict(targets['triton_overhead_met'])} "
        f"({comparison['triton_overhead_pct']:.1f} %).",
        f"- The runtime's own ceiling: (c) OpenVINO alone, no server, is "
        f"{direct['images_per_s'] / seed['images_per_s']:.2f}× the seed loop; a server can add to that only by "
        "overlapping decoding with inference or by batching.",
        f"- Where the time goes (CPU seconds per image, whole process tree): seed loop "
        f"{_f(seed['cpu_s_per_image'], 2)}, served {_f(served['cpu_s_per_image'], 2)}, direct "
        f"{_f(direct['cpu_s_per_image'], 2)}.",
    ]


def _setting(name: str, pipeline: dict) -> str:
    if name.startswith("served"):
        return f"{pipeline['concurrency']} in flight, avg batch {_f(pipeline.get('average_batch_size'), 2)}"
    if name.endswith("_direct"):
        return f"{pipeline['concurrency']} in flight"
    return "one at a time"


def _machine_line(machine: dict) -> str:
    gpus = ", ".join(machine["gpus"]) or "no GPU"
    return f"{machine['cpu_model']} ({machine['cpu_cores']} cores), {gpus}"


def _verdict(met: bool) -> str:
    return "met" if met else "**MISSED**"


def _f(value, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def render_summary_lines(results: dict) -> list[str]:
    """The few lines printed at the end of a run."""
    comparison, pipelines = results["comparison"], results["pipelines"]
    lines = []
    if results["model"]["random_weights"]:
        lines.append("!!! RANDOM WEIGHTS: speed only; the detections are meaningless !!!")
    for name, pipeline in pipelines.items():
        lines.append(f"{PIPELINE_TITLES[name]:<48} {pipeline['images_per_s']:7.2f} images/s  "
                     f"p50 {_f(pipeline['latency_ms_p50'], 0)} ms  p95 {_f(pipeline['latency_ms_p95'], 0)} ms  "
                     f"({_setting(name, pipeline)})")
    if "speedup_served_bf16_over_seed" in comparison:
        lines.append(f"REDUCED PRECISION (b3) served BF16 over the seed loop alone "
                     f"{comparison['speedup_served_bf16_over_seed']:.2f}x; the "
                     f"{comparison['seed_job_hours']:.0f} h seed job -> {comparison['projected_job_hours_bf16']:.1f} h")
    check = results["baseline_check"]
    lines.append(f"seed loop beside the runtimes and servers (the old way): {check['beside_images_per_s']:.2f} "
                 f"images/s against {check['clean_images_per_s']:.2f} alone ({-check['slowdown_pct']:+.1f} %)")
    lines.append(f"speedup (b)/(a) over the seed loop alone {comparison['speedup_served_over_seed']:.2f}x "
                 f"[{_verdict(comparison['targets']['speedup_met']).strip('*')}]; Triton overhead "
                 f"{comparison['triton_overhead_pct']:.1f} % "
                 f"[{_verdict(comparison['targets']['triton_overhead_met']).strip('*')}]; "
                 f"the {comparison['seed_job_hours']:.0f} h seed job -> {comparison['projected_job_hours']:.1f} h")
    return lines
