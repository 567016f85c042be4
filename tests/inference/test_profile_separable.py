"""The separable profile of a mixture with shapes acting alike on every component
(madsbi.inference.profile, EventShape with ALL_COMPONENTS) against the general form and scipy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import minimize

from madsbi.inference.model import LikelihoodModel
from madsbi.inference.modifiers import EventShape, LearnedShape, Normalisation
from madsbi.inference.modifiers.shape import ALL_COMPONENTS
from madsbi.inference.newton import newton_maximise
from madsbi.inference.profile import (
    _general,
    is_separable,
    log_likelihood_at,
    profile_log_likelihood,
)
from madsbi.theory.polynomial import polynomial_features

from helpers.likelihood import paired_shape, signal_and_background

THETA0 = np.zeros(2)
GRID = np.stack(np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 3)), -1).reshape(-1, 2)
N = 150


def features(thetas: np.ndarray) -> np.ndarray:
    return polynomial_features(thetas, THETA0)


def shape_on(rng: np.random.Generator, component: str) -> EventShape:
    """A normalised variation (δ in ± pairs, the events their own nominal sample)."""
    return paired_shape(rng, N, 0.2, component, (1.05, 0.9))


def mixture(rng: np.random.Generator, modifiers: tuple[object, ...]) -> LikelihoodModel:
    """Signal + a θ-independent background, data like the model (Σ w = ν0)."""
    return replace(signal_and_background(rng, N), modifiers=modifiers)


def test_a_shape_on_all_components_acts_alike_on_each(rng: np.random.Generator) -> None:
    alike = shape_on(rng, ALL_COMPONENTS)
    one = EventShape(
        "shape", "signal", alike.log_up, alike.log_down, 1.05, 0.9,
        alike.sample_log_up, alike.sample_log_down,
    )  # fmt: skip
    assert alike.acts_alike
    assert not one.acts_alike
    alpha = np.array([[-1.7, 0.3, 2.2]])
    w = rng.uniform(0.5, 1.5, N)
    for name in ("signal", "background", "anything"):
        assert alike.acts_on(name)
        assert alike.has_event_factors(name)
        assert alike.rate_factor(name, 0.6) == one.rate_factor("signal", 0.6)
        np.testing.assert_array_equal(
            alike.event_log_factors(name, 0.6), one.event_log_factors("signal", 0.6)
        )
        for a, b in zip(
            alike.event_log_terms(name, alpha), one.event_log_terms("signal", alpha), strict=True
        ):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(
            alike.event_sum_terms(name, w, alpha[0]),
            one.event_sum_terms("signal", w, alpha[0]),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
    # one component: unchanged
    assert not one.acts_on("background")
    assert one.event_log_factors("background", 0.6) is None
    assert one.rate_factor("background", 0.6) == 1.0
    np.testing.assert_array_equal(one.event_sum_terms("background", w, alpha[0])[0], 0.0)
    # the learned shape takes the mode too
    learned = LearnedShape.evaluate(
        "l", ALL_COMPONENTS, lambda x: np.stack([x[:, 0], -x[:, 0]], 1), rng.normal(size=(5, 1)),
        rate_up=1.1, rate_down=0.9,
    )  # fmt: skip
    assert learned.acts_alike
    assert learned.event_log_factors("background", 1.0) is not None


def test_an_all_components_shape_keeps_the_profile_separable(rng: np.random.Generator) -> None:
    shape = shape_on(rng, ALL_COMPONENTS)
    lumi = Normalisation.on("lumi", 0.05)
    xsec = Normalisation.on("xsec", 0.1, ["signal", "background"])
    model = mixture(rng, (lumi, xsec, shape))
    assert is_separable(model)
    # the separable form at any α is the mixture likelihood
    alphas = rng.normal(0, 1.2, (GRID.shape[0], 3))
    at = log_likelihood_at(model, GRID, alphas)
    np.testing.assert_allclose(at[0], _general(model, GRID)(alphas)[0], rtol=1e-11, atol=1e-9)
    for g in (0, 6, 14):
        nuisances = dict(zip(["lumi", "xsec", "shape"], alphas[g], strict=True))
        ref = model.log_likelihood(GRID[g : g + 1], nuisances)[0, 0]
        assert at[0, g] == pytest.approx(ref, rel=1e-11, abs=1e-9)
    # its profile is the general one's (and the maximum scipy finds)
    prof = profile_log_likelihood(model, GRID)
    assert prof.converged.all()
    alpha, value, done = newton_maximise(
        _general(model, GRID), np.zeros((GRID.shape[0], 3)), [0, 1, 2]
    )
    assert done.all()
    np.testing.assert_allclose(prof.log_likelihood[0], value, rtol=0, atol=1e-8)
    np.testing.assert_allclose(prof.alphas[0], alpha, atol=1e-5)
    for g in (1, 7, 13):
        point = GRID[g : g + 1]

        def negative(a: np.ndarray, point: np.ndarray = point) -> float:
            nuisances = dict(zip(["lumi", "xsec", "shape"], a, strict=True))
            return float(-model.log_likelihood(point, nuisances)[0, 0])

        ref = minimize(negative, np.zeros(3), method="BFGS", options={"gtol": 1e-9})
        assert prof.log_likelihood[0, g] == pytest.approx(-ref.fun, abs=1e-8)


class Undeclared:
    """A modifier as its base, but not saying that its factors are alike on every component."""

    def __init__(self, base: object) -> None:
        self.base = base

    def __getattr__(self, name: str) -> object:
        if name == "acts_alike":
            raise AttributeError(name)
        return getattr(self.base, name)


def test_a_shape_on_one_component_is_not_separable(rng: np.random.Generator) -> None:
    lumi = Normalisation.on("lumi", 0.05)
    assert not is_separable(mixture(rng, (lumi, shape_on(rng, "signal"))))
    assert not is_separable(mixture(rng, (Normalisation.on("b", 0.1, ["background"]),)))
    # per-event factors on every component, not declared alike: not separable either
    alike = shape_on(rng, ALL_COMPONENTS)
    assert is_separable(mixture(rng, (lumi, alike)))
    assert not is_separable(mixture(rng, (lumi, Undeclared(alike))))
    # one component: always separable
    model = mixture(rng, (lumi, shape_on(rng, "signal")))
    assert is_separable(replace(model, components=model.components[:1]))
