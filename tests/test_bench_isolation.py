"""The bench's clean baseline (issue 26): the seed loop and each direct runtime are timed in a
fresh process of their own with no other runtime imported there, the headline refuses a baseline
that was not, and the report says how it was protected and what the old way cost."""

from __future__ import annotations

import os

import pytest

from creativelens.benchmarks.comparison import baseline_comparison, headline, is_clean
from creativelens.benchmarks.fresh_process import FreshPass, PassSpec, run_fresh
from creativelens.benchmarks.measurement import Measurement
from creativelens.benchmarks.report import baseline_lines
from creativelens.errors import UserError
from creativelens.sample_media import sample_stills

MODEL = "faster_rcnn_R_50_FPN_1x"


def _spec(tmp_path, kind: str, **extra) -> PassSpec:
    image = str(sample_stills()[0])
    return PassSpec(kind=kind, media=[image, image], warmup=[image], concurrencies=extra.pop("concurrencies", [0]),
                    out_dir=str(tmp_path), label=kind, model=MODEL, canvases=["320x320"], **extra)


def test_the_seed_loop_pass_runs_in_a_child_with_no_runtime_imported(tmp_path):
    fresh = run_fresh(_spec(tmp_path, "seed_loop"))
    facts = fresh.process
    assert facts["pid"] != os.getpid() and facts["parent_pid"] == os.getpid()
    assert facts["runtime_modules"] == [] and facts["beside"] == [] and facts["torch_threads"] >= 1
    [measurement] = fresh.measurements
    assert measurement.images == 2 and measurement.errors == 0 and len(measurement.latencies_ms) == 2
    assert measurement.cpu_s > 0  # the child's own CPU over its timed pass
    [observed] = fresh.passes
    assert observed["pipeline_threads_cpu_s"] > 0 and observed["runtime_threads_cpu_s"] == pytest.approx(0, abs=0.05)
    assert (tmp_path / "seed_loop.csv").read_text().count("\n") == 3  # header + one row per image
    assert is_clean({"process": "fresh", "runtime_modules": facts["runtime_modules"], "beside": facts["beside"],
                     "servers_up": 0})


def test_a_direct_row_loads_only_its_own_runtime_and_beside_loads_them_on_purpose(exported_repository, tmp_path):
    model_dir = str(exported_repository / MODEL)
    onnx = run_fresh(_spec(tmp_path, "onnx_direct", model_dir=model_dir, concurrencies=[1, 2]))
    assert onnx.process["runtime_modules"] == ["onnxruntime"]  # no OpenVINO beside it
    assert [m.images for m in onnx.measurements] == [2, 2]
    assert onnx.process["pid"] != os.getpid()

    beside = run_fresh(_spec(tmp_path / "beside", "seed_loop", model_dir=model_dir,
                             beside=["openvino_direct", "onnx_direct"], watch={"bench": os.getpid()}))
    assert beside.process["runtime_modules"] == ["onnxruntime", "openvino"]
    assert beside.process["beside"] == ["openvino_direct", "onnx_direct"]
    assert beside.measurements[0].images == 2
    observed = beside.passes[0]
    assert set(observed["watched_cpu_s"]) == {"bench"} and observed["watched_cpu_s"]["bench"] >= 0
    assert observed["runtime_threads_cpu_s"] >= 0 and observed["pipeline_threads_cpu_s"] > 0


def test_a_pass_that_fails_in_its_process_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"the no_such_pipeline pass in its own process failed \(exit 1\)"):
        run_fresh(_spec(tmp_path, "no_such_pipeline"))


def _pipelines(seed_isolation: dict) -> dict:
    return {"seed_loop": {"images_per_s": 1.5, "isolation": seed_isolation},
            "served": {"images_per_s": 3.0}, "openvino_direct": {"images_per_s": 3.3}}


CLEAN = {"process": "fresh", "runtime_modules": [], "beside": [], "servers_up": 0}


def test_the_headline_uses_only_a_seed_loop_run_alone():
    numbers = headline(_pipelines(CLEAN))
    assert numbers["speedup_served_over_seed"] == pytest.approx(2.0)
    assert numbers["projected_job_hours"] == pytest.approx(105.0)
    for dirty in ({**CLEAN, "runtime_modules": ["openvino"]}, {**CLEAN, "servers_up": 2},
                  {**CLEAN, "beside": ["onnx_direct"]}, {**CLEAN, "process": "bench"}, None):
        with pytest.raises(ValueError, match="seed loop run alone"):
            headline(_pipelines(dirty))


def _fresh(images_per_s: float, *, pipeline_cpu: float, runtime_cpu: float, servers: dict, beside: list) -> FreshPass:
    wall = 10 / images_per_s
    observed = {"concurrency": 0, "wall_s": wall, "cpu_s": pipeline_cpu + runtime_cpu, "bench_process_cpu_s": 0.02,
                "watched_cpu_s": servers, "other_processes_cpu_s": 0.3, "threads": 9,
                "pipeline_threads_cpu_s": pipeline_cpu, "runtime_threads_cpu_s": runtime_cpu}
    process = {"pid": 1, "parent_pid": 0, "runtime_modules": ["openvino"] if beside else [], "beside": beside,
               "watched": sorted(servers), "cpu_affinity": [0, 1], "threads_alive": 9, "torch_threads": 2}
    return FreshPass([Measurement(10, 0, wall, pipeline_cpu + runtime_cpu, [wall * 100] * 10)], process, [observed])


def test_the_report_says_how_the_baseline_was_protected_and_what_the_old_way_cost():
    clean = _fresh(2.0, pipeline_cpu=9.0, runtime_cpu=0.0, servers={}, beside=[])
    beside = _fresh(1.5, pipeline_cpu=9.5, runtime_cpu=2.25,
                    servers={"tritonserver cpu": 0.4, "tritonserver cpu_onnxruntime": 0.1},
                    beside=["openvino_direct", "onnx_direct"])
    check = baseline_comparison(clean, beside, [])
    assert check["slowdown_pct"] == pytest.approx(25.0)
    assert check["beside_cpu_s"]["runtime_threads_in_its_process"] == 2.25
    assert check["beside_cpu_s"]["tritonserver cpu"] == 0.4
    text = "\n".join(baseline_lines({"baseline_check": check, "machine": {"cpu_cores": 2}}))
    assert text.startswith("## Baseline\n")
    assert "**1.50 images/s** against **2.00** clean, 25.0 % slower" in text
    assert "the runtimes' threads in its process 2.25 s" in text
    assert "tritonserver cpu 0.40 s, tritonserver cpu_onnxruntime 0.10 s" in text
    assert "in the bench's own process: none" in text
    assert "openvino_direct, onnx_direct loaded and warmed in its process" in text
