"""The options of a fit, checked before any data are read (issue 29, items 9–10).

Grid sizes, the luminosity and rate factor, the confidence levels and the ``at`` points are
validated up front, each error naming the option and what it received, so a bad option never
costs a fit (or asks for tens of GiB: a 2D grid of 10⁵ points per axis is 10¹⁰ points per
plane). The output directory of ``madsbi fit --out`` is checked before the fit too
(:func:`check_output_dir`).

The data mode defaults from the store (issue 29 item 16, :func:`choose_data_mode`): a store
whose ``/meta/process`` is empty carries no MC generation record — real data, or the
pseudo-data of ``madsbi store mix`` (written without labels) — and is fitted as ``counts``
(every event one observed event); a store that names its process is MC and is fitted as
``asimov`` (its weights scaled to the luminosity). Asimov pseudo-data (``madsbi store mix
--asimov``: weighted expected events, ``/meta`` attribute
:data:`~madsbi.events.schema.ASIMOV_DATA`) are fitted as ``asimov`` and refused as counts.
The fit records which and why.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._outdir import prepare_output_dir
from madsbi._validate import FloatArray
from madsbi.errors import InputError, OutputError

MAX_POINTS_2D = 1001
"""Points per axis of a 2D plane (10⁶ points per plane)."""
MAX_POINTS_LINE = 1_000_001
"""Points of a 1D line (fixed or profiled)."""


def _integer(value: Any, option: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{option}: expected an integer in [{low}, {high}], got {value!r}")
    if not low <= int(value) <= high:
        raise InputError(f"{option}: expected an integer in [{low}, {high}], got {value}")
    return int(value)


def check_grid_sizes(
    points_1d: int | None, points_2d: int, points_profile: int
) -> tuple[int | None, int, int]:
    """The grid sizes, each ≥ 2 (a line or plane needs two points) and bounded.

    Raises
    ------
    InputError
        Naming the option (``points_1d``/``--points-2d``/``--points-profile``) and the value.
    """
    line = None if points_1d is None else _integer(points_1d, "points_1d", 2, MAX_POINTS_LINE)
    plane = _integer(points_2d, "points_2d (--points-2d)", 2, MAX_POINTS_2D)
    profile = _integer(points_profile, "points_profile (--points-profile)", 2, MAX_POINTS_LINE)
    return line, plane, profile


def check_positive(value: float | None, option: str) -> float | None:
    """None, or a finite number > 0 (``luminosity``, ``rate_factor``)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{option}: expected a finite number > 0, got {value!r}") from None
    if not (np.isfinite(number) and number > 0):
        raise InputError(f"{option}: expected a finite number > 0, got {value!r}")
    return number


def check_levels(levels: Sequence[float]) -> list[float]:
    """Confidence levels, each in (0, 1), at least one."""
    out = []
    for lv in levels:
        try:
            value = float(lv)
        except (TypeError, ValueError):
            raise InputError(f"levels: expected numbers in (0, 1), got {lv!r}") from None
        if not 0.0 < value < 1.0:
            raise InputError(f"levels: expected numbers in (0, 1), got {lv!r}")
        out.append(value)
    if not out:
        raise InputError("levels: expected at least one confidence level")
    return out


def parse_point(text: str, parameters: Sequence[str], theta0: FloatArray) -> FloatArray:
    """``cHWB=1,cW=0.1`` → θ (unnamed parameters at θ0); a name given twice is an error."""
    theta = np.array(theta0, dtype=np.float64)
    seen: set[str] = set()
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in parameters:
            raise InputError(
                f"--at {text!r}: expected NAME=VALUE pairs with NAME in {list(parameters)}"
            )
        if name in seen:
            raise InputError(f"--at {text!r}: {name} is given more than once")
        seen.add(name)
        try:
            number = float(value)
        except ValueError:
            raise InputError(f"--at {text!r}: {value!r} is not a number") from None
        if not np.isfinite(number):
            raise InputError(f"--at {text!r}: {name} must be finite, got {value!r}")
        theta[list(parameters).index(name)] = number
    return theta


def parse_points(at: Any, parameters: Sequence[str], theta0: FloatArray) -> list[FloatArray]:
    """The ``at`` points: texts (:func:`parse_point`) or arrays of one value per parameter.

    Raises
    ------
    InputError
        A bad text, a point of the wrong length or not numeric or not finite, or ``at``
        itself a single text (a list of points is expected).
    """
    if isinstance(at, str):
        raise InputError(f"at: expected a list of points, got the text {at!r} (use [{at!r}])")
    points = []
    for p in at:
        if isinstance(p, str):
            points.append(parse_point(p, parameters, theta0))
            continue
        try:
            point = np.asarray(p, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"at: {p!r} is not a point of numbers") from None
        if point.shape != theta0.shape:
            raise InputError(
                f"at: expected points of {len(parameters)} values ({list(parameters)}), "
                f"got {point.tolist()}"
            )
        if not np.all(np.isfinite(point)):
            raise InputError(f"at: the point {point.tolist()} is not finite")
        points.append(point)
    return points


def check_output_dir(path: Path, option: str = "--out") -> Path:
    """Create the output directory and check that a file can be written in it.

    Raises
    ------
    OutputError
        Naming ``option`` and the path: it (or a parent) is a file, or it cannot be created or
        written.
    """
    path = prepare_output_dir(Path(path), option)
    try:
        fd, name = tempfile.mkstemp(prefix=".madsbi-write-test-", dir=path)
    except OSError as exc:
        raise OutputError(
            f"{option} {path}: the output directory is not writable: {exc.strerror or exc}"
        ) from None
    os.close(fd)
    os.unlink(name)
    return path


#: The data modes of a fit (:func:`madsbi.inference.rate.data_weights`).
DATA_MODES = ("counts", "asimov")


def check_data_store(path: str | Path) -> str:
    """Check a data store's schema and ``/meta`` digests; returns its ``/meta/process``.

    Raises
    ------
    StoreFormatError
        The store fails its schema (:func:`madsbi.events.verify.check_structure`).
    StoreCorruptError
        ``/meta`` does not match its digests.
    """
    return data_store_kind(path)[0]


def data_store_kind(path: str | Path) -> tuple[str, bool]:
    """:func:`check_data_store`, and whether the store is Asimov pseudo-data."""
    from madsbi.events import schema
    from madsbi.events.store import EventStore
    from madsbi.events.verify import check_structure

    with EventStore(path) as store:
        check_structure(store)
        store.verify_meta()
        return str(store.meta.process), store.meta.attributes.get(schema.ASIMOV_DATA) is True


def choose_data_mode(
    given: str | None, process: str | None, asimov_data: bool = False
) -> tuple[str, str]:
    """The data mode of a fit and why (module docstring).

    Parameters
    ----------
    given : {"counts", "asimov"} or None
        The caller's choice; None chooses from ``process``.
    process : str or None
        The data's ``/meta/process`` (``""``: real data or pseudo-data); None when unknown
        (no store read yet), which defaults to ``asimov``.
    asimov_data : bool
        The store is Asimov pseudo-data (``madsbi store mix --asimov``).

    Raises
    ------
    InputError
        ``given`` is not a data mode, or ``counts`` for Asimov pseudo-data.
    """
    if asimov_data:
        if given == "counts":
            raise InputError(
                "data_mode (--data-mode): counts refused: the store is Asimov pseudo-data "
                "(madsbi store mix --asimov), weighted expected events, not observed ones"
            )
        return "asimov", (
            "Asimov pseudo-data (madsbi store mix --asimov): its weights, the mixture's "
            "expected events, are scaled to the luminosity"
        )
    if given is not None:
        if given not in DATA_MODES:
            raise InputError(
                f"data_mode (--data-mode): expected one of {DATA_MODES}, got {given!r}"
            )
        return given, "given"
    if process == "":
        return "counts", (
            "the store names no process (/meta/process is empty: real data, or pseudo-data "
            "of madsbi store mix), so every event is one observed event"
        )
    return "asimov", (
        f"an MC store (/meta/process {process!r}): its weights are scaled to the luminosity"
        if process
        else "default: MC weights scaled to the luminosity"
    )
