"""The profile log-likelihood over the nuisance parameters, for every θ of a grid at once.

For a :class:`~madsbi.inference.model.LikelihoodModel` with modifiers α = (α_1 … α_k), the
profile likelihood at θ is max_α log r_full(θ, α) (module docstring of
:mod:`madsbi.inference.model`). It is found per θ point and member by a damped Newton
iteration vectorised over all points: every step evaluates the value, gradient and Hessian in
α analytically for all points together (no optimiser call per point), solves the k × k
systems in one batch, and backtracks where a full step would not increase the likelihood.
The Hessian is made negative definite by flipping and flooring its eigenvalues, so every step
ascends even where the interpolated shape factors make the objective locally convex.

Two forms, chosen by the model's structure:

- **Separable** (one component, or several with modifiers that act alike on all: no per-event
  factor — the luminosity — or the same factors r(x_e|α) and η(α) for every component — a
  shape with ``acts_alike``, :data:`.modifiers.shape.ALL_COMPONENTS` — which factor out of the
  mixture, D_e(θ, α) = r(x_e|α) η(α) D_e(θ, 0)): log r(x_e|α) enters every event additively
  and independently of θ, so the event sums split into the stat-only scan plus sums that do
  not depend on θ,

      log r_full(θ, α) = log r_full(θ, 0) + Σ_k E_k(α_k) + n K(α) − ν(θ) (e^{K(α)} − 1)
                         + Σ_k log π_k(α_k),

  K = Σ_k log η_k(α_k), E_k = Σ_e w_e log r_k(x_e|α_k) (two numbers per shape modifier, see
  :mod:`.modifiers.interpolation`), ν(θ) = Σ_c ν_c0 ρ_P,c(θ). The stat-only part is the
  compiled scan, computed once; the profile adds only O(G k²) work per Newton step, and at
  α = 0 the value is the stat-only one bit for bit.
- **Rate-separable** (:mod:`madsbi.inference.profile_rates`: besides modifiers alike on all
  components, normalisations of some components only, without per-event factors): the event
  sums depend on α through the alike shapes' sums and the components' factors η_c(α), at
  O(C N G) per Newton step.
- **General** (several components with per-event factors of some components only): the
  mixture densities of the components are formed per chunk of θ points (as
  :meth:`LikelihoodModel.log_likelihood` does), and every Newton step sums over the events.

Fixed nuisances (``fixed``) stay at their values; the others are profiled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from madsbi._validate import BoolArray, FloatArray, as_float_array, as_grid
from madsbi.errors import InputError
from madsbi.inference.model import LikelihoodModel
from madsbi.inference.modifiers.interpolation import Terms
from madsbi.inference.newton import TOLERANCE, Objective, newton_maximise
from madsbi.inference.profile_rates import acts_alike_or_on_rates, rate_separable_objective


class ProfiledModifier(Protocol):
    """A modifier's terms vectorised over α with their derivatives (for the profile)."""

    @property
    def name(self) -> str:
        """The nuisance parameter's name."""

    def acts_on(self, component: str) -> bool:
        """Whether η_c depends on α."""

    def has_event_factors(self, component: str) -> bool:
        """Whether r_c(x|α) depends on α."""

    def log_rate_terms(self, component: str, alpha: FloatArray) -> Terms:
        """Log η_c(α) and its first two derivatives, of α's shape."""

    def event_log_terms(self, component: str, alpha: FloatArray) -> Terms | None:
        """Log r_c(x_e|α) and derivatives, (M, N, G) for α (M, G); None without factors."""

    def event_sum_terms(self, component: str, weights: FloatArray, alpha: FloatArray) -> Terms:
        """Σ_e w_e log r_c(x_e|α) and derivatives, of α's shape."""

    def constraint_terms(self, alpha: FloatArray) -> Terms:
        """Log π(α) and its first two derivatives."""


@dataclass(frozen=True, eq=False)
class ProfileResult:
    """The profile over the nuisances at G θ points for M members.

    Attributes
    ----------
    thetas : (G, n)
    log_likelihood : (M, G)
        max over the free α of log r_full(θ, α).
    alphas : (M, G, k)
        α̂(θ) in the order of ``names`` (fixed ones at their values).
    names : tuple of str
        The modifiers' names.
    converged : (M, G)
        Points whose Newton iteration met the tolerance.
    """

    thetas: FloatArray
    log_likelihood: FloatArray
    alphas: FloatArray
    names: tuple[str, ...]
    converged: BoolArray

    def nuisances(self, point: int = 0, member: int = 0) -> dict[str, float]:
        """α̂ at one point, by name."""
        return dict(zip(self.names, self.alphas[member, point].tolist(), strict=True))


def _modifiers(model: LikelihoodModel) -> list[ProfiledModifier]:
    needed = (
        "acts_on", "has_event_factors", "log_rate_terms", "event_log_terms", "event_sum_terms",
        "constraint_terms",
    )  # fmt: skip
    for m in model.modifiers:
        missing = [a for a in needed if not hasattr(m, a)]
        if missing:
            raise InputError(
                f"modifier {m.name!r}: cannot be profiled, it lacks {missing} "
                "(madsbi.inference.profile.ProfiledModifier)"
            )
    return list(model.modifiers)  # type: ignore[arg-type]


def is_separable(model: LikelihoodModel) -> bool:
    """Whether the event sums split off α (the separable form of the module docstring).

    With several components every modifier must act on all or on none, and one with per-event
    factors must declare them identical for every component (an ``acts_alike`` attribute that
    is true, as :class:`~madsbi.inference.modifiers.EventShape` with
    :data:`~madsbi.inference.modifiers.shape.ALL_COMPONENTS`).
    """
    if len(model.components) == 1:
        return True
    names = [c.name for c in model.components]
    for m in _modifiers(model):
        if len({m.acts_on(c) for c in names}) != 1:
            return False
        events = {m.has_event_factors(c) for c in names}
        if events == {False}:
            continue
        if len(events) != 1 or not getattr(m, "acts_alike", False):
            return False
    return True


def is_rate_separable(model: LikelihoodModel) -> bool:
    """Whether the rate-separable form applies (:mod:`madsbi.inference.profile_rates`).

    Every modifier either has no per-event factors (a normalisation, on any components) or
    the same ones for every component (``acts_alike``).
    """
    names = [c.name for c in model.components]
    return all(acts_alike_or_on_rates(m, names) for m in _modifiers(model))


def _free_index(
    names: Sequence[str], fixed: Mapping[str, float] | None
) -> tuple[list[int], FloatArray]:
    given = dict(fixed or {})
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise InputError(f"fixed: {unknown} are not nuisances of the model ({list(names)})")
    values = np.zeros(len(names))
    for i, name in enumerate(names):
        if name in given:
            value = float(given[name])
            if not np.isfinite(value):
                raise InputError(f"fixed: {name} must be finite, got {given[name]!r}")
            values[i] = value
    return [i for i, name in enumerate(names) if name not in given], values


def _n_and_weights(model: LikelihoodModel) -> tuple[float, FloatArray]:
    w = np.ones(model.n_events) if model.weights is None else model.weights
    sum_w = float(w.sum())
    return (sum_w if model.n_observed is None else float(model.n_observed)), w


def _poisson_rates(model: LikelihoodModel, grid: FloatArray) -> list[FloatArray]:
    """ν_c0 ρ_P,c(θ) (M, G) per component."""
    members, g = model.components[0].n_members, grid.shape[0]
    out = []
    for c in model.components:
        phi = c.features(grid)
        rate = c.rate if c.poisson_rate is None else c.poisson_rate
        out.append(c.expected_events0 * np.broadcast_to(rate.ratio(phi), (members, g)))
    return out


def total_expected_events(model: LikelihoodModel, thetas: Any) -> FloatArray:
    """ν(θ) = Σ_c ν_c0 ρ_P,c(θ) at α = 0, per member and θ point (M, G)."""
    result: FloatArray = np.sum(_poisson_rates(model, as_grid(thetas)), axis=0)
    return result


def separable_objective(model: LikelihoodModel, expected_events: Any) -> Objective:
    """The α-dependent part of the separable form at given ν(θ) values (P,) (flattened).

    Log r_full(θ, α) − log r_full(θ, 0) depends on θ only through ν(θ) in the separable form
    (module docstring), so its profile can be taken at any ν, grid point or not (the coverage
    toys of :mod:`madsbi.analysis.coverage_toys` tabulate it in ν).

    Raises
    ------
    InputError
        A model that is not separable (:func:`is_separable`).
    """
    if not is_separable(model):
        raise InputError("separable_objective: the model's event sums do not split off α")
    nu = np.asarray(expected_events, dtype=np.float64).reshape(-1)
    n, w = _n_and_weights(model)
    modifiers = _modifiers(model)
    first = model.components[0].name

    def objective(alpha: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        p, k = alpha.shape
        kappa = np.zeros((3, p, k))
        extra = np.zeros((3, p, k))
        for i, m in enumerate(modifiers):
            a = alpha[:, i]
            kappa[:, :, i] = m.log_rate_terms(first, a)
            extra[:, :, i] = m.constraint_terms(a)
            # E_k: zeros without per-event factors; the same for every component otherwise.
            extra[:, :, i] += np.asarray(m.event_sum_terms(first, w, a))
        big_k = kappa[0].sum(axis=1)
        scale = nu * np.expm1(big_k)
        slope = n - nu * np.exp(big_k)
        value = extra[0].sum(axis=1) + n * big_k - scale
        grad = extra[1] + slope[:, None] * kappa[1]
        hess = -(nu * np.exp(big_k))[:, None, None] * kappa[1][:, :, None] * kappa[1][:, None, :]
        diag = extra[2] + slope[:, None] * kappa[2]
        hess[:, np.arange(k), np.arange(k)] += diag
        return value, grad, hess

    return objective


def _separable(model: LikelihoodModel, grid: FloatArray) -> tuple[FloatArray, Objective]:
    """Log r_full(θ, 0) (M, G) and the objective of the α-dependent part (flattened M·G)."""
    base = model.log_likelihood(grid)
    nu = total_expected_events(model, grid).reshape(-1)
    return base, separable_objective(model, nu)


def _mixture_base(model: LikelihoodModel, grid: FloatArray) -> list[FloatArray]:
    """Each component's per-event b_ce (M, N, G) at α = 0: share × ratio × ρ_P/ρ̂."""
    members, g = model.components[0].n_members, grid.shape[0]
    base = []
    for c in model.components:
        phi = c.features(grid)
        rho_hat = np.broadcast_to(c.rate.ratio(phi), (members, g))
        rho_p = rho_hat if c.poisson_rate is None else c.poisson_rate.ratio(phi)
        if not ((rho_hat > 0).all() and (rho_p > 0).all()):
            raise InputError(
                f"component {c.name!r}: σ(θ)/σ(θ0) is not positive at every grid point"
            )
        share = 1.0 if c.event_fractions is None else c.event_fractions[None, :, None]
        r = np.einsum("mnk,gk->mng", c.coefficients, phi)
        base.append(share * r * (rho_p / rho_hat)[:, None, :])
    return base


def _blockwise(model: LikelihoodModel, grid: FloatArray) -> Objective:
    """The objective of a non-separable model at ``grid``: rate-separable or general."""
    n, w = _n_and_weights(model)
    base, nus = _mixture_base(model, grid), _poisson_rates(model, grid)
    if is_rate_separable(model):
        return rate_separable_objective(model, _modifiers(model), base, nus, n, w)
    return _general(model, grid, base, nus)


def _general(
    model: LikelihoodModel,
    grid: FloatArray,
    base: list[FloatArray] | None = None,
    nus: list[FloatArray] | None = None,
) -> Objective:
    """The objective of the full mixture at the points of ``grid`` (flattened M·G)."""
    base = _mixture_base(model, grid) if base is None else base
    nus = _poisson_rates(model, grid) if nus is None else nus
    members, g = model.components[0].n_members, grid.shape[0]
    n, w = _n_and_weights(model)
    sum_w = float(w.sum())
    nu0 = model.expected_events0
    modifiers = _modifiers(model)

    def objective(alpha: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        k = alpha.shape[1]
        a = alpha.reshape(members, g, k)
        density = np.zeros((members, model.n_events, g))
        parts, slopes, curves = [], [], []
        nu = np.zeros((members, g))
        nu_1 = np.zeros((members, g, k))
        nu_2 = np.zeros((members, g, k, k))
        for c, b, nu_c in zip(model.components, base, nus, strict=True):
            lam = np.zeros((3, k, members, model.n_events, g))
            kap = np.zeros((3, k, members, g))
            for i, m in enumerate(modifiers):
                kap[:, i] = m.log_rate_terms(c.name, a[..., i])
                terms = m.event_log_terms(c.name, a[..., i])
                if terms is not None:
                    lam[:, i] = terms
            lam += kap[:, :, :, None, :]
            part = b * np.exp(lam[0].sum(axis=0))
            density += part
            parts.append(part)
            slopes.append(lam[1])
            curves.append(lam[2])
            nu_k = nu_c * np.exp(kap[0].sum(axis=0))
            d1 = np.moveaxis(kap[1], 0, -1)
            nu += nu_k
            nu_1 += nu_k[..., None] * d1
            nu_2 += nu_k[..., None, None] * d1[..., :, None] * d1[..., None, :]
            nu_2[..., np.arange(k), np.arange(k)] += nu_k[..., None] * np.moveaxis(kap[2], 0, -1)
        good = density > 0
        safe = np.where(good, density, 1.0)
        with np.errstate(divide="ignore"):
            logs = np.where(good, np.log(safe), -np.inf)
        grad = np.zeros((members, g, k))
        hess = np.zeros((members, g, k, k))
        mean = np.zeros((k, members, model.n_events, g))
        for part, s1, s2 in zip(parts, slopes, curves, strict=True):
            p = part / safe
            mean += p * s1
            ps1 = p * s1
            hess += np.einsum("n,imng,jmng->mgij", w, ps1, s1)
            hess[..., np.arange(k), np.arange(k)] += np.einsum("n,imng->mgi", w, p * s2)
        grad += np.einsum("n,imng->mgi", w, mean)
        hess -= np.einsum("n,imng,jmng->mgij", w, mean, mean)
        ratio = (n - sum_w) / nu - 1.0
        value = np.einsum("n,mng->mg", w, logs) + (n - sum_w) * np.log(nu / nu0) - (nu - nu0)
        grad += ratio[..., None] * nu_1
        hess += ratio[..., None, None] * nu_2
        hess -= ((n - sum_w) / nu**2)[..., None, None] * nu_1[..., :, None] * nu_1[..., None, :]
        for i, m in enumerate(modifiers):
            c0, c1, c2 = m.constraint_terms(a[..., i])
            value = value + c0
            grad[..., i] += c1
            hess[..., i, i] += c2
        return value.reshape(-1), grad.reshape(-1, k), hess.reshape(-1, k, k)

    return objective


def _chunks(model: LikelihoodModel, g: int, k: int) -> int:
    size = model.n_events * model.components[0].n_members * len(model.components) * (2 * k + 3)
    return max(1, int(2**23 // max(1, size)))


def profile_log_likelihood(
    model: LikelihoodModel,
    thetas: Any,
    *,
    fixed: Mapping[str, float] | None = None,
    tolerance: float = TOLERANCE,
    max_iterations: int = 50,
) -> ProfileResult:
    """Max over the nuisances of log r_full(θ, α), per member and θ point.

    Parameters
    ----------
    model : LikelihoodModel
        Its modifiers must give the vectorised terms of :class:`ProfiledModifier`
        (:mod:`madsbi.inference.modifiers` do).
    thetas : (G, n)
    fixed : mapping, optional
        Nuisances held at the given values (the others are profiled from α = 0).

    Returns
    -------
    ProfileResult
        With no modifier (or all fixed at 0) the log-likelihood is the stat-only one
        (:meth:`LikelihoodModel.log_likelihood`) bit for bit in the separable form.

    Raises
    ------
    InputError
        ``fixed`` names an unknown nuisance or a non-finite value; a rate not positive.
    """
    grid = as_grid(thetas)
    names = tuple(m.name for m in model.modifiers)
    free, values = _free_index(names, fixed)
    members, g, k = model.components[0].n_members, grid.shape[0], len(names)
    start = np.broadcast_to(values, (members * g, k))
    if is_separable(model):
        base, objective = _separable(model, grid)
        alpha, gain, done = newton_maximise(
            objective, start, free, tolerance=tolerance, max_iterations=max_iterations
        )
        total = base + gain.reshape(members, g)
        return ProfileResult(
            grid, total, alpha.reshape(members, g, k), names, done.reshape(members, g)
        )
    total = np.empty((members, g))
    alphas = np.empty((members, g, k))
    converged = np.empty((members, g), dtype=bool)
    chunk = _chunks(model, g, k)
    for g0 in range(0, g, chunk):
        block = grid[g0 : g0 + chunk]
        b = block.shape[0]
        alpha, value, done = newton_maximise(
            _blockwise(model, block),
            start[: members * b],
            free,
            tolerance=tolerance,
            max_iterations=max_iterations,
        )
        total[:, g0 : g0 + b] = value.reshape(members, b)
        alphas[:, g0 : g0 + b] = alpha.reshape(members, b, k)
        converged[:, g0 : g0 + b] = done.reshape(members, b)
    return ProfileResult(grid, total, alphas, names, converged)


def log_likelihood_at(model: LikelihoodModel, thetas: Any, alphas: Any) -> FloatArray:
    """Log r_full(θ_g, α_g) (M, G) with a nuisance vector per point, α (G, k) or (M, G, k).

    The columns of α follow ``model.modifiers``; for a Hessian in (θ, α) jointly.
    """
    grid = as_grid(thetas)
    members, g, k = model.components[0].n_members, grid.shape[0], len(model.modifiers)
    a = as_float_array(alphas, "alphas")
    if a.shape not in ((g, k), (members, g, k)):
        raise InputError(f"alphas: expected ({g}, {k}) or ({members}, {g}, {k}), got {a.shape}")
    flat = np.broadcast_to(a, (members, g, k)).reshape(-1, k)
    if is_separable(model):
        base, objective = _separable(model, grid)
        return base + objective(flat)[0].reshape(members, g)
    out = np.empty((members, g))
    chunk = _chunks(model, g, k)
    per_member = flat.reshape(members, g, k)
    for g0 in range(0, g, chunk):
        block = grid[g0 : g0 + chunk]
        b = block.shape[0]
        part = per_member[:, g0 : g0 + b].reshape(-1, k)
        out[:, g0 : g0 + b] = _blockwise(model, block)(part)[0].reshape(members, b)
    return out


def profiled_log_likelihoods(
    models: Sequence[LikelihoodModel], fixed: Mapping[str, float] | None = None
) -> list[Callable[[FloatArray], FloatArray]]:
    """θ points (G, n) → profile log r_full (G,) of the first member of each model."""

    def first(model: LikelihoodModel) -> Callable[[FloatArray], FloatArray]:
        def ll(thetas: FloatArray) -> FloatArray:
            result = profile_log_likelihood(model, thetas, fixed=fixed)
            values: FloatArray = result.log_likelihood[0]
            return values

        return ll

    return [first(m) for m in models]
