"""Analytic event coefficients for the likelihood tests (binned, dense coverage)."""

from __future__ import annotations

import numpy as np


def quadratic_events(rng: np.random.Generator, n_events: int, n_params: int) -> np.ndarray:
    """c_e = c_e/c_e0 of R(x_e|θ) = (1 + a·θ)² + θᵀ B θ with B ⪰ 0: positive everywhere."""
    a = rng.normal(0.0, 0.5, size=(n_events, n_params))
    b = rng.normal(0.0, 0.3, size=(n_events, n_params, n_params))
    hess = np.einsum("eij,ekj->eik", b, b) + np.einsum("ei,ej->eij", a, a)
    coef = [np.ones(n_events)]
    coef += [2.0 * a[:, i] for i in range(n_params)]
    coef += [hess[:, i, i] for i in range(n_params)]
    coef += [2.0 * hess[:, i, j] for i in range(n_params) for j in range(i + 1, n_params)]
    return np.stack(coef, axis=1)
