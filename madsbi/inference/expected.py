"""Expected limits along one parameter from an Asimov-like sample (App. A, eqs. 49–51).

One pipeline for every study: the events of a θ0 sample, weighted to ν0 = L σ(θ0) in total,
stand for the expected data; the scan gives log r_full(θ) (eq. 49, with the Poisson term),
the best fit θ̂ and q(θ) = −2 (log r_full(θ) − log r_full(θ̂)) (eqs. 50, 51), and the
γ-confidence intervals {θ : q(θ) ≤ F⁻¹_χ²(γ|1)} along the scanned parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from madsbi._validate import as_grid
from madsbi.errors import InputError, ShapeError
from madsbi.inference.limits import best_fit, intervals_1d, q_statistic
from madsbi.inference.model import LikelihoodModel, tabulated
from madsbi.inference.rate import RateModel

#: The confidence levels of the studies' expected intervals.
LEVELS = (0.68, 0.95)


def level_key(level: float) -> str:
    """The summary key of a level's intervals: 0.68 → ``"interval_68"``."""
    return f"interval_{round(100 * level)}"


def expected_limits_1d(
    coefficients: Any,
    features: Any,
    rate: RateModel,
    *,
    thetas: Any,
    weights: Any,
    expected_events0: float,
    axis: int = 0,
    log1p: bool = False,
    levels: Sequence[float] = LEVELS,
) -> dict[str, Any]:
    """θ̂, q(θ) and the expected intervals along component ``axis`` of a line of θ points.

    Parameters
    ----------
    coefficients : array_like, shape (N, K) or (M, N, K)
        C_e of the Asimov sample's events (an ensemble mean, or the truth); with M members
        the first member is used.
    features : array_like, shape (G, K)
        Φ(θ) at ``thetas``.
    rate : RateModel
        ρ(θ) = σ(θ)/σ(θ0) = s·Φ(θ).
    thetas : array_like, shape (G, n) or (G,)
        The scanned points; only component ``axis`` should vary along the line.
    weights : array_like, shape (N,)
        Asimov weights, summing to the expected number of events (e.g.
        :func:`madsbi.inference.limits.asimov_weights`).
    expected_events0 : float
        ν0 = L σ(θ0) of eq. 49.
    axis : int
        The parameter the line scans.
    log1p : bool
        C_e0 = Φ_0 = 1 (the derivative form).
    levels : sequence of float
        Confidence levels γ of the intervals (χ² with one degree of freedom).

    Returns
    -------
    dict
        ``theta_hat`` (float, along ``axis``), ``q`` (list of G floats) and, per level,
        ``interval_<100 γ>``: a list of (low, high) intervals.

    Raises
    ------
    ShapeError
        If ``thetas`` is not (G,) or (G, n).
    InputError
        If ``axis`` is not a component of ``thetas``, a level is not in (0, 1), or the
        scan refuses its inputs.
    """
    grid = as_grid(thetas)
    if grid.ndim != 2:
        raise ShapeError(f"thetas: expected shape (G,) or (G, n), got {grid.shape}")
    if not 0 <= axis < grid.shape[1]:
        raise InputError(f"axis: expected 0 <= axis < {grid.shape[1]}, got {axis}")
    model = LikelihoodModel.single(
        coefficients,
        tabulated(grid, features),
        rate,
        expected_events0=expected_events0,
        weights=weights,
        log1p=bool(log1p),
    )
    ll = model.log_likelihood(grid)[0]
    line = grid[:, axis]
    theta_hat, top = best_fit(line[:, None], ll)
    q = q_statistic(ll, top)
    out: dict[str, Any] = {"theta_hat": float(theta_hat[0]), "q": q.tolist()}
    for level in levels:
        out[level_key(level)] = intervals_1d(line, q, level)
    return out
