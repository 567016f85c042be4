"""The profile over nuisance parameters (issue 27): exact widths, pulls, both forms agree."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import minimize

from madsbi.errors import InputError
from madsbi.inference.limits import intervals_1d, q_statistic
from madsbi.inference.model import LikelihoodModel, Modifier
from madsbi.inference.modifiers import EventShape, Normalisation
from madsbi.inference.profile import (
    _general,
    _separable,
    is_separable,
    log_likelihood_at,
    newton_maximise,
    profile_log_likelihood,
    profiled_log_likelihoods,
)
from madsbi.inference.rate import RateModel
from madsbi.inference.search import maximise
from madsbi.theory.polynomial import polynomial_features

from helpers.likelihood import paired_shape, quadratic_events, signal_and_background

THETA0 = np.zeros(2)
GRID = np.stack(np.meshgrid(np.linspace(-1, 1, 7), np.linspace(-0.5, 0.5, 5)), -1).reshape(-1, 2)


def features(thetas: np.ndarray) -> np.ndarray:
    return polynomial_features(thetas, THETA0)


def asimov_model(
    c: np.ndarray,
    nu0: float,
    modifiers: tuple[Modifier, ...] = (),
    weights: np.ndarray | None = None,
) -> LikelihoodModel:
    """The events of c as an Asimov sample of ν0 events at θ0 (rate from the same events)."""
    w = np.full(c.shape[0], nu0 / c.shape[0]) if weights is None else weights
    rate = RateModel.from_event_coefficients(c)
    base = LikelihoodModel.single(c, features, rate, expected_events0=nu0, weights=w)
    return replace(base, modifiers=modifiers)


def test_stat_only_is_unchanged_bit_for_bit(rng: np.random.Generator) -> None:
    c = quadratic_events(rng, 300, 2)
    plain = asimov_model(c, 500.0)
    result = profile_log_likelihood(plain, GRID)
    np.testing.assert_array_equal(result.log_likelihood, plain.log_likelihood(GRID))
    assert result.alphas.shape == (1, GRID.shape[0], 0)
    lumi = asimov_model(c, 500.0, (Normalisation.on("lumi", 0.02),))
    fixed = profile_log_likelihood(lumi, GRID, fixed={"lumi": 0.0})
    np.testing.assert_array_equal(fixed.log_likelihood, plain.log_likelihood(GRID))


def test_counting_experiment_profiled_width_is_stat_plus_syst() -> None:
    """ν = ν0 μ (1+σ)^α, Asimov n = ν0: var(log μ) = 1/ν0 + log²(1+σ) to leading order."""
    nu0, sigma = 20000.0, 0.03
    c = np.tile([1.0, 1.0, 0.0], (50, 1))  # R = ρ = 1 + θ = μ: counting only
    one = lambda t: polynomial_features(t, np.zeros(1))  # noqa: E731
    rate = RateModel.from_event_coefficients(c)
    base = LikelihoodModel.single(c, one, rate, expected_events0=nu0, weights=np.full(50, nu0 / 50))
    model = replace(base, modifiers=(Normalisation.on("lumi", sigma),))
    u = np.linspace(-0.12, 0.12, 2401)  # log μ
    line = np.expm1(u)[:, None]
    stat = base.log_likelihood(line)[0]
    full = profile_log_likelihood(model, line).log_likelihood[0]
    assert (full >= stat - 1e-9).all()
    # Exact: the profile in t = u + α b is max_α n t − ν0 e^t − α²/2, solved by scipy per point.
    b = np.log1p(sigma)

    def exact(ui: float) -> float:
        res = minimize(
            lambda a: -(nu0 * (ui + a[0] * b) - nu0 * np.expm1(ui + a[0] * b) - a[0] ** 2 / 2),
            [0.0],
            tol=1e-14,
        )
        return float(-res.fun)

    for i in range(0, u.size, 300):
        assert full[i] == pytest.approx(exact(u[i]), abs=1e-6)
    ((lo_s, hi_s),) = intervals_1d(u, q_statistic(stat), 0.6827)
    ((lo_f, hi_f),) = intervals_1d(u, q_statistic(full), 0.6827)
    assert lo_f < lo_s
    assert hi_f > hi_s
    expected = np.sqrt(1 / nu0 + b**2)
    assert (hi_f - lo_f) / 2 == pytest.approx(expected, rel=0.01)
    assert (hi_s - lo_s) / 2 == pytest.approx(np.sqrt(1 / nu0), rel=0.01)


def test_full_intervals_contain_stat_only_and_asimov_pulls_vanish(
    rng: np.random.Generator,
) -> None:
    c = quadratic_events(rng, 400, 2)
    shape = paired_shape(rng, 400, 0.2)
    model = asimov_model(c, 2000.0, (Normalisation.on("lumi", 0.05), shape))
    stat = replace(model, modifiers=())
    at_nominal = profile_log_likelihood(model, THETA0[None])
    np.testing.assert_allclose(at_nominal.alphas[0, 0], 0.0, atol=1e-9)
    for i in range(2):
        line = np.zeros((801, 2))
        line[:, i] = np.linspace(-0.6, 0.6, 801)
        q_stat = q_statistic(stat.log_likelihood(line)[0])
        q_full = q_statistic(profile_log_likelihood(model, line).log_likelihood[0])
        assert (q_full <= q_stat + 1e-9).all()
        for level in (0.68, 0.95):
            ((s_lo, s_hi),) = intervals_1d(line[:, i], q_stat, level)
            ((f_lo, f_hi),) = intervals_1d(line[:, i], q_full, level)
            assert f_lo <= s_lo
            assert f_hi >= s_hi


def test_pulled_nuisances_are_recovered(rng: np.random.Generator) -> None:
    """Data generated with α = +1 of a shape and a luminosity nuisance: the fit finds both."""
    n, nu0 = 600, 4000.0
    c = quadratic_events(rng, n, 2)
    shape = paired_shape(rng, n, 0.3)
    lumi = Normalisation.on("lumi", 0.1)
    # The nominal events reweighted to α = +1: shape r(x|+1), rate × 1.1.
    shifted = 1.1 * nu0 / n * np.exp(shape.log_up)
    model = asimov_model(c, nu0, (lumi, shape), weights=shifted)
    [ll] = profiled_log_likelihoods([model])
    lo, hi = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    theta_hat, _ = maximise(ll, lo, hi)
    alpha_lumi, alpha_shape = profile_log_likelihood(model, theta_hat[None]).alphas[0, 0]
    # The shape alone (≈ ν0 var δ = 360) constrains its α to ≈ 0.05; the rate
    # (ν0 log²1.1 ≈ 36) the luminosity's to ≈ 0.2, less what θ takes of the excess.
    assert alpha_shape == pytest.approx(1.0, abs=0.15)
    assert alpha_lumi == pytest.approx(1.0, abs=0.35)
    np.testing.assert_allclose(theta_hat, 0.0, atol=0.1)
    stat = replace(model, modifiers=())
    [stat_ll] = profiled_log_likelihoods([stat])
    assert ll(theta_hat[None])[0] > stat_ll(theta_hat[None])[0] + 10.0


def test_general_form_agrees_with_separable_and_with_the_mixture(
    rng: np.random.Generator,
) -> None:
    c = quadratic_events(rng, 200, 2)
    w = rng.uniform(0.5, 1.5, 200)
    shape = EventShape(
        "shape", "signal", rng.normal(0, 0.2, 200), rng.normal(0, 0.2, 200), 1.1, 0.8
    )
    model = asimov_model(c, 300.0, (Normalisation.on("lumi", 0.1), shape), weights=w)
    model = replace(model, n_observed=320.0)
    assert is_separable(model)
    alphas = rng.normal(0, 1.2, (GRID.shape[0], 2))
    at = log_likelihood_at(model, GRID, alphas)
    general = _general(model, GRID)(alphas)[0]
    np.testing.assert_allclose(at[0], general, rtol=1e-10, atol=1e-8)
    for g in (0, 7, 20):
        nuisances = {"lumi": alphas[g, 0], "shape": alphas[g, 1]}
        ref = model.log_likelihood(GRID[g : g + 1], nuisances)[0, 0]
        assert at[0, g] == pytest.approx(ref, rel=1e-10, abs=1e-8)
    prof = profile_log_likelihood(model, GRID)
    start = np.zeros((GRID.shape[0], 2))
    alpha, value, done = newton_maximise(_general(model, GRID), start, [0, 1])
    assert done.all()
    assert prof.converged.all()
    np.testing.assert_allclose(prof.log_likelihood[0], value, rtol=1e-10, atol=1e-7)
    np.testing.assert_allclose(prof.alphas[0], alpha, atol=1e-5)


@pytest.mark.parametrize("form", ["separable", "general"])
def test_gradient_and_hessian_are_finite_differences(rng: np.random.Generator, form: str) -> None:
    c = quadratic_events(rng, 100, 2)
    shape = EventShape(
        "shape", "signal", rng.normal(0, 0.3, 100), rng.normal(0, 0.3, 100), 1.2, 0.9
    )
    model = asimov_model(c, 150.0, (Normalisation.on("lumi", 0.1), shape))
    grid = GRID[:6]
    objective = _separable(model, grid)[1] if form == "separable" else _general(model, grid)
    h = 1e-5
    for alpha in (rng.normal(0, 0.5, (6, 2)), rng.normal(0, 2.0, (6, 2))):
        _, grad, hess = objective(alpha)
        for k in range(2):
            step = np.zeros(2)
            step[k] = h
            plus, minus = objective(alpha + step), objective(alpha - step)
            np.testing.assert_allclose(
                grad[:, k], (plus[0] - minus[0]) / (2 * h), rtol=1e-5, atol=1e-5
            )
            np.testing.assert_allclose(
                hess[:, :, k], (plus[1] - minus[1]) / (2 * h), rtol=1e-5, atol=1e-5
            )


def test_two_components_profile_against_scipy(rng: np.random.Generator) -> None:
    """Signal + background with a background normalisation and a signal shape."""
    n = 150
    base = signal_and_background(rng, n)
    # A realistic variation (normalised, log r(x|−1) ≈ −log r(x|+1)) on data like the model
    # (Σ w = ν0): unrelated ℓ± or data far from the model make the profile multimodal in α,
    # and Newton finds the maximum it reaches from α = 0.
    shape = replace(paired_shape(rng, n, 0.2), rate_up=1.05, rate_down=0.9)
    fakes = Normalisation.on("xsec_background", 0.3, ["background"])
    lumi = Normalisation.on("lumi", 0.02)
    model = replace(base, modifiers=(lumi, fakes, shape))
    assert not is_separable(model)
    assert is_separable(replace(model, modifiers=(lumi,)))
    grid = GRID[::5]
    prof = profile_log_likelihood(model, grid)
    assert prof.converged.all()
    for g in range(grid.shape[0]):
        point = grid[g : g + 1]

        def negative(a: np.ndarray, point: np.ndarray = point) -> float:
            nuisances = dict(zip(["lumi", "xsec_background", "shape"], a, strict=True))
            return float(-model.log_likelihood(point, nuisances)[0, 0])

        ref = minimize(
            negative,
            np.zeros(3),
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-11, "maxiter": 5000},
        )
        assert prof.log_likelihood[0, g] == pytest.approx(-ref.fun, abs=1e-6)
        np.testing.assert_allclose(prof.alphas[0, g], ref.x, atol=1e-3)
    # Fixing one nuisance profiles the others only.
    fixed = profile_log_likelihood(model, grid, fixed={"xsec_background": 0.5})
    np.testing.assert_array_equal(fixed.alphas[0, :, 1], 0.5)
    assert (fixed.log_likelihood <= prof.log_likelihood + 1e-9).all()


def test_bad_inputs(rng: np.random.Generator) -> None:
    c = quadratic_events(rng, 50, 2)
    model = asimov_model(c, 100.0, (Normalisation.on("lumi", 0.02),))
    with pytest.raises(InputError, match=r"\['nope'\] are not nuisances"):
        profile_log_likelihood(model, GRID, fixed={"nope": 1.0})
    with pytest.raises(InputError, match="must be finite"):
        profile_log_likelihood(model, GRID, fixed={"lumi": np.inf})
    with pytest.raises(InputError, match="alphas: expected"):
        log_likelihood_at(model, GRID, np.zeros((3, 1)))

    class Plain:
        name = "plain"

    with pytest.raises(InputError, match="cannot be profiled"):
        profile_log_likelihood(replace(model, modifiers=(Plain(),)), GRID)  # type: ignore[arg-type]


def test_batched_cholesky_against_numpy(rng: np.random.Generator) -> None:
    """The Newton step's batched Cholesky: numpy's factor and solve where −H is positive
    definite, and the indefinite matrices flagged (they take the eigenvalue step)."""
    from madsbi.inference.newton import _ascent_step, cholesky_rows, cholesky_solve

    a = rng.normal(size=(300, 5, 5))
    m = a @ a.transpose(0, 2, 1) + 0.1 * np.eye(5)
    m[:40] -= 4.0 * np.eye(5)  # indefinite
    factor, ok = cholesky_rows(m, 1e-9)
    np.testing.assert_array_equal(ok, np.linalg.eigvalsh(m).min(axis=1) > 0)
    np.testing.assert_allclose(factor[ok], np.linalg.cholesky(m[ok]), rtol=0, atol=1e-12)
    g = rng.normal(size=(300, 5))
    x = cholesky_solve(factor[ok], g[ok])
    np.testing.assert_allclose(x, np.linalg.solve(m[ok], g[ok][..., None])[..., 0], atol=1e-10)
    # The step: −H⁻¹g where −H is positive definite, an ascent direction everywhere.
    step, decrement = _ascent_step(g, -m, np.arange(5))
    np.testing.assert_allclose(step[ok], x, rtol=0, atol=1e-12)
    assert (decrement > 0).all()
