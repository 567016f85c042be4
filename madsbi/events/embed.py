"""Embedding a store of a sub-space of the parameters into an analysis's parameter space.

A background process may depend on only some of the analysis's parameters: ZZ → 4ℓ has no
cW vertex (every cW vertex has a W), so a ZZ store generated over (cHWB, cHq3) describes the
(cHWB, cW, cHq3) analysis exactly once every coefficient of a term with cW is zero. A
θ-independent store (``store convert --no-reweighting`` without parameters, K = 1) embeds as
constant coefficients (w, 0, …, 0).

:func:`embed_store` writes that store (``madsbi store embed IN OUT --parameters …``):

- parameters in the target's order; the store's own keep their block, code, range, θ0 and
  θ_gen; the added ones take θ0 (and θ_gen: the events do not depend on them) and range from
  the target (``like``: a store of the analysis, e.g. a signal shard), else 0 and none;
- per-event coefficients moved to their place in the target's feature order
  (``theory.polynomial``), every term with an added parameter exactly 0, so σ(θ) and every
  event's weight at every θ are unchanged whatever the added parameters are;
- the morphing basis: the store's points (added parameters at θ0) plus, per added parameter
  j, θ0 ± s_j e_j and θ0 + s_i e_i + s_j e_j for every parameter i of the store and every
  added one before j (s: half the range, else 1). W is block triangular with invertible
  diagonal blocks, so the basis is always valid; σ(θ_b) is recomputed by the writer;
- ``/meta`` attribute ``embedded_parameters``: the added names (comma-separated).

Every other dataset (``/parton`` record and weights, ``/reco``, variations) is copied as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from madsbi._paths import refuse_output_over_inputs
from madsbi._validate import FloatArray
from madsbi.errors import InputError, StoreMismatchError
from madsbi.events import schema
from madsbi.events.meta import StoreMeta
from madsbi.events.rewrite import rewrite_coefficients
from madsbi.events.store import EventStore
from madsbi.theory.parameters import Parameter, ParameterSpace
from madsbi.theory.polynomial import cross_index, cross_pairs, linear_index, square_index

#: ``/meta`` attribute naming the parameters an embedding added (comma-separated).
EMBEDDED_PARAMETERS = "embedded_parameters"


def parse_parameters(text: str) -> tuple[Parameter, ...]:
    """Target parameters from ``"cHWB,cW:SMEFT:2,cHq3"`` (``name`` or ``name:block:code``).

    Raises
    ------
    InputError
        For an empty list, an empty name or a code that is not an integer.
    """
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise InputError(f"parameters: expected 'name[:block:code],...', got {text!r}")
    params = []
    for item in items:
        parts = [p.strip() for p in item.split(":")]
        if len(parts) == 1:
            params.append(Parameter(parts[0]))
            continue
        if len(parts) != 3 or not parts[1]:
            raise InputError(f"parameters: expected 'name' or 'name:block:code', got {item!r}")
        try:
            code = int(parts[2])
        except ValueError:
            raise InputError(
                f"parameters: {parts[0]}: code must be an integer, got {parts[2]!r}"
            ) from None
        params.append(Parameter(parts[0], parts[1], code))
    return tuple(params)


def _describe(p: Parameter) -> str:
    return f"{p.name} ({p.block} {p.code})" if p.block else f"{p.name} (no param-card entry)"


def target_space(
    sub: ParameterSpace,
    parameters: Sequence[str | Parameter],
    like: ParameterSpace | None = None,
) -> ParameterSpace:
    """The embedded store's parameter space (module docstring).

    Parameters
    ----------
    sub : ParameterSpace
        The store's parameters.
    parameters : sequence of str or Parameter
        The target's parameters in θ order, by name or with block and code.
    like : ParameterSpace, optional
        The analysis's space (e.g. of a signal store): block, code, range and θ0 of every
        target parameter, which must then all be in it.

    Raises
    ------
    StoreMismatchError
        If a store parameter is missing from the target, or its name, block or code differ
        from the target's (same name, other entry; same entry, other name); ``field`` is
        ``/meta/parameter_names``, ``…_blocks`` or ``…_codes``.
    InputError
        For repeated names, or a target name not in ``like``.
    """
    wanted = [p if isinstance(p, Parameter) else Parameter(p) for p in parameters]
    if like is not None:
        known = {p.name: (p, v) for p, v in zip(like.parameters, like.theta0, strict=True)}
        missing = [p.name for p in wanted if p.name not in known]
        if missing:
            raise InputError(
                f"parameters: {missing} are not parameters of the target {list(like.names)}"
            )
        for p in wanted:
            entry = known[p.name][0]
            if p.block is not None and (p.block, p.code) != (entry.block, entry.code):
                raise StoreMismatchError(
                    f"parameters: {_describe(p)} differs from the target's {_describe(entry)}",
                    "/meta/parameter_codes",
                )
        wanted = [known[p.name][0] for p in wanted]
    names = [p.name for p in wanted]
    if len(set(names)) != len(names):
        raise InputError(f"parameters: names must be unique, got {names}")
    by_name = {p.name: p for p in wanted}
    by_entry = {(p.block, p.code): p for p in wanted if p.block is not None}
    own = dict(zip(sub.names, sub.theta0, strict=True))
    for p in sub.parameters:
        q = by_name.get(p.name)
        same_entry = by_entry.get((p.block, p.code)) if p.block is not None else None
        if q is None:
            hint = f" (the target names that entry {same_entry.name!r})" if same_entry else ""
            raise StoreMismatchError(
                f"parameters: the store's parameter {_describe(p)} is not among the target's "
                f"{names}{hint}; the target must contain every parameter of the store",
                "/meta/parameter_names",
            )
        if q.block is not None and (q.block, q.code) != (p.block, p.code):
            field = "blocks" if q.block != p.block else "codes"
            raise StoreMismatchError(
                f"parameters: {p.name} is {_describe(p)} in the store but {_describe(q)} in "
                "the target",
                f"/meta/parameter_{field}",
            )
        if same_entry is not None and same_entry.name != p.name:
            raise StoreMismatchError(
                f"parameters: the store's {_describe(p)} is {same_entry.name!r} in the target",
                "/meta/parameter_names",
            )
    params: list[Parameter] = []
    theta0: list[float] = []
    like_theta0 = dict(zip(like.names, like.theta0, strict=True)) if like else {}
    for p in wanted:
        if p.name in own:
            params.append(sub.parameters[sub.index(p.name)])
            theta0.append(own[p.name])
        else:
            params.append(p)
            theta0.append(like_theta0.get(p.name, 0.0))
    return ParameterSpace(tuple(params), tuple(theta0))


def coefficient_map(sub: Sequence[str], target: Sequence[str]) -> npt.NDArray[np.intp]:
    """Target feature index of each of the store's K_sub features, shape (K_sub,).

    ``sub`` must be a subset of ``target`` (names); the order may differ.
    """
    pos = [list(target).index(name) for name in sub]
    n, m = len(sub), len(target)
    index = [0]
    index += [linear_index(pos[a]) for a in range(n)]
    index += [square_index(pos[a], m) for a in range(n)]
    index += [cross_index(pos[a], pos[b], m) for a, b in cross_pairs(n)]
    return np.asarray(index, dtype=np.intp)


def embed_coefficients(
    coefficients: FloatArray, index: npt.NDArray[np.intp], k_target: int
) -> FloatArray:
    """Place (N, K_sub) coefficients at ``index`` of (N, K_target) zeros."""
    out = np.zeros((coefficients.shape[0], k_target), dtype=np.float64)
    out[:, index] = coefficients
    return out


def _step(p: Parameter) -> float:
    return 1.0 if p.range is None else 0.5 * (p.range[1] - p.range[0])


def embed_meta(meta: StoreMeta, space: ParameterSpace) -> StoreMeta:
    """The embedded store's metadata (module docstring); σ(θ_b) is left to the writer."""
    sub = meta.space
    pos = {name: i for i, name in enumerate(space.names)}
    added = [p for p in space.parameters if p.name not in sub.names]
    theta0 = space.theta0_array
    theta_gen = theta0.copy()
    for name, value in zip(sub.names, meta.theta_gen_array, strict=True):
        theta_gen[pos[name]] = value
    points = [theta0.copy() for _ in meta.basis_points]
    for point, old in zip(points, meta.basis_points, strict=True):
        for name, value in zip(sub.names, old, strict=True):
            point[pos[name]] = value
    ids = list(meta.basis_ids)
    for p in added:
        j = pos[p.name]
        for sign, tag in ((1.0, "p1"), (-1.0, "m1")):
            point = theta0.copy()
            point[j] += sign * _step(p)
            points.append(point)
            ids.append(f"embed_{p.name}_{tag}")
        for q in space.parameters:
            k = pos[q.name]
            # One point per mixed term with p: every store parameter, added ones before p.
            if q.name in sub.names or k < j:
                point = theta0.copy()
                point[k] += _step(q)
                point[j] += _step(p)
                points.append(point)
                ids.append(f"embed_{p.name}_{q.name}_p1")
    attributes = dict(meta.attributes)
    if added:
        attributes[EMBEDDED_PARAMETERS] = ",".join(p.name for p in added)
    return replace(
        meta,
        space=space,
        basis_ids=tuple(ids),
        basis_points=np.array(points, dtype=np.float64).reshape(len(ids), len(space.names)),
        basis_cross_sections=None,
        theta_gen=tuple(float(v) for v in theta_gen),
        attributes=attributes,
    )


def embed_store(
    source: str | Path,
    output: str | Path,
    parameters: Sequence[str | Parameter] | str,
    *,
    like: str | Path | None = None,
    overwrite: bool = False,
    chunk_size: int = 100_000,
    compression: str | None = schema.DEFAULT_COMPRESSION,
    progress: bool = False,
) -> Path:
    """Write ``source`` embedded into the parameter space ``parameters`` (module docstring).

    Parameters
    ----------
    source, output : str or Path
        The store to read and the one to write (atomically; never the same file).
    parameters : sequence of str or Parameter, or str
        The target's parameters in θ order (text: :func:`parse_parameters`).
    like : str or Path, optional
        A store of the target space (e.g. a signal shard): blocks, codes, ranges and θ0.

    Returns
    -------
    Path
        ``output``: σ(θ) and every event's weight at every θ as in ``source`` (K_target
        coefficients, those of terms with an added parameter exactly 0).

    Raises
    ------
    StoreMismatchError
        If the store's parameter names, blocks or codes do not match the target's.
    InputError
        If ``output`` is ``source`` or ``like``, or the parameter list is malformed.
    StoreCorruptError
        If the source's ``/meta`` fails its checksum.
    """
    source, output = Path(source), Path(output)
    refuse_output_over_inputs(output, [source] + ([Path(like)] if like else []), what="store embed")
    wanted = parse_parameters(parameters) if isinstance(parameters, str) else parameters
    like_space = None
    if like is not None:
        with EventStore(like) as target:
            like_space = target.meta.space
    with EventStore(source) as store:
        store.verify_meta()
        space = target_space(store.meta.space, wanted, like_space)
        meta = embed_meta(store.meta, space)
        index = coefficient_map(store.meta.space.names, space.names)
        n_coefficients = space.n_coefficients

        def embed(old: FloatArray, start: int) -> FloatArray:
            return embed_coefficients(old, index, n_coefficients)

        return rewrite_coefficients(
            store, output, meta, embed, label="embedding", overwrite=overwrite,
            chunk_size=chunk_size, compression=compression, progress=progress,
        )  # fmt: skip
