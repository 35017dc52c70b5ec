"""The labelling job on Apache Spark: a thin adapter that runs the client's decode, letterbox,
transport and rules inside Spark tasks against many Triton endpoints, and writes exactly once
through Spark's own output commit protocol (see docs/spark.md)."""

from creativelens.spark.job import JobSummary, SparkJob, run_spark_job

__all__ = ["JobSummary", "SparkJob", "run_spark_job"]
