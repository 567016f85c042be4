"""expected_limits_1d: the expected intervals of the studies, checked against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from madsbi.errors import InputError, ShapeError
from madsbi.inference.expected import LEVELS, expected_limits_1d, level_key
from madsbi.inference.likelihood import RateModel
from madsbi.inference.limits import asimov_weights, chi2_quantile
from madsbi.theory.polynomial import polynomial_features


def rate_only(n_parameters: int, axis: int, nu0: float, n_events: int, thetas: np.ndarray) -> dict:
    """Events with R = 1 and a rate ρ(θ) = 1 + θ_axis²: log r_full = −ν0 θ_axis² exactly."""
    k = 1 + n_parameters + n_parameters * (n_parameters + 1) // 2
    coefficients = np.zeros((n_events, k))
    coefficients[:, 0] = 1.0
    s = np.zeros(k)
    s[0] = 1.0
    s[1 + n_parameters + axis] = 1.0  # the θ_axis² feature
    features = polynomial_features(thetas, np.zeros(n_parameters))
    return expected_limits_1d(
        coefficients,
        features,
        RateModel.build(s),
        thetas=thetas,
        axis=axis,
        weights=asimov_weights(n_events, nu0),
        expected_events0=nu0,
        log1p=True,
    )


@pytest.mark.parametrize(("n_parameters", "axis"), [(1, 0), (2, 1), (3, 0)])
def test_closed_form_of_a_pure_rate_measurement(n_parameters: int, axis: int) -> None:
    nu0, points = 50.0, 4001
    line = np.zeros((points, n_parameters))
    line[:, axis] = np.linspace(-1.0, 1.0, points)
    result = rate_only(n_parameters, axis, nu0, 20, line)
    # q(θ) = 2 ν0 θ² and θ̂ = 0.
    np.testing.assert_allclose(result["q"], 2 * nu0 * line[:, axis] ** 2, rtol=1e-12, atol=1e-12)
    assert result["theta_hat"] == pytest.approx(0.0, abs=1e-12)
    assert set(result) == {"theta_hat", "q", *(level_key(level) for level in LEVELS)}
    for level in LEVELS:
        # {θ : 2 ν0 θ² ≤ F⁻¹(γ)} = ± sqrt(F⁻¹(γ) / (2 ν0)), to the grid's interpolation error.
        half_width = math.sqrt(chi2_quantile(level, 1) / (2 * nu0))
        ((low, high),) = result[level_key(level)]
        step = 2.0 / (points - 1)
        assert low == pytest.approx(-half_width, abs=step**2 * 2 * nu0)
        assert high == pytest.approx(half_width, abs=step**2 * 2 * nu0)


def test_intervals_shrink_with_luminosity() -> None:
    line = np.linspace(-1.0, 1.0, 401)[:, None]
    widths = []
    for nu0 in (10.0, 40.0, 160.0):
        ((low, high),) = rate_only(1, 0, nu0, 10, line)["interval_95"]
        widths.append(high - low)
    # Width ∝ ν0^(-1/2): quadrupling ν0 halves it.
    assert widths[0] / widths[1] == pytest.approx(2.0, rel=1e-3)
    assert widths[1] / widths[2] == pytest.approx(2.0, rel=1e-3)


def test_shape_and_rate_against_the_sum_written_out(rng: np.random.Generator) -> None:
    # Events with a slope in θ, R_e(θ) = 1 + t_e θ + (t_e²/4 + 1) θ² > 0, and the rate learned
    # from the same sums (ρ = Σ w R / Σ w, eq. 34): log r_full = Σ_e w_e log R_e − ν0 (ρ − 1)
    # for the Asimov weights (Σ w = ν0), summed here term by term with NumPy.
    n, nu0 = 200, 50.0
    theta = np.linspace(-1.0, 1.0, 801)
    t = rng.normal(0.0, 1.0, n)
    t -= t.mean()  # Σ w C_e1 = 0: the slope of log r_full vanishes at θ0, θ̂ = 0
    coefficients = np.stack([np.ones(n), t, t**2 / 4 + 1.0], axis=1)
    weights = asimov_weights(n, nu0)
    result = expected_limits_1d(
        coefficients,
        polynomial_features(theta[:, None], [0.0]),
        RateModel.from_event_coefficients(coefficients, weights),
        thetas=theta,
        weights=weights,
        expected_events0=nu0,
        log1p=True,
    )
    r = 1.0 + np.outer(theta, t) + np.outer(theta**2, t**2 / 4 + 1.0)  # (G, N)
    ll = np.log(r) @ weights - nu0 * (r @ weights / weights.sum() - 1.0)
    np.testing.assert_allclose(result["q"], -2.0 * (ll - ll.max()), rtol=1e-9, atol=1e-9)
    assert result["theta_hat"] == pytest.approx(0.0, abs=1e-6)
    # The 95 % interval contains the 68 % one, both around θ̂ = 0.
    ((lo68, hi68),) = result["interval_68"]
    ((lo95, hi95),) = result["interval_95"]
    assert lo95 < lo68 < 0.0 < hi68 < hi95


def test_bad_inputs_are_named() -> None:
    line = np.zeros((5, 2))
    with pytest.raises(InputError, match="axis: expected 0 <= axis < 2, got 2"):
        rate_only(2, 2, 10.0, 3, line)
    with pytest.raises(ShapeError, match="thetas"):
        expected_limits_1d(
            np.ones((3, 3)),
            np.ones((5, 3)),
            RateModel.build([1.0, 0.0, 1.0]),
            thetas=np.zeros((5, 1, 1)),
            weights=np.ones(3),
            expected_events0=3.0,
        )
    with pytest.raises(InputError, match="gamma"):
        expected_limits_1d(
            np.ones((3, 3)),
            np.ones((5, 3)),
            RateModel.build([1.0, 0.0, 1.0]),
            thetas=np.linspace(-1, 1, 5),
            weights=np.ones(3),
            expected_events0=3.0,
            levels=(1.5,),
        )
