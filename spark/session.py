"""The SparkSession the job runs in: local mode on one machine, or whatever spark-submit gave."""

from __future__ import annotations

import os
import re
import sys

from creativelens.errors import UserError
from creativelens.spark.java import require_java

LOCAL_MASTER = re.compile(r"^local\[(\d+|\*)\]$")
LOCAL_TASK_ATTEMPTS = 4  # local mode runs each task once unless the master says local[N,F]


def local_master_with_retries(master: str) -> str:
    """`local[N]` -> `local[N,4]`: local mode would otherwise never retry a failed task, while a
    cluster retries each task `spark.task.maxFailures` (4) times."""
    match = LOCAL_MASTER.match(master)
    return f"local[{match[1]},{LOCAL_TASK_ATTEMPTS}]" if match else master


def spark_session(master: str | None, app_name: str = "creativelens-spark"):
    """Start (or join) a SparkSession. `master` None: the one spark-submit configured.

    Executors' Python is this interpreter unless PYSPARK_PYTHON says otherwise (the package
    and its dependencies live in this environment). Output goes through Hadoop's
    FileOutputCommitter algorithm 1: task output becomes visible only when the job commits.
    """
    require_java()
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError("PySpark is not installed: pip install 'creativelens[spark]' "
                        "(scripts/setup.sh installs it)") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(local_master_with_retries(master))
    builder = (builder
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version", "1")
               .config("spark.sql.sources.partitionOverwriteMode", "static")
               .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")  # model names stay strings
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "64"))
    if master and master.startswith("local"):
        builder = builder.config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
    try:
        session = builder.getOrCreate()
    except Exception as error:  # py4j/JVM start-up failures: one line, not a Java stack trace
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"Spark did not start: {first}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session
