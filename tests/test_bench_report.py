"""`creativelens bench --quick` on the real exported R50 (random weights), through a real
tritonserver, the real stream client and perf_analyzer: the report must be complete and its
numbers consistent with each other. Nothing here asserts speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from creativelens.benchmarks.comparison import is_clean
from creativelens.benchmarks.fresh_process import DIRECT_RUNTIMES
from creativelens.benchmarks.model_cache import read_cpu_config, weights_match, with_max_batch_size
from creativelens.benchmarks.plan import SEED_JOB_HOURS, TARGET_SPEEDUP, TARGET_TRITON_OVERHEAD_PCT, full_plan, quick_plan
from creativelens.benchmarks.process_cpu import tree_cpu_seconds
from creativelens.benchmarks.report import REPORT_SECTIONS
from creativelens.benchmarks.suite import compared_here

COMPARED = compared_here()
from creativelens.benchmarks.seed_loop import resized_size
from creativelens.canvas import CPU_CANVASES, choose_canvas, letterbox

MODEL = "faster_rcnn_R_50_FPN_1x"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "creativelens.cli", "bench", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=900)


@pytest.fixture(scope="module")
def quick_run(exported_repository, tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    out = root / "results"
    completed = _bench("--quick", "--repository", str(exported_repository), "--out", str(out),
                       "--work", str(root / "work"), "--cache", str(root / "cache"), "--no-progress",
                       cwd=root)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out, json.loads((out / "results.json").read_text()), completed.stdout


def test_every_section_is_present_with_measured_numbers(quick_run):
    out, results, _ = quick_run
    for key in ("machine", "plan", "model", "media", "pipelines", "comparison", "sweeps", "perf_analyzer", "files"):
        assert key in results, key
    assert results["mode"] == "quick"
    machine = results["machine"]
    assert machine["cpu_model"] and machine["cpu_cores"] >= 1 and len(machine["load_average_at_start"]) == 3
    others = machine["other_processes_during_passes"]
    assert others["cpu_s"] is not None and others["cores_busy_max_pass"] >= others["cores_busy_mean"] is not None
    assert results["model"]["random_weights"] is True and results["model"]["weights"].startswith("random")
    images = results["media"]["images"]
    assert images == len(results["media"]["stills"]) + len(results["media"]["video_frames"]) >= 4
    plan = quick_plan()
    assert set(results["pipelines"]) == {"seed_loop", *COMPARED}
    for name in ("seed_loop", *COMPARED):
        pipeline = results["pipelines"][name]
        assert pipeline["errors"] == 0
        for field in ("images_per_s", "latency_ms_p50", "latency_ms_p95", "cpu_s_per_image", "cores_busy"):
            assert pipeline[field] > 0, (name, field)
        assert pipeline["latency_ms_p95"] >= pipeline["latency_ms_p50"]
        assert len(pipeline["images_per_s_per_pass"]) == plan.rounds
    assert results["pipelines"]["seed_loop"]["images"] == plan.rounds * images
    for row in results["sweeps"]["concurrency"]:
        assert {row[kind]["images"] for kind in COMPARED} == {plan.rounds * images}
    assert [row["concurrency"] for row in results["sweeps"]["concurrency"]] == list(plan.concurrencies)
    assert [row["max_batch_size"] for row in results["sweeps"]["max_batch_size"]] == list(plan.max_batch_sizes)
    assert results["sweeps"]["canvas"][0]["canvases"] == results["model"]["canvases"]


def test_the_baseline_ran_alone_and_the_old_way_was_measured_once(quick_run):
    _, results, _ = quick_run
    pipelines, check = results["pipelines"], results["baseline_check"]
    assert is_clean(pipelines["seed_loop"]["isolation"])
    for kind in COMPARED:
        isolation = pipelines[kind]["isolation"]
        if kind in DIRECT_RUNTIMES:  # its own process, its own runtime only
            assert isolation["process"] == "fresh" and isolation["servers_up"] == 0
            assert isolation["runtime_modules"] == [DIRECT_RUNTIMES[kind].split("-")[0]]
        else:
            assert isolation["servers_up"] == 1
    assert check["bench_process_runtime_modules"] == []
    assert check["clean"]["process"]["runtime_modules"] == []
    assert check["beside"]["process"]["runtime_modules"] == ["onnxruntime", "openvino"]
    assert sorted(check["beside"]["process"]["watched"]) == ["tritonserver cpu", "tritonserver cpu_onnxruntime"]
    assert check["slowdown_pct"] == pytest.approx((1 - check["beside_images_per_s"] / check["clean_images_per_s"]) * 100)
    assert check["clean"]["images"] == check["beside"]["images"] == results["media"]["images"]


def test_derived_numbers_follow_from_the_measured_rates(quick_run):
    _, results, _ = quick_run
    pipelines, comparison = results["pipelines"], results["comparison"]
    seed, served, direct = (pipelines[name]["images_per_s"] for name in ("seed_loop", "served", "openvino_direct"))
    for name in ("seed_loop", *COMPARED):
        pipeline = pipelines[name]
        assert pipeline["images_per_s"] == pytest.approx(pipeline["images"] / pipeline["wall_s"], rel=1e-3)
        assert pipeline["cpu_s_per_image"] == pytest.approx(pipeline["cpu_s"] / pipeline["images"], rel=1e-3)
    assert comparison["speedup_served_over_seed"] == pytest.approx(served / seed)
    for name in COMPARED:
        assert comparison["speedup_over_seed"][name] == pytest.approx(pipelines[name]["images_per_s"] / seed)
    assert results["client_cost"]["decode_letterbox_ms_per_image"] > 0
    assert comparison["projected_job_hours"] == pytest.approx(SEED_JOB_HOURS / (served / seed))
    assert comparison["triton_overhead_pct"] == pytest.approx((direct / served - 1) * 100)
    assert comparison["targets"]["speedup_met"] == (served / seed >= TARGET_SPEEDUP)
    assert comparison["targets"]["triton_overhead_met"] == ((direct / served - 1) * 100 < TARGET_TRITON_OVERHEAD_PCT)
    rows = results["sweeps"]["concurrency"]
    assert served == max(row["served"]["images_per_s"] for row in rows)
    for kind in COMPARED:
        assert pipelines[kind]["images_per_s"] == max(row[kind]["images_per_s"] for row in rows)
    best = next(row for row in rows if row["concurrency"] == pipelines["served"]["concurrency"])
    assert best["served"]["images_per_s"] == served
    for row in rows:
        assert row["triton_overhead_pct"] == pytest.approx(
            (row["openvino_direct"]["images_per_s"] / row["served"]["images_per_s"] - 1) * 100)
        for kind in ("served", "served_onnxruntime"):
            stats = row[kind]
            assert stats["triton_inferences"] == stats["images"]  # Triton counted every image we sent
            assert stats["average_batch_size"] == pytest.approx(stats["triton_inferences"] / stats["triton_executions"])
            assert 1 <= stats["average_batch_size"] <= pipelines[kind]["max_batch_size"]
    for row in results["sweeps"]["max_batch_size"]:
        assert 1 <= row["served"]["average_batch_size"] <= row["max_batch_size"]
    canvas_row = results["sweeps"]["canvas"][0]
    assert canvas_row["speedup_served_over_seed"] == pytest.approx(
        canvas_row["served"]["images_per_s"] / canvas_row["seed_loop"]["images_per_s"])


def test_perf_analyzer_measured_the_same_server(quick_run):
    out, results, _ = quick_run
    perf = results["perf_analyzer"]
    assert [row["concurrency"] for row in perf["rows"]] == list(quick_plan().concurrencies)
    for row in perf["rows"]:
        assert "error" not in row, row
        assert row["inferences_per_s"] > 0 and row["latency_ms_p95"] >= row["latency_ms_p50"] > 0
    for name in perf["files"]:
        assert (out / "perf_analyzer" / name).stat().st_size > 0
    table = (out / "perf_analyzer" / "perf_analyzer_c1.txt").read_text()
    assert "Inferences/Second" in table or "Throughput" in table


def test_report_files_say_what_was_measured(quick_run):
    out, results, stdout = quick_run
    report = (out / "report.md").read_text()
    for section in REPORT_SECTIONS:
        assert f"## {section}\n" in report, section
    assert f"**{results['comparison']['speedup_served_over_seed']:.2f}×**" in report
    assert f"**{results['comparison']['projected_job_hours']:.1f} hours**" in report
    assert results["machine"]["cpu_model"] in report
    assert "random weights" in report.lower()
    if not results["machine"]["gpus"]:
        assert "skipped" in results["sweeps"]["gpu"]
        assert "## GPU runtimes\n\nNot run: " in report
    assert results["files"]["plots"]
    for plot in results["files"]["plots"]:
        assert (out / plot).read_bytes()[:8] == PNG_MAGIC
        assert f"]({plot})" in report
    assert "RANDOM WEIGHTS" in stdout and "speedup (b)/(a)" in stdout


def test_seed_loop_resizes_each_image_as_the_client_letterboxes_it():
    """The report's claim of the same input size, for real-world aspect ratios."""
    import numpy as np

    shapes = [(512, 512), (400, 600), (300, 451), (427, 640), (576, 768), (1080, 1920), (1920, 1080),
              (1080, 1080), (250, 1000), (1000, 250), (720, 1280), (333, 500), (1333, 800)]
    for buckets in (CPU_CANVASES, quick_plan().canvases, full_plan().canvases, *full_plan().canvas_sweep):
        for height, width in shapes:
            canvas = choose_canvas(height, width, buckets)
            boxed = letterbox(np.zeros((height, width, 3), np.uint8), canvas)
            resized_h, resized_w = resized_size(height, width, canvas)
            # equal up to rounding: letterbox rounds half to even, Detectron2 half up
            assert abs(resized_h - boxed.valid_height) <= 1 and abs(resized_w - boxed.valid_width) <= 1, \
                (height, width, canvas, (resized_h, resized_w), (boxed.valid_height, boxed.valid_width))


def test_max_batch_variant_changes_only_the_cpu_config(exported_repository, tmp_path):
    variant = with_max_batch_size(exported_repository, MODEL, 1, tmp_path / "variant")
    original, changed = exported_repository / MODEL, variant / MODEL
    assert read_cpu_config(changed).max_batch_size == 1
    expected = read_cpu_config(original)
    expected.max_batch_size = 1
    assert read_cpu_config(changed) == expected
    assert (changed / "1").resolve() == (original / "1").resolve()
    assert not (changed / "configs" / "cpu.pbtxt").is_symlink()


def test_exports_are_reused_only_with_the_seed_loops_weights(exported_repository):
    from creativelens.export.zoo import load_detector

    assert weights_match(exported_repository / MODEL, load_detector(MODEL, random_weights=True))
    assert not weights_match(exported_repository / MODEL, load_detector(MODEL, random_weights=True, seed=1))


def test_cpu_accounting_includes_finished_children():
    before = tree_cpu_seconds()
    burn = "import time\nwhile time.process_time() < 0.5: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    assert tree_cpu_seconds() - before >= 0.5


def test_bench_refuses_a_repository_without_the_model(tmp_path):
    completed = _bench("--quick", "--repository", str(tmp_path), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert completed.returncode == 2
    assert "holds no faster_rcnn_R_50_FPN_1x/" in completed.stderr
    assert not (tmp_path / "out").exists()
