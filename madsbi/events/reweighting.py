"""What the <rwgt> weights of an LHE file mean: parameters, θ of every point, the basis.

In ``<initrwgt>`` each reweighting point lists only the param-card entries it changes
relative to the file's own card (docs/design.md), so θ at each point is θ0 with those changes.
A file without such points describes no θ-dependence: it converts only into a θ-independent
store (:func:`constant_space`, :func:`constant_basis`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from madsbi.cards import ParamCard
from madsbi.errors import IllConditionedBasisError, InputError, UnknownParameterError
from madsbi.events.lhe import LheHeader, WeightDefinition
from madsbi.theory.morphing import DEFAULT_MAX_CONDITION, MorphingBasis
from madsbi.theory.parameters import Parameter, ParameterSpace
from madsbi.theory.polynomial import polynomial_features_reference

#: Id of the pseudo reweighting point "the event's own weight", at θ0.
NOMINAL = "nominal"


@dataclass(frozen=True)
class ReweightPoint:
    """A candidate point: its id, θ, and the column it reads (-1 = the event weight)."""

    id: str
    theta: tuple[float, ...]
    column: int


def process_description(proc_card: str) -> str:
    """``import model``/``generate``/``add process`` lines of a proc card, joined by '; '."""
    keep = ("import model", "generate", "add process", "define")
    lines = [ln.split("#", 1)[0].strip() for ln in proc_card.splitlines()]
    return "; ".join(ln for ln in lines if ln.startswith(keep))


def _varied_entries(
    weights: Sequence[WeightDefinition], card: ParamCard
) -> list[tuple[str, tuple[int, ...]]]:
    varied: list[tuple[str, tuple[int, ...]]] = []
    for w in weights:
        for block, key, value in w.changes or ():
            entry = card.get(block, key)
            if value != entry.value and (block, key) not in varied:
                varied.append((block, key))
    return varied


def has_reweighting(header: LheHeader) -> bool:
    """Whether some ``<rwgt>`` point of the file changes a param-card entry."""
    return bool(_varied_entries(header.weights, ParamCard.parse(header.param_card)))


def constant_space(
    header: LheHeader,
    names: Sequence[str] | None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> ParameterSpace:
    """The parameters of a θ-independent store: ``names``, none by default.

    A name in the file's param card takes its block, code and value (θ0) from there; any
    other (e.g. an EFT coefficient given for a SM sample) has none and θ0 = 0.

    Raises
    ------
    InputError
        If a reweighting point of the file varies one of the parameters (its events depend
        on it), or a range names no parameter.
    """
    card = ParamCard.parse(header.param_card)
    varied = _varied_entries(header.weights, card)
    ranges = dict(ranges or {})
    unknown_ranges = sorted(set(ranges) - set(names or ()))
    if unknown_ranges:
        raise UnknownParameterError(f"ranges given for unknown parameters {unknown_ranges}")
    params: list[Parameter] = []
    theta0: list[float] = []
    for name in names or ():
        try:
            entry = card.find(name)
        except UnknownParameterError:
            params.append(Parameter(name, range=ranges.get(name)))
            theta0.append(0.0)
            continue
        if (entry.block, entry.key) in varied:
            raise InputError(
                f"parameter {name!r}: the file's reweighting points vary it, so its events "
                "depend on it; convert without no-reweighting (CLI: --no-reweighting)"
            )
        code = entry.key[0] if len(entry.key) == 1 else None
        block = entry.block.upper() if code is not None else None
        params.append(Parameter(name, block, code, ranges.get(name)))
        theta0.append(entry.value)
    return ParameterSpace(tuple(params), tuple(theta0))


def constant_basis(space: ParameterSpace) -> tuple[list[ReweightPoint], MorphingBasis]:
    """A well-conditioned basis for a θ-independent store: θ0, θ0 ± s_i, θ0 + s_i + s_j.

    s_i is half the width of parameter i's range (1 without one): 1 + 2n + n(n−1)/2 = K
    points. Every σ(θ_b) of such a store is the same, its cross-section.
    """
    n = space.n_parameters
    theta0 = space.theta0_array
    steps = [0.5 * (p.range[1] - p.range[0]) if p.range else 1.0 for p in space.parameters]
    points = [ReweightPoint(NOMINAL, space.theta0, -1)]

    def point(label: str, *moves: tuple[int, float]) -> ReweightPoint:
        theta = theta0.copy()
        for i, sign in moves:
            theta[i] += sign * steps[i]
        return ReweightPoint(label, tuple(float(v) for v in theta), -1)

    names = space.names
    for i in range(n):
        points += [point(f"+{names[i]}", (i, 1.0)), point(f"-{names[i]}", (i, -1.0))]
    for i in range(n):
        for j in range(i + 1, n):
            points.append(point(f"+{names[i]}+{names[j]}", (i, 1.0), (j, 1.0)))
    basis = MorphingBasis.from_points([p.theta for p in points], theta0)
    return points, basis


def resolve_parameters(
    header: LheHeader,
    names: Sequence[str] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> ParameterSpace:
    """The parameters of interest and θ0 from the header's param card and ``<initrwgt>``.

    Without ``names``, every param-card entry that some reweighting point changes becomes a
    parameter, in order of first appearance; θ0 is the card's value of each.

    Raises
    ------
    UnknownParameterError
        If a name is not in the param card, or no reweighting point varies it.
    """
    card = ParamCard.parse(header.param_card)
    varied = _varied_entries(header.weights, card)
    ranges = dict(ranges or {})
    if names is None:
        entries = [card.get(block, key) for block, key in varied]
        labels = [e.name or f"{e.block}_{'_'.join(map(str, e.key))}" for e in entries]
    else:
        entries, labels = [], list(names)
        for name in names:
            try:
                entry = card.find(name)
            except UnknownParameterError:
                known = [card.get(b, k).name for b, k in varied]
                raise UnknownParameterError(
                    f"parameter {name!r} is not in the param card of this file; the reweighting "
                    f"points vary {known}"
                ) from None
            if (entry.block, entry.key) not in varied:
                raise UnknownParameterError(
                    f"parameter {name!r} ({entry.block.upper()} {entry.key}) is not changed by "
                    "any reweighting point, so its coefficients cannot be determined"
                )
            entries.append(entry)
    unknown_ranges = sorted(set(ranges) - set(labels))
    if unknown_ranges:
        raise UnknownParameterError(f"ranges given for unknown parameters {unknown_ranges}")
    params = []
    for entry, label in zip(entries, labels, strict=True):
        if len(entry.key) != 1:
            raise InputError(
                f"parameter {label!r}: only single-index param-card entries are supported"
            )
        params.append(Parameter(label, entry.block.upper(), entry.key[0], ranges.get(label)))
    return ParameterSpace(tuple(params), tuple(e.value for e in entries))


def reweight_points(
    header: LheHeader, space: ParameterSpace
) -> tuple[list[ReweightPoint], dict[str, str]]:
    """Candidate points (θ of each usable weight, then the nominal weight) and the excluded ones."""
    card = ParamCard.parse(header.param_card)
    index = {
        (p.block.lower() if p.block else "", p.code): i for i, p in enumerate(space.parameters)
    }
    points: list[ReweightPoint] = []
    excluded: dict[str, str] = {}
    for column, w in enumerate(header.weights):
        if w.changes is None:
            excluded[w.id] = "not a param-card point (scale, PDF or other variation)"
            continue
        theta = list(space.theta0)
        reason = None
        for block, key, value in w.changes:
            i = index.get((block, key[0] if len(key) == 1 else None))
            if i is not None:
                theta[i] = value
            elif value != card.get(block, key).value:
                reason = f"changes {block.upper()} {' '.join(map(str, key))}, not a parameter"
        if reason:
            excluded[w.id] = reason
        else:
            points.append(ReweightPoint(w.id, tuple(theta), column))
    points.append(ReweightPoint(NOMINAL, space.theta0, -1))
    return points, excluded


def choose_basis(
    points: Sequence[ReweightPoint],
    space: ParameterSpace,
    basis_ids: Sequence[str] | None = None,
    *,
    max_condition: float = DEFAULT_MAX_CONDITION,
) -> tuple[list[ReweightPoint], MorphingBasis]:
    """Pick the K basis points among the candidates.

    ``basis_ids`` if given, else the first points in file order that add a new direction of φ.

    Raises
    ------
    InputError
        Fewer candidate points than K, or unknown/duplicate ``basis_ids``.
    IllConditionedBasisError
        If the points do not determine a quadratic, or cond(W) > ``max_condition``.
    """
    k = space.n_coefficients
    theta0 = space.theta0_array
    if basis_ids is not None:
        by_id = {p.id: p for p in points}
        missing = [b for b in basis_ids if b not in by_id]
        if missing:
            raise InputError(f"basis_ids: unknown weight ids {missing}; usable: {list(by_id)}")
        if len(set(basis_ids)) != len(basis_ids) or len(basis_ids) != k:
            raise InputError(f"basis_ids: expected {k} distinct ids, got {list(basis_ids)}")
        chosen = [by_id[b] for b in basis_ids]
    else:
        if len(points) < k:
            n_real = sum(p.id != NOMINAL for p in points)
            raise InputError(
                f"the file has {n_real} usable reweighting points, fewer than the K = {k} "
                f"coefficients of a quadratic in {space.n_parameters} parameters"
            )
        chosen, span = [], np.zeros((0, k))
        for p in points:
            phi = polynomial_features_reference(np.array([p.theta]), theta0)[0]
            residual = phi - span.T @ (span @ phi)
            if np.linalg.norm(residual) > 1e-9 * max(1.0, float(np.linalg.norm(phi))):
                chosen.append(p)
                span = np.vstack([span, residual / np.linalg.norm(residual)])
            if len(chosen) == k:
                break
        if len(chosen) < k:
            raise IllConditionedBasisError(
                f"the {len(points)} reweighting points span only {len(chosen)} of the K = {k} "
                "directions of a quadratic (cond(W) = inf); add points that vary each "
                "parameter and each pair",
                float("inf"),
            )
    basis = MorphingBasis.from_points(
        [p.theta for p in chosen], theta0, max_condition=max_condition
    )
    return chosen, basis
