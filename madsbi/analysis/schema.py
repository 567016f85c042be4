"""The schema of a trained analysis directory, checked before anything in it is used.

A trained analysis is something people download from colleagues, so its directory is
untrusted input. :func:`read_manifest` reads ``analysis.json`` and checks every field that
madsbi reads (types, lengths, allowed values; the layout is described in
:mod:`madsbi.analysis.save`); the file names in it (``estimators.*.path``,
``rate_model.file``, ``split.file``) must be relative and stay inside the directory, also
through symbolic links (:func:`member_path`). :func:`check_rate_events` and
:func:`check_split` check the arrays of ``rate_events.npz`` and ``split.npz`` against the
manifest, and :func:`load_npz` reads them without pickles. Every failure is a
:class:`~madsbi.errors.StoreFormatError` (a missing file a
:class:`~madsbi.errors.MissingFileError`) that names the file and the field.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from madsbi.analysis.data import LEVELS
from madsbi.analysis.save import FORMAT, FORMAT_VERSION, MANIFEST_NAME
from madsbi.errors import InputError, MissingFileError, StoreFormatError
from madsbi.theory.polynomial import n_coefficients

#: ρ_P(θ) of the Poisson factor (manifest ``rate_model.poisson``).
POISSON_RATES = ("learned", "exact")
#: ``projection.kind``: no projection, or :class:`madsbi.inference.likelihood.NonNegativeRatio`.
PROJECTIONS = ("none", "NonNegativeRatio")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(where: str, field: str, expected: str, value: Any) -> NoReturn:
    raise StoreFormatError(f"{where}: {field}: expected {expected}, got {_short(value)}")


def _mapping(where: str, value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(where, field, "a JSON object", value)
    return value


def _names(where: str, value: Any, field: str, *, empty: bool = False) -> list[str]:
    ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    if not ok or (not empty and not value) or len(set(value)) != len(value):
        what = "a list of distinct non-empty strings" + ("" if empty else " (at least one)")
        _fail(where, field, what, value)
    return list(value)


def _number(where: str, value: Any, field: str, *, positive: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        _fail(where, field, "a finite number" + (" > 0" if positive else ""), value)
    return float(value)


def _integer(where: str, value: Any, field: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        _fail(where, field, f"an integer >= {minimum}", value)
    return value


def member_path(directory: Path, name: Any, field: str) -> Path:
    """``directory / name`` for a file name read from an analysis manifest.

    Raises
    ------
    StoreFormatError
        ``name`` is not a string, is absolute, or resolves (``..``, a symbolic link) to a
        place outside ``directory``; the message names the manifest field.
    """
    where = str(directory / MANIFEST_NAME)
    if not isinstance(name, str) or not name or "\0" in name:
        _fail(where, field, "a relative file name inside the analysis directory", name)
    if os.path.isabs(name) or Path(name).is_absolute():
        raise StoreFormatError(
            f"{where}: {field}: {name!r} is an absolute path; an analysis names its files "
            "relative to its directory (refused: it would read or write outside it)"
        )
    if os.path.normpath(name).split(os.sep)[0] == os.pardir:
        raise StoreFormatError(
            f"{where}: {field}: {name!r} points outside the analysis directory {directory} "
            "(refused: it would read or write outside it)"
        )
    path = directory / name
    root = directory.resolve()
    if root != path.resolve() and root not in path.resolve().parents:
        raise StoreFormatError(
            f"{where}: {field}: {name!r} resolves to {path.resolve()}, outside the analysis "
            f"directory {root} (a symbolic link; refused)"
        )
    return path


def read_manifest(directory: Path) -> dict[str, Any]:
    """Read and check ``directory/analysis.json`` (see the module docstring).

    Raises
    ------
    MissingFileError
        No ``analysis.json``.
    StoreFormatError
        Not JSON, another format or version, or a field of the wrong type or value (named).
    """
    path = directory / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingFileError(f"{path}: no analysis manifest") from None
    except OSError as exc:
        raise StoreFormatError(f"{path}: cannot read the analysis manifest: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise StoreFormatError(f"{path}: not UTF-8 text ({exc.reason})") from None
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise StoreFormatError(f"{path}: not valid JSON ({exc})") from None
    return validate_manifest(manifest, directory)


def validate_manifest(manifest: Any, directory: Path) -> dict[str, Any]:
    """Check a parsed manifest of the analysis in ``directory``; returns it unchanged."""
    where = str(directory / MANIFEST_NAME)
    document = dict(_mapping(where, manifest, "the manifest"))
    if document.get("format") != FORMAT or document.get("format_version") != FORMAT_VERSION:
        raise StoreFormatError(
            f"{where}: format {document.get('format')!r} version "
            f"{document.get('format_version')!r}, this madsbi reads {FORMAT} {FORMAT_VERSION}"
        )
    for key in ("parameters", "theta0", "features", "processes", "projection", "estimators"):
        if key not in document:
            raise StoreFormatError(f"{where}: the field {key!r} is missing")
    for key in ("rate_model", "split", "defaults"):
        if key not in document:
            raise StoreFormatError(f"{where}: the field {key!r} is missing")
    parameters = _names(where, document["parameters"], "parameters")
    n = len(parameters)
    theta0 = document["theta0"]
    if not isinstance(theta0, list) or len(theta0) != n:
        _fail(where, "theta0", f"a list of {n} numbers (one per parameter)", theta0)
    for i, value in enumerate(theta0):
        _number(where, value, f"theta0[{i}]")
    _names(where, document["features"], "features")
    _names(where, document["processes"], "processes", empty=True)
    if "observables" in document:
        _names(where, document["observables"], "observables", empty=True)
    if document.get("level", "parton") not in LEVELS:
        _fail(where, "level", f"one of {list(LEVELS)}", document.get("level"))
    _check_projection(where, document["projection"])
    estimators = _mapping(where, document["estimators"], "estimators")
    if not estimators:
        _fail(where, "estimators", "at least one estimator", estimators)
    for name, entry in estimators.items():
        field = f"estimators.{name}"
        member_path(directory, _mapping(where, entry, field).get("path"), f"{field}.path")
    _check_rate_model(where, directory, document["rate_model"])
    _check_split(where, directory, document["split"])
    _check_defaults(where, document["defaults"], n)
    for key in ("support", "simulation", "config"):
        if key in document and document[key] is not None:
            _mapping(where, document[key], key)
    if "base" in document:
        from madsbi.analysis.overlay import check_base_entry

        check_base_entry(where, document["base"])
    _check_nuisances(where, directory, document.get("nuisances"))
    _check_components(where, directory, document.get("components"))
    return document


def _check_components(where: str, directory: Path, value: Any) -> None:
    """``"components"`` (optional) by :func:`madsbi.analysis.component_spec.parse_components`.

    Every file it names must lie inside the analysis directory (:func:`member_path`).
    """
    from madsbi.analysis.component_spec import parse_components

    try:
        spec = parse_components(value, where)
    except InputError as exc:
        raise StoreFormatError(str(exc)) from None
    for field, path in [] if spec is None else spec.paths():
        member_path(directory, path, field)


def _check_nuisances(where: str, directory: Path, value: Any) -> None:
    """``"nuisances"`` (optional) by :func:`madsbi.analysis.nuisances.parse_declared`.

    A shape nuisance's ``path`` must lie inside the analysis directory (:func:`member_path`).
    """
    from madsbi.analysis.nuisances import parse_declared

    try:
        specs = parse_declared(value, f"{where}: nuisances")
    except InputError as exc:
        raise StoreFormatError(str(exc)) from None
    for spec in specs:
        if spec.path is not None:
            member_path(directory, spec.path, f"nuisances.{spec.name}.path")


def _check_projection(where: str, value: Any) -> None:
    projection = _mapping(where, value, "projection")
    if projection.get("kind") not in PROJECTIONS:
        _fail(where, "projection.kind", f"one of {list(PROJECTIONS)}", projection.get("kind"))
    if projection["kind"] != "none" and not isinstance(projection.get("keep_reference"), bool):
        _fail(where, "projection.keep_reference", "true or false", projection.get("keep_reference"))


def _check_rate_model(where: str, directory: Path, value: Any) -> None:
    rate = _mapping(where, value, "rate_model")
    member_path(directory, rate.get("file"), "rate_model.file")
    if rate.get("poisson", "learned") not in POISSON_RATES:
        _fail(where, "rate_model.poisson", f"one of {list(POISSON_RATES)}", rate.get("poisson"))
    if "trimmed_from" in rate:
        trimmed = _mapping(where, rate["trimmed_from"], "rate_model.trimmed_from")
        _mapping(where, trimmed.get("channels"), "rate_model.trimmed_from.channels")


def _check_split(where: str, directory: Path, value: Any) -> None:
    split = _mapping(where, value, "split")
    member_path(directory, split.get("file"), "split.file")
    stores = split.get("stores")
    if not isinstance(stores, list):
        _fail(where, "split.stores", "a list of the training stores", stores)
    for i, entry in enumerate(stores):
        field = f"split.stores[{i}]"
        record = _mapping(where, entry, field)
        if not isinstance(record.get("sha256"), str):
            _fail(where, f"{field}.sha256", "a string", record.get("sha256"))
        if "process" in record and not isinstance(record["process"], str):
            _fail(where, f"{field}.process", "a string", record["process"])
        for key in ("n_events", "n_test"):
            if key in record:
                _integer(where, record[key], f"{field}.{key}", 0)


def _check_defaults(where: str, value: Any, n: int) -> None:
    defaults = _mapping(where, value, "defaults")
    for key in ("luminosity_fb", "rate_factor"):
        _number(where, defaults.get(key), f"defaults.{key}", positive=True)
    _integer(where, defaults.get("limit_points"), "defaults.limit_points", 2)
    ranges = defaults.get("ranges")
    if not isinstance(ranges, list) or len(ranges) != n:
        _fail(where, "defaults.ranges", f"{n} pairs [low, high] (one per parameter)", ranges)
    for i, pair in enumerate(ranges):
        field = f"defaults.ranges[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            _fail(where, field, "a pair [low, high]", pair)
        low, high = (_number(where, v, field) for v in pair)
        if not low < high:
            _fail(where, field, "low < high", pair)
    channels = defaults.get("channels")
    if channels is not None:
        for process, texts in _mapping(where, channels, "defaults.channels").items():
            _names(where, texts, f"defaults.channels[{process!r}]", empty=True)


def load_npz(path: Path, field: str) -> dict[str, np.ndarray[Any, Any]]:
    """Every array of the ``.npz`` file ``path`` (named by the manifest ``field``), no pickles.

    Raises
    ------
    MissingFileError
        The file does not exist.
    StoreFormatError
        Not a readable ``.npz`` file, or an array of Python objects.
    """
    try:
        # An open file of ours: np.load leaves its own open when the zip is corrupt.
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as z:
            return {key: np.asarray(z[key]) for key in z.files}
    except FileNotFoundError:
        raise MissingFileError(f"{path}: missing (named by the manifest's {field})") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise StoreFormatError(
            f"{path}: not a readable .npz file of numeric arrays (manifest {field}): {exc}"
        ) from None


def _numeric(path: Path, arrays: Mapping[str, Any], key: str, shape: Sequence[int]) -> None:
    if key not in arrays:
        raise StoreFormatError(f"{path}: the array {key!r} is missing")
    value = arrays[key]
    if value.dtype.kind not in "iuf" or tuple(value.shape) != tuple(shape):
        raise StoreFormatError(
            f"{path}: {key}: expected a real-valued array of shape {tuple(shape)}, got "
            f"{value.dtype} {tuple(value.shape)}"
        )


def check_rate_events(path: Path, arrays: Mapping[str, Any], manifest: Mapping[str, Any]) -> None:
    """Check ``rate_events.npz``: weights (N,), coefficients (N, K), each feature (N,).

    Raises
    ------
    StoreFormatError
        Naming the file and the array.
    """
    weights = arrays.get("mis_weights")
    if weights is None or weights.ndim != 1:
        raise StoreFormatError(
            f"{path}: mis_weights: expected a 1-D array, got "
            f"{None if weights is None else tuple(weights.shape)}"
        )
    n = int(weights.shape[0])
    _numeric(path, arrays, "mis_weights", (n,))
    if n == 0 or not np.all(np.isfinite(weights)):
        raise StoreFormatError(f"{path}: mis_weights: expected N > 0 finite weights")
    k = n_coefficients(len(manifest["parameters"]))
    _numeric(path, arrays, "coefficients", (n, k))
    for key, value in arrays.items():
        if key.startswith("obs_"):
            _numeric(path, arrays, key, (n,))
        elif value.dtype.kind not in "iufb":
            raise StoreFormatError(f"{path}: {key}: expected a numeric array, got {value.dtype}")
    for name in manifest["features"]:
        if f"obs_{name}" not in arrays:
            raise StoreFormatError(
                f"{path}: the feature {name!r} of the manifest has no rate events (obs_{name})"
            )


def check_split(path: Path, arrays: Mapping[str, Any], manifest: Mapping[str, Any]) -> None:
    """Check ``split.npz``: one 1-D integer array ``test_i`` per store, inside the store.

    Raises
    ------
    StoreFormatError
        Naming the file and the array.
    """
    for i, record in enumerate(manifest["split"]["stores"]):
        key = f"test_{i}"
        value = arrays.get(key)
        if value is None:
            raise StoreFormatError(f"{path}: {key}: missing (the manifest lists store {i})")
        if value.ndim != 1 or value.dtype.kind not in "iu":
            raise StoreFormatError(
                f"{path}: {key}: expected a 1-D integer array, got {value.dtype} "
                f"{tuple(value.shape)}"
            )
        limit = record.get("n_events")
        if value.size and (value.min() < 0 or (limit is not None and value.max() >= limit)):
            raise StoreFormatError(
                f"{path}: {key}: indices [{value.min()}, {value.max()}] outside the "
                f"{limit} events of store {i}"
            )
