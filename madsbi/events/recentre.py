"""A reference point θ0 independent of the generation point θ_gen.

The coefficients of a store describe dσ(z|θ) = c·φ(θ − θ0). Converting an LHE file or
running the plugin expands them around the generation point unless asked otherwise; a store
generated at a BSM point can be re-expanded around any θ0 (e.g. the SM) without changing a
single polynomial: c(θ0') = T(θ0 → θ0') c (:func:`madsbi.theory.polynomial.recentring_matrix`).
``/parton/weight`` stays the weight at θ_gen, and ``/meta/theta_gen`` records θ_gen.

The design choice: one function, :func:`recentre_store`, re-centres an existing store
(``madsbi store recentre IN OUT --theta0 …``); ``madsbi store convert --theta0 …`` applies
the same map chunk by chunk while converting, so no second pass over the events is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._paths import refuse_output_over_inputs
from madsbi._validate import FloatArray
from madsbi.errors import InputError, UnknownParameterError, WeightError
from madsbi.events import schema
from madsbi.events.rewrite import rewrite_coefficients
from madsbi.events.store import EventStore
from madsbi.theory.polynomial import recentre_coefficients


def parse_theta0(text: str, names: Sequence[str]) -> tuple[float, ...]:
    """θ0 from ``"cHWB=0,cW=0,cHq3=0"`` (every parameter once) or ``"0,0,0"`` (θ order).

    Parameters
    ----------
    text : str
        The option's value.
    names : sequence of str
        Parameter names in θ order; named values match them case-insensitively.

    Raises
    ------
    UnknownParameterError
        A name that is not a parameter.
    InputError
        Missing, repeated or non-numeric values, or a wrong count of positional values.
    """
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise InputError(
            f"theta0: expected 'name=value,...' or one value per parameter {list(names)}, "
            f"got {text!r}"
        )

    def number(raw: str, what: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"theta0: {what}: expected a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise InputError(f"theta0: {what}: expected a finite number, got {raw!r}")
        return value

    if not any("=" in item for item in items):
        if len(items) != len(names):
            raise InputError(
                f"theta0: expected {len(names)} values (one per parameter {list(names)}), "
                f"got {len(items)} in {text!r}"
            )
        return tuple(number(v, name) for v, name in zip(items, names, strict=True))
    lookup = {name.lower(): i for i, name in enumerate(names)}
    values: dict[int, float] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise InputError(f"theta0: mix of named and positional values in {text!r}")
        index = next(
            (i for i, n in enumerate(names) if n == key.strip()), lookup.get(key.strip().lower())
        )
        if index is None:
            raise UnknownParameterError(
                f"theta0: unknown parameter {key.strip()!r}; parameters: {list(names)}"
            )
        if index in values:
            raise InputError(f"theta0: {names[index]} given twice in {text!r}")
        values[index] = number(raw.strip(), names[index])
    missing = [n for i, n in enumerate(names) if i not in values]
    if missing:
        raise InputError(f"theta0: no value for {missing} in {text!r}; give every parameter")
    return tuple(values[i] for i in range(len(names)))


def resolve_theta0(theta0: Sequence[float] | str, names: Sequence[str]) -> tuple[float, ...]:
    """θ0 from text (:func:`parse_theta0`) or from one finite value per parameter."""
    if isinstance(theta0, str):
        return parse_theta0(theta0, names)
    try:
        point = tuple(float(v) for v in theta0)
    except (TypeError, ValueError):
        raise InputError(f"theta0: expected numbers, got {theta0!r}") from None
    if len(point) != len(names) or not all(math.isfinite(v) for v in point):
        raise InputError(
            f"theta0: expected {len(names)} finite values for {list(names)}, got {point}"
        )
    return point


def check_reference_weights(
    new: FloatArray,
    old: FloatArray,
    start: int,
    theta0: Sequence[float],
    where: str,
    old_name: str = "the old reference",
) -> None:
    """Refuse events whose weight at the new θ0 is zero or of the other sign than before.

    Ratios r = dσ(z|θ)/dσ(z|θ0) need c_e0 ≠ 0 of the sign the events' weights have; for
    squared matrix elements this fails only where |M(θ0)|² vanishes.

    Raises
    ------
    WeightError
        Naming the first such event, its weights and θ0.
    """
    bad = np.flatnonzero(
        (new[:, 0] * old[:, 0] <= 0) | (np.abs(new[:, 0]) <= 1e-12 * np.abs(old[:, 0]))
    )
    if bad.size:
        row = int(bad[0])
        raise WeightError(
            f"{where}: event {start + row}: its weight at θ0 = {tuple(theta0)} is "
            f"{new[row, 0]:.6g} pb (at {old_name} {old[row, 0]:.6g} pb); ratios to θ0 "
            f"need a non-zero weight of the same sign ({bad.size} such events in this chunk); "
            "choose another θ0"
        )


def recentre_chunk(
    coefficients: Any, theta_from: Any, theta0: Sequence[float], start: int, where: str
) -> FloatArray:
    """Re-expand one chunk's coefficients around ``theta0``, checking c_e0 (see above)."""
    old = np.asarray(coefficients, dtype=np.float64)
    new = recentre_coefficients(old, theta_from, theta0)
    check_reference_weights(new, old, start, theta0, where)
    return new


def recentre_store(
    source: str | Path,
    output: str | Path,
    theta0: Sequence[float] | str,
    *,
    overwrite: bool = False,
    chunk_size: int = 100_000,
    compression: str | None = schema.DEFAULT_COMPRESSION,
    progress: bool = False,
) -> Path:
    """Write a copy of a store whose coefficients are expanded around ``theta0``.

    Parameters
    ----------
    source, output : str or Path
        The store to read and the one to write (atomically; never the same file).
    theta0 : sequence of float or str
        The new reference point, in θ order, or text for :func:`parse_theta0`.

    Returns
    -------
    Path
        ``output``. Its σ(θ) is the same function of θ as the source's; ``/meta/theta_gen``
        keeps the generation point, ``/parton/weight`` the weights there.

    Raises
    ------
    InputError
        If ``output`` is ``source`` or θ0 is malformed.
    WeightError
        If an event's weight at θ0 is zero or changes sign.
    StoreCorruptError
        If the source's data or ``/meta`` fail their checksums.
    """
    source, output = Path(source), Path(output)
    refuse_output_over_inputs(output, [source], what="recentre")
    with EventStore(source) as store:
        store.verify_meta()  # damaged metadata must not be sealed into the new store
        point = resolve_theta0(theta0, store.meta.space.names)
        old = store.meta.space.theta0_array
        meta = store.meta.recentred(point)

        def recentre(coefficients: FloatArray, start: int) -> FloatArray:
            return recentre_chunk(coefficients, old, point, start, str(source))

        return rewrite_coefficients(
            store, output, meta, recentre, label="re-centring", overwrite=overwrite,
            chunk_size=chunk_size, compression=compression, progress=progress,
        )  # fmt: skip
