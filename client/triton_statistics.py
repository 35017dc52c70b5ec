"""Triton's own counters of a model (requests inferred, batches executed), read over gRPC.

The stream reports Triton's average batch size from them; tests and benchmarks count
inferences with them. Only the wire (tritonclient) is needed, not the server launcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class ModelStatistics:
    """Triton's cumulative counters for one model: requests inferred and batches executed."""

    name: str
    inference_count: int
    execution_count: int
    success_count: int

    @property
    def average_batch_size(self) -> float:
        return self.inference_count / self.execution_count if self.execution_count else 0.0


def read_model_statistics(client, model: str = "", timeout_s: float | None = None) -> dict[str, ModelStatistics]:
    """The counters per model (all models when `model` is empty) from a tritonclient gRPC client."""
    answer = client.get_inference_statistics(model_name=model, as_json=True, client_timeout=timeout_s)
    stats = {}
    for entry in answer.get("model_stats", []):
        stats[entry["name"]] = ModelStatistics(
            name=entry["name"],
            inference_count=int(entry.get("inference_count", 0)),
            execution_count=int(entry.get("execution_count", 0)),
            success_count=int(entry.get("inference_stats", {}).get("success", {}).get("count", 0)),
        )
    return stats


def summed_counters(urls: Sequence[str], models: Iterable[str], client_kwargs: dict,
                    timeout_s: float = 5.0) -> dict[str, dict]:
    """Inference and execution counts of each model, summed over the servers that answer
    within `timeout_s`."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    counters: dict[str, dict] = {}
    for url in urls:
        client = grpcclient.InferenceServerClient(url, **client_kwargs)
        try:
            for model in models:
                try:
                    stats = read_model_statistics(client, model, timeout_s).get(model)
                except InferenceServerException as error:
                    if error.status() in ("StatusCode.DEADLINE_EXCEEDED", "StatusCode.UNAVAILABLE"):
                        break  # this server does not answer: its other models would not either
                    continue
                if stats:
                    counts = counters.setdefault(model, {"inference_count": 0, "execution_count": 0})
                    counts["inference_count"] += stats.inference_count
                    counts["execution_count"] += stats.execution_count
        finally:
            client.close()
    return counters


def batch_statistics(before: dict, after: dict, reconnected: bool) -> dict:
    """Triton's counters during a run. After a reconnect the server may have restarted (its
    counters from zero), after a failover one is missing, so the difference means nothing:
    then the counters since each server's start."""
    if not after:
        return {}
    if reconnected:
        counts = dict(after, counted="since the server's start (a stream reconnected, or a server was "
                                   "left, during the run)")
    else:
        counts = {key: after[key] - before.get(key, 0) for key in after}
        counts["counted"] = "during this run"
    executions = counts.get("execution_count", 0)
    counts["average_batch_size"] = round(counts["inference_count"] / executions, 3) if executions else 0.0
    return counts
