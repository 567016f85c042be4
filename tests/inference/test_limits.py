"""Limits: χ² distribution, p-values, best fit, q(θ) and confidence intervals (eqs. 50–52)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from madsbi.errors import InputError
from madsbi.inference.limits import (
    asimov_weights,
    best_fit,
    chi2_cdf,
    chi2_quantile,
    confidence_region,
    intervals_1d,
    p_value,
    q_statistic,
)

Q = np.concatenate([[0.0], np.logspace(-6, 2.3, 300)])


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 5, 6])
def test_chi2_cdf_matches_scipy(dof: int) -> None:
    got = chi2_cdf(Q, dof)
    expected = stats.chi2.cdf(Q, dof)
    assert got.shape == Q.shape
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)
    # Where the cdf is not tiny it is accurate to the last digits.
    big = expected > 1e-3
    np.testing.assert_allclose(got[big], expected[big], rtol=1e-13)
    assert chi2_cdf(0.0, dof) == 0.0
    assert chi2_cdf(-1.0, dof) == 0.0  # q < 0 is treated as 0
    assert np.all(np.diff(got) >= 0)
    np.testing.assert_allclose(p_value(Q, dof), stats.chi2.sf(Q, dof), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 5, 6])
def test_chi2_quantile_inverts_cdf(dof: int) -> None:
    for gamma in (0.01, 0.3, 0.6827, 0.68, 0.9, 0.95, 0.99, 0.9999):
        q = chi2_quantile(gamma, dof)
        # Bisection to 1e-12 in q (absolute below q = 1, relative above).
        assert q == pytest.approx(stats.chi2.ppf(gamma, dof), rel=1e-11, abs=2e-12)
        slope = stats.chi2.pdf(q, dof)
        assert float(chi2_cdf(q, dof)) == pytest.approx(
            gamma, abs=slope * 2e-12 * max(1, q) + 1e-15
        )
    assert chi2_quantile(0.6826894921370859, 1) == pytest.approx(1.0, rel=1e-10)  # 1σ
    for gamma in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(InputError, match="gamma: expected a confidence level"):
            chi2_quantile(gamma, dof)


def test_bad_dof() -> None:
    with pytest.raises(InputError, match="dof: expected >= 1, got 0"):
        chi2_cdf(1.0, 0)


def test_p_value_at_thresholds() -> None:
    for dof in (1, 2, 3):
        for gamma in (0.68, 0.95):
            # Exactly at the γ threshold the p-value is 1 − γ (eq. 52).
            assert float(p_value(chi2_quantile(gamma, dof), dof)) == pytest.approx(
                1 - gamma, rel=1e-9
            )


# -- intervals -------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "s"), [(0.3, 0.4), (-1.1, 0.25), (0.0, 1.0)])
def test_intervals_of_a_parabola(a: float, s: float) -> None:
    grid = np.linspace(-3.0, 3.0, 601)
    step = grid[1] - grid[0]
    q = ((grid - a) / s) ** 2
    intervals = intervals_1d(grid, q, 0.6827)
    assert len(intervals) == 1
    lo, hi = intervals[0]
    half = s * np.sqrt(chi2_quantile(0.6827, 1))
    # Linear interpolation of the parabola between grid points: error ≈ step²/(8 s).
    tolerance = step**2 / (4 * s)
    assert lo == pytest.approx(a - half, abs=tolerance)
    assert hi == pytest.approx(a + half, abs=tolerance)
    assert half == pytest.approx(s, rel=1e-4)  # γ = 0.6827: the 1σ interval
    lo95, hi95 = intervals_1d(grid, q, 0.95)[0]
    assert hi95 - lo95 == pytest.approx(2 * 1.959964 * s, abs=2 * tolerance)


def test_intervals_double_well() -> None:
    grid = np.linspace(-2.0, 2.0, 801)
    q = ((grid**2 - 1.0) / 0.3) ** 2  # minima at ±1: a likelihood symmetric in θ → −θ
    intervals = intervals_1d(grid, q, 0.68)
    assert len(intervals) == 2
    threshold = chi2_quantile(0.68, 1)
    inner, outer = np.sqrt(1.0 - 0.3 * np.sqrt(threshold)), np.sqrt(1.0 + 0.3 * np.sqrt(threshold))
    (lo1, hi1), (lo2, hi2) = intervals
    np.testing.assert_allclose([lo1, hi1, lo2, hi2], [-outer, -inner, inner, outer], atol=1e-4)
    # A wide level joins the wells.
    assert len(intervals_1d(grid, q, 0.99999)) == 1


def test_intervals_cut_at_the_grid_edge() -> None:
    grid = np.linspace(-1.0, 1.0, 201)
    q = ((grid - 0.9) / 0.5) ** 2
    lo, hi = intervals_1d(grid, q, 0.68)[0]
    assert hi == 1.0  # the region reaches beyond the grid: cut at its end
    assert lo == pytest.approx(0.9 - 0.5 * np.sqrt(chi2_quantile(0.68, 1)), abs=1e-4)
    assert intervals_1d(grid, np.zeros(201), 0.68) == [(-1.0, 1.0)]
    assert intervals_1d(grid, np.full(201, 100.0), 0.68) == []
    # A single grid point inside: the interval is bracketed by its neighbours.
    q_point = np.full(201, 10.0)
    q_point[100] = 0.0
    ((lo, hi),) = intervals_1d(grid, q_point, 0.68)
    assert grid[99] < lo < grid[100] < hi < grid[101]


def test_confidence_region_mask() -> None:
    q = np.array([[0.0, 1.0], [2.3, 6.0]])
    mask = confidence_region(q, 0.68, 2)
    np.testing.assert_array_equal(mask, q <= stats.chi2.ppf(0.68, 2))


# -- best fit and q --------------------------------------------------------------------------


@pytest.mark.parametrize("vertex", [0.1234, -0.777, 0.05])
def test_best_fit_refines_the_vertex(vertex: float) -> None:
    grid = np.linspace(-1.0, 1.0, 21)  # step 0.1: the vertex lies between grid points
    ll = -3.7 * (grid - vertex) ** 2 + 12.5
    theta_hat, top = best_fit(grid, ll)
    assert theta_hat.shape == (1,)
    assert theta_hat[0] == pytest.approx(vertex, abs=1e-12)
    assert top == pytest.approx(12.5, abs=1e-12)
    assert top >= ll.max()
    # A (G, 1) grid gives the same.
    theta_2d, top_2d = best_fit(grid[:, None], ll)
    assert theta_2d[0] == pytest.approx(vertex, abs=1e-12)
    assert top_2d == top


def test_best_fit_edges_and_2d() -> None:
    grid = np.linspace(0.0, 1.0, 11)
    theta_hat, top = best_fit(grid, -((grid - 2.0) ** 2))  # maximum beyond the grid
    assert theta_hat[0] == 1.0
    assert top == pytest.approx(-1.0)
    # Convex around the best point (a kink): no parabola, the grid point.
    ll = -np.abs(grid - 0.5)
    theta_hat, top = best_fit(grid, ll)
    assert theta_hat[0] == pytest.approx(0.5)
    # In 2D the grid maximum.
    g2 = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    theta_hat, top = best_fit(g2, [1.0, 3.0, 2.0, 0.0])
    np.testing.assert_array_equal(theta_hat, [1.0, 0.0])
    assert top == 3.0


def test_q_statistic() -> None:
    ll = np.array([1.0, 4.0, 2.5, -3.0])
    np.testing.assert_array_equal(q_statistic(ll), [6.0, 0.0, 3.0, 14.0])
    np.testing.assert_array_equal(q_statistic(ll, 5.0), [8.0, 2.0, 5.0, 16.0])
    # A maximum below the grid's (rounding) never gives q < 0.
    np.testing.assert_array_equal(q_statistic(ll, 3.0), [4.0, 0.0, 1.0, 12.0])
    # The refined maximum of best_fit: q of the quadratic −(θ − v)²/(2σ²) · (−2) is ((θ − v)/σ)².
    grid = np.linspace(-1.0, 1.0, 41)
    ll = -0.5 * ((grid - 0.133) / 0.2) ** 2
    _, top = best_fit(grid, ll)
    np.testing.assert_allclose(q_statistic(ll, top), ((grid - 0.133) / 0.2) ** 2, atol=1e-10)


def test_asimov_weights() -> None:
    w = asimov_weights(400, 50.0)
    np.testing.assert_array_equal(w, 0.125)
    with pytest.raises(InputError, match="asimov_weights"):
        asimov_weights(0, 50.0)
    with pytest.raises(InputError, match="asimov_weights"):
        asimov_weights(10, 0.0)
