"""The features' brand file: the brand's names and spellings (for brand mentions in OCR text),
which labels get columns, and which labels play the roles of face, smile and logo.

```json
{"names": ["Acme", "ACME Corp", "Akmé"],
 "labels": ["logo", "face", "smile", "product"],
 "roles": {"face": ["face"], "smile": ["smile"], "logo": ["logo", "acme_logo"]}}
```

Only `names` is needed for brand mentions; without `labels` every label in the results gets
columns; `roles` default to the labels named face, smile and logo. The stream's rules file
refuses keys it does not know, so this is a file of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from creativelens.errors import UserError

DEFAULT_ROLES = {"face": ("face",), "smile": ("smile",), "logo": ("logo",)}
FILE_KEYS = {"names", "labels", "roles"}


@dataclass(frozen=True)
class Brand:
    names: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # empty: every label the results hold
    roles: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_ROLES))


def load_brand(path: str | Path | None) -> Brand:
    """The brand file at `path` (None: no names, every label, default roles); UserError naming
    the problem for anything else."""
    if path is None:
        return Brand()
    data = _read_json(Path(path))
    unknown = set(data) - FILE_KEYS
    if unknown:
        raise UserError(f"brand file {path}: unknown keys {sorted(unknown)} (known: {sorted(FILE_KEYS)})")
    roles = data.get("roles", {})
    if not isinstance(roles, dict) or set(roles) - set(DEFAULT_ROLES):
        raise UserError(f"brand file {path}: 'roles' maps some of {sorted(DEFAULT_ROLES)} to lists of labels")
    return Brand(names=_strings(data, "names", path), labels=_strings(data, "labels", path),
                 roles={**DEFAULT_ROLES, **{role: _strings(roles, role, path) for role in roles}})


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UserError(f"brand file {path}: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"brand file {path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise UserError(f"brand file {path} must hold a JSON object")
    return data


def _strings(data: dict, key: str, path) -> tuple[str, ...]:
    values = data.get(key, [])
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise UserError(f"brand file {path}: '{key}' must be a list of non-empty strings")
    return tuple(values)
