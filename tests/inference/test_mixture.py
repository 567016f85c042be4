"""Mixtures of processes: eq. 59 on analytic densities, the collapse to C_e·Φ, backgrounds off."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.inference.limits import intervals_1d, q_statistic
from madsbi.inference.mixture import collapse, collapsed_coefficients
from madsbi.inference.model import Component, LikelihoodModel
from madsbi.inference.rate import RateModel
from madsbi.studies.toy_mixture import ExponentialProcess, GaussianProcess, ToyMixture, default_toy
from madsbi.theory.polynomial import polynomial_features

THETA0 = np.zeros(1)
GRID = np.linspace(-2.0, 2.0, 81)[:, None]
SIGNAL = GaussianProcess("signal", 1.0, 0.0, 1.0, 0.6, 0.3)
FAKES = ExponentialProcess("fakes", 0.4, -1.5, 0.8)
TOY = ToyMixture((SIGNAL, FAKES), 0.5)


def features(thetas: np.ndarray) -> np.ndarray:
    return polynomial_features(thetas, THETA0)


def draw_data(toy: ToyMixture, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Events of the mixture at θ0 (counts ∝ σ_c) and their labels."""
    sigma = toy.sigma0()
    counts = np.round(n * sigma / sigma.sum()).astype(int)
    samples = toy.draw(list(counts), seed)
    x = np.concatenate([s.x[:, 0] for s in samples])
    labels = np.concatenate([np.full(s.n_events, i) for i, s in enumerate(samples)])
    return x, labels


def analytic_model(toy: ToyMixture, x: np.ndarray, luminosity: float) -> LikelihoodModel:
    """One component per process: exact D_c (the classifier path) and exact R_c, ρ_c."""
    shares = toy.shares(x)
    coefficients = toy.reco_coefficients(x)
    components = tuple(
        Component(
            p.name,
            coefficients[i][None],
            features,
            RateModel.build(p.rate()),
            luminosity * p.sigma0,
            log1p=True,
            event_fractions=shares[:, i].copy(),
        )
        for i, p in enumerate(toy.processes)
    )
    return LikelihoodModel(components)


def eq59(x: np.ndarray, theta: np.ndarray, *, printed: bool = False) -> np.ndarray:
    """r(x|θ, θ0) of eq. 59 written out for the toy's signal and fakes, (G, N).

    ``printed``: the prefactor as printed in the paper, (σ_s(θ) + σ_b)/(σ_s(θ0) + σ_b); the
    ratio of eq. 58's densities has its inverse.
    """
    phi = features(theta)
    sig_theta = SIGNAL.sigma0 * (phi @ SIGNAL.rate())  # σ_s(θ), (G,)
    sig0, sig_b = SIGNAL.sigma0, FAKES.sigma0
    p_s0 = SIGNAL.density0(x, TOY.smearing) / sig0
    p_b = FAKES.density0(x, TOY.smearing) / sig_b
    # p_s(x|θ)/p_s(x|θ0) = R_s(x|θ)/ρ_s(θ)
    r_s = (SIGNAL.reco_coefficients(x, TOY.smearing) @ phi.T).T / (sig_theta / sig0)[:, None]
    with np.errstate(divide="ignore"):
        odds = np.where(p_b > 0, p_s0 / np.where(p_b > 0, p_b, 1.0), np.inf)
    pre = (sig0 + sig_b) / (sig_theta + sig_b)
    if printed:
        pre = 1.0 / pre
    num = 1.0 + (sig_theta / sig_b)[:, None] * odds[None] * r_s
    den = 1.0 + sig0 / sig_b * odds[None]
    finite = np.isfinite(odds)[None]
    # where p_b = 0 the ratio is the signal's alone: σ_s(θ) p_s(θ)/(σ_s0 p_s0) over the rates
    ratio = np.where(finite, num / np.where(finite, den, 1.0), (sig_theta / sig0)[:, None] * r_s)
    return np.asarray(pre[:, None] * ratio)


def test_eq59_is_the_ratio_of_eq58_and_the_printed_prefactor_is_inverted() -> None:
    x = np.linspace(-8.0, 12.0, 200_001)
    dx = x[1] - x[0]
    theta = np.array([[-1.0], [0.7], [1.5]])
    p0 = (SIGNAL.density0(x, 0.5) + FAKES.density0(x, 0.5)) / (SIGNAL.sigma0 + FAKES.sigma0)
    # ∫ p(x|θ0) r(x|θ) dx = 1 for a density ratio (trapezoid-free sum: smooth enough at 1e-4)
    norms = (eq59(x, theta) * p0).sum(1) * dx
    np.testing.assert_allclose(norms, 1.0, atol=2e-4)
    printed = (eq59(x, theta, printed=True) * p0).sum(1) * dx
    total = (SIGNAL.sigma0 * (features(theta) @ SIGNAL.rate()) + FAKES.sigma0) / (
        SIGNAL.sigma0 + FAKES.sigma0
    )
    np.testing.assert_allclose(printed, total**2, rtol=2e-4)  # ≠ 1 away from θ0


def test_theta_independent_component_gives_eq59_exactly() -> None:
    x, _ = draw_data(TOY, 2000, seed=1)
    lumi = 1.2
    model = analytic_model(TOY, x, lumi)
    nu0 = lumi * (SIGNAL.sigma0 + FAKES.sigma0)
    nu = lumi * (SIGNAL.sigma0 * (features(GRID) @ SIGNAL.rate()) + FAKES.sigma0)
    n = x.shape[0]
    direct = np.log(eq59(x, GRID)).sum(1) + n * np.log(nu / nu0) - (nu - nu0)
    np.testing.assert_allclose(model.log_likelihood(GRID)[0], direct, rtol=1e-12, atol=1e-9)
    # the collapsed one-component form scans with the compiled kernel, same numbers
    single = collapse(model, GRID)
    assert len(single.components) == 1
    assert single.components[0].log1p
    np.testing.assert_allclose(single.log_likelihood(GRID)[0], direct, rtol=1e-12, atol=1e-9)


def test_three_processes_collapse_to_the_mixture_coefficients() -> None:
    toy = default_toy()
    x, _ = draw_data(toy, 1500, seed=2)
    model = analytic_model(toy, x, 3.0)
    single = collapse(model, GRID)
    np.testing.assert_allclose(
        single.components[0].coefficients[0], toy.mixture_coefficients(x), rtol=1e-13, atol=1e-15
    )
    full = model.log_likelihood(GRID)[0]
    np.testing.assert_allclose(single.log_likelihood(GRID)[0], full, rtol=1e-12, atol=1e-9)
    # ν(θ)/ν0 is the collapsed rate
    nu = 3.0 * (toy.sigma0() @ (toy.rates() @ features(GRID).T))
    rho = single.components[0].rate.ratio(features(GRID))[0]
    np.testing.assert_allclose(rho, nu / nu[GRID.shape[0] // 2], rtol=1e-13)


def test_background_off_gives_the_signal_only_likelihood_and_intervals() -> None:
    toy = default_toy(background_scale=0.0)
    x, _ = draw_data(default_toy(), 3000, seed=3)  # any events; here the signal explains all
    x = x[x > -1.4]  # inside the fakes' support is not needed: their share is 0 everywhere
    model = analytic_model(toy, x, 2.0)
    signal = LikelihoodModel.single(
        SIGNAL.reco_coefficients(x, toy.smearing),
        features,
        RateModel.build(SIGNAL.rate()),
        expected_events0=2.0 * SIGNAL.sigma0,
        log1p=True,
    )
    ll_mix, ll_sig = model.log_likelihood(GRID)[0], signal.log_likelihood(GRID)[0]
    np.testing.assert_allclose(ll_mix, ll_sig, rtol=0, atol=1e-9)
    collapsed = collapse(model, GRID).log_likelihood(GRID)[0]
    np.testing.assert_allclose(collapsed, ll_sig, rtol=0, atol=1e-9)
    q_mix, q_sig = q_statistic(ll_mix), q_statistic(ll_sig)
    for level in (0.68, 0.95):
        a = intervals_1d(GRID[:, 0], q_mix, level)
        b = intervals_1d(GRID[:, 0], q_sig, level)
        assert len(a) == len(b) >= 1
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=0, atol=1e-9)


def test_collapse_refuses_per_component_poisson_factors() -> None:
    x, _ = draw_data(TOY, 300, seed=4)
    model = analytic_model(TOY, x, 1.0)
    sig, fakes = model.components
    other = RateModel.build(SIGNAL.rate() * np.array([1.0, 1.1, 0.9]))
    split = Component(
        sig.name, sig.coefficients, features, other, sig.expected_events0,
        RateModel.build(SIGNAL.rate()), True, sig.event_fractions,
    )  # fmt: skip
    with pytest.raises(InputError, match="ρ_P/ρ̂"):
        collapse(LikelihoodModel((split, fakes)), GRID)
    # not strict: the summed ratio over the ν-weighted rates (the pooled treatment)
    loose = collapse(LikelihoodModel((split, fakes)), GRID, strict=False).components[0]
    nu = np.array([sig.expected_events0, fakes.expected_events0])
    np.testing.assert_allclose(
        loose.rate.coefficients[0],
        (nu[0] * other.coefficients[0] + nu[1] * np.array([1.0, 0, 0])) / nu.sum(),
    )
    assert loose.poisson_rate is not None
    np.testing.assert_allclose(
        loose.poisson_rate.coefficients[0],
        (nu[0] * SIGNAL.rate() + nu[1] * np.array([1.0, 0, 0])) / nu.sum(),
    )
    # κ common to both (ρ̂_c = ρ_P,c): collapses, and agrees with the mixture
    joint = Component(
        sig.name, sig.coefficients, features, other, sig.expected_events0, other, True,
        sig.event_fractions,
    )  # fmt: skip
    mixed = LikelihoodModel((joint, fakes))
    np.testing.assert_allclose(
        collapse(mixed, GRID).log_likelihood(GRID),
        mixed.log_likelihood(GRID),
        rtol=1e-12,
        atol=1e-9,
    )


def test_collapse_refuses_different_features() -> None:
    x, _ = draw_data(TOY, 200, seed=5)
    sig, fakes = analytic_model(TOY, x, 1.0).components
    shifted = Component(
        fakes.name, fakes.coefficients, lambda t: polynomial_features(t, np.ones(1)),
        fakes.rate, fakes.expected_events0, None, True, fakes.event_fractions,
    )  # fmt: skip
    with pytest.raises(InputError, match="features"):
        collapse(LikelihoodModel((sig, shifted)), GRID)


def test_collapsed_coefficients_sum_the_shares() -> None:
    x, _ = draw_data(TOY, 100, seed=6)
    model = analytic_model(TOY, x, 1.0)
    c = collapsed_coefficients(model.components)
    shares = TOY.shares(x)
    expected = shares[:, :1] * SIGNAL.reco_coefficients(x, 0.5) + shares[:, 1:] * np.array(
        [1.0, 0.0, 0.0]
    )
    np.testing.assert_allclose(c[0], expected, rtol=1e-14)
