"""The fit-like reading of σ_pred (bellagente2022 eq. 20–23, 25–27, 31).

If the network learns a density like a fit of a few parameters λ_k, its uncertainty is the
quadrature sum σ_pred(x)² = Σ_k (∂p/∂λ_k)² Δλ_k². :func:`fit_quadrature` fits the Δλ_k to
a σ_pred curve; the templates ∂p/∂λ_k of the three toys are below. :func:`least_squares` is
a small Levenberg–Marquardt fitter (NumPy only) that also fits the learned ring density.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError


@dataclass(frozen=True)
class FitResult:
    """Best-fit parameters, their standard errors and χ²/ndf.

    Without uncertainties of the fitted points the errors are scaled by √(χ²/ndf), like
    ``absolute_sigma=False`` of SciPy's ``curve_fit``.
    """

    values: FloatArray
    errors: FloatArray
    chi2_per_ndf: float


def least_squares(
    model: Callable[[FloatArray], FloatArray],
    y: FloatArray,
    start: FloatArray,
    sigma: FloatArray | None = None,
    *,
    max_iterations: int = 200,
) -> FitResult:
    """Minimise Σ ((y − model(λ))/σ)² by Levenberg–Marquardt with a numerical Jacobian.

    Parameters
    ----------
    model : callable
        λ (k,) → predictions (n,).
    y : ndarray, shape (n,)
    start : ndarray, shape (k,)
    sigma : ndarray, shape (n,), optional
        Uncertainties of y; without them the errors are scaled by √(χ²/ndf).

    Returns
    -------
    FitResult
    """
    y = as_float_array(y, "y", (None,))
    weights = np.ones_like(y) if sigma is None else 1.0 / as_float_array(sigma, "sigma", y.shape)
    params = np.array(start, dtype=np.float64)
    k = params.shape[0]
    if y.shape[0] <= k:
        raise InputError(f"y: expected more than {k} points to fit {k} parameters")

    def residual(p: FloatArray) -> FloatArray:
        out: FloatArray = (y - model(p)) * weights
        return out

    def jacobian(p: FloatArray) -> FloatArray:
        columns = []
        for i in range(k):
            step = 1e-6 * max(abs(p[i]), 1e-3)
            up, down = p.copy(), p.copy()
            up[i] += step
            down[i] -= step
            columns.append((residual(up) - residual(down)) / (2 * step))
        return np.stack(columns, axis=1)

    damping = 1e-3
    r = residual(params)
    cost = float(r @ r)
    for _ in range(max_iterations):
        j = jacobian(params)
        a = j.T @ j
        g = j.T @ r
        improved = False
        for _ in range(30):
            trial = params - np.linalg.solve(a + damping * np.diag(np.diag(a) + 1e-300), g)
            r_trial = residual(trial)
            cost_trial = float(r_trial @ r_trial)
            if np.isfinite(cost_trial) and cost_trial < cost:
                improved = cost - cost_trial > 1e-12 * max(cost, 1e-300)
                params, r, cost = trial, r_trial, cost_trial
                damping = max(damping / 10, 1e-12)
                break
            damping *= 10
        if not improved:
            break
    j = jacobian(params)
    ndf = max(y.shape[0] - k, 1)
    chi2_per_ndf = cost / ndf
    try:
        covariance = np.linalg.inv(j.T @ j)
    except np.linalg.LinAlgError:
        covariance = np.full((k, k), np.nan)
    if sigma is None:
        covariance = covariance * chi2_per_ndf
    errors = np.sqrt(np.abs(np.diag(covariance)))
    return FitResult(params, errors, chi2_per_ndf)


def fit_quadrature(
    sigma_pred: FloatArray, templates: FloatArray, errors: FloatArray | None = None
) -> FitResult:
    """Fit σ_pred(x) = √(Σ_k T_k(x)² Δ_k²) with Δ_k ≥ 0 (eq. 23, 27, 31).

    Parameters
    ----------
    sigma_pred : ndarray, shape (n,)
    templates : ndarray, shape (K, n)
        ∂p/∂λ_k along the curve.
    errors : ndarray, shape (n,), optional
        Uncertainty of σ_pred (e.g. its spread over lines of constant y).
    """
    sigma_pred = as_float_array(sigma_pred, "sigma_pred", (None,))
    t = as_float_array(templates, "templates", (None, sigma_pred.shape[0]))
    # Start from the non-negative linear fit of σ² = Σ T_k² Δ_k².
    design = (t**2).T
    squared, *_ = np.linalg.lstsq(design, sigma_pred**2, rcond=None)
    start = np.sqrt(np.maximum(squared, 1e-12 * float(np.max(sigma_pred**2) + 1e-300)))
    scale = np.maximum(start, 1e-12)

    def model(p: FloatArray) -> FloatArray:
        out: FloatArray = np.sqrt((t**2).T @ (p * scale) ** 2)
        return out

    if errors is not None:
        errors = np.maximum(as_float_array(errors, "errors", sigma_pred.shape), 1e-300)
    result = least_squares(model, sigma_pred, np.ones_like(start), errors)
    delta = np.abs(result.values) * scale
    # Errors from the linear parametrisation c_k = Δ_k², regular also at Δ_k = 0:
    # δΔ = δc/(2Δ) away from zero, √δc at the boundary.
    fitted = np.maximum(model(result.values), 1e-300)
    weights = np.ones_like(fitted) if errors is None else 1.0 / errors
    jac = ((t**2) / (2.0 * fitted) * weights).T
    covariance = np.linalg.pinv(jac.T @ jac)
    if errors is None:
        covariance = covariance * result.chi2_per_ndf
    error_c = np.sqrt(np.abs(np.diag(covariance)))
    error = np.where(
        delta > np.sqrt(error_c), error_c / (2.0 * np.maximum(delta, 1e-300)), np.sqrt(error_c)
    )
    return FitResult(delta, error, result.chi2_per_ndf)


def wedge_templates(x: FloatArray, slope: float = 2.0) -> FloatArray:
    """∂p/∂a = x − ½ and ∂p/∂x_max = −(1 + a/2) of p = a x + b on [0, 1] (eq. 22–23)."""
    return np.stack([x - 0.5, np.full_like(x, -(1.0 + slope / 2.0))])


def kicker_templates(x: FloatArray, x0: float = 0.0, x_max: float = 1.0) -> FloatArray:
    """∂p/∂x₀ and ∂p/∂x_max of p = 3(x − x₀)²/(x_max − x₀)³ (eq. 26–27)."""
    d4 = (x_max - x0) ** 4
    d_x0 = 9.0 / d4 * (x - x0) * (x - x0 / 3.0 - 2.0 * x_max / 3.0)
    d_max = -9.0 / d4 * (x - x0) ** 2
    return np.stack([d_x0, d_max])


def ring_line_density(r: FloatArray, mu: float, width: float) -> FloatArray:
    """Cartesian density of the half ring along a line of constant φ: Gauss(r)/(π r) (eq. 30)."""
    gauss = np.exp(-0.5 * ((r - mu) / width) ** 2) / (math.sqrt(2.0 * math.pi) * width)
    result: FloatArray = gauss / (math.pi * r)
    return result


def ring_templates(r: FloatArray, mu: float = 4.0, width: float = 1.0) -> FloatArray:
    """∂p/∂μ and ∂p/∂w of the Cartesian ring density along a line (eq. 31).

    The paper's eq. 31 writes the w-term without the factor G(r)/r; here both terms are the
    derivatives of p = G(r)/(π r) itself.
    """
    p = ring_line_density(r, mu, width)
    return np.stack([p * (r - mu) / width**2, p * ((r - mu) ** 2 / width**3 - 1.0 / width)])


def fit_ring_density(r: FloatArray, density: FloatArray, errors: FloatArray | None) -> FitResult:
    """Fit μ and w of p(r) = Gauss(r; μ, w)/(π r) to a learned density along a line."""
    return least_squares(
        lambda p: ring_line_density(r, float(p[0]), float(abs(p[1]))),
        density,
        np.array([float(r[np.argmax(density)]), 1.0]),
        errors,
    )
