"""What one Spark task does with its creatives: the client's analysis, rows out.

`analyse_creatives` is the only place where the Spark adapter calls the client: each creative
becomes items through `sources.items_of_file` (the same sniffing, sampling and repeat skipping
as `creativelens stream`), and `pipeline.Analysis` does the rest (decode + letterbox, every
model over every endpoint with failover, thresholds and rules, `ItemResult`s), which
`formats.to_parquet_rows` turns into rows. It has no side effects beyond its requests: rows
go back to Spark, which commits them (or throws them away with a failed attempt).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from creativelens.client.served_models import ServedModel
from creativelens.client.settings import RunSettings
from creativelens.client.sources import Finished, Item, items_of_file
from creativelens.item_result import ItemResult, escape_name, unescape_name

ROWS_PER_BATCH = 16  # rows go back to Spark in small Arrow batches, as items finish


@dataclass(frozen=True)
class TaskPlan:
    """Everything a task needs, shipped to the executors with the task (picklable, small)."""

    servers: tuple[str, ...]
    models: tuple[ServedModel, ...]  # in run order
    settings: RunSettings
    seed_csv: bool = False  # also the published pipeline's CSV columns (seed_*) on each row of a successful model


@dataclass(frozen=True)
class Creative:
    """One input row: a file to analyse, or an input that already failed on the driver."""

    source: str  # the item name of the file (escaped as item_result.escape_name does)
    error: str | None = None
    content: bytes | None = None  # the file's bytes when Spark read it from a non-local filesystem
    done: frozenset = frozenset()  # item keys already in the output for every model


def analyse_creatives(creatives: Iterable[Creative], plan: TaskPlan,
                      log: Callable[[str], None] = lambda message: None) -> Iterator[list[dict]]:
    """Rows (formats.to_parquet_rows) of every unfinished still and sampled frame of `creatives`,
    in small lists as items finish. Every endpoint failing raises (Spark retries the task)."""
    from creativelens.client.pipeline import Analysis
    from creativelens.formats import SEED_CSV_COLUMNS, to_parquet_rows, to_seed_csv_row

    staging = tempfile.mkdtemp(prefix="creativelens-spark-")
    renamed: dict[str, str] = {}  # staged copy -> the creative's own name

    def items() -> Iterator[Item]:
        for creative in creatives:
            yield from _items_of_creative(creative, plan, staging, renamed)

    def rows_of(result: ItemResult) -> list[dict]:
        original = renamed.get(result.source)
        if original is not None:
            result = replace(result, source=original)
        rows = to_parquet_rows(result)
        if plan.seed_csv:
            seeds = {m.model: to_seed_csv_row(result.key, m.detections) for m in result.models if m.error is None}
            for row in rows:
                seed = seeds.get(row["model"], {})
                row.update({f"seed_{column}": seed.get(column) for column in SEED_CSV_COLUMNS})
        return rows

    # the last endpoint left gets no longer than the others: the task fails and Spark retries it
    settings = replace(plan.settings, retry_for_s=plan.settings.failover_after_s)
    analysis = Analysis(plan.servers, plan.models, settings, on_retry=log)
    pending: list[dict] = []
    try:
        for analysed in analysis.run(items()):
            pending.extend(rows_of(analysed.result))
            if len(pending) >= ROWS_PER_BATCH:
                yield pending
                pending = []
        if pending:
            yield pending
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _items_of_creative(creative: Creative, plan: TaskPlan, staging: str, renamed: dict) -> Iterator[Item]:
    """The still, or the sampled frames, of one creative that are not done yet; bad input as
    one error item (`items_of_file`, as `creativelens stream`)."""
    if creative.error is not None:
        yield Item(unescape_name(creative.source), error=creative.error)
        return
    if creative.content is None:
        path = unescape_name(creative.source)
        is_done = creative.done.__contains__
    else:  # a copy in the task's scratch folder, named back to the creative in its rows
        path = os.path.join(staging, f"{len(renamed)}{Path(creative.source).suffix}")
        Path(path).write_bytes(creative.content)
        renamed[path] = unescape_name(creative.source)
        prefix = escape_name(path)

        def is_done(key: str) -> bool:
            return creative.source + key[len(prefix):] in creative.done

    yield from items_of_file(Path(path), plan.settings, Finished(is_done=is_done))
