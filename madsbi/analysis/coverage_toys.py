"""The coverage toys of a likelihood model: dense stat-only scans and per-toy profiles.

A toy is a vector of counts N[t, e] over a pool of events (every process's events at θ_true,
:mod:`madsbi.analysis.coverage`). For counted data (w_e = 1, n = Σ w) the likelihood model of
:mod:`madsbi.inference.model` without modifiers is, for any number of components,

    log r_full(θ) = Σ_e N[t, e] log D_e(θ) − (ν(θ) − ν0),
    D_e(θ) = Σ_c f_c(x_e) κ_c(θ) C^c_e·Φ_c(θ),   κ_c = ρ_P,c/ρ̂_c,   ν(θ) = Σ_c ν_c0 ρ_P,c(θ).

D_e is one dot product in the stacked basis C'_e = (f_c C^c_e)_c, Φ'(θ) = (κ_c Φ_c(θ))_c, and
ν(θ)/ν0 = s'·Φ' with s' = (ν_c0/ν0 s_c)_c (ρ̂_c = s_c·Φ_c), so :func:`stacked_form` turns every
mixture — collapsible or not, the split form of one component (ρ_P ≠ ρ̂) included — into the
input of the dense coverage kernel (:func:`madsbi.inference.dense.toy_statistics`) unchanged.

With nuisances every toy also draws its global observables: the centres a_k of the unit
Gaussian constraints, a_k ~ N(0, 1) (data at the nominal α = 0, the auxiliary measurement
randomised; :class:`ToyModifier`), and the profile over α is taken per toy.
:func:`profiled_q` finds each toy's maximum over the grid without profiling every point:

- **separable** models (one component, or modifiers acting alike on all components, shapes
  with the same per-event factors on all included:
  :func:`madsbi.inference.profile.is_separable`): the profile adds to the stat-only value a
  gain that depends on θ only through ν(θ), gain_t(ν) = max_α [h_t(α) − ν (e^{K(α)} − 1)], a
  maximum of functions affine in ν, hence convex. Tabulated at nodes in ν, its chords bound it
  from above, so score = stat-only + chord is an upper bound on the profile at every grid
  point. The points are profiled in descending score, in batches (the first K, then doubling)
  until the next score does not exceed the best profile value found: that value is then the
  maximum over the whole grid (certified). The streamed scan keeps the top K scores; a toy
  that profiles all of them without a certificate is streamed again with K × 8, its profiled
  values kept;
- **other** models: the top-K points of the stat-only scan are profiled, then a hill climb
  over grid neighbours of the best (not certified; tested against the full profile).

:func:`reference_q` is the plain per-toy computation (every grid point, NumPy model, full
profile) that the tests compare both against.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from madsbi._validate import BoolArray, FloatArray, IntArray
from madsbi.errors import InputError
from madsbi.inference.dense import DenseBackend, toy_log_likelihoods
from madsbi.inference.model import LikelihoodModel
from madsbi.inference.modifiers.interpolation import Terms, gaussian_constraint
from madsbi.inference.newton import newton_maximise
from madsbi.inference.profile import (
    is_separable,
    profile_log_likelihood,
    separable_objective,
    total_expected_events,
)
from madsbi.inference.rate import RateModel
from madsbi.inference.stacked import stacked_basis

#: Nodes in ν of the table of each toy's profile gain (the chords' error ∝ spacing²).
GAIN_NODES = 257
#: Added to the chord bound: the Newton tolerance and the rounding between the dense sums and
#: the compiled scan of the exact profile.
SLACK = 1e-7


@dataclass(frozen=True, eq=False)
class StackedForm:
    """A mixture as one dot product per (event, θ) (module docstring).

    Attributes
    ----------
    coefficients : (N, K')
    features : (G, K')
    rate : RateModel
        ν(θ)/ν0 = s'·Φ'(θ), one row.
    expected_events0 : float
    """

    coefficients: FloatArray
    features: FloatArray
    rate: RateModel
    expected_events0: float


def stacked_form(model: LikelihoodModel, thetas: FloatArray) -> StackedForm:
    """The stacked basis of the model's first member on the grid ``thetas`` (G, n), at α = 0.

    One implementation with the likelihood model's compiled mixtures:
    :func:`madsbi.inference.stacked.stacked_basis`.

    Raises
    ------
    InputError
        A rate that is not positive on the grid.
    """
    basis = stacked_basis(model, thetas)
    coefficients, features, rate = basis.member(0)
    return StackedForm(
        np.ascontiguousarray(coefficients),
        np.ascontiguousarray(features),
        RateModel(rate[None, :].copy()),
        basis.expected_events0,
    )


@dataclass(frozen=True, eq=False)
class ToyModifier:
    """A modifier seen by one toy: its events only, its constraint centred on a_k.

    ``index`` picks the toy's events from the pool (None: all); log π(α) = −(α − a)²/2.
    """

    base: Any
    index: IntArray | None
    centre: float
    n_pool: int

    @property
    def name(self) -> str:
        """The nuisance parameter's name."""
        return str(self.base.name)

    def rate_factor(self, component: str, alpha: float) -> float:
        """η_c(α) of the base."""
        return float(self.base.rate_factor(component, alpha))

    def event_log_factors(self, component: str, alpha: float) -> FloatArray | None:
        """The base's log r_c(x_e|α) on the toy's events."""
        out = self.base.event_log_factors(component, alpha)
        if out is None or self.index is None:
            return out if out is None else np.asarray(out, dtype=np.float64)
        result: FloatArray = np.asarray(out, dtype=np.float64)[self.index]
        return result

    def log_constraint(self, alpha: float) -> float:
        """−(α − a)²/2."""
        return -0.5 * (alpha - self.centre) ** 2

    @property
    def acts_alike(self) -> bool:
        """As the base (False where it does not say): the same factors on every component."""
        return bool(getattr(self.base, "acts_alike", False))

    def acts_on(self, component: str) -> bool:
        """As the base."""
        return bool(self.base.acts_on(component))

    def has_event_factors(self, component: str) -> bool:
        """As the base."""
        return bool(self.base.has_event_factors(component))

    def log_rate_terms(self, component: str, alpha: FloatArray) -> Terms:
        """As the base."""
        result: Terms = self.base.log_rate_terms(component, alpha)
        return result

    def event_log_terms(self, component: str, alpha: FloatArray) -> Terms | None:
        """The base's per-event terms (M, N, G) on the toy's events."""
        terms: Terms | None = self.base.event_log_terms(component, alpha)
        if terms is None or self.index is None:
            return terms
        i = self.index
        sliced: Terms = (terms[0][:, i], terms[1][:, i], terms[2][:, i])
        return sliced

    def event_sum_terms(self, component: str, weights: FloatArray, alpha: FloatArray) -> Terms:
        """The base's weighted sums, the toy's weights scattered onto the pool."""
        w = np.asarray(weights, dtype=np.float64)
        if self.index is not None:
            full = np.zeros(self.n_pool)
            full[self.index] = w
            w = full
        result: Terms = self.base.event_sum_terms(component, w, alpha)
        return result

    def constraint_terms(self, alpha: FloatArray) -> Terms:
        """−(α − a)²/2 and its derivatives."""
        return gaussian_constraint(np.asarray(alpha, dtype=np.float64) - self.centre)


def toy_model(
    model: LikelihoodModel, counts: Any, centres: FloatArray | None = None
) -> LikelihoodModel:
    """The model of one toy: the pool model on the toy's events, weights = counts.

    ``centres`` (k,): the toy's global observables (the constraint centres, default 0).
    """
    n = np.asarray(counts)
    index = np.flatnonzero(n)
    comps = tuple(
        replace(
            c,
            coefficients=c.coefficients[:1, index],
            rate=RateModel(c.rate.coefficients[:1]),
            event_fractions=None if c.event_fractions is None else c.event_fractions[index],
        )
        for c in model.components
    )
    a = np.zeros(len(model.modifiers)) if centres is None else np.asarray(centres, np.float64)
    mods = tuple(
        ToyModifier(m, index, float(a[k]), model.n_events) for k, m in enumerate(model.modifiers)
    )
    return LikelihoodModel(comps, n[index].astype(np.float64), None, mods, model.backend)


def reference_q(
    model: LikelihoodModel,
    counts: Any,
    thetas: FloatArray,
    true_index: int,
    centres: FloatArray | None = None,
) -> FloatArray:
    """q(θ_true) per toy, plainly: the toy's model at every grid point (small grids only).

    Profiled at every point if the model has modifiers
    (:func:`madsbi.inference.profile.profile_log_likelihood`), else its stat-only value.
    """
    n = np.asarray(counts)
    q = np.empty(n.shape[0])
    for t in range(n.shape[0]):
        m = toy_model(model, n[t], None if centres is None else centres[t])
        if m.modifiers:
            ll = profile_log_likelihood(m, thetas).log_likelihood[0]
        else:
            ll = m.log_likelihood(thetas)[0]
        q[t] = max(0.0, -2.0 * (float(ll[true_index]) - float(ll.max())))
    return q


@dataclass(frozen=True, eq=False)
class ProfiledToys:
    """Per toy: q(θ_true) profiled and stat-only, the best grid index, the certificate."""

    q_profiled: FloatArray
    q_stat_only: FloatArray
    best_index: IntArray
    certified: BoolArray
    profiled_points: int


def _grid_chunks(g: int, chunk: int) -> list[tuple[int, int]]:
    return [(g0, min(g, g0 + chunk)) for g0 in range(0, g, chunk)]


def _gain_table(
    model: LikelihoodModel, counts: Any, centres: FloatArray, nodes: FloatArray
) -> FloatArray:
    """gain_t(ν) at the nodes (T, M): the profiled minus the stat-only value."""
    k = len(model.modifiers)
    out = np.empty((np.shape(counts)[0], nodes.size))
    for t in range(out.shape[0]):
        objective = separable_objective(toy_model(model, counts[t], centres[t]), nodes)
        _, value, _ = newton_maximise(objective, np.zeros((nodes.size, k)), range(k))
        out[t] = value
    return out


def _stream_top(
    form: StackedForm,
    counts: Any,
    score_extra: Any,
    keep: int,
    true_index: int,
    chunk: int,
    backend: DenseBackend | None,
) -> tuple[FloatArray, IntArray, FloatArray, FloatArray]:
    """Top ``keep`` scores (T, keep) and their grid indices, the stat-only max and at θ_true."""
    n_toys, g = np.shape(counts)[0], form.features.shape[0]
    top_s = np.full((n_toys, 0), -np.inf)
    top_i = np.zeros((n_toys, 0), dtype=np.int64)
    stat_max = np.full(n_toys, -np.inf)
    stat_true = np.empty(n_toys)
    for g0, g1 in _grid_chunks(g, chunk):
        ll = toy_log_likelihoods(
            counts, form.coefficients, form.features[g0:g1], form.rate,
            expected_events0=form.expected_events0, backend=backend, grid_chunk=chunk,
        )  # fmt: skip
        stat_max = np.maximum(stat_max, ll.max(axis=1))
        if g0 <= true_index < g1:
            stat_true = ll[:, true_index - g0].copy()
        score = ll if score_extra is None else ll + score_extra(g0, g1)
        s = np.hstack([top_s, score])
        i = np.hstack([top_i, np.broadcast_to(np.arange(g0, g1), score.shape)])
        if s.shape[1] > keep:
            part = np.argpartition(-s, keep - 1, axis=1)[:, :keep]
            s, i = np.take_along_axis(s, part, 1), np.take_along_axis(i, part, 1)
        top_s, top_i = s, i
    order = np.argsort(-top_s, axis=1)
    return (
        np.take_along_axis(top_s, order, 1),
        np.take_along_axis(top_i, order, 1),
        stat_max,
        stat_true,
    )


def _neighbours(index: int, shape: tuple[int, ...]) -> list[int]:
    here = np.array(np.unravel_index(index, shape))
    out = []
    for step in np.ndindex(*(3,) * len(shape)):
        p = here + np.array(step) - 1
        if (p >= 0).all() and (p < np.array(shape)).all() and (p != here).any():
            out.append(int(np.ravel_multi_index(tuple(p), shape)))
    return out


def _chord(nodes: FloatArray, nu: FloatArray) -> tuple[IntArray, FloatArray]:
    """The node interval of every ν and its position in it (uniform nodes)."""
    h = float(nodes[1] - nodes[0])
    position = (nu - nodes[0]) / h
    j = np.clip(np.floor(position).astype(np.int64), 0, nodes.size - 2)
    return j, np.clip(position - j, 0.0, 1.0)


def _chord_bound(rows: FloatArray, j: IntArray, frac: FloatArray) -> Any:
    """(g0, g1) → the chords of the gain tables ``rows`` (T', M) at grid points g0 … g1 − 1."""

    def bound(g0: int, g1: int) -> FloatArray:
        jj, ff = j[g0:g1], frac[g0:g1]
        result: FloatArray = rows[:, jj] * (1 - ff) + rows[:, jj + 1] * ff + SLACK
        return result

    return bound


def _climb(
    toy: LikelihoodModel,
    thetas: FloatArray,
    shape: tuple[int, ...] | None,
    values: dict[int, float],
) -> None:
    """Profile the grid neighbours of the best point until it is a local maximum."""
    if shape is None:
        return
    best = max(values, key=values.__getitem__)
    while True:
        new = [p for p in _neighbours(best, shape) if p not in values]
        if not new:
            return
        found = profile_log_likelihood(toy, thetas[new]).log_likelihood[0]
        values.update(zip(new, found.tolist(), strict=True))
        top = max(values, key=values.__getitem__)
        if top == best:
            return
        best = top


def profiled_q(
    model: LikelihoodModel,
    thetas: FloatArray,
    true_index: int,
    counts: Any,
    centres: FloatArray,
    *,
    shape: tuple[int, ...] | None = None,
    top_k: int = 16,
    grid_chunk: int = 4096,
    backend: DenseBackend | None = None,
) -> ProfiledToys:
    """q(θ_true) of every toy with the nuisances profiled, and stat-only (module docstring).

    Parameters
    ----------
    model : LikelihoodModel
        The pool model (one member used) with its modifiers.
    thetas : (G, n)
        The grid; ``shape`` its points per axis (row-major) for the hill climb of
        non-separable models.
    counts : (T, N) int
        The toys.
    centres : (T, k)
        The global observables of every toy (constraint centres).
    top_k : int
        Points profiled per toy in the first round.

    Raises
    ------
    InputError
        No modifiers, ``centres`` of the wrong shape, ``top_k`` < 1.
    """
    n_toys, k = np.shape(counts)[0], len(model.modifiers)
    if k == 0 or np.shape(centres) != (n_toys, k):
        raise InputError(f"centres: expected ({n_toys}, {k}) with k ≥ 1, got {np.shape(centres)}")
    if top_k < 1:
        raise InputError(f"top_k: expected >= 1, got {top_k}")
    g = thetas.shape[0]
    form = stacked_form(model, thetas)
    separable = is_separable(model)
    table: FloatArray | None = None
    if separable:
        nu = total_expected_events(model, thetas)[0]
        lo, hi = float(nu.min()), float(nu.max())
        nodes = np.linspace(lo, max(hi, lo * (1 + 1e-9) + 1e-9), GAIN_NODES)
        table = _gain_table(model, counts, centres, nodes)
        j, frac = _chord(nodes, nu)
    q_prof, q_stat = np.empty(n_toys), np.empty(n_toys)
    best_index = np.empty(n_toys, dtype=np.int64)
    certified = np.zeros(n_toys, dtype=bool)
    pending, keep, first = np.arange(n_toys), top_k, True
    known: dict[int, dict[int, float]] = {}
    while pending.size:
        extra = None if table is None else _chord_bound(table[pending], j, frac)
        scores, index, stat_max, stat_true = _stream_top(
            form, counts[pending], extra, min(keep + 1, g), true_index, grid_chunk, backend
        )
        if first:
            q_stat[:] = np.maximum(-2.0 * (stat_true - stat_max), 0.0)
            first = False
        left = []
        for r, t in enumerate(pending):
            toy = toy_model(model, counts[t], centres[t])
            values = known.setdefault(int(t), {})
            if separable:
                if not _bound_and_profile(toy, thetas, scores[r], index[r], keep, top_k, values,
                                          true_index) and keep < g:  # fmt: skip
                    left.append(t)
                    continue
                certified[t] = True
            else:
                chosen = list(dict.fromkeys([*index[r, :keep].tolist(), true_index]))
                found = profile_log_likelihood(toy, thetas[chosen]).log_likelihood[0]
                values.update(zip(chosen, found.tolist(), strict=True))
                _climb(toy, thetas, shape, values)
            top = max(values, key=values.__getitem__)
            best_index[t] = top
            q_prof[t] = max(0.0, -2.0 * (values[true_index] - values[top]))
        pending, keep = np.asarray(left, dtype=np.int64), keep * 8
    points = sum(len(v) for v in known.values())
    return ProfiledToys(q_prof, q_stat, best_index, certified, points)


def _bound_and_profile(
    toy: LikelihoodModel,
    thetas: FloatArray,
    scores: FloatArray,
    index: IntArray,
    keep: int,
    batch: int,
    values: dict[int, float],
    true_index: int,
) -> bool:
    """Profile the top ``keep`` points in descending score until certified (module docstring).

    ``scores`` and ``index``: the streamed top scores (descending, ``keep`` + 1 of them where
    the grid has more) and their grid points; ``values``: the profiled values so far (updated).
    Returns whether the best value is certified as the maximum over the grid.
    """
    need = [true_index] if true_index not in values else []
    pos = 0
    while True:
        new = [p for p in index[pos : pos + batch].tolist() if p not in values] + need
        need = []
        if new:
            found = profile_log_likelihood(toy, thetas[new]).log_likelihood[0]
            values.update(zip(new, found.tolist(), strict=True))
        pos = min(pos + batch, keep)
        rest = float(scores[pos]) if scores.shape[0] > pos else -np.inf
        if rest <= max(values.values()):
            return True
        if pos >= keep:
            return False
        batch *= 2
