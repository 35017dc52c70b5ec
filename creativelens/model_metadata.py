"""What an exported detector says about itself, in one codec.

The exporter writes it into every Triton config of the model as string `parameters`; the
client, the benchmarks, evaluation and the Spark adapter read it back from a served config
(`from_parameters`) or from the config file on disk (`read_model_metadata`). No other module
parses these keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from creativelens.canvas import Canvas, parse_canvas

KEYS = ("class_names", "canvases", "random_weights", "weights", "weights_sha256", "thresholds", "precision", "graph")


@dataclass(frozen=True)
class ModelMetadata:
    class_names: tuple[str, ...]
    canvases: tuple[Canvas, ...]
    random_weights: bool = False
    weights: str = ""  # the checkpoint's path or URL, as given to the exporter
    weights_sha256: str = ""  # of the checkpoint file ("" for random weights)
    thresholds: dict[str, float] = field(default_factory=dict)  # per class, chosen on validation data
    precision: str = "fp32"  # of the served graph: fp32, bf16, int8
    # What else is baked into the exported graph and changes its answers: the Detectron2 config's
    # hash (architecture, pixel mean/std, anchors, proposal counts), the score threshold, NMS
    # threshold and detections per image of the box head, a reduced-precision file's hash.
    graph: dict[str, str | int | float] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """Identifies what the model answers: `<weights>-<hash>[-<precision>]`, where <weights> is
        the checkpoint's sha256 (12 hex digits) and <hash> a sha256 over everything else that
        changes an answer: precision, canvases, class names, per-class thresholds and the graph's
        settings (`graph`: config, score/NMS thresholds, detections per image). Results of one
        version are interchangeable; any change there is a new version, so the ledger re-infers
        instead of mixing answers across servers or resumes."""
        if self.weights_sha256:
            weights = self.weights_sha256[:12]
        else:
            weights = "random-" + hashlib.sha256(self.weights.encode()).hexdigest()[:6] \
                if self.random_weights else hashlib.sha256(self.weights.encode()).hexdigest()[:12]
        answers = {
            "precision": self.precision,
            "canvases": [canvas.name for canvas in self.canvases],
            "class_names": list(self.class_names),
            "thresholds": dict(sorted(self.thresholds.items())),
            "graph": dict(sorted(self.graph.items())),
        }
        digest = hashlib.sha256(json.dumps(answers, sort_keys=True).encode()).hexdigest()[:8]
        return f"{weights}-{digest}" if self.precision == "fp32" else f"{weights}-{digest}-{self.precision}"

    def to_parameters(self) -> dict[str, str]:
        parameters = {
            "class_names": json.dumps(list(self.class_names)),
            "canvases": ",".join(canvas.name for canvas in self.canvases),
            "random_weights": str(self.random_weights).lower(),
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "precision": self.precision,
        }
        if self.thresholds:
            parameters["thresholds"] = json.dumps(self.thresholds, sort_keys=True)
        if self.graph:
            parameters["graph"] = json.dumps(self.graph, sort_keys=True)
        return parameters

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, str]) -> "ModelMetadata":
        """From config parameters as plain strings; ValueError when they are not an export's."""
        missing = [key for key in ("class_names", "canvases") if key not in parameters]
        if missing:
            raise ValueError(f"lacks the {'/'.join(missing)} parameters of an exported CreativeLens detector "
                             "(see `creativelens export`)")
        return cls(
            class_names=tuple(json.loads(parameters["class_names"])),
            canvases=canvases_of(parameters),
            random_weights=parameters.get("random_weights", "false").lower() == "true",
            weights=parameters.get("weights", ""),
            weights_sha256=parameters.get("weights_sha256", ""),
            thresholds={str(k): float(v) for k, v in json.loads(parameters.get("thresholds") or "{}").items()},
            precision=parameters.get("precision", "fp32") or "fp32",
            graph=dict(json.loads(parameters.get("graph") or "{}")),
        )


def canvases_of(parameters: Mapping[str, str]) -> tuple[Canvas, ...]:
    """The canvas buckets a served graph is compiled for (a detector's or a pack's); () if none."""
    return tuple(parse_canvas(text) for text in parameters.get("canvases", "").split(",") if text.strip())


def parameters_of(config) -> dict[str, str]:
    """String parameters of a ModelConfig protobuf or of its JSON form (tritonclient as_json)."""
    if isinstance(config, Mapping):
        return {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
    return {key: value.string_value for key, value in config.parameters.items()}


def read_model_metadata(model_dir: str | Path, config_name: str = "config.pbtxt") -> ModelMetadata:
    """The metadata in a model directory's config on disk (any variant carries it)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    path = Path(model_dir) / config_name
    config = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    return ModelMetadata.from_parameters(parameters_of(config))


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


PACK_KEY = "pack"


@dataclass(frozen=True)
class PackedDetector:
    """One detector of a pack (export/pack.py): its outputs are the pack's `<output_prefix>boxes`
    etc.; its metadata (and so its version) is that of the same detector exported alone."""

    name: str
    output_prefix: str
    metadata: ModelMetadata


def pack_parameters(detectors: list[PackedDetector], sharing: dict[str, list[list[str]]]) -> dict[str, str]:
    """A pack's config parameters: the canvases (every detector's) and each detector's own."""
    canvases = {detector.metadata.canvases for detector in detectors}
    if len(canvases) != 1:
        raise ValueError("the detectors of a pack are served on the same canvases")
    return {
        "canvases": ",".join(canvas.name for canvas in canvases.pop()),
        PACK_KEY: json.dumps({
            "detectors": [{"name": d.name, "output_prefix": d.output_prefix, "parameters": d.metadata.to_parameters()}
                          for d in detectors],
            "sharing": sharing,
        }, sort_keys=True),
    }


def packed_detectors(parameters: Mapping[str, str]) -> list[PackedDetector] | None:
    """The detectors of a pack's config parameters; None for any other model."""
    if PACK_KEY not in parameters:
        return None
    pack = json.loads(parameters[PACK_KEY])
    return [PackedDetector(entry["name"], entry["output_prefix"], ModelMetadata.from_parameters(entry["parameters"]))
            for entry in pack["detectors"]]
