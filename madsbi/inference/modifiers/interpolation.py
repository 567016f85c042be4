"""Interpolation of a log-factor between its ±1σ values: polynomial inside, exponential outside.

Given a factor's logarithm at α = +1 and α = −1, ℓ₊ and ℓ₋ (a per-event density ratio, an
acceptance), the factor at any α is exp ℓ(α) with

    ℓ(α) = A α + S g(α),   A = (ℓ₊ − ℓ₋)/2,   S = (ℓ₊ + ℓ₋)/2,

    g(α) = (15 α² − 10 α⁴ + 3 α⁶)/8   for |α| ≤ 1,      g(α) = |α|   for |α| > 1.

This is HistFactory's interpolation code 4 (pyhf ``interpcode4``: a 6th-order polynomial
inside ±1σ whose value, first and second derivatives match the exponential extrapolation
outside) written for the logarithm of the factor instead of the factor itself: the 6th-order
polynomial ℓ(α) with ℓ(0) = 0 that meets ℓ = αℓ₊ (α ≥ 1) and ℓ = −αℓ₋ (α ≤ −1) with
continuous value, first and second derivative has exactly this form (its odd part is linear,
its even part S g(α)). Working with ℓ keeps the factor positive for every α and any ℓ±
(pyhf's polynomial in the factor can turn negative for large variations), and it makes the
event sums of one component separable: Σ_e w_e ℓ_e(α) = (Σ w A) α + (Σ w S) g(α).

g is a C² smoothing of |α|: g(0) = 0, g(±1) = 1, g'(±1) = ±1, g''(±1) = 0, g ≥ 0, and g is
increasing in |α|.

References
----------
K. Cranmer et al., *HistFactory: A tool for creating statistical models for use with
RooFit and RooStats*, CERN-OPEN-2012-016, Sec. 4.1 (interpolation codes); pyhf
``pyhf.interpolators.code4``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from madsbi._validate import FloatArray

Terms = tuple[FloatArray, FloatArray, FloatArray]
"""A function's value, first and second derivative in α, each of α's shape (or broadcast)."""


def smooth_abs(alpha: Any) -> Terms:
    """g(α), g'(α), g''(α) of the module docstring (elementwise)."""
    a = np.asarray(alpha, dtype=np.float64)
    a2 = a * a
    inside = np.abs(a) <= 1.0
    value = np.where(inside, a2 * (15.0 - 10.0 * a2 + 3.0 * a2 * a2) / 8.0, np.abs(a))
    first = np.where(inside, a * (30.0 - 40.0 * a2 + 18.0 * a2 * a2) / 8.0, np.sign(a))
    second = np.where(inside, (30.0 - 120.0 * a2 + 90.0 * a2 * a2) / 8.0, 0.0)
    return value, first, second


def interpolate_log(log_up: Any, log_down: Any, alpha: Any) -> Terms:
    """ℓ(α), ℓ'(α), ℓ''(α) from ℓ₊ = ``log_up`` and ℓ₋ = ``log_down`` (broadcast together)."""
    up = np.asarray(log_up, dtype=np.float64)
    down = np.asarray(log_down, dtype=np.float64)
    a = np.asarray(alpha, dtype=np.float64)
    half_diff, half_sum = 0.5 * (up - down), 0.5 * (up + down)
    g, g1, g2 = smooth_abs(a)
    return half_diff * a + half_sum * g, half_diff + half_sum * g1, half_sum * g2


def gaussian_constraint(alpha: Any) -> Terms:
    """Log π(α) = −α²/2 of a unit Gaussian constraint, with its derivatives."""
    a = np.asarray(alpha, dtype=np.float64)
    return -0.5 * a * a, -a, np.full_like(a, -1.0)
