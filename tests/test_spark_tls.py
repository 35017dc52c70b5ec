"""`creativelens spark` against a real tritonserver over TLS (issue 15.9, "including the Spark
path"): the command line's --tls-ca/--tls-cert/--tls-key reach the driver's model discovery and
every executor's client, with a self-signed certificate made in the test.

Server TLS: the job trusts the certificate with --tls-ca and writes every item; without it the
job stops in one line before Spark starts. Mutual TLS: the server requires a client certificate;
the job presents one (the same self-signed pair) and writes every item; --tls-ca alone is refused.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from creativelens.sample_media import sample_stills
from serving_fixtures import GEOMETRY_MODEL
from tls_fixtures import self_signed_certificate

pytestmark = pytest.mark.timeout(300)
CLI = [str(Path(sys.executable).parent / "creativelens")]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("spark_tls_media")
    for still in sample_stills()[:3]:
        shutil.copy(still, folder / still.name)
    return folder


def spark_job(media: Path, server, out: Path, *tls_flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "spark", str(media), "--servers", server.grpc_url, "--out", str(out), "--master", "local[1]",
         "--model", GEOMETRY_MODEL, "--failover-after", "5", *tls_flags],
        capture_output=True, text=True, timeout=240)


def assert_every_item_detected(media: Path, out: Path) -> None:
    rows = ds.dataset(out / "detections", format="parquet", partitioning="hive").to_table().to_pylist()
    assert sorted(r["source"] for r in rows) == sorted(str(p) for p in media.iterdir())
    for row in rows:
        assert row["error"] is None, row
        assert row["model"] == GEOMETRY_MODEL
        # geometry_detector: class 0 is the whole image (the centre box scores below the threshold)
        [detection] = row["detections"]
        assert detection["class_id"] == 0
        assert detection["box"] == pytest.approx([0, 0, row["width"], row["height"]], abs=1.0)


def assert_refused_in_one_line(done: subprocess.CompletedProcess, out: Path) -> None:
    """Exit 2 (a usage error) with one line, before any task ran: nothing written."""
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (out / "detections").exists()


def test_spark_job_over_server_tls(geometry_repository, media, tmp_path):
    from creativelens.serve.tritonserver import TritonServer
    from creativelens.tls import TlsOptions

    cert, key = self_signed_certificate(tmp_path)
    with TritonServer(geometry_repository, tls=TlsOptions(cert=cert, key=key), ready_timeout_s=120) as server:
        done = spark_job(media, server, tmp_path / "out", "--tls-ca", str(cert))
        assert done.returncode == 0, done.stderr
        assert_every_item_detected(media, tmp_path / "out")

        plaintext = spark_job(media, server, tmp_path / "plain")
        assert_refused_in_one_line(plaintext, tmp_path / "plain")


def test_spark_job_over_mutual_tls(geometry_repository, media, tmp_path):
    from creativelens.serve.tritonserver import TritonServer
    from creativelens.tls import TlsOptions

    cert, key = self_signed_certificate(tmp_path)
    tls = TlsOptions(ca=cert, cert=cert, key=key)  # the server requires a client certificate signed by `ca`
    with TritonServer(geometry_repository, tls=tls, ready_timeout_s=120) as server:
        done = spark_job(media, server, tmp_path / "out",
                         "--tls-ca", str(cert), "--tls-cert", str(cert), "--tls-key", str(key))
        assert done.returncode == 0, done.stderr
        assert_every_item_detected(media, tmp_path / "out")

        anonymous = spark_job(media, server, tmp_path / "anonymous", "--tls-ca", str(cert))
        assert_refused_in_one_line(anonymous, tmp_path / "anonymous")
