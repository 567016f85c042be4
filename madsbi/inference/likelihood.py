"""Ratio models as the likelihood scans them: projection to R ≥ 0 and the exact truth.

Every estimator — derivative learning, morphing-aware learning, the exact parton-level truth,
the analytic toy — ends in one per-event form (docs/design.md), R(x_e|θ, θ0) = C_e · Φ(θ);
eq. 49 itself (rates, ν0, the scan and the Poisson term) lives in
:mod:`madsbi.inference.model`, whose :class:`RateModel`, :class:`ScanResult`, :func:`scan`
and :func:`expected_events` are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError
from madsbi.inference.model import ScanResult, scan
from madsbi.inference.rate import RateModel, expected_events
from madsbi.theory.polynomial import polynomial_features, project_nonnegative


class RatioModel(Protocol):
    """What the inference needs from an estimator (or from the exact truth)."""

    log1p: bool

    def event_coefficients(self, x: Any) -> FloatArray:
        """C_e for inputs x, shape (M, N, K)."""

    def grid_features(self, thetas: Any) -> FloatArray:
        """Φ(θ) for θ points (G, n), shape (G, K)."""


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


__all__ = [
    "PROJECTIONS",
    "NonNegativeRatio",
    "RateModel",
    "RatioModel",
    "ScanResult",
    "exact_event_coefficients",
    "expected_events",
    "projected",
    "scan",
]
