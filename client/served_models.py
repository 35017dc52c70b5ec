"""Which detectors a Triton server serves, and what each says about itself (its metadata).

    models = fetch_served_models("127.0.0.1:8001", None)   # every ready CreativeLens detector

A served model is a detector when its config carries the exported metadata (class names,
canvases: see `creativelens.model_metadata`); other models on the same server are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from creativelens.errors import UserError
from creativelens.model_metadata import ModelMetadata, parameters_of

GPU_IN_FLIGHT_PER_MODEL = 16  # keeps a GPU's dynamic batcher fed
CPU_IN_FLIGHT = 2  # a CPU server's models share its cores: more in flight only queues (measured)
ASK_TIMEOUT_S = 20.0  # a server that does not say what it serves within this is not answering


@dataclass(frozen=True)
class ServedModel:
    name: str
    metadata: ModelMetadata
    on_gpu: bool = False
    max_batch_size: int = 0

    @property
    def version(self) -> str:
        return self.metadata.version


def fetch_served_models(url: str, names: Sequence[str] | None = None, *, client_kwargs: dict | None = None
                        ) -> list[ServedModel]:
    """The named models (all must be ready detectors), or every ready detector when `names` is
    empty or None. UserError, naming what is there, when that cannot be satisfied."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    client = grpcclient.InferenceServerClient(url, **(client_kwargs or {}))
    try:
        try:
            index = client.get_model_repository_index(as_json=True, client_timeout=ASK_TIMEOUT_S)
            ready = sorted(m["name"] for m in index.get("models", []) if m.get("state") == "READY")
        except InferenceServerException as error:
            raise UserError(f"no Triton server answers at {url}: {error.message()}") from None
        wanted = list(dict.fromkeys(names or ()))
        missing = [name for name in wanted if name not in ready]
        if missing:
            raise UserError(f"model {', '.join(map(repr, missing))} is not ready on {url} "
                            f"(ready: {', '.join(ready) or 'none'})")
        served, not_detectors = [], []
        for name in wanted or ready:
            try:
                config = client.get_model_config(name, as_json=True, client_timeout=ASK_TIMEOUT_S)["config"]
            except InferenceServerException as error:
                raise UserError(f"the Triton server at {url} did not give model {name!r}'s config: "
                                f"{error.message()}") from None
            try:
                metadata = ModelMetadata.from_parameters(parameters_of(config))
            except ValueError as error:
                if wanted:
                    raise UserError(f"model {name!r} on {url} {error}") from None
                not_detectors.append(name)
                continue
            kinds = {group.get("kind", "KIND_AUTO") for group in config.get("instance_group", [])}
            served.append(ServedModel(name, metadata, on_gpu="KIND_GPU" in kinds,
                                      max_batch_size=int(config.get("max_batch_size", 0))))
    finally:
        client.close()
    if not served:
        raise UserError(f"the server at {url} serves no ready CreativeLens detector "
                        f"(ready: {', '.join(ready) or 'none'}; see `creativelens export`)")
    return served


def fetch_from_endpoints(urls: Sequence[str], names: Sequence[str] | None = None, *,
                         client_kwargs: dict | None = None, log=lambda message: None) -> list[ServedModel]:
    """`fetch_served_models` over several endpoints: every one that answers must serve the same
    versions (UserError otherwise); one that does not answer is logged and left to the run."""
    found: dict[str, tuple[str, ServedModel]] = {}
    order: list[str] = list(dict.fromkeys(names or ()))
    problems = []
    for url in urls:
        try:
            models = fetch_served_models(url, order or None, client_kwargs=client_kwargs)
        except UserError as error:
            problems.append(str(error))
            continue
        for model in models:
            known_url, known = found.setdefault(model.name, (url, model))
            if known.version != model.version:
                raise UserError(f"model {model.name!r} is version {known.version} on {known_url} but "
                                f"{model.version} on {url}: serve one version everywhere")
        order = order or [model.name for model in models]
    if not found:
        raise UserError("; ".join(problems))
    for problem in problems:
        log(f"warning: {problem}")
    return [found[name][1] for name in order]


def default_in_flight(models: Sequence[ServedModel]) -> int:
    """Requests to keep in flight when the user does not say: a GPU server is kept busy with
    enough for each model's batcher; a CPU server with two, whatever the models (they share
    the cores, and each inference already uses them all)."""
    if any(model.on_gpu for model in models):
        return GPU_IN_FLIGHT_PER_MODEL * max(1, len(models))
    return CPU_IN_FLIGHT


def random_weights_banner(models: Sequence[ServedModel]) -> str | None:
    """The loud line every run prints when a model it uses has random weights; None otherwise."""
    random = [model.name for model in models if model.metadata.random_weights]
    if not random:
        return None
    return f"!!! {', '.join(random)}: RANDOM WEIGHTS: detections are meaningless (plumbing and speed only) !!!"
