"""What one Spark task does with its creatives: the client's pipeline, rows out.

`analyse_creatives` is the only place where the Spark adapter calls the client: sources
(expanding videos into sampled frames inside the task), decode + letterbox, the transport
(through `EndpointPool`, over every endpoint), thresholds and rules, the domain types, and
`formats.to_parquet_rows`. It has no side effects beyond its requests: rows go back to Spark,
which commits them (or throws them away with a failed attempt).
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from creativelens.client.rules import Rules
from creativelens.client.sources import Item, MediaError, iter_frames, sniff
from creativelens.model_metadata import ModelMetadata

ROWS_PER_BATCH = 16  # rows go back to Spark in small Arrow batches, as items finish


@dataclass(frozen=True)
class TaskPlan:
    """Everything a task needs, shipped to the executors with the task (picklable, small)."""

    servers: tuple[str, ...]
    models: tuple[tuple[str, ModelMetadata], ...]  # (name, metadata) in run order
    rules: Rules
    every: int
    max_pixels: int
    max_in_flight: int
    failover_after_s: float
    seed_csv: bool = False  # also the seeds' CSV columns (seed_*) on each row of a successful model
    client_kwargs: dict = field(default_factory=dict)  # tritonclient TLS keywords
    decode_workers: int = 2


@dataclass(frozen=True)
class Creative:
    """One input row: a file to analyse, or an input that already failed on the driver."""

    source: str  # the item name of the file (escaped as formats.escape_name does)
    error: str | None = None
    content: bytes | None = None  # the file's bytes when Spark read it from a non-local filesystem
    done: frozenset = frozenset()  # item keys already in the output for every model


def analyse_creatives(creatives: Iterable[Creative], plan: TaskPlan,
                      log: Callable[[str], None] = lambda message: None) -> Iterator[list[dict]]:
    """Rows (formats.to_parquet_rows) of every unfinished still and sampled frame of `creatives`,
    in small lists as items finish."""
    from creativelens.client.decode import prepared_in_background
    from creativelens.detections import Detections
    from creativelens.formats import SEED_CSV_COLUMNS, from_model_outputs, to_parquet_rows, to_seed_csv_row
    from creativelens.item_result import ItemResult, ModelResult
    from creativelens.spark.endpoints import EndpointPool

    finished: queue.Queue = queue.Queue()
    answers: dict[int, dict] = {}  # item index -> model -> answer, until every model answered
    unanswered: set[int] = set()  # items sent whose result is not built yet
    lock = threading.Lock()
    names = [name for name, _ in plan.models]
    metadata = dict(plan.models)
    staging = tempfile.mkdtemp(prefix="creativelens-spark-")
    renamed: dict[str, str] = {}  # staged copy -> the creative's own name

    def result_of(prepared, by_model: dict) -> ItemResult:
        item = prepared.item
        provenance = dict(source=item.source, frame_index=item.frame_index, timestamp_s=item.timestamp_s)
        detections, errors = {}, {}
        for name in names:
            answer = by_model[name]
            if answer.error:
                errors[name] = answer.error
                detections[name] = Detections.empty(**provenance, width=prepared.width, height=prepared.height,
                                                    model=name)
            else:
                detections[name] = from_model_outputs(
                    answer.boxes, answer.scores, answer.classes, answer.count, metadata[name].class_names,
                    prepared.boxed_for(metadata[name].canvases), **provenance, model=name)
        kept = dict(zip([n for n in names if n not in errors], plan.rules.apply(
            [detections[n] for n in names if n not in errors],
            {name: metadata[name].thresholds for name in names})))
        return ItemResult(**provenance, width=prepared.width, height=prepared.height, models=tuple(
            ModelResult(name, metadata[name].version, kept.get(name, detections[name]), errors.get(name),
                        by_model[name].latency_ms) for name in names))

    def on_answer(answer) -> None:
        index, prepared = answer.payload
        with lock:
            by_model = answers.setdefault(index, {})
            by_model[answer.model] = answer
            complete = len(by_model) == len(names)
            if complete:
                del answers[index]
                unanswered.discard(index)
        if complete:
            finished.put(result_of(prepared, by_model))

    def items() -> Iterator[Item]:
        for creative in creatives:
            yield from _items_of_creative(creative, plan, staging, renamed)

    def rows_of(result: ItemResult) -> list[dict]:
        original = renamed.get(result.source)
        if original is not None:
            result = replace(result, source=original,
                             models=tuple(replace(m, detections=replace(m.detections, source=original))
                                          for m in result.models))
        rows = to_parquet_rows(result)
        if plan.seed_csv:
            seeds = {m.model: to_seed_csv_row(m.detections) for m in result.models if m.error is None}
            for row in rows:
                seed = seeds.get(row["model"], {})
                row.update({f"seed_{column}": seed.get(column) for column in SEED_CSV_COLUMNS})
        return rows

    pool = None
    pending: list[dict] = []
    try:
        canvas_sets = [metadata[name].canvases for name in names]
        prepared_items = prepared_in_background(items(), canvas_sets, workers=plan.decode_workers,
                                                lookahead=2 * plan.max_in_flight, max_pixels=plan.max_pixels)
        for index, prepared in enumerate(prepared_items):
            if prepared.error:
                item = prepared.item
                finished.put(ItemResult(item.source, item.frame_index, item.timestamp_s, error=prepared.error))
            else:
                if pool is None:
                    pool = EndpointPool(plan.servers, names, on_answer, max_in_flight=plan.max_in_flight,
                                        failover_after_s=plan.failover_after_s,
                                        client_kwargs=plan.client_kwargs, log=log)
                unanswered.add(index)
                for name in names:
                    boxed = prepared.boxed_for(metadata[name].canvases)
                    pool.submit((index, name), (index, prepared), name, boxed.pixels,
                                (boxed.valid_height, boxed.valid_width))
            pending.extend(_take(finished, rows_of))
            if len(pending) >= ROWS_PER_BATCH:
                yield pending
                pending = []
        if pool is not None:
            pool.drain()
            pool.close()  # joins the stream threads: every answer has been handed over
        if unanswered:  # never seen; failing the attempt lets Spark retry it rather than lose items
            raise RuntimeError(f"{len(unanswered)} items lack an answer after the endpoints drained")
        pending.extend(_take(finished, rows_of))
        if pending:
            yield pending
    finally:
        if pool is not None:
            pool.close()
        shutil.rmtree(staging, ignore_errors=True)


def _take(finished: queue.Queue, rows_of) -> list[dict]:
    rows = []
    while True:
        try:
            rows.extend(rows_of(finished.get_nowait()))
        except queue.Empty:
            return rows


def _items_of_creative(creative: Creative, plan: TaskPlan, staging: str, renamed: dict) -> Iterator[Item]:
    """The still, or the sampled frames, of one creative that are not done yet; bad input as
    one error item (the same sniffing and sampling as `creativelens stream`)."""
    from creativelens.formats import escape_name, unescape_name

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

    if is_done(escape_name(path)):
        return
    try:
        kind = sniff(Path(path), plan.max_pixels)
    except MediaError as error:
        yield Item(path, error=str(error))
        return
    if kind == "still":
        yield Item(path)
        return
    for item in iter_frames(Path(path), plan.every, plan.max_pixels, is_done):
        if not is_done(item.key):
            yield item
