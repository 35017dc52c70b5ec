"""The job's inputs as a list of creatives (one file each), expanded on the driver.

Local inputs go through the client's own expansion (files, folders, globs, text lists of
paths; a missing path is an error creative), so a Spark run and `creativelens stream` name the
same items the same way. A `.csv` or `.parquet` input is a table whose `path` column (else its
first column) lists the files. Any other URI (`hdfs://`, `s3a://`, `dbfs:/`, ...) is listed by
Spark's `binaryFile` source, and its bytes travel to the task with the row.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from creativelens.errors import UserError

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
TABLE_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class Input:
    """One creative as the driver knows it: a local file (or an error), or a remote URI."""

    source: str  # escaped item name (item_result.escape_name), or the URI
    error: str | None = None
    remote: bool = False


def local_path(text: str) -> str | None:
    """The local path of `text` (a plain path or a file: URI); None for another filesystem."""
    if text.startswith("file:"):
        return re.sub(r"^file:(//)?", "", text) or "/"
    if URI.match(text) and not re.match(r"^[A-Za-z]:[\\/]", text):
        return None
    return text


def list_inputs(spark, inputs: Iterable[str]) -> list[Input]:
    """Every creative of `inputs`, once each, in input order."""
    from creativelens.client.sources import Item, expand_inputs
    from creativelens.item_result import escape_name

    found: list[Input] = []
    local: list[str] = []

    def flush_local() -> None:
        for entry in expand_inputs(local):
            if isinstance(entry, Item):
                found.append(Input(escape_name(entry.source), error=entry.error))
            else:
                found.append(Input(escape_name(str(entry))))
        local.clear()

    for text in inputs:
        path = local_path(text)
        if text.lower().rstrip("/").endswith(TABLE_SUFFIXES):
            flush_local()
            for listed in _table_paths(spark, text):
                listed_path = local_path(listed)
                if listed_path is None:
                    found.append(Input(listed, remote=True))
                else:
                    base = Path(path).parent if path is not None else Path.cwd()
                    found.append(Input(escape_name(os.path.abspath(base / listed_path))))
        elif path is None:
            flush_local()
            found.extend(Input(uri, remote=True) for uri in _remote_files(spark, text))
        else:
            local.append(path)
    flush_local()
    unique = {entry.source: entry for entry in reversed(found)}
    return [entry for entry in found if unique.pop(entry.source, None) is not None]


def _table_paths(spark, text: str) -> list[str]:
    from pyspark.errors import AnalysisException

    try:
        table = (spark.read.parquet(text) if text.lower().rstrip("/").endswith(".parquet")
                 else spark.read.option("header", True).csv(text))
    except AnalysisException as error:
        raise UserError(f"cannot read the table of paths {text}: {str(error).splitlines()[0]}") from None
    column = "path" if "path" in table.columns else table.columns[0]
    return [row[0] for row in table.select(column).where(table[column].isNotNull()).collect()]


def _remote_files(spark, uri: str) -> list[str]:
    from pyspark.errors import AnalysisException

    try:
        listing = (spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(uri)
                   .select("path"))
        return sorted(row[0] for row in listing.collect())
    except AnalysisException as error:
        raise UserError(f"cannot list {uri}: {str(error).splitlines()[0]}") from None


def creatives_frame(spark, entries: list[Input], partitions: int):
    """A DataFrame (source, error, content) of `entries`, in `partitions` tasks' worth."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BinaryType, StringType, StructField, StructType

    schema = StructType([StructField("source", StringType()), StructField("error", StringType()),
                         StructField("content", BinaryType())])
    local = [(entry.source, entry.error, None) for entry in entries if not entry.remote]
    frame = spark.createDataFrame(spark.sparkContext.parallelize(local, max(1, min(partitions, len(local) or 1))),
                                  schema)
    remote = [entry.source for entry in entries if entry.remote]
    if remote:
        files = (spark.read.format("binaryFile").load(remote)
                 .select(F.col("path").alias("source"), F.lit(None).cast("string").alias("error"), "content"))
        frame = frame.unionByName(files)
    return frame
