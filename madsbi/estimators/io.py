"""Saving and loading estimators: a JSON description plus tensors, never a pickle of objects.

An estimator directory holds ``estimator.json`` (kind, configuration, θ0, basis, …) and
``weights.pt`` (a dict of state dicts, read with ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from madsbi import _checkpoint as checkpoint
from madsbi.errors import CheckpointError, MissingFileError, StoreFormatError

DESCRIPTION_NAME = "estimator.json"
WEIGHTS_NAME = "weights.pt"
FORMAT_VERSION = 1


def save_estimator(path: Path, description: dict[str, Any], networks: dict[str, nn.Module]) -> Path:
    """Write ``description`` and the networks' state dicts into the directory ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    states = {name: net.state_dict() for name, net in networks.items()}
    checkpoint.save(states, path / WEIGHTS_NAME)
    text = json.dumps({"format_version": FORMAT_VERSION, **description}, indent=1)
    (path / (DESCRIPTION_NAME + ".tmp")).write_text(text)
    os.replace(path / (DESCRIPTION_NAME + ".tmp"), path / DESCRIPTION_NAME)
    return path


def load_estimator(path: Path, kind: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Read the description (checked to be of ``kind``) and the state dicts from ``path``."""
    path = Path(path)
    for name in (DESCRIPTION_NAME, WEIGHTS_NAME):
        if not (path / name).is_file():
            raise MissingFileError(f"{path}: not an estimator directory (no {name})")
    try:
        description = json.loads((path / DESCRIPTION_NAME).read_text(encoding="utf-8"))
    except ValueError as exc:  # JSON or UTF-8
        raise CheckpointError(
            f"{path / DESCRIPTION_NAME}: cannot be read (truncated or corrupt: {exc}); remove "
            f"{path} to train afresh"
        ) from None
    if not isinstance(description, dict):
        raise CheckpointError(f"{path / DESCRIPTION_NAME}: expected a JSON object")
    if description.get("format_version") != FORMAT_VERSION:
        raise StoreFormatError(
            f"{path / DESCRIPTION_NAME}: format_version {description.get('format_version')!r}, "
            f"this madsbi reads {FORMAT_VERSION}"
        )
    if description.get("kind") != kind:
        raise StoreFormatError(
            f"{path}: holds a {description.get('kind')!r} estimator, expected {kind!r}"
        )
    states = checkpoint.load(path / WEIGHTS_NAME)
    return description, states


def estimator_kind(path: Path) -> str:
    """The ``kind`` recorded in ``path/estimator.json``."""
    path = Path(path)
    if not (path / DESCRIPTION_NAME).is_file():
        raise MissingFileError(f"{path}: not an estimator directory (no {DESCRIPTION_NAME})")
    kind = json.loads((path / DESCRIPTION_NAME).read_text()).get("kind")
    return str(kind)
