"""Shape nuisances from a learned ratio (issue 27): LearnedShape, the tabulated normalisation,
and the profile that recovers a detector scale from data generated at +1σ."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.inference.model import LikelihoodModel
from madsbi.inference.modifiers import EventShape, LearnedShape
from madsbi.inference.modifiers.shape import TABLE_MIN_SAMPLE, TABLE_RANGE
from madsbi.inference.profile import profile_log_likelihood
from madsbi.inference.rate import RateModel
from madsbi.theory.polynomial import polynomial_features

DELTA = 0.1


def gaussian_scale(x: np.ndarray) -> np.ndarray:
    """Log p(x|±1)/p(x|0) for x ~ N(0, (1 ± δ)²) against N(0, 1): (N, 1) → (N, 2)."""
    out = []
    for sign in (1.0, -1.0):
        s = 1.0 + sign * DELTA
        out.append(-np.log(s) - 0.5 * x[:, 0] ** 2 * (1.0 / s**2 - 1.0))
    return np.stack(out, axis=1)


def test_evaluate_is_the_event_shape_of_the_ratio(rng: np.random.Generator) -> None:
    data, sample = rng.normal(size=(300, 1)), rng.normal(size=(500, 1))
    learned = LearnedShape.evaluate(
        "scale", "signal", gaussian_scale, data, rate_up=1.02, rate_down=0.97,
        sample=sample, sample_weights=np.ones(500),
    )  # fmt: skip
    logs, on_sample = gaussian_scale(data), gaussian_scale(sample)
    plain = EventShape(
        "scale", "signal", logs[:, 0], logs[:, 1], 1.02, 0.97, on_sample[:, 0], on_sample[:, 1]
    )
    assert isinstance(learned, EventShape)
    for alpha in (-2.5, -1.0, -0.3, 0.0, 0.7, 1.0, 3.0):
        np.testing.assert_allclose(
            learned.event_log_factors("signal", alpha), plain.event_log_factors("signal", alpha)
        )
        assert learned.rate_factor("signal", alpha) == plain.rate_factor("signal", alpha)
    assert learned.event_log_factors("background", 1.0) is None
    bare = LearnedShape.evaluate("s", "signal", gaussian_scale, data, rate_up=1.0, rate_down=1.0)
    np.testing.assert_array_equal(bare.log_up, logs[:, 0])
    with pytest.raises(InputError, match="finite"):
        LearnedShape.evaluate(
            "s", "signal", lambda x: np.full((x.shape[0], 2), np.nan), data,
            rate_up=1.0, rate_down=1.0,
        )  # fmt: skip
    with pytest.raises(InputError, match=r"\(N, 2\)"):
        LearnedShape.evaluate("s", "signal", lambda x: x, data, rate_up=1.0, rate_down=1.0)
    with pytest.raises(InputError, match=r"\(N, d\)"):
        LearnedShape.evaluate(
            "s", "signal", gaussian_scale, np.zeros(3), rate_up=1.0, rate_down=1.0
        )


def test_wild_factors_name_the_nuisance_and_the_events(rng: np.random.Generator) -> None:
    """A ratio evaluated outside its training support (log r ≈ 1e13 on a few events) is refused."""
    data = rng.normal(size=(40, 1))
    data[[3, 17], 0] = 1e12

    def blown(x: np.ndarray) -> np.ndarray:
        return np.column_stack([x[:, 0], -x[:, 0]])

    with pytest.raises(InputError, match=r"mu_f: .* on 2 of 40 data events \(rows 3, 17;"):
        LearnedShape.evaluate("mu_f", "signal", blown, data, rate_up=1.0, rate_down=1.0)
    with pytest.raises(InputError, match=r"on 1 of 5 sample events \(rows 4;"):
        LearnedShape.evaluate(
            "mu_f", "signal", blown, data[:3], rate_up=1.0, rate_down=1.0,
            sample=np.array([[0.0], [1.0], [2.0], [3.0], [-25.0]]), sample_weights=np.ones(5),
        )  # fmt: skip


def test_tabulated_normalisation_is_the_exact_sum(rng: np.random.Generator) -> None:
    n = 3 * TABLE_MIN_SAMPLE
    up, down = rng.normal(0.05, 0.3, n), rng.normal(-0.05, 0.4, n)
    shape = EventShape("s", "signal", up[:5], down[:5], sample_log_up=up, sample_log_down=down)
    edges = [1.0, -1.0, 0.0, 1.0 - 1e-12, -1.0 + 1e-12, TABLE_RANGE, -TABLE_RANGE]
    alpha = np.concatenate([rng.uniform(-TABLE_RANGE - 2, TABLE_RANGE + 2, 3000), edges])
    table, exact = shape.log_normalisation(alpha), shape.exact_log_normalisation(alpha)
    for k, tolerance in enumerate((1e-11, 1e-8, 1e-5)):
        np.testing.assert_allclose(table[k], exact[k], rtol=0, atol=tolerance)
    # The interpolant's derivatives are its own: finite differences of its value.
    h = 1e-5
    a = rng.uniform(-3, 3, 200)
    plus, minus = shape.log_normalisation(a + h), shape.log_normalisation(a - h)
    np.testing.assert_allclose(
        shape.log_normalisation(a)[1], (plus[0] - minus[0]) / (2 * h), atol=1e-8
    )
    np.testing.assert_allclose(
        shape.log_normalisation(a)[2], (plus[1] - minus[1]) / (2 * h), atol=1e-6
    )
    assert shape.log_normalisation(np.zeros((2, 3)))[0].shape == (2, 3)


def test_profile_recovers_a_detector_scale_shifted_by_one_sigma(rng: np.random.Generator) -> None:
    """Counted data drawn at α = +1 (x scaled by 1 + δ): α̂ = 1 within its post-fit error.

    With R = 1 + θ for every event (counting only), the shape alone constrains α: the
    Fisher information of a scale is 2 δ² per event, so σ_α ≈ 1/√(2 δ² n) ≈ 0.11 here.
    """
    n = 4000
    data = rng.normal(size=(n, 1)) * (1.0 + DELTA)
    sample = rng.normal(size=(20000, 1))
    shape = LearnedShape.evaluate(
        "scale", "signal", gaussian_scale, data, rate_up=1.0, rate_down=1.0, sample=sample
    )
    c = np.tile([1.0, 1.0, 0.0], (n, 1))
    rate = RateModel.from_event_coefficients(c)

    def one(t: np.ndarray) -> np.ndarray:
        return polynomial_features(t, np.zeros(1))

    model = LikelihoodModel.single(c, one, rate, expected_events0=float(n))
    profiled = profile_log_likelihood(replace(model, modifiers=(shape,)), np.zeros((1, 1)))
    alpha_hat = profiled.alphas[0, 0, 0]
    sigma = 1.0 / np.sqrt(2 * DELTA**2 * n)
    assert alpha_hat == pytest.approx(1.0, abs=3 * sigma)
    assert profiled.converged.all()
    nominal = LearnedShape.evaluate(
        "scale", "signal", gaussian_scale, sample[:n], rate_up=1.0, rate_down=1.0, sample=sample
    )
    at_nominal = profile_log_likelihood(replace(model, modifiers=(nominal,)), np.zeros((1, 1)))
    assert abs(at_nominal.alphas[0, 0, 0]) < 3 * sigma
