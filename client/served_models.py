"""Which detectors a Triton server serves, and what each says about itself (its metadata).

    models = fetch_served_models("127.0.0.1:8001", None)   # every ready CreativeLens detector

A served model is a detector when its config carries the exported metadata (class names,
canvases: see `creativelens.model_metadata`); other models on the same server are left alone.
A detector pack (`creativelens pack`) is one Triton model holding several detectors: each is a
`ServedModel` of its own, named as the detector, whose requests go to the pack (`served_name`)
and whose answers are the pack's outputs under its `output_prefix`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from creativelens.errors import UserError
from creativelens.model_metadata import ModelMetadata, packed_detectors, parameters_of

GPU_IN_FLIGHT_PER_MODEL = 16  # keeps a GPU's dynamic batcher fed
CPU_IN_FLIGHT = 2  # a CPU server's models share its cores: more in flight only queues (measured)
ASK_TIMEOUT_S = 20.0  # a server that does not say what it serves within this is not answering


@dataclass(frozen=True)
class ServedModel:
    name: str
    metadata: ModelMetadata
    on_gpu: bool = False
    max_batch_size: int = 0
    pack: str = ""  # the Triton model serving this detector, when it is one of a pack's
    output_prefix: str = ""

    @property
    def version(self) -> str:
        return self.metadata.version

    @property
    def served_name(self) -> str:
        """The Triton model its requests go to."""
        return self.pack or self.name


def served_names(models: Sequence[ServedModel]) -> list[str]:
    """The Triton models behind `models`, once each, in order."""
    return list(dict.fromkeys(model.served_name for model in models))


def fetch_served_models(url: str, names: Sequence[str] | None = None, *, client_kwargs: dict | None = None
                        ) -> list[ServedModel]:
    """The named detectors (all must be ready), or every ready detector when `names` is empty or
    None. A name is a served model's, a packed detector's, or a pack's (all its detectors).
    UserError, naming what is there, when that cannot be satisfied."""
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
        served, not_detectors = [], {}
        for name in ready:
            try:
                config = client.get_model_config(name, as_json=True, client_timeout=ASK_TIMEOUT_S)["config"]
            except InferenceServerException as error:
                raise UserError(f"the Triton server at {url} did not give model {name!r}'s config: "
                                f"{error.message()}") from None
            kinds = {group.get("kind", "KIND_AUTO") for group in config.get("instance_group", [])}
            where = dict(on_gpu="KIND_GPU" in kinds, max_batch_size=int(config.get("max_batch_size", 0)))
            parameters = parameters_of(config)
            packed = packed_detectors(parameters)
            if packed is not None:
                served += [ServedModel(d.name, d.metadata, pack=name, output_prefix=d.output_prefix, **where)
                           for d in packed]
                continue
            try:
                served.append(ServedModel(name, ModelMetadata.from_parameters(parameters), **where))
            except ValueError as error:
                not_detectors[name] = str(error)
    finally:
        client.close()
    if wanted:
        served = _chosen(served, wanted, not_detectors, url, ready)
    if not served:
        raise UserError(f"the server at {url} serves no ready CreativeLens detector "
                        f"(ready: {', '.join(ready) or 'none'}; see `creativelens export`)")
    return served


def _chosen(served: list[ServedModel], wanted: list[str], not_detectors: dict[str, str], url: str,
            ready: list[str]) -> list[ServedModel]:
    """The wanted detectors, in the order named (a pack's name brings all its detectors)."""
    chosen = {}
    for name in wanted:
        matching = [model for model in served if name in (model.name, model.pack)]
        if name in not_detectors:
            raise UserError(f"model {name!r} on {url} {not_detectors[name]}")
        if not matching:
            known = sorted({model.name for model in served} | set(ready))
            raise UserError(f"model {name!r} is not ready on {url} (ready: {', '.join(known) or 'none'})")
        chosen.update((model.name, model) for model in matching)
    return list(chosen.values())


def fetch_from_endpoints(urls: Sequence[str], names: Sequence[str] | None = None, *,
                         client_kwargs: dict | None = None, log=lambda message: None) -> list[ServedModel]:
    """`fetch_served_models` over several endpoints: every one that answers must serve the same
    versions (UserError otherwise); one that does not answer is logged and left to the run."""
    found: dict[str, tuple[str, ServedModel]] = {}
    asked, order = list(dict.fromkeys(names or ())), []
    problems = []
    for url in urls:
        try:
            models = fetch_served_models(url, asked or None, client_kwargs=client_kwargs)
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
        return GPU_IN_FLIGHT_PER_MODEL * max(1, len(served_names(models)))
    return CPU_IN_FLIGHT


def random_weights_banner(models: Sequence[ServedModel]) -> str | None:
    """The loud line every run prints when a model it uses has random weights; None otherwise."""
    random = [model.name for model in models if model.metadata.random_weights]
    if not random:
        return None
    return f"!!! {', '.join(random)}: RANDOM WEIGHTS: detections are meaningless (plumbing and speed only) !!!"
