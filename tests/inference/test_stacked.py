"""Mixtures by the compiled scan in the stacked basis, against the plain float64 reference."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.inference.gridscan import MAX_COEFFICIENTS
from madsbi.inference.model import Component, LikelihoodModel
from madsbi.inference.modifiers import EventShape, Normalisation
from madsbi.inference.rate import RateModel
from madsbi.inference.stacked import stacked_basis, stacked_event_sums
from madsbi.theory.polynomial import polynomial_features

from helpers.likelihood import quadratic_events

THETA0 = np.zeros(2)
GRID = np.stack(np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-0.6, 0.6, 7)), -1).reshape(-1, 2)
RTOL = 1e-9


def features(thetas: np.ndarray) -> np.ndarray:
    return polynomial_features(thetas, THETA0)


def constant(thetas: np.ndarray) -> np.ndarray:
    """Φ of a θ-independent component in its own one-column basis."""
    return np.ones((thetas.shape[0], 1))


def _component(
    rng: np.random.Generator,
    name: str,
    n: int,
    members: int,
    *,
    log1p: bool,
    poisson: bool,
    rate_per_member: bool,
) -> Component:
    base, other = quadratic_events(rng, n, 2), quadratic_events(rng, n, 2)
    c = np.stack([base + 0.1 * m * other for m in range(members)])  # R > 0 at every θ
    # log1p: C_e0 = 1; else C_e0 ≠ 1 (stacking must use the full dot product)
    c = c / c[..., :1] if log1p else c * rng.uniform(0.7, 1.3, size=(1, n, 1))
    rate = RateModel(c.mean(1) if rate_per_member else c.mean((0, 1))[None])
    exact = None
    if poisson:
        exact = RateModel((c.mean((0, 1)) + rng.normal(0, 0.02, 6) * [0, 1, 1, 1, 1, 1])[None])
    nu = float(rng.uniform(20, 200))
    return Component(name, c, features, rate, nu, exact, log1p)


def _mixture(
    seed: int,
    n_components: int,
    members: int = 1,
    *,
    poisson: bool = True,
    rate_per_member: bool = True,
    weights: bool = True,
    n_observed: float | None = None,
    flat: bool = False,
) -> LikelihoodModel:
    """A random mixture; ``flat`` adds a θ-independent component of its own basis (K = 1)."""
    rng = np.random.default_rng(seed)
    n = 250
    comps = []
    for i in range(n_components - flat):
        log1p, exact = i % 2 == 0, poisson and i != 1
        comps.append(_component(rng, f"c{i}", n, members, log1p=log1p, poisson=exact,
                                rate_per_member=rate_per_member))  # fmt: skip
    if flat:
        ones = np.ones((members, n, 1))
        comps.append(Component("flat", ones, constant, RateModel(np.ones((1, 1))), 30.0))
    if len(comps) > 1:
        raw = rng.uniform(0.1, 1.0, size=(n, len(comps)))
        shares = raw / raw.sum(1, keepdims=True)
        comps = [replace(c, event_fractions=shares[:, i].copy()) for i, c in enumerate(comps)]
    w = rng.uniform(0.5, 1.5, n) if weights else None
    return LikelihoodModel(tuple(comps), w, n_observed)


def _shape(rng: np.random.Generator, component: str, n: int) -> EventShape:
    return EventShape(
        "shape", component, 0.1 * rng.normal(size=n), -0.08 * rng.normal(size=n), 1.04, 0.97
    )


def _assert_reference(model: LikelihoodModel, nuisances: dict[str, float] | None = None) -> None:
    alphas = model.nuisance_values(nuisances)
    got = model.log_likelihood(GRID, nuisances)
    ref = model._mixture_reference(GRID, alphas)
    assert got.shape == ref.shape == (model.components[0].n_members, GRID.shape[0])
    assert np.isfinite(ref).all()
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=0)


@pytest.mark.parametrize("n_components", [1, 2, 3])
@pytest.mark.parametrize("members", [1, 3])
def test_compiled_mixture_is_the_reference(n_components: int, members: int) -> None:
    # ρ_P ≠ ρ̂ (exact Poisson rates), ρ̂ per member: Φ' differs per member.
    model = _mixture(10 * n_components + members, n_components, members, n_observed=260.0)
    if n_components == 1:  # the one-component general path needs a non-zero α
        model = replace(model, modifiers=(Normalisation.on("lumi", 0.03),))
        _assert_reference(model, {"lumi": 0.7})
    else:
        _assert_reference(model)


@pytest.mark.parametrize("rate_per_member", [True, False])
@pytest.mark.parametrize("poisson", [True, False])
def test_rates_shared_or_per_member_and_without_poisson_rates(
    rate_per_member: bool, poisson: bool
) -> None:
    model = _mixture(3, 3, 2, poisson=poisson, rate_per_member=rate_per_member, flat=True)
    _assert_reference(model)
    basis = stacked_basis(model, GRID)
    # Φ' is per member only where the κ_c = ρ_P,c/ρ̂_c are.
    assert basis.features.shape[0] == (2 if poisson and rate_per_member else 1)


@pytest.mark.parametrize("weights", [True, False])
def test_event_fractions_weights_and_n_observed(weights: bool) -> None:
    # One component, no shares (event_fractions None), with and without weights.
    single = _mixture(5, 1, 2, weights=weights)
    single = replace(single, modifiers=(Normalisation.on("lumi", 0.05),))
    assert single.components[0].event_fractions is None
    _assert_reference(single, {"lumi": -1.2})
    for n_obs in (None, 123.0):
        _assert_reference(replace(_mixture(6, 2, 2, weights=weights), n_observed=n_obs))


def test_modifiers_with_event_and_rate_factors_at_non_zero_alpha() -> None:
    rng = np.random.default_rng(7)
    model = _mixture(8, 3, 3, n_observed=300.0, flat=True)
    mods = (
        Normalisation.on("lumi", 0.02),
        Normalisation.on("xsec", 0.2, ["c1"]),
        _shape(rng, "c0", model.n_events),
        replace(_shape(rng, "c1", model.n_events), name="shape1"),
    )
    model = replace(model, modifiers=mods)
    for alphas in ({"lumi": 0.8, "xsec": -1.3, "shape": 0.6, "shape1": -2.1}, {"shape": 1.7}):
        _assert_reference(model, alphas)
    # α = 0 of every modifier: the stat-only mixture, constraint 0.
    bare = replace(model, modifiers=())
    np.testing.assert_allclose(
        model.log_likelihood(GRID), bare.log_likelihood(GRID), rtol=1e-12, atol=0
    )


def test_the_stacked_basis_is_the_mixture_density_and_rate() -> None:
    rng = np.random.default_rng(4)
    model = _mixture(9, 3, 2, flat=True)
    model = replace(model, modifiers=(_shape(rng, "c1", model.n_events),))
    shape = model.modifiers[0]
    alpha = 0.4
    full = stacked_basis(model, GRID, {"shape": alpha}, compact=False)
    small = stacked_basis(model, GRID, {"shape": alpha})
    assert full.coefficients.shape[2] == 6 + 6 + 1
    for m in range(2):
        density = np.zeros((model.n_events, GRID.shape[0]))
        nu = np.zeros(GRID.shape[0])
        for comp in model.components:
            phi = comp.features(GRID)
            rho_hat = comp.rate.ratio(phi)[min(m, comp.rate.coefficients.shape[0] - 1)]
            rho_p = rho_hat if comp.poisson_rate is None else comp.poisson_rate.ratio(phi)[0]
            eta = shape.rate_factor(comp.name, alpha)
            log_r = shape.event_log_factors(comp.name, alpha)
            r = np.ones(model.n_events) if log_r is None else np.exp(log_r)
            share = comp.event_fractions * r
            density += share[:, None] * (comp.coefficients[m] @ phi.T) * eta * rho_p / rho_hat
            nu += comp.expected_events0 * eta * rho_p
        for basis in (full, small):
            c, phi_s, s = basis.member(m)
            np.testing.assert_allclose(c @ phi_s.T, density, rtol=1e-12)
            np.testing.assert_allclose(basis.expected_events[m], nu, rtol=1e-12)
            # ν(θ, α)/ν0 = s'·Φ'
            np.testing.assert_allclose(s @ phi_s.T, nu / basis.expected_events0, rtol=1e-12)
    assert full.expected_events0 == pytest.approx(sum(c.expected_events0 for c in model.components))


def test_equal_blocks_merge_and_zero_columns_drop() -> None:
    # Without Poisson rates κ_c = 1: the two components of the polynomial basis have equal
    # Φ' and merge into one block (the collapse); the θ-independent one keeps its column.
    model = _mixture(12, 3, 2, poisson=False, rate_per_member=True, flat=True)
    small = stacked_basis(model, GRID)
    assert small.coefficients.shape[2] == 6 + 1
    _assert_reference(model)


def test_a_non_positive_density_gives_minus_infinity_as_the_reference() -> None:
    model = _mixture(13, 2, 2, weights=True)
    c = model.components[0]
    bad = c.coefficients.copy()
    bad[:, 3] = -50.0  # R < 0 for every θ ≠ θ0 … and at θ0 too
    shares = np.zeros(model.n_events)
    shares[3] = 1.0
    comps = (
        replace(c, coefficients=bad, event_fractions=shares),
        replace(model.components[1], event_fractions=1.0 - shares),
    )
    broken = replace(model, components=comps)
    got = broken.log_likelihood(GRID)
    ref = broken._mixture_reference(GRID, {})
    assert np.isneginf(ref).all()
    np.testing.assert_array_equal(got, ref)
    # an event of weight 0 adds nothing (the reference's 0·(−inf) is NaN)
    w = broken.weights.copy()
    w[3] = 0.0
    zero = replace(broken, weights=w)
    clean = replace(zero, components=(replace(comps[0], coefficients=c.coefficients), comps[1]))
    np.testing.assert_allclose(
        zero.log_likelihood(GRID), clean._mixture_reference(GRID, {}), rtol=RTOL
    )
    # a negative weight on a clamped event: the plain sums (+inf)
    w[3] = -1.0
    negative = replace(broken, weights=w)
    assert stacked_event_sums(stacked_basis(negative, GRID), w) is None
    np.testing.assert_array_equal(
        negative.log_likelihood(GRID), negative._mixture_reference(GRID, {})
    )


def test_too_many_columns_use_the_reference_and_bad_rates_are_refused() -> None:
    model = _mixture(14, 2, 1, poisson=True)
    wide = []
    for i, c in enumerate(model.components):
        k = MAX_COEFFICIENTS // 2 + 1
        coeff = np.concatenate([c.coefficients, np.zeros((1, model.n_events, k - 6))], axis=2)
        coeff[..., 6:] = 1e-3

        def phi(thetas: np.ndarray, k: int = k) -> np.ndarray:
            return np.concatenate([features(thetas), np.zeros((thetas.shape[0], k - 6))], 1)

        pad = np.zeros((1, k - 6))
        rate = RateModel(np.concatenate([c.rate.coefficients, pad], 1))
        exact = None
        if c.poisson_rate is not None:
            exact = RateModel(np.concatenate([c.poisson_rate.coefficients, pad], 1))
        wide.append(replace(c, name=f"w{i}", coefficients=coeff, features=phi, rate=rate,
                            poisson_rate=exact))  # fmt: skip
    big = replace(model, components=tuple(wide))
    assert stacked_basis(big, GRID).coefficients.shape[2] > MAX_COEFFICIENTS
    assert stacked_event_sums(stacked_basis(big, GRID), big.weights) is None
    np.testing.assert_allclose(big.log_likelihood(GRID), model.log_likelihood(GRID), rtol=RTOL)
    negative = replace(model.components[0], rate=RateModel(-model.components[0].rate.coefficients))
    broken = replace(model, components=(negative, model.components[1]))
    for call in (lambda: broken.log_likelihood(GRID), lambda: broken._mixture_reference(GRID, {})):
        with pytest.raises(InputError, match="component 'c0': σ\\(θ\\)/σ\\(θ0\\) is not positive"):
            call()
    with pytest.raises(InputError, match=r"\['nope'\] are not parameters"):
        stacked_basis(model, GRID, {"nope": 1.0})
