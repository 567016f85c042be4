"""The per-event interpolation of shape factors (issue 27): values, smoothness at ±1σ."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.inference.modifiers import EventShape
from madsbi.inference.modifiers.interpolation import interpolate_log, smooth_abs


def test_exact_at_zero_and_one_sigma(rng: np.random.Generator) -> None:
    up, down = rng.normal(0, 0.5, 50), rng.normal(0, 0.5, 50)
    np.testing.assert_array_equal(interpolate_log(up, down, 0.0)[0], 0.0)
    np.testing.assert_allclose(interpolate_log(up, down, 1.0)[0], up, rtol=0, atol=1e-15)
    np.testing.assert_allclose(interpolate_log(up, down, -1.0)[0], down, rtol=0, atol=1e-15)
    # Exponential outside: the factor is r(±1)^|α|.
    np.testing.assert_allclose(interpolate_log(up, down, 2.5)[0], 2.5 * up, rtol=1e-14)
    np.testing.assert_allclose(interpolate_log(up, down, -3.0)[0], 3.0 * down, rtol=1e-14)


@pytest.mark.parametrize("edge", [1.0, -1.0])
def test_value_and_derivatives_continuous_at_one_sigma(
    rng: np.random.Generator, edge: float
) -> None:
    up, down = rng.normal(0, 0.7, 20), rng.normal(0, 0.7, 20)
    eps = 1e-7
    inner, outer = edge * (1 - eps), edge * (1 + eps)
    for k in range(3):  # value, first and second derivative
        a = interpolate_log(up, down, inner)[k]
        b = interpolate_log(up, down, outer)[k]
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    # The first derivative from finite differences on each side agrees with the other side.
    h = 1e-5
    left = (interpolate_log(up, down, edge)[0] - interpolate_log(up, down, edge - h)[0]) / h
    right = (interpolate_log(up, down, edge + h)[0] - interpolate_log(up, down, edge)[0]) / h
    np.testing.assert_allclose(left, right, rtol=0, atol=1e-4)


def test_derivatives_are_finite_differences(rng: np.random.Generator) -> None:
    up, down = rng.normal(0, 0.5, 8), rng.normal(0, 0.5, 8)
    h = 1e-6
    for alpha in rng.uniform(-3, 3, 30):
        _, first, second = interpolate_log(up, down, alpha)
        plus, minus = interpolate_log(up, down, alpha + h), interpolate_log(up, down, alpha - h)
        np.testing.assert_allclose(first, (plus[0] - minus[0]) / (2 * h), atol=1e-7)
        np.testing.assert_allclose(second, (plus[1] - minus[1]) / (2 * h), atol=1e-6)


def test_smooth_abs_is_positive_and_increasing() -> None:
    a = np.linspace(0, 4, 4001)
    g, g1, _ = smooth_abs(a)
    assert (g[1:] > 0).all()
    assert (np.diff(g) > 0).all()
    assert (g1[1:] > 0).all()
    np.testing.assert_array_equal(smooth_abs(-a)[0], g)


def test_event_shape_modifier(rng: np.random.Generator) -> None:
    ratio_up, ratio_down = rng.uniform(0.5, 1.5, 30), rng.uniform(0.5, 1.5, 30)
    shape = EventShape.from_ratios("lep_scale_e", "signal", ratio_up, ratio_down, 1.1, 0.95)
    np.testing.assert_allclose(np.exp(shape.event_log_factors("signal", 1.0)), ratio_up)
    np.testing.assert_allclose(np.exp(shape.event_log_factors("signal", -1.0)), ratio_down)
    assert shape.event_log_factors("background", 1.0) is None
    assert shape.rate_factor("signal", 1.0) == pytest.approx(1.1)
    assert shape.rate_factor("signal", -1.0) == pytest.approx(0.95)
    assert shape.rate_factor("signal", 0.0) == 1.0
    assert shape.rate_factor("background", 1.0) == 1.0
    assert shape.log_constraint(2.0) == -2.0
    w = rng.uniform(0.5, 2, 30)
    alpha = np.array([-2.0, -0.3, 0.0, 0.7, 1.6])
    summed = shape.event_sum_terms("signal", w, alpha)
    per_event = shape.event_log_terms("signal", alpha[None, :])
    assert per_event is not None
    for k in range(3):
        np.testing.assert_allclose(summed[k], np.einsum("n,ng->g", w, per_event[k][0]))
    with pytest.raises(InputError, match="factors must be > 0"):
        EventShape.from_ratios("x", "signal", [1.0, -1.0], [1.0, 1.0])
    with pytest.raises(InputError, match="one length"):
        EventShape("x", "signal", np.zeros(3), np.zeros(4))
    with pytest.raises(InputError, match="rate_up must be"):
        EventShape("x", "signal", np.zeros(3), np.zeros(3), rate_up=0.0)


def test_normalised_shape_has_unit_mean_at_every_alpha(rng: np.random.Generator) -> None:
    """With a nominal sample, ⟨r̃(α)⟩ = 1 there for every α, inside and outside ±1σ."""
    up, down = rng.normal(0.1, 0.4, 80), rng.normal(-0.1, 0.4, 80)
    v = rng.uniform(0.5, 2.0, 80)
    shape = EventShape(
        "s", "signal", up, down, sample_log_up=up, sample_log_down=down, sample_weights=v
    )
    for alpha in (-3.0, -1.0, -0.4, 0.0, 0.5, 1.0, 2.5):
        factors = np.exp(shape.event_log_factors("signal", alpha))
        assert np.average(factors, weights=v) == pytest.approx(1.0, rel=1e-12)
    alphas = rng.uniform(-3, 3, 40)
    value, first, second = shape.log_normalisation(alphas)
    h = 1e-6
    plus, minus = shape.log_normalisation(alphas + h), shape.log_normalisation(alphas - h)
    np.testing.assert_allclose(first, (plus[0] - minus[0]) / (2 * h), atol=1e-7)
    np.testing.assert_allclose(second, (plus[1] - minus[1]) / (2 * h), atol=1e-6)
    assert value.shape == alphas.shape
    with pytest.raises(InputError, match="give both"):
        EventShape("x", "signal", up, down, sample_log_up=up)
