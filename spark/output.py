"""The job's output folder, read and written only through Spark: results as Parquet under
OUT/detections (partitioned by detector and run date; the columns of the single-machine Parquet
sink, `formats.parquet_schema`, `model` included), the published pipeline's CSV under OUT/csv, and what is already done.

Every write is one `DataFrameWriter` append through Hadoop's FileOutputCommitter (algorithm
1): a task's files reach the job's staging folder only when Spark commits that task attempt
(one attempt per task, whatever retries or speculation ran), and the output only when the job
commits. A killed job leaves nothing but a `_temporary` folder, which the next commit ignores.
"""

from __future__ import annotations

from typing import Sequence

from creativelens.client.sinks import CSV_DIR
from creativelens.formats import SEED_CSV_COLUMNS, parquet_columns
from creativelens.item_result import FRAME_MARK

DETECTIONS_DIR = "detections"

# OUT/detections/detector=<model>/run_date=<UTC date>/: the model's name, or BAD_INPUTS for the rows of
# inputs no model could run on. The rows keep their own `model` column (null for bad inputs), so any
# reader (pandas, pyarrow, DuckDB) gets the same rows as stream's Parquet, and the folder names are
# never null (a null partition value is Hive's __HIVE_DEFAULT_PARTITION__, whose type a reader cannot
# infer when it is the only one: an output of bad inputs alone would not read).
DETECTOR_PARTITION, BAD_INPUTS = "detector", "_bad_inputs"
PARTITION_COLUMNS = (DETECTOR_PARTITION, "run_date")
CSV_PARTITION_COLUMNS = ("model", "run_date")  # the published pipeline's CSV has successful models' rows only
KEY_COLUMNS = ("source", "frame_index", "model", "model_version")  # one row per key, exactly once
SEED_COLUMNS = tuple(f"seed_{column}" for column in SEED_CSV_COLUMNS)


def result_schema(seed_csv: bool = False):
    """The Spark schema of the rows tasks yield: the Parquet sink's (+ the published pipeline's CSV cells)."""
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import StringType, StructField, StructType

    from creativelens.formats import parquet_schema

    schema = from_arrow_schema(parquet_schema())
    if seed_csv:
        schema = StructType(schema.fields + [StructField(name, StringType()) for name in SEED_COLUMNS])
    return schema


def arrow_schema(seed_csv: bool = False):
    """The Arrow form of `result_schema` (a box is a plain list there, as Spark stores it)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(result_schema(seed_csv))


def join_path(out: str, name: str) -> str:
    return out.rstrip("/") + "/" + name


def _filesystem(spark, path: str):
    hadoop_path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path, hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def path_exists(spark, path: str) -> bool:
    hadoop_path, filesystem = _filesystem(spark, path)
    return filesystem.exists(hadoop_path)


def read_text(spark, path: str) -> str | None:
    """A small UTF-8 file on any filesystem Spark reaches (None when it is not there)."""
    hadoop_path, filesystem = _filesystem(spark, path)
    if not filesystem.exists(hadoop_path):
        return None
    stream = filesystem.open(hadoop_path)
    try:
        return spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def write_text(spark, path: str, text: str) -> None:
    """Replace a small UTF-8 file on any filesystem Spark reaches."""
    hadoop_path, filesystem = _filesystem(spark, path)
    stream = filesystem.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode()))
    finally:
        stream.close()


def existing_results(spark, out: str):
    """The results already committed under `out` (a DataFrame), or None when there are none."""
    from pyspark.errors import AnalysisException

    path = join_path(out, DETECTIONS_DIR)
    if not path_exists(spark, path):
        return None
    try:
        return spark.read.parquet(path)
    except AnalysisException as error:  # a folder with no committed file yet (a killed first job)
        if "UNABLE_TO_INFER_SCHEMA" in str(error) or "Unable to infer schema" in str(error):
            return None
        raise


def done_items(existing, models: Sequence[tuple[str, str]]):
    """(source, done: item keys) of items finished for every one of `models` ((name, version)
    pairs) — or finished as bad input, which no model can change. The tasks skip them."""
    from pyspark.sql import functions as F

    wanted = F.lit(False)
    for name, version in models:
        wanted = wanted | ((F.col("model") == name) & (F.col("model_version") == version))
    key = F.when(F.col("frame_index").isNull(), F.col("source")).otherwise(  # item_result.item_name, in SQL
        F.concat(F.col("source"), F.lit(FRAME_MARK), F.col("frame_index").cast("string")))
    per_item = (existing.where(wanted | F.col("model").isNull())
                .groupBy("source", "frame_index")
                .agg(F.countDistinct("model").alias("models"), F.max(F.col("model").isNull()).alias("bad"))
                .where(F.col("bad") | (F.col("models") == len(models))))
    return per_item.groupBy("source").agg(F.collect_list(key).alias("done"))


def without_existing(results, existing):
    """The anti-join: `results` rows whose (item, model, model version) key is not in `existing`
    (keys compared null-safe: stills have no frame index, bad inputs no model)."""
    keys = existing.select(*[existing[c].alias(f"done_{c}") for c in KEY_COLUMNS]).distinct()
    condition = [results[c].eqNullSafe(keys[f"done_{c}"]) for c in KEY_COLUMNS]
    return results.join(keys, condition, "left_anti")


def write_results(results, out: str, run_date: str, seed_csv: bool) -> None:
    """Append `results` as one committed job (two when the published pipeline's CSV is asked for)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    dated = (results.withColumn("run_date", F.lit(run_date))
             .withColumn(DETECTOR_PARTITION, F.coalesce(F.col("model"), F.lit(BAD_INPUTS))))
    if seed_csv:
        dated = dated.persist(StorageLevel.MEMORY_AND_DISK)  # infer once, write twice
    try:
        (dated.select(*parquet_columns(), *PARTITION_COLUMNS).write.mode("append")
         .partitionBy(*PARTITION_COLUMNS).parquet(join_path(out, DETECTIONS_DIR)))
        if seed_csv:
            (dated.where(F.col("seed_file_name").isNotNull())
             .select(*[F.col(s).alias(c) for s, c in zip(SEED_COLUMNS, SEED_CSV_COLUMNS)], *CSV_PARTITION_COLUMNS)
             .write.mode("append").option("header", True).option("escape", '"')
             .partitionBy(*CSV_PARTITION_COLUMNS).csv(join_path(out, CSV_DIR)))
    finally:
        if seed_csv:
            dated.unpersist()


def output_counts(spark, out: str) -> dict:
    """Rows, distinct keys, keys present more than once and error rows in the committed output."""
    from pyspark.sql import functions as F

    existing = existing_results(spark, out)
    if existing is None:
        return {"rows": 0, "keys": 0, "duplicate_keys": 0, "error_rows": 0}
    per_key = existing.groupBy(*KEY_COLUMNS).agg(F.count(F.lit(1)).alias("n"),
                                                  F.count("error").alias("errors"))
    row = per_key.agg(F.sum("n").alias("rows"), F.count(F.lit(1)).alias("keys"),
                      F.sum((F.col("n") > 1).cast("int")).alias("duplicate_keys"),
                      F.sum("errors").alias("error_rows")).collect()[0]
    return {name: int(row[name] or 0) for name in ("rows", "keys", "duplicate_keys", "error_rows")}
