"""The likelihood model: the one home of eq. 49 (paper App. A).

Every estimator — derivative learning, morphing-aware learning, the exact parton-level truth,
the analytic toy — ends in one per-event form (docs/design.md):

    R(x_e|θ, θ0) = dσ(x_e|θ)/dσ(x_e|θ0) = C_e · Φ(θ),

with C_e (K,) per event and Φ(θ) (K,) per θ point (φ(θ − θ0) for the polynomial form, the
morphing weights a(θ) for the basis form). The rate enters as ρ(θ) = σ(θ)/σ(θ0) = s · Φ(θ).
With ν0 = K L σ(θ0) expected events (:func:`.expected_events`), n observed events of weights
w_e and S(θ) = Σ_e w_e log R(x_e|θ, θ0), the full log likelihood ratio is

    joint form:  log r_full(θ) = S(θ) − ν0 (ρ(θ) − 1) + (n − Σ_e w_e) log ρ(θ)       (eq. 49)

(the last term vanishes for an observed sample, w_e = 1, and for the Asimov-like sample,
w_e = ν0/N, where n = Σ w_e). When the Poisson factor takes another rate ρ_P(θ) than the
kinematic normalisation ρ̂(θ) = ⟨R̂⟩ (a learned R̂ normalised by its own mean, an exact or
pooled rate in the Poisson term), eq. 49 splits into its two factors:

    split form:  log r_full(θ) = S(θ) − Σ_e w_e log ρ̂(θ) + n log ρ_P(θ) − ν0 (ρ_P(θ) − 1).

With ρ_P = ρ̂ both forms agree. :class:`LikelihoodModel` holds everything the likelihood
needs: its *components* (processes: signal, and backgrounds), each with its per-event ratio on
the data, its rates and ν0; the data weights; and *modifiers* (nuisance parameters: one small
module per kind in :mod:`madsbi.inference.modifiers`). With several components the events
follow the mixture

    log r_full(θ, α) = Σ_e w_e log Σ_c f_c(x_e) [ν_c(θ, α)/ν_c0] R_c(x_e|θ) r_c(x_e|α)/ρ̂_c(θ)
                       − (ν(θ, α) − ν0) + Σ_k log π_k(α_k),

f_c(x_e) = ν_c0 p_c(x_e|θ0)/Σ_c' ν_c'0 p_c'(x_e|θ0) the share of component c in event e at
the reference point (paper App. D, eqs. 56–59), ν_c(θ, α) = ν_c0 ρ_P,c(θ) η_c(α), r_c(x|α)
the per-event factors and π_k the constraints of the modifiers. With one component and no
modifier this is the split form above. At given α the mixture's event term is one dot
product per event and θ in a stacked basis, so :meth:`LikelihoodModel.log_likelihood`
evaluates it by the compiled scan (:mod:`madsbi.inference.stacked`), as the one-component
form. The profile over α at every θ of a grid is
:func:`madsbi.inference.profile.profile_log_likelihood`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from madsbi._validate import FloatArray, as_float_array, as_grid
from madsbi.errors import InputError
from madsbi.inference.gridscan import GridScanResult, log_ratio_sums
from madsbi.inference.rate import RateModel
from madsbi.inference.stacked import stacked_basis, stacked_event_sums


def poisson_term(rate_ratio: FloatArray, expected_events0: float) -> FloatArray:
    """−ν0 (ρ(θ) − 1): the Poisson factor of eq. 49 without its log term (unit-weight toys)."""
    result: FloatArray = -(expected_events0 * (rate_ratio - 1.0))
    return result


def full_log_ratio(
    log_ratio_sum: FloatArray,
    sum_weights: float,
    rate_ratio: FloatArray,
    expected_events0: float,
    n_observed: float | None = None,
    poisson_rate_ratio: FloatArray | None = None,
) -> FloatArray:
    """Log r_full(θ) of eq. 49 from the event sum S(θ) and the rates (module docstring).

    Parameters
    ----------
    log_ratio_sum : (M, G)
        S(θ) = Σ_e w_e log R(x_e|θ, θ0).
    sum_weights : float
        Σ_e w_e.
    rate_ratio : (M, G)
        ρ̂(θ), the normalisation of the kinematic factor (and ρ of the joint form).
    expected_events0 : float
        ν0.
    n_observed : float, optional
        n (default Σ w_e).
    poisson_rate_ratio : (G,) or (M, G), optional
        ρ_P(θ) of the split form; None: the joint form.
    """
    n = sum_weights if n_observed is None else float(n_observed)
    if poisson_rate_ratio is None:
        joint: FloatArray = (
            log_ratio_sum
            - expected_events0 * (rate_ratio - 1.0)
            + (n - sum_weights) * np.log(rate_ratio)
        )
        return joint
    rho = poisson_rate_ratio
    if not (rho > 0).all():
        raise InputError("rate: σ(θ)/σ(θ0) is not positive at every grid point")
    split: FloatArray = (
        log_ratio_sum
        - sum_weights * np.log(rate_ratio)
        + n * np.log(rho)
        - expected_events0 * (rho - 1.0)
    )
    return split


@dataclass(frozen=True, eq=False)
class ScanResult:
    """A likelihood scan over G θ points for M members.

    Attributes
    ----------
    thetas : (G, n)
    log_ratio_sum : (M, G)
        S(θ) = Σ_e w_e log R(x_e|θ, θ0).
    rate_ratio : (M, G)
        ρ(θ) = σ(θ)/σ(θ0).
    sum_weights : float
        Σ_e w_e.
    n_clamped : (M, G)
        Pairs whose R was not positive (clamped; see :func:`log_ratio_sums`).
    """

    thetas: FloatArray
    log_ratio_sum: FloatArray
    rate_ratio: FloatArray
    sum_weights: float
    n_clamped: FloatArray

    def mean_log_ratio(self) -> FloatArray:
        """⟨log r(x|θ, θ0)⟩ = S/Σw − log ρ(θ), per member (M, G) (paper Figs. 2, 7)."""
        result: FloatArray = self.log_ratio_sum / self.sum_weights - np.log(self.rate_ratio)
        return result

    def log_full_ratio(
        self, expected_events0: float, n_observed: float | None = None
    ) -> FloatArray:
        """Log r_full(θ) of eq. 49 (joint form) per member (M, G); ν0 = L σ(θ0).

        ``n_observed`` defaults to Σ w_e (observed sample with unit weights, or the
        Asimov-like sample).
        """
        return full_log_ratio(
            self.log_ratio_sum, self.sum_weights, self.rate_ratio, expected_events0, n_observed
        )


def scan(
    coefficients: Any,
    features: Any,
    rate: RateModel,
    *,
    thetas: Any,
    weights: Any | None = None,
    log1p: bool = False,
    backend: str = "auto",
) -> ScanResult:
    """S(θ) and ρ(θ) over a grid for events with coefficients C (M, N, K) or (N, K).

    Parameters
    ----------
    coefficients : array_like (M, N, K) or (N, K)
        C_e per member.
    features : array_like (G, K)
        Φ(θ) at the grid points ``thetas``.
    rate : RateModel
        With one row (shared) or M rows.
    thetas : array_like (G, n)
        The grid points themselves (kept with the result).
    weights : array_like (N,), optional
    log1p : bool
        C_e0 = Φ_0 = 1 (derivative form): accumulate log1p of the rest.
    """
    c = as_float_array(coefficients, "coefficients")
    c3 = c[None] if c.ndim == 2 else c
    phi = as_float_array(features, "features")
    grid = as_grid(thetas)
    if grid.shape[0] != phi.shape[0]:
        raise InputError(
            f"thetas: expected {phi.shape[0]} points like features, got {grid.shape[0]}"
        )
    result: GridScanResult = log_ratio_sums(c3, phi, weights, log1p=log1p, backend=backend)
    sums = np.atleast_2d(result.sums)
    rho = rate.ratio(phi)
    if rho.shape[0] not in (1, sums.shape[0]):
        raise InputError(f"rate: {rho.shape[0]} members, the coefficients have {sums.shape[0]}")
    rho = np.broadcast_to(rho, sums.shape).copy()
    if not (rho > 0).all():
        raise InputError("rate: σ(θ)/σ(θ0) is not positive at every grid point")
    w_sum = float(c3.shape[1] if weights is None else np.sum(as_float_array(weights, "weights")))
    return ScanResult(grid, sums, rho, w_sum, np.atleast_2d(result.n_clamped).astype(float))


Features = Callable[[FloatArray], FloatArray]
"""θ points (G, n) → Φ(θ) (G, K) of a component's ratio form."""


def tabulated(thetas: Any, features: Any) -> Features:
    """The :data:`Features` of a fixed grid: Φ (G, K) given at the points ``thetas`` (G, n).

    For callers that hold Φ on one grid only (expected limits, coverage toys).
    """
    grid = as_grid(thetas)
    phi = as_float_array(features, "features", (grid.shape[0], None))

    def lookup(points: FloatArray) -> FloatArray:
        if points.shape != grid.shape or not np.array_equal(points, grid):
            raise InputError("thetas: these features are tabulated on another grid")
        return phi

    return lookup


class Modifier(Protocol):
    """A nuisance parameter α of the likelihood (pyhf's modifiers; :mod:`.modifiers`).

    A modifier scales the expected events of the components it acts on by η_c(α), may
    multiply their per-event ratios by r_c(x_e|α), and adds log π(α) (its constraint).
    """

    @property
    def name(self) -> str:
        """The nuisance parameter's name."""

    def rate_factor(self, component: str, alpha: float) -> float:
        """η_c(α): the factor on ν_c (1 for a component it does not act on)."""

    def event_log_factors(self, component: str, alpha: float) -> FloatArray | None:
        """Log r_c(x_e|α) per data event (N,), or None where it has no per-event factor."""

    def log_constraint(self, alpha: float) -> float:
        """Log π(α), 0 at the nominal value."""


@dataclass(frozen=True, eq=False)
class Component:
    """One process of the likelihood model.

    Attributes
    ----------
    name : str
    coefficients : (M, N, K)
        C_e of the N data events, per member (M = 1 for a central estimate or the truth).
    features : callable
        θ points (G, n) → Φ(θ) (G, K).
    rate : RateModel
        ρ̂(θ), the normalisation of the kinematic factor (1 or M rows).
    expected_events0 : float
        ν_c0 = F L σ_c(θ0) (:func:`.expected_events`).
    poisson_rate : RateModel, optional
        ρ_P(θ) of the Poisson factor (one row); None: ρ_P = ρ̂ (the joint form).
    log1p : bool
        C_e0 = Φ_0 = 1 (derivative form).
    event_fractions : (N,), optional
        f_c(x_e): the component's share of each data event at θ0 (several components only).
    """

    name: str
    coefficients: FloatArray
    features: Features
    rate: RateModel
    expected_events0: float
    poisson_rate: RateModel | None = None
    log1p: bool = False
    event_fractions: FloatArray | None = None

    @property
    def n_members(self) -> int:
        """M."""
        return int(self.coefficients.shape[0])


@dataclass(frozen=True, eq=False)
class LikelihoodModel:
    """Eq. 49 for given data: components, data weights, nuisance parameters.

    Build it with :meth:`single` for one process; :meth:`log_likelihood` gives log r_full(θ)
    relative to θ0 (and α = 0), per member.

    Attributes
    ----------
    components : tuple of Component
    weights : (N,), optional
        w_e of the data events (None: 1 each, counted data).
    n_observed : float, optional
        n of the Poisson term (default Σ w_e).
    modifiers : tuple of Modifier
    backend : str
        Of the compiled event sums (:func:`madsbi.inference.gridscan.log_ratio_sums`).
    """

    components: tuple[Component, ...]
    weights: FloatArray | None = None
    n_observed: float | None = None
    modifiers: tuple[Modifier, ...] = field(default=())
    backend: str = "auto"

    def __post_init__(self) -> None:
        if not self.components:
            raise InputError("components: a likelihood model needs at least one")
        n_events = {c.coefficients.shape[1] for c in self.components}
        if len(n_events) != 1:
            raise InputError(f"components: different numbers of data events {sorted(n_events)}")
        members = {c.n_members for c in self.components}
        if len(members) != 1:
            raise InputError(f"components: different numbers of members {sorted(members)}")
        if len(self.components) > 1:
            for c in self.components:
                f = c.event_fractions
                if f is None or f.shape != (self.n_events,):
                    raise InputError(
                        f"component {c.name!r}: several components need event_fractions of "
                        f"shape ({self.n_events},)"
                    )

    @classmethod
    def single(
        cls,
        coefficients: Any,
        features: Features,
        rate: RateModel,
        *,
        expected_events0: float,
        weights: Any | None = None,
        poisson_rate: RateModel | None = None,
        log1p: bool = False,
        n_observed: float | None = None,
        name: str = "signal",
        backend: str = "auto",
    ) -> LikelihoodModel:
        """One process: C (M, N, K) or (N, K) of the data events, Φ, ρ̂, ν0 and optionally ρ_P."""
        c = as_float_array(coefficients, "coefficients")
        c3 = c[None] if c.ndim == 2 else c
        if c3.ndim != 3:
            raise InputError(f"coefficients: expected (N, K) or (M, N, K), got {c.shape}")
        w = None if weights is None else as_float_array(weights, "weights")
        component = Component(
            name, c3, features, rate, float(expected_events0), poisson_rate, bool(log1p)
        )
        return cls((component,), w, n_observed, (), backend)

    @property
    def n_events(self) -> int:
        """N, the number of data events."""
        return int(self.components[0].coefficients.shape[1])

    @property
    def expected_events0(self) -> float:
        """ν0 = Σ_c ν_c0."""
        return float(sum(c.expected_events0 for c in self.components))

    def scan(self, thetas: Any) -> ScanResult:
        """S(θ) and ρ̂(θ) of the one component over θ points (G, n)."""
        if len(self.components) != 1:
            raise InputError(
                "scan: the event sums of a mixture are not one scan; use log_likelihood"
            )
        grid = as_grid(thetas)
        return self._scan(grid, self.components[0].features(grid))

    def _scan(self, grid: FloatArray, phi: FloatArray) -> ScanResult:
        c = self.components[0]
        return scan(
            c.coefficients, phi, c.rate, thetas=grid, weights=self.weights, log1p=c.log1p,
            backend=self.backend,
        )  # fmt: skip

    def log_likelihood(
        self, thetas: Any, nuisances: Mapping[str, float] | None = None
    ) -> FloatArray:
        """Log r_full(θ, α) per member and θ point, (M, G), relative to θ0 and α = 0.

        Parameters
        ----------
        thetas : (G, n)
        nuisances : mapping, optional
            α_k by modifier name; absent ones at 0.

        Raises
        ------
        InputError
            A nuisance not among the modifiers; a rate not positive at some θ.
        """
        alphas = self.nuisance_values(nuisances)
        grid = as_grid(thetas)
        if len(self.components) == 1 and not any(alphas.values()):
            c = self.components[0]
            phi = c.features(grid)
            result = self._scan(grid, phi)
            poisson = None if c.poisson_rate is None else c.poisson_rate.ratio(phi)
            return full_log_ratio(
                result.log_ratio_sum,
                result.sum_weights,
                result.rate_ratio,
                c.expected_events0,
                self.n_observed,
                poisson,
            )
        return self._stacked(grid, alphas)

    def nuisance_values(self, nuisances: Mapping[str, float] | None) -> dict[str, float]:
        """α_k of every modifier by name, absent ones at 0.

        Raises
        ------
        InputError
            A nuisance not among the modifiers.
        """
        names = [m.name for m in self.modifiers]
        given = dict(nuisances or {})
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise InputError(f"nuisances: {unknown} are not parameters of the model ({names})")
        return {name: float(given.get(name, 0.0)) for name in names}

    def _stacked(self, grid: FloatArray, alphas: Mapping[str, float]) -> FloatArray:
        """The general form by the compiled scan in the stacked basis (:mod:`.stacked`).

        The event sums Σ_e w_e log D_e(θ, α) of the mixture are one scan of C'_e·Φ'(θ);
        the Poisson and constraint terms as :meth:`_mixture_reference`. Falls back to the
        reference where the stacked scan does not apply (:func:`.stacked_event_sums`).
        """
        basis = stacked_basis(self, grid, alphas)
        event_sum = stacked_event_sums(basis, self.weights, self.backend)
        if event_sum is None:
            return self._mixture_reference(grid, alphas)
        sum_w = float(self.n_events if self.weights is None else self.weights.sum())
        n = sum_w if self.n_observed is None else float(self.n_observed)
        constraint = float(sum(m.log_constraint(alphas[m.name]) for m in self.modifiers))
        nu, nu0 = basis.expected_events, basis.expected_events0
        result: FloatArray = event_sum + (n - sum_w) * np.log(nu / nu0) - (nu - nu0) + constraint
        return result

    def _mixture_reference(self, grid: FloatArray, alphas: Mapping[str, float]) -> FloatArray:
        """The general form of the module docstring, in plain float64 NumPy, chunked over θ.

        The reference of the compiled :meth:`_stacked` (tests).
        """
        w = np.ones(self.n_events) if self.weights is None else self.weights
        sum_w = float(w.sum())
        n = sum_w if self.n_observed is None else float(self.n_observed)
        modifiers = [(m, alphas[m.name]) for m in self.modifiers]
        constraint = float(sum(m.log_constraint(a) for m, a in modifiers))
        members = self.components[0].n_members
        g = grid.shape[0]
        chunk = max(1, int(2**22 // max(1, self.n_events * members)))
        out = np.empty((members, g))
        nu0 = self.expected_events0
        for g0 in range(0, g, chunk):
            block = grid[g0 : g0 + chunk]
            density = np.zeros((members, self.n_events, block.shape[0]))
            nu = np.zeros((members, block.shape[0]))
            for c in self.components:
                phi = c.features(block)
                rho_hat = np.broadcast_to(c.rate.ratio(phi), (members, block.shape[0]))
                rho_p = rho_hat if c.poisson_rate is None else c.poisson_rate.ratio(phi)
                if not ((rho_hat > 0).all() and (rho_p > 0).all()):
                    raise InputError(
                        f"component {c.name!r}: σ(θ)/σ(θ0) is not positive at every grid point"
                    )
                eta = float(np.prod([m.rate_factor(c.name, a) for m, a in modifiers]))
                r = np.einsum("mnk,gk->mng", c.coefficients, phi)
                log_event = np.zeros(self.n_events)
                for m, a in modifiers:
                    factor = m.event_log_factors(c.name, a)
                    if factor is not None:
                        log_event = log_event + factor
                share = 1.0 if c.event_fractions is None else c.event_fractions
                weight = (share * np.exp(log_event))[None, :, None]
                density += weight * r * (eta * rho_p / rho_hat)[:, None, :]
                nu += c.expected_events0 * eta * rho_p
            with np.errstate(divide="ignore", invalid="ignore"):
                logs = np.where(density > 0, np.log(np.where(density > 0, density, 1.0)), -np.inf)
            event_sum = np.einsum("n,mng->mg", w, logs)
            out[:, g0 : g0 + block.shape[0]] = (
                event_sum + (n - sum_w) * np.log(nu / nu0) - (nu - nu0) + constraint
            )
        return out


def single_log_likelihoods(
    models: Sequence[LikelihoodModel],
) -> list[Callable[[FloatArray], FloatArray]]:
    """θ points (G, n) → log r_full (G,) of the first member of each model (for searches)."""

    def first(model: LikelihoodModel) -> Callable[[FloatArray], FloatArray]:
        def ll(thetas: FloatArray) -> FloatArray:
            values: FloatArray = model.log_likelihood(thetas)[0]
            return values

        return ll

    return [first(m) for m in models]
