"""Assembling log r(x|θ, θ0) and the full likelihood ratio with the Poisson term (App. A).

Every estimator — derivative learning, morphing-aware learning, the exact parton-level truth,
the analytic toy — ends in one per-event form (docs/design.md):

    R(x_e|θ, θ0) = dσ(x_e|θ)/dσ(x_e|θ0) = C_e · Φ(θ),

with C_e (K,) per event and Φ(θ) (K,) per θ point (φ(θ − θ0) for the polynomial form, the
morphing weights a(θ) for the basis form). The rate enters as ρ(θ) = σ(θ)/σ(θ0) = s · Φ(θ).
With ν0 = L σ(θ0) expected events, n observed events of weights w_e, and
S(θ) = Σ_e w_e log R(x_e|θ, θ0):

    log r_full(θ) = S(θ) − ν0 (ρ(θ) − 1) + (n − Σ_e w_e) log ρ(θ)          (eq. 49)

(the last term vanishes for an observed sample, w_e = 1, and for the Asimov-like sample,
w_e = ν0/N, where n = Σ w_e).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from madsbi._validate import FloatArray, as_float_array, as_grid
from madsbi.errors import InputError
from madsbi.inference.gridscan import GridScanResult, log_ratio_sums
from madsbi.theory.polynomial import polynomial_features, project_nonnegative


def expected_events(luminosity: Any, cross_section: Any, k_factor: float = 1.0) -> FloatArray:
    """ν = K L σ: the expected count of every likelihood (eq. 49, binned, rate-only).

    The one place where an (NLO) K-factor enters: a constant multiplying σ(θ) at every θ, so
    it scales ν0 = L σ(θ0) (and each ν_b of a binned likelihood) and leaves ρ(θ) unchanged.
    ``luminosity`` and ``cross_section`` in reciprocal units (fb⁻¹ and fb, or pb⁻¹ and pb);
    arrays broadcast.

    Raises
    ------
    InputError
        If ``k_factor`` is not a finite value > 0, or the luminosity is negative.
    """
    k = float(k_factor)
    if not (np.isfinite(k) and k > 0):
        raise InputError(f"k_factor: expected a finite value > 0, got {k_factor!r}")
    lumi = as_float_array(luminosity, "luminosity")
    if (lumi < 0).any():
        raise InputError(f"luminosity: expected >= 0, got {lumi.min()}")
    result: FloatArray = k * lumi * as_float_array(cross_section, "cross_section")
    return result


class RatioModel(Protocol):
    """What the inference needs from an estimator (or from the exact truth)."""

    log1p: bool

    def event_coefficients(self, x: Any) -> FloatArray:
        """C_e for inputs x, shape (M, N, K)."""

    def grid_features(self, thetas: Any) -> FloatArray:
        """Φ(θ) for θ points (G, n), shape (G, K)."""


@dataclass(frozen=True, eq=False)
class RateModel:
    """ρ(θ) = σ(θ)/σ(θ0) = s·Φ(θ), one row of s per member: s has shape (M, K)."""

    coefficients: FloatArray

    @classmethod
    def build(cls, coefficients: Any) -> RateModel:
        """From s of shape (K,) or (M, K)."""
        s = np.atleast_2d(as_float_array(coefficients, "rate coefficients"))
        return cls(s)

    @classmethod
    def from_event_coefficients(cls, coefficients: Any, weights: Any | None = None) -> RateModel:
        """S = Σ_e w_e C_e / Σ_e w_e from the events of a θ0 sample.

        With learned C_e this is eq. 34 (the rate from the learned sums: the first-order term
        of Σ log r vanishes by construction); with the exact parton coefficients normalised
        to c_e0 it is the exact rate of that sample.
        """
        c = as_float_array(coefficients, "coefficients")
        c3 = c[None] if c.ndim == 2 else c
        if c3.ndim != 3:
            raise InputError(f"coefficients: expected (N, K) or (M, N, K), got {c.shape}")
        w = np.ones(c3.shape[1]) if weights is None else as_float_array(weights, "weights")
        if w.shape != (c3.shape[1],):
            raise InputError(f"weights: expected shape ({c3.shape[1]},), got {w.shape}")
        s = np.einsum("mnk,n->mk", c3, w) / w.sum()
        return cls(s)

    def ratio(self, features: Any) -> FloatArray:
        """ρ(θ) for Φ of shape (G, K): (M, G)."""
        phi = as_float_array(features, "features")
        result: FloatArray = self.coefficients @ phi.T
        return result


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
        """Log r_full(θ) of eq. 49 per member (M, G); ν0 = L σ(θ0).

        ``n_observed`` defaults to Σ w_e (observed sample with unit weights, or the
        Asimov-like sample).
        """
        n = self.sum_weights if n_observed is None else float(n_observed)
        rho = self.rate_ratio
        result: FloatArray = (
            self.log_ratio_sum
            - expected_events0 * (rho - 1.0)
            + (n - self.sum_weights) * np.log(rho)
        )
        return result


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


PROJECTIONS = ("keep_reference", "full", "none")
"""How a learned R̂(x|θ) is made ≥ 0 before scanning (:func:`projected`)."""


def projected(model: Any, projection: str) -> Any:
    """``model`` as scanned, made non-negative as ``projection`` says.

    ``"none"``: as it is; ``"full"`` or ``"keep_reference"``: wrapped in
    :class:`NonNegativeRatio` (the latter keeps R̂(x|θ0) and its slope at θ0, so an estimator
    with R̂(x|θ0) = 1 by construction keeps ⟨log r(θ0, θ0)⟩ = 0 exactly).
    """
    if projection not in PROJECTIONS:
        raise InputError(f"projection: expected one of {PROJECTIONS}, got {projection!r}")
    if projection == "none":
        return model
    return NonNegativeRatio.wrap(model, keep_reference=projection == "keep_reference")


@dataclass(frozen=True, eq=False)
class NonNegativeRatio:
    """Any :class:`RatioModel` turned into θ-polynomial coefficients projected to R(x|θ) ≥ 0.

    Morphing-aware predictions C_e·a(θ) are rewritten as c_e·φ(θ − θ0) with c_e = W⁻¹ C_e;
    every event's quadratic form is then projected onto the positive semi-definite cone
    (:func:`madsbi.theory.polynomial.project_nonnegative`), as the exact R(x|θ) always is.
    With ``keep_reference`` the projection keeps R̂(x|θ0) and its slope at θ0: only the
    quadratic block moves, so an Asimov θ0 sample keeps its best fit at θ0 (the full
    projection moves less in the Frobenius norm but can shift the best fit).
    """

    model: Any
    theta0: FloatArray
    inverse: FloatArray | None = None
    keep_reference: bool = False
    log1p = False

    @classmethod
    def wrap(cls, model: Any, *, keep_reference: bool = False) -> NonNegativeRatio:
        """Wrap a derivative estimator (φ form) or a morphing estimator (basis form)."""
        basis = getattr(model, "basis", None)
        if basis is not None:
            return cls(model, basis.theta0, basis.inverse, keep_reference)
        return cls(model, np.asarray(model.theta0, dtype=np.float64), None, keep_reference)

    def event_coefficients(self, x: Any) -> FloatArray:
        """Projected c_e (M, N, K) in the φ(θ − θ0) form."""
        c = np.asarray(self.model.event_coefficients(x), dtype=np.float64)
        if self.inverse is not None:
            # R = a(θ)·C with a = W⁻ᵀ φ, so R = φ·(W⁻¹ C): c_e = C_e W⁻ᵀ row-wise.
            c = c @ self.inverse.T
        return project_nonnegative(c, keep_reference=self.keep_reference)

    def grid_features(self, thetas: Any) -> FloatArray:
        """Φ(θ) = φ(θ − θ0), (G, K)."""
        return polynomial_features(thetas, self.theta0)

    def rate(self, rate: RateModel) -> RateModel:
        """The wrapped model's rate ρ = s·Φ rewritten for the φ form (s W⁻ᵀ for a basis)."""
        if self.inverse is None:
            return rate
        return RateModel(rate.coefficients @ self.inverse.T)


def exact_event_coefficients(coefficients: Any) -> FloatArray:
    """C_e = c_e/c_e0 (1, N, K) from exact coefficients: the truth in the derivative form."""
    c = as_float_array(coefficients, "coefficients", (None, None))
    if (c[:, 0] <= 0).any():
        raise InputError("coefficients: c_0 must be > 0 for every event")
    result: FloatArray = (c / c[:, :1])[None]
    return result
