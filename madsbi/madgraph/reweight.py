"""One pass over a run's events: |M|² at every point, coefficients, event store, LHE weights.

This module does not import MadGraph: the squared matrix element comes in through the
:class:`MatrixElement` protocol (MadGraph's compiled library in
:mod:`madsbi.madgraph.matrix_element`, or an analytic stand-in in tests).

The weight of event e at point θ is w_e · |M_e(θ)|² / |M_e(card)|², as in MadGraph's own
reweighting (the PDFs, scales and phase-space factors cancel in the ratio). The coefficients
solve c_e = W⁻¹ w_e(θ_b) (docs/design.md, eq. 20–25); every extra point is a held-out check.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from madsbi._validate import FloatArray
from madsbi.cards import ParamCard, parse_run_card
from madsbi.errors import ConfigError, LheFormatError, StoreExistsError, WeightError
from madsbi.events import schema
from madsbi.events.convert import HoldoutCheck
from madsbi.events.lhe import LheChunk, LheFile
from madsbi.events.meta import ShardInfo, StoreMeta
from madsbi.events.recentre import check_reference_weights
from madsbi.events.reweighting import process_description
from madsbi.events.tempfiles import temporary_path
from madsbi.events.writer import StoreWriter
from madsbi.madgraph.lhe_weights import write_weighted_lhe
from madsbi.madgraph.plan import ParamKey, ReweightPlan
from madsbi.theory.polynomial import cross_pairs, polynomial_features_reference

#: Held-out points computed in double precision must close to this, relative to the event's
#: largest weight (measured: ~4e-15 for SMEFT WZ).
DEFAULT_HOLDOUT_TOLERANCE = 1e-9
#: A parameter whose coefficients are all below this fraction of c_0 does not enter.
ZERO_COEFFICIENT = 1e-13


class MatrixElement(Protocol):
    """Squared matrix elements, summed over helicities, of a chunk of events."""

    def evaluate(self, chunk: LheChunk, points: Sequence[Mapping[ParamKey, float]]) -> FloatArray:
        """|M|² of every event at every point, shape (n_events, n_points).

        Each point is a set of param-card changes relative to the run's own card; an empty
        mapping is the card itself.
        """


@dataclass(frozen=True)
class PluginReport:
    """What one plugin run did."""

    events: str
    store: str
    n_events: int
    parameters: tuple[str, ...]
    theta0: tuple[float, ...]
    basis_ids: tuple[str, ...]
    basis_points: tuple[tuple[float, ...], ...]
    condition_number: float
    extra_ids: tuple[str, ...]
    holdouts: tuple[dict[str, Any], ...]
    n_matrix_element_points: int
    lhe_weights: bool
    seconds_matrix_element: float
    seconds: float
    theta_gen: tuple[float, ...] = ()

    def to_json(self) -> str:
        """The report as JSON text."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def card_description(plan: ReweightPlan, theta: FloatArray, card_theta: Sequence[float]) -> str:
    """The ``<weight>`` text of a point, in MadGraph's ``set param_card`` style."""
    lines = []
    for (block, code), value, orig in zip(plan.keys, theta, card_theta, strict=True):
        if value != orig:
            lines.append(f"set param_card {block.lower()} {code} {value:.16g} # orig: {orig:g}")
    return "\n" + "\n".join(lines) + "\n" if lines else "\n"


def _check_me(me: FloatArray, chunk: LheChunk, names: Sequence[str]) -> None:
    bad = ~np.isfinite(me) | (me < 0)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        what = "not finite" if not np.isfinite(me[row, col]) else "negative"
        raise WeightError(
            f"event {chunk.start + row}: |M|^2 at point '{names[col]}' is {me[row, col]} "
            f"({what}); the matrix element is unusable there (check the parameter values)"
        )
    zero = np.flatnonzero(me[:, 0] == 0)
    if zero.size:
        raise WeightError(
            f"event {chunk.start + int(zero[0])}: |M|^2 at the run's own param card is zero; "
            "its weight cannot be reweighted (is the event from this process?)"
        )


def _check_event_weights(chunk: LheChunk) -> None:
    w = chunk.arrays["weight"]
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        raise WeightError(f"event {chunk.start + int(bad[0])}: event weight is {w[bad[0]]}")


def _dependence(coefficients: FloatArray, n: int) -> FloatArray:
    """Per parameter: the largest |c_i|, |c_ii|, |c_ij| relative to |c_0| in a chunk."""
    scale = np.maximum(np.abs(coefficients[:, 0]), np.finfo(np.float64).tiny)
    rel = np.abs(coefficients) / scale[:, None]
    out = np.zeros(n)
    for i in range(n):
        cols = [1 + i, 1 + n + i]
        cols += [1 + 2 * n + m for m, pair in enumerate(cross_pairs(n)) if i in pair]
        out[i] = rel[:, cols].max()
    return out


@dataclass(frozen=True)
class _Points:
    """Distinct param-card settings to evaluate and where each plan point reads its |M|²."""

    changes: list[dict[ParamKey, float]]
    column: list[int]  # per plan point, the column of `changes`


def _distinct_points(plan: ReweightPlan) -> _Points:
    """The card itself first, then every distinct point θ (points at the card value share it)."""
    card = np.array(plan.card_theta)
    thetas: list[tuple[float, ...]] = [tuple(card.tolist())]
    column = []
    for theta in plan.point_thetas:
        key = tuple(float(v) for v in theta)
        if key not in thetas:
            thetas.append(key)
        column.append(thetas.index(key))
    changes = [{} if i == 0 else plan.changes(np.array(t)) for i, t in enumerate(thetas)]
    return _Points(changes, column)


def run_reweighting(
    events: str | Path,
    store: str | Path,
    plan: ReweightPlan,
    matrix_element: MatrixElement,
    *,
    cards: Mapping[str, str] | None = None,
    sample_id: str = "",
    shard_id: str | None = None,
    lhe_weights: bool = False,
    chunk_size: int = 10_000,
    holdout_tolerance: float = DEFAULT_HOLDOUT_TOLERANCE,
) -> PluginReport:
    """Reweight a run's events in one pass and write the event store (and LHE weights).

    Parameters
    ----------
    events : str or Path
        The run's LHE file.
    store : str or Path
        Event store to create (atomically); must not exist.
    plan : ReweightPlan
        Parameters, basis and extra points.
    matrix_element : MatrixElement
        Evaluates helicity-summed |M|² in double precision.
    cards : mapping, optional
        Card texts recorded in ``/meta/cards`` besides those in the LHE header.
    sample_id, shard_id : str
        Provenance; the shard id defaults to the events' directory name.
    lhe_weights : bool
        Also add ``<rwgt>`` weights of all points to the LHE file (replaced atomically, after
        the store is complete).
    chunk_size : int
        Events per chunk.
    holdout_tolerance : float
        Largest accepted held-out deviation relative to the event's largest weight.

    Returns
    -------
    PluginReport

    Raises
    ------
    StoreExistsError
        If ``store`` exists (nothing is computed and nothing is changed).
    WeightError
        Non-finite or negative |M|², a zero |M|² at the generation point, held-out points off
        the quadratic, or a parameter on which no event depends (all its coefficients zero).
    ConfigError
        A point id is already a weight id of the LHE file.
    LheFormatError
        Unreadable events, or an ``event_norm`` other than average or sum.
    """
    started = time.perf_counter()
    events, store = Path(events), Path(store)
    if store.exists():
        raise StoreExistsError(
            f"{store} exists: this run was already reweighted by madsbi; move the store away "
            "or reweight into a new run (nothing was changed)"
        )
    points = _distinct_points(plan)
    names = ["<param card>"] + [""] * (len(points.changes) - 1)
    for pid, col in zip(plan.point_ids, points.column, strict=True):
        names[col] = pid if col else names[col]
    n, k = plan.space.n_parameters, plan.basis.n_points
    extra_phi = polynomial_features_reference(plan.extra_thetas, plan.space.theta0_array)
    checks = [
        HoldoutCheck(pid, tuple(float(v) for v in theta))
        for pid, theta in zip(plan.extra_ids, plan.extra_thetas, strict=True)
    ]
    seconds_me = 0.0
    dependence = np.zeros(n)
    all_weights: list[FloatArray] = []
    with LheFile(events) as lhe:
        header = lhe.header
        clash = sorted(set(plan.point_ids) & set(header.weight_ids))
        if clash:
            raise ConfigError(
                f"point ids {clash} are already weight ids of {events}; rename the points"
            )
        run = parse_run_card(header.run_card)
        norm = run.get("event_norm", "average").lower()
        if norm not in ("average", "sum"):
            raise LheFormatError(
                f"{events}: run card event_norm = {norm!r}; madsbi needs 'average' or 'sum'"
            )
        card_text = ParamCard.parse(header.param_card).text
        all_cards = {
            "proc_card": header.proc_card,
            "run_card": header.run_card,
            "param_card": card_text,
            **dict(cards or {}),
        }
        meta = StoreMeta(
            space=plan.space,
            basis_ids=plan.basis_ids,
            basis_points=plan.basis.points,
            process=process_description(header.proc_card),
            mg5_version=header.mg5_version,
            sample_id=sample_id,
            cards={key: v for key, v in all_cards.items() if v},
            attributes={
                "generator": "madsbi reweight plugin (reweight=madsbi)",
                "matrix_element": "helicity-summed, double precision",
            },
            theta_gen=plan.card_theta,
        )
        writer = StoreWriter(store, meta)
        lhe_tmp = temporary_path(events) if lhe_weights else None
        try:
            with writer:
                n_file = 0
                for chunk in lhe.chunks(chunk_size):
                    n_file = chunk.start + chunk.n_events
                    _check_event_weights(chunk)
                    tick = time.perf_counter()
                    me = np.asarray(matrix_element.evaluate(chunk, points.changes), np.float64)
                    seconds_me += time.perf_counter() - tick
                    if me.shape != (chunk.n_events, len(points.changes)):
                        raise WeightError(
                            f"matrix element returned shape {me.shape}, expected "
                            f"{(chunk.n_events, len(points.changes))}"
                        )
                    _check_me(me, chunk, names)
                    ratio = me[:, points.column] / me[:, :1]
                    weights = chunk.arrays["weight"][:, None] * ratio
                    coefficients = plan.basis.coefficients(weights[:, :k])
                    check_reference_weights(
                        coefficients,
                        chunk.arrays["weight"][:, None],
                        chunk.start,
                        plan.space.theta0,
                        str(events),
                        "the generation point (param card)",
                    )
                    dependence = np.maximum(dependence, _dependence(coefficients, n))
                    largest = np.abs(weights).max(axis=1)
                    predicted = coefficients @ extra_phi.T
                    for j, check in enumerate(checks):
                        check.add(predicted[:, j], weights[:, k + j], largest)
                    arrays = {key: v for key, v in chunk.arrays.items() if key != "rwgt"}
                    arrays["coefficients"] = coefficients
                    arrays["rwgt"] = weights
                    writer.append(schema.PARTON, arrays, names={"rwgt": plan.point_ids})
                    all_weights.append(weights)
                if writer.n_events() == 0:
                    raise LheFormatError(f"{events}: no events")
                if norm == "sum":
                    writer.rescale(schema.PARTON, ("weight", "coefficients", "rwgt"), n_file)
                for check in checks:
                    check.finish()
                    if check.max_rel_to_largest > holdout_tolerance:
                        raise WeightError(
                            f"held-out point '{check.weight_id}' θ = {check.theta}: the basis "
                            f"coefficients miss its weights by up to "
                            f"{check.max_rel_to_largest:.3g} of the event's largest weight "
                            f"(tolerance {holdout_tolerance:g}); the weights are not a quadratic "
                            "in the parameters (more than one EFT insertion per amplitude?)"
                        )
                flat = [
                    p.name
                    for i, p in enumerate(plan.space.parameters)
                    if dependence[i] <= ZERO_COEFFICIENT
                ]
                if flat:
                    raise WeightError(
                        f"parameters {flat}: all their coefficients are zero in the "
                        f"{writer.n_events()} events; the process does not depend on them "
                        "(not in the generated diagrams, or removed by the model restriction)"
                    )
                if lhe_tmp is not None:
                    descriptions = [
                        card_description(plan, theta, plan.card_theta)
                        for theta in plan.point_thetas
                    ]
                    write_weighted_lhe(
                        events, lhe_tmp, plan.point_ids, descriptions, _iterate(all_weights)
                    )
                report = PluginReport(
                    events=str(events),
                    store=str(store),
                    n_events=writer.n_events(),
                    parameters=plan.space.names,
                    theta0=plan.space.theta0,
                    theta_gen=plan.card_theta,
                    basis_ids=plan.basis_ids,
                    basis_points=tuple(tuple(map(float, p)) for p in plan.basis.points),
                    condition_number=plan.basis.condition_number,
                    extra_ids=plan.extra_ids,
                    holdouts=tuple(c.to_dict() for c in checks),
                    n_matrix_element_points=len(points.changes),
                    lhe_weights=lhe_weights,
                    seconds_matrix_element=seconds_me,
                    seconds=time.perf_counter() - started,
                )
                seed_text = run.get("iseed", "-1")
                writer.set_shards(
                    (
                        ShardInfo(
                            shard_id=shard_id or events.parent.name,
                            n_events=writer.n_events(),
                            seed=int(seed_text) if seed_text.lstrip("-").isdigit() else -1,
                            source=events.name,
                            report=report.to_json(),
                        ),
                    )
                )
        except BaseException:
            if lhe_tmp is not None:
                lhe_tmp.unlink(missing_ok=True)
            raise
    if lhe_tmp is not None:
        os.replace(lhe_tmp, events)
    return report


def _iterate(chunks: list[FloatArray]) -> Iterator[FloatArray]:
    yield from chunks


def relative_difference(a: FloatArray, b: FloatArray) -> float:
    """Largest |a − b| / |b| over entries with b ≠ 0 (for tests and benchmarks)."""
    mask = b != 0
    return float(np.max(np.abs(a[mask] - b[mask]) / np.abs(b[mask]))) if mask.any() else 0.0


__all__ = [
    "DEFAULT_HOLDOUT_TOLERANCE",
    "MatrixElement",
    "PluginReport",
    "card_description",
    "relative_difference",
    "run_reweighting",
]
