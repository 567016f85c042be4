"""Frozen dataclass configurations read from TOML, with keys and value types checked by name.

Each stage owns its dataclass (:class:`madsbi.nn.NetworkConfig`,
:class:`madsbi.estimators.trainer.TrainingConfig`, the study settings); this module only
turns TOML tables into them. Every value is checked against the annotation of its field
before the dataclass sees it (:func:`coerce`): an ``int`` field takes integers (an integral
float such as ``1e5`` too) but not ``2.5`` or ``true``, a ``float`` field takes finite numbers,
a ``str`` field strings, a ``tuple`` field a TOML array whose elements are checked the same
way, a union field (``str | tuple[str, ...]``) the first of its types that takes the value;
numeric bounds come from the field's metadata (:func:`bounds`). A key the dataclass does
not have is an error that names the section, the key and the keys that exist.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import math
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from madsbi.errors import ConfigError, MissingFileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

T = TypeVar("T")

#: Field-metadata keys read by :func:`build` (see :func:`bounds`).
_GT, _GE, _LE, _NONFINITE = "madsbi_gt", "madsbi_ge", "madsbi_le", "madsbi_allow_nonfinite"


def bounds(
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    allow_nonfinite: bool = False,
) -> dict[str, Any]:
    """Field metadata with numeric bounds that :func:`build` enforces.

    Use as ``field(default=2.0, metadata=bounds(gt=0))``. For a tuple field the bounds
    apply to every number in it.

    Parameters
    ----------
    gt, ge, le : float, optional
        The value must be ``> gt``, ``>= ge`` and ``<= le``.
    allow_nonfinite : bool
        Let a float field take ``inf`` and ``nan`` (refused by default).
    """
    meta: dict[str, Any] = {_NONFINITE: allow_nonfinite}
    for key, limit in ((_GT, gt), (_GE, ge), (_LE, le)):
        if limit is not None:
            meta[key] = limit
    return meta


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing or unreadable file, bad UTF-8 or bad syntax names the file.

    Raises
    ------
    MissingFileError
        If ``path`` is not a file.
    ConfigError
        If it cannot be read, is not UTF-8 or is not valid TOML.
    """
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"{p}: configuration file not found")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the configuration file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{p}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}, "
            f"line {line}); TOML files must be UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}") from None


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _check_bounds(value: float, meta: collections.abc.Mapping[str, Any], where: str) -> None:
    if _GT in meta and not value > meta[_GT]:
        raise ConfigError(f"{where}: expected > {meta[_GT]}, got {value!r}")
    if _GE in meta and not value >= meta[_GE]:
        raise ConfigError(f"{where}: expected >= {meta[_GE]}, got {value!r}")
    if _LE in meta and not value <= meta[_LE]:
        raise ConfigError(f"{where}: expected <= {meta[_LE]}, got {value!r}")


def _untyped(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_untyped(v) for v in value)
    return value


def coerce(
    value: Any,
    annotation: Any,
    where: str,
    metadata: collections.abc.Mapping[str, Any] | None = None,
) -> Any:
    """``value`` from TOML checked against the type ``annotation``; lists become tuples.

    Parameters
    ----------
    value
        The parsed TOML value.
    annotation
        The resolved type of the dataclass field (``int``, ``float``, ``bool``, ``str``,
        ``tuple[X, ...]``, ``tuple[A, B]``, ``X | None``, a union such as
        ``str | tuple[str, ...]`` (the first option that takes the value), a mapping, or
        ``Any``).
    where : str
        Names the value in errors, e.g. ``"[study] grid[2]"``.
    metadata : mapping, optional
        The field's metadata (:func:`bounds`).

    Raises
    ------
    ConfigError
        Naming ``where``, the expected type and the received value.
    """
    meta = metadata or {}
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return _untyped(value)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            return coerce(value, options[0], where, meta)
        # The first option that takes the value wins (``str | tuple[str, ...]``: one name
        # or a list of names).
        reasons = []
        for option in options:
            try:
                return coerce(value, option, where, meta)
            except ConfigError as exc:
                reasons.append(str(exc).removeprefix(f"{where}: "))
        raise ConfigError(f"{where}: {'; or '.join(reasons)}")
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {_describe(value)}")
        return value
    if annotation is int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {_describe(value)}")
        _check_bounds(value, meta, where)
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {_describe(value)}")
        number = float(value)
        if not meta.get(_NONFINITE, False) and not math.isfinite(number):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        _check_bounds(number, meta, where)
        return number
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {_describe(value)}")
        return value
    if annotation is tuple or origin is tuple:
        args = typing.get_args(annotation)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected an array [...], got {_describe(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            kinds = [args[0]] * len(value)
        elif args:
            if len(value) != len(args):
                raise ConfigError(
                    f"{where}: expected an array of {len(args)} values, got {len(value)}: "
                    f"{list(value)!r}"
                )
            kinds = list(args)
        else:
            kinds = [Any] * len(value)
        return tuple(
            coerce(v, kind, f"{where}[{i}]", meta)
            for i, (v, kind) in enumerate(zip(value, kinds, strict=True))
        )
    if annotation in (dict, collections.abc.Mapping) or origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table {{...}}, got {_describe(value)}")
        return value
    return _untyped(value)  # pragma: no cover - an annotation this builder does not know


def build(cls: type[T], table: dict[str, Any] | None, section: str) -> T:
    """``cls(**table)`` after checking the keys and the type of every value.

    Raises
    ------
    ConfigError
        For an unknown key (named with the section and the allowed keys), a table where a
        value was expected, a value of the wrong type or out of bounds (named with the section
        and the key, e.g. ``[training] epochs``), or a value the dataclass rejects.
    """
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}]: expected a table, got {type(table).__name__}")
    if not dataclasses.is_dataclass(cls):  # pragma: no cover - programming error
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(f"[{section}]: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {
        key: coerce(value, hints[key], f"[{section}] {key}", fields[key].metadata)
        for key, value in table.items()
    }
    try:
        return cls(**values)
    except TypeError as exc:  # pragma: no cover - the types were checked above
        raise ConfigError(f"[{section}]: {exc}") from None


def check_sections(document: dict[str, Any], allowed: set[str], source: str) -> None:
    """Refuse top-level tables other than ``allowed``."""
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {unknown}; allowed: {sorted(allowed)}")


def build_sections(cls: type[T], document: dict[str, Any], source: str) -> T:
    """A study config whose fields are one dataclass per TOML table, built with :func:`build`.

    Unknown tables are refused (:func:`check_sections`); a bad key or value, and a
    disagreement between sections that ``cls`` checks itself, name ``source``.
    """
    if not dataclasses.is_dataclass(cls):  # pragma: no cover - programming error
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    sections = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    check_sections(document, set(sections), source)
    try:
        parts = {name: build(kind, document.get(name), name) for name, kind in sections.items()}
        return cls(**parts)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
