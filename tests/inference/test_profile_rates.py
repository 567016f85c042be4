"""The profile's rate-separable form: alike shapes plus per-process normalisations."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import minimize

from madsbi.inference.model import LikelihoodModel
from madsbi.inference.modifiers import Normalisation
from madsbi.inference.modifiers.shape import ALL_COMPONENTS
from madsbi.inference.newton import newton_maximise
from madsbi.inference.profile import (
    _general,
    is_rate_separable,
    is_separable,
    log_likelihood_at,
    profile_log_likelihood,
)
from madsbi.inference.profile_rates import rate_separable_objective

from helpers.likelihood import paired_shape, signal_and_background

GRID = np.stack(np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 3)), -1).reshape(-1, 2)
N = 160
NAMES = ["lumi", "xsec_signal", "xsec_background", "shape"]


def model_with_normalisations(rng: np.random.Generator) -> LikelihoodModel:
    base = signal_and_background(rng, N)
    modifiers = (
        Normalisation.on("lumi", 0.05),
        Normalisation.on("xsec_signal", 0.1, ["signal"]),
        Normalisation.on("xsec_background", 0.3, ["background"]),
        paired_shape(rng, N, 0.2, ALL_COMPONENTS, (1.05, 0.9)),
    )
    return replace(base, modifiers=modifiers)


def test_per_process_normalisations_take_the_rate_separable_form(
    rng: np.random.Generator,
) -> None:
    model = model_with_normalisations(rng)
    assert not is_separable(model)
    assert is_rate_separable(model)
    # a shape of one component only is neither
    one = replace(model.modifiers[3], component="signal")
    assert not is_rate_separable(replace(model, modifiers=(*model.modifiers[:3], one)))


def test_value_gradient_hessian_are_the_general_forms(rng: np.random.Generator) -> None:
    """At any α (beyond ±1 too) the rate-separable objective is the general one."""
    from madsbi.inference.profile import _mixture_base, _modifiers, _n_and_weights, _poisson_rates

    model = model_with_normalisations(rng)
    n, w = _n_and_weights(model)
    fast = rate_separable_objective(
        model, _modifiers(model), _mixture_base(model, GRID), _poisson_rates(model, GRID), n, w
    )
    general = _general(model, GRID)
    for scale in (0.3, 1.0, 2.5):
        alphas = rng.normal(0.0, scale, (GRID.shape[0], len(NAMES)))
        for got, want in zip(fast(alphas), general(alphas), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)
    # with data that differ from the model (n ≠ Σ w) as well
    skewed = replace(model, weights=model.weights * rng.uniform(0.5, 1.5, N), n_observed=120.0)
    n, w = _n_and_weights(skewed)
    fast = rate_separable_objective(
        skewed, _modifiers(skewed), _mixture_base(skewed, GRID), _poisson_rates(skewed, GRID),
        n, w,
    )  # fmt: skip
    alphas = rng.normal(0.0, 1.0, (GRID.shape[0], len(NAMES)))
    for got, want in zip(fast(alphas), _general(skewed, GRID)(alphas), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)


def test_profile_is_the_general_ones_and_scipys(rng: np.random.Generator) -> None:
    model = model_with_normalisations(rng)
    model = replace(model, weights=model.weights * rng.uniform(0.7, 1.3, N))
    at = log_likelihood_at(model, GRID, rng.normal(0.0, 1.0, (GRID.shape[0], len(NAMES))))
    assert np.isfinite(at).all()
    prof = profile_log_likelihood(model, GRID)
    assert prof.converged.all()
    alpha, value, done = newton_maximise(
        _general(model, GRID), np.zeros((GRID.shape[0], len(NAMES))), range(len(NAMES))
    )
    assert done.all()
    np.testing.assert_allclose(prof.log_likelihood[0], value, rtol=0, atol=1e-8)
    np.testing.assert_allclose(prof.alphas[0], alpha, atol=1e-5)
    for g in (2, 7, 12):
        point = GRID[g : g + 1]

        def negative(a: np.ndarray, point: np.ndarray = point) -> float:
            return float(-model.log_likelihood(point, dict(zip(NAMES, a, strict=True)))[0, 0])

        ref = minimize(negative, np.zeros(len(NAMES)), method="BFGS", options={"gtol": 1e-9})
        assert prof.log_likelihood[0, g] == pytest.approx(-ref.fun, abs=1e-7)
    # fixing one normalisation profiles the others only
    fixed = profile_log_likelihood(model, GRID, fixed={"xsec_background": 0.5})
    np.testing.assert_array_equal(fixed.alphas[0, :, 2], 0.5)
    assert (fixed.log_likelihood <= prof.log_likelihood + 1e-9).all()
