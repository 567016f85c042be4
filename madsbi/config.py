"""Frozen dataclass configurations read from TOML, with unknown keys refused by name.

Each stage owns its dataclass (:class:`madsbi.nn.NetworkConfig`,
:class:`madsbi.estimators.trainer.TrainingConfig`, the study settings); this module only
turns TOML tables into them: lists become tuples, and a key the dataclass does not have is
an error that names the section, the key and the keys that exist.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path
from typing import Any, TypeVar

from madsbi.errors import ConfigError, MissingFileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

T = TypeVar("T")


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file or a syntax error names the file."""
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"{p}: configuration file not found")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}") from None


def _cast(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_cast(v) for v in value)
    return value


def build(cls: type[T], table: dict[str, Any] | None, section: str) -> T:
    """``cls(**table)`` after checking the keys; TOML lists become tuples.

    Raises
    ------
    ConfigError
        For an unknown key (named with the section and the allowed keys), a table where a
        value was expected, or a value the dataclass rejects.
    """
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}]: expected a table, got {type(table).__name__}")
    if not dataclasses.is_dataclass(cls):  # pragma: no cover - programming error
        raise TypeError(f"{cls!r} is not a dataclass")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(f"[{section}]: unknown key(s) {unknown}; allowed: {sorted(names)}")
    try:
        return cls(**{k: _cast(v) for k, v in table.items()})
    except TypeError as exc:
        raise ConfigError(f"[{section}]: {exc}") from None


def check_sections(document: dict[str, Any], allowed: set[str], source: str) -> None:
    """Refuse top-level tables other than ``allowed``."""
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {unknown}; allowed: {sorted(allowed)}")


def build_sections(cls: type[T], document: dict[str, Any], source: str) -> T:
    """A study config whose fields are one dataclass per TOML table, built with :func:`build`.

    Unknown tables are refused (:func:`check_sections`); a bad key or value names ``source``.
    """
    if not dataclasses.is_dataclass(cls):  # pragma: no cover - programming error
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    sections = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    check_sections(document, set(sections), source)
    try:
        parts = {name: build(kind, document.get(name), name) for name, kind in sections.items()}
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return cls(**parts)
