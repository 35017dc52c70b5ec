"""A repository of links that serves a different config file per model.

tritonserver's `--model-config-name` is one name for every model. To serve, say, one model from
`configs/cpu_bf16.pbtxt` and the others from `configs/cpu.pbtxt` under `--model-config-name=cpu`,
the launcher hands tritonserver a repository whose entries link back to the real one, except
that an overridden model's `configs/cpu.pbtxt` links to the file chosen for it. Model files are
never copied; the python backend opens them through the links.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from creativelens.errors import UserError


def config_file(config_name: str | None) -> str:
    """The path inside a model folder that tritonserver loads for `--model-config-name`."""
    return "config.pbtxt" if config_name is None else f"configs/{config_name}.pbtxt"


def assemble(repository: Path, destination: Path, config_name: str | None,
             served_configs: Mapping[str, str]) -> Path:
    """`destination` mirroring `repository` by links, where each model in `served_configs` (model ->
    config name) has its `configs/<name>.pbtxt` in place of the one `config_name` selects."""
    repository, destination = Path(repository).absolute(), Path(destination)
    unknown = sorted(model for model in served_configs if not (repository / model).is_dir())
    if unknown:
        raise UserError(f"no model folder {', '.join(unknown)} in {repository}")
    destination.mkdir(parents=True)
    for entry in sorted(repository.iterdir()):
        if entry.name in served_configs:
            _mirror_model(entry, destination / entry.name, config_file(config_name),
                          config_file(served_configs[entry.name]))
        else:
            (destination / entry.name).symlink_to(entry)
    return destination


def _mirror_model(model_dir: Path, destination: Path, served: str, chosen: str) -> None:
    if not (model_dir / chosen).is_file():
        raise UserError(f"{model_dir.name}: {chosen} does not exist in {model_dir}")
    destination.mkdir()
    _link_entries(model_dir, destination, skip=Path(served).parts[0])
    folder = Path(served).parent
    if folder != Path("."):  # configs/<name>.pbtxt: the configs folder is links too, but one
        (destination / folder).mkdir()
        _link_entries(model_dir / folder, destination / folder, skip=Path(served).name)
    (destination / served).symlink_to(model_dir / chosen)


def _link_entries(source: Path, destination: Path, skip: str) -> None:
    for entry in sorted(source.iterdir()):
        if entry.name != skip:
            (destination / entry.name).symlink_to(entry)
