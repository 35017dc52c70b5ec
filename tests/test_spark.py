"""The Spark job (`creativelens spark`) in Spark local mode against real tritonservers: every
item exactly once, a task failed mid-partition and retried, a job killed half way and re-run,
an endpoint killed mid-job, bad inputs as error rows, a missing Java in one line.

One SparkSession and two geometry servers for the module; the model is
`geometry_detector` (tests/serving_fixtures.py), so rows are checked against geometry.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from creativelens.client.settings import RunSettings
from creativelens.sample_media import sample_stills
from serving_fixtures import GEOMETRY_MODEL, write_bad_inputs, write_geometry_repository, write_video

pytestmark = pytest.mark.timeout(300)
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def spark():
    from creativelens.spark.session import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory, geometry_server):
    """Two endpoints: the session's geometry server and a second replica."""
    from creativelens.serve.tritonserver import TritonServer

    repository = write_geometry_repository(tmp_path_factory.mktemp("spark_repository"))
    with TritonServer(repository, ready_timeout_s=120) as second:
        yield geometry_server, second


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("spark_media")
    for still in sample_stills()[:4]:
        shutil.copy(still, folder / still.name)
    write_video(folder / "clip.mp4", 25)  # frames 0, 10, 20
    return folder


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("spark_bad")
    return folder, write_bad_inputs(folder)


def rows_of(out: Path) -> list[dict]:
    dataset = ds.dataset(out / "detections", format="parquet", partitioning="hive")
    return dataset.to_table().to_pylist()


def keys(rows) -> list[tuple]:
    return [(r["source"], r["frame_index"], r["model"], r["model_version"]) for r in rows]


def spark_job(servers, **overrides):
    from creativelens.spark import SparkJob

    return SparkJob(**dict(dict(servers=tuple(s.grpc_url for s in servers), creatives_per_task=2), **overrides))


def quiet(message: str) -> None:
    pass


def expected_items(media: Path) -> set[tuple]:
    stills = {(str(p), None) for p in media.iterdir() if p.suffix != ".mp4"}
    return stills | {(str(media / "clip.mp4"), index) for index in (0, 10, 20)}


def test_every_item_once_as_stream_does_and_bad_inputs_are_error_rows(spark, servers, media, bad, tmp_path):
    from creativelens.client.stream import stream
    from creativelens.spark import run_spark_job

    bad_folder, fragments = bad
    summary = run_spark_job([str(media), str(bad_folder), str(tmp_path / "missing.jpg")], str(tmp_path / "out"),
                            spark_job(servers, csv=True), log=quiet, spark=spark)
    rows = rows_of(tmp_path / "out")
    assert len(keys(rows)) == len(set(keys(rows))) == summary.rows_total == summary.rows_written
    assert summary.duplicate_keys == 0
    good = [r for r in rows if r["error"] is None]
    assert {(r["source"], r["frame_index"]) for r in good} == expected_items(media)
    assert {r["model"] for r in good} == {GEOMETRY_MODEL} and all(r["run_date"] for r in rows)
    errors = {Path(r["source"]).name: r["error"] for r in rows if r["error"] is not None}
    for name, fragment in fragments.items():
        assert fragment in errors[name], (name, errors.get(name))
    assert errors["missing.jpg"] == "no such file or folder"
    assert summary.error_rows == len(fragments) + 1

    # the same media through `creativelens stream`: the same keys and the same detections
    stream(
        [str(media)], servers[0].grpc_url, tmp_path / "stream",
        RunSettings(models=(GEOMETRY_MODEL,)), log=quiet)
    streamed = ds.dataset(tmp_path / "stream" / "detections.parquet").to_table().to_pylist()

    def comparable(rows):
        return sorted((r["source"], r["frame_index"], r["model"], r["model_version"], r["width"], r["height"],
                       [(d["class_id"], d["label"], round(d["score"], 4), [round(v, 1) for v in d["box"]])
                        for d in r["detections"]]) for r in rows)

    assert comparable(good) == comparable(streamed)
    # the readers downstream take Spark's layout as it is written
    from creativelens.cli import main
    from creativelens.report import read_results

    assert len(read_results(tmp_path / "out").items) == len({(r["source"], r["frame_index"]) for r in rows})
    assert main(["features", str(tmp_path / "out"), "--out", str(tmp_path / "features"), "--no-shots"]) == 0
    features = ds.dataset(tmp_path / "features" / "features.parquet").to_table().to_pylist()
    assert {Path(r["creative"]).name for r in features} == {p.name for p in media.iterdir()} | set(fragments) | {
        "missing.jpg"}
    csv_files = list((tmp_path / "out" / "csv").glob(f"model={GEOMETRY_MODEL}/run_date=*/part-*.csv"))
    csv_lines = sum(len(f.read_text().splitlines()) - 1 for f in csv_files)
    assert csv_lines == len(good)


def test_task_failure_mid_partition_is_retried_without_duplicates(spark, servers, media, tmp_path):
    from creativelens.spark import run_spark_job
    from creativelens.spark.partition import analyse_creatives

    attempts = tmp_path / "attempts"
    attempts.mkdir()

    def fails_first_attempt(creatives, plan):
        from pyspark import TaskContext

        context = TaskContext.get()
        (attempts / f"{context.partitionId()}-{context.attemptNumber()}").touch()  # test-only record
        for produced, rows in enumerate(analyse_creatives(creatives, plan)):
            yield rows
            if context.attemptNumber() == 0 and produced == 0:
                raise RuntimeError("injected fault after the first rows of this partition")

    summary = run_spark_job([str(media)], str(tmp_path / "out"), spark_job(servers), log=quiet, spark=spark,
                            partition_function=fails_first_attempt)
    retried = [p.name for p in attempts.iterdir() if p.name.endswith("-1")]
    assert retried, "no task attempt was retried"
    rows = rows_of(tmp_path / "out")
    assert len(rows) == len(set(keys(rows))) == len(expected_items(media))
    assert {(r["source"], r["frame_index"]) for r in rows} == expected_items(media)
    assert summary.duplicate_keys == 0


@pytest.mark.timeout(600)  # three Spark jobs, one in a fresh JVM: ~3 min on 2 loaded cores (candidate to shrink)
def test_job_killed_half_way_and_rerun_completes_exactly_once(spark, servers, media, bad, tmp_path):
    from creativelens.spark import run_spark_job

    out = tmp_path / "out"
    command = [str(VENV_BIN / "creativelens"), "spark", str(media), str(bad[0]), "--out", str(out),
               "--servers", ",".join(s.grpc_url for s in servers), "--commit-every", "4",
               "--creatives-per-task", "2"]
    job = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    for line in job.stderr:
        if line.startswith("committed 4/"):
            os.killpg(job.pid, signal.SIGKILL)  # the driver and its JVM, right after one commit
            break
    job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL
    before = rows_of(out)
    total = len(expected_items(media)) + len(bad[1])
    assert 0 < len(before) < total

    summary = run_spark_job([str(media), str(bad[0])], str(out), spark_job(servers), log=quiet, spark=spark)
    rows = rows_of(out)
    assert len(rows) == len(set(keys(rows))) == total
    assert summary.rows_before == len(before) and summary.rows_written == total - len(before)

    again = run_spark_job([str(media), str(bad[0])], str(out), spark_job(servers), log=quiet, spark=spark)
    assert again.rows_written == 0 and len(rows_of(out)) == total


def test_endpoint_killed_mid_job(spark, geometry_server, media, tmp_path):
    from creativelens.serve.tritonserver import TritonServer
    from creativelens.spark import run_spark_job

    (tmp_path / "media").mkdir()
    for copy in range(3):  # enough requests that the kill lands mid-job
        write_video(tmp_path / "media" / f"clip{copy}.mp4", 100)
    repository = write_geometry_repository(tmp_path / "slow", delay_s=0.2)
    with TritonServer(repository, ready_timeout_s=120) as doomed:
        def kill_when_busy():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                stats = doomed.model_statistics(GEOMETRY_MODEL).get(GEOMETRY_MODEL)
                if stats and stats.inference_count >= 3:
                    doomed._process.kill()
                    return
                time.sleep(0.2)

        killer = threading.Thread(target=kill_when_busy)
        killer.start()
        summary = run_spark_job([str(tmp_path / "media")], str(tmp_path / "out"),
                                spark_job([doomed, geometry_server]), RunSettings(failover_after_s=2.0),
                                log=quiet, spark=spark)
        killer.join()
        assert doomed._process.poll() is not None, "the endpoint was not killed during the job"
    rows = rows_of(tmp_path / "out")
    assert len(rows) == len(set(keys(rows))) == 3 * 10
    assert all(r["error"] is None for r in rows) and summary.duplicate_keys == 0


@pytest.mark.parametrize("environment", [{"PATH": str(VENV_BIN)}, {"JAVA_HOME": "/nonexistent-java"}])
def test_missing_java_is_one_line_naming_the_fix(environment, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
    env.update(environment)
    done = subprocess.run([str(VENV_BIN / "creativelens"), "spark", str(tmp_path), "--servers", "127.0.0.1:1",
                           "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Java" in lines[0] and "openjdk-17-jre-headless" in lines[0], done.stderr


def test_servers_default_to_where_serve_and_stream_meet():
    from creativelens.cli import build_parser
    from creativelens.client.endpoints import parse_endpoints
    from creativelens.spark.cli import job_from

    parser = build_parser()
    serve_args = parser.parse_args(["serve", "--model-repository", "repo"])
    stream_args = parser.parse_args(["stream", "ads/", "--out", "results/"])
    spark_args = parser.parse_args(["spark", "ads/", "--out", "results-spark/"])
    served = f"{serve_args.address}:{serve_args.grpc_port}"
    assert job_from(spark_args)[0].servers == parse_endpoints(stream_args.servers) == (served,)


def test_a_re_run_with_other_sampling_is_refused_as_stream_refuses_it(spark, servers, media, tmp_path):
    from creativelens.errors import UserError
    from creativelens.spark import run_spark_job

    video = [str(media / "clip.mp4")]
    first = run_spark_job(video, str(tmp_path / "out"), spark_job(servers), RunSettings(every=10), log=quiet,
                          spark=spark)
    assert first.rows_written == 3
    with pytest.raises(UserError, match="other sampling settings.*every: 10 there, 5 now"):
        run_spark_job(video, str(tmp_path / "out"), spark_job(servers), RunSettings(every=5), log=quiet, spark=spark)
    assert len(rows_of(tmp_path / "out")) == 3  # nothing mixed in


def test_an_output_of_bad_inputs_alone_reads_with_pandas(spark, servers, bad, tmp_path):
    import pandas as pd

    from creativelens.spark import run_spark_job

    bad_folder, fragments = bad
    out = tmp_path / "out"
    summary = run_spark_job([str(bad_folder)], str(out), spark_job(servers), log=quiet, spark=spark)
    assert summary.rows_written == summary.error_rows == len(fragments)
    table = pd.read_parquet(out / "detections")  # was: ArrowInvalid, no non-null segments for field 'model'
    assert len(table) == len(fragments) and table["model"].isna().all() and table["error"].notna().all()
    assert {p.name for p in (out / "detections").iterdir() if not p.name.startswith(("_", "."))} == {
        "detector=_bad_inputs"}
    assert run_spark_job([str(bad_folder)], str(out), spark_job(servers), log=quiet, spark=spark).rows_written == 0
