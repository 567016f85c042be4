"""The likelihood model (eq. 49): joint and split forms, mixtures, modifiers, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.inference.model import (
    Component,
    LikelihoodModel,
    poisson_term,
    scan,
    tabulated,
)
from madsbi.inference.modifiers import Normalisation
from madsbi.inference.rate import RateModel, data_weights
from madsbi.theory.polynomial import polynomial_features

from helpers.likelihood import quadratic_events

THETA0 = np.zeros(2)
GRID = np.stack(np.meshgrid(np.linspace(-1, 1, 7), np.linspace(-0.5, 0.5, 5)), -1).reshape(-1, 2)


def features(thetas: np.ndarray) -> np.ndarray:
    return polynomial_features(thetas, THETA0)


def ratios(c: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """R(x_e|θ) (N, G) written out."""
    return c @ features(thetas).T


@pytest.fixture
def events(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    c = quadratic_events(rng, 300, 2)
    w = rng.uniform(0.5, 1.5, 300)
    return c, w


def test_joint_form_is_eq_49(events: tuple[np.ndarray, np.ndarray]) -> None:
    c, w = events
    rate = RateModel.from_event_coefficients(c, w)
    model = LikelihoodModel.single(
        c, features, rate, expected_events0=80.0, weights=w, n_observed=90
    )
    r = ratios(c, GRID)
    rho = (w @ r) / w.sum()
    by_hand = (w[:, None] * np.log(r)).sum(0) - 80.0 * (rho - 1) + (90 - w.sum()) * np.log(rho)
    np.testing.assert_allclose(model.log_likelihood(GRID)[0], by_hand, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(
        model.log_likelihood(GRID), model.scan(GRID).log_full_ratio(80.0, 90)
    )


def test_split_form_takes_the_poisson_rate_in_the_poisson_term(
    events: tuple[np.ndarray, np.ndarray],
) -> None:
    c, w = events
    own = RateModel.from_event_coefficients(c, w)
    poisson = RateModel.build([1.0, 0.1, -0.2, 0.3, 0.2, 0.1])
    model = LikelihoodModel.single(
        c, features, own, expected_events0=50.0, weights=w, poisson_rate=poisson
    )
    r = ratios(c, GRID)
    rho_hat = (w @ r) / w.sum()
    rho_p = poisson.ratio(features(GRID))[0]
    n = w.sum()
    by_hand = (
        (w[:, None] * np.log(r)).sum(0)
        - n * np.log(rho_hat)
        + n * np.log(rho_p)
        - 50.0 * (rho_p - 1)
    )
    np.testing.assert_allclose(model.log_likelihood(GRID)[0], by_hand, rtol=1e-12, atol=1e-9)
    # ρ_P = ρ̂: both forms are the same likelihood.
    same = LikelihoodModel.single(
        c, features, own, expected_events0=50.0, weights=w, poisson_rate=own
    )
    joint = LikelihoodModel.single(c, features, own, expected_events0=50.0, weights=w)
    np.testing.assert_allclose(same.log_likelihood(GRID), joint.log_likelihood(GRID), atol=1e-9)


def test_general_path_of_one_component_is_the_split_form(
    events: tuple[np.ndarray, np.ndarray],
) -> None:
    c, w = events
    own = RateModel.from_event_coefficients(c, w)
    poisson = RateModel.build([1.0, 0.2, 0.1, 0.3, 0.2, 0.0])
    model = LikelihoodModel.single(
        c, features, own, expected_events0=50.0, weights=w, poisson_rate=poisson
    )
    np.testing.assert_allclose(
        model._mixture_reference(GRID, {}), model.log_likelihood(GRID), rtol=1e-12, atol=1e-9
    )


def test_two_components_follow_the_mixture(rng: np.random.Generator) -> None:
    """Signal (θ-dependent) + background (θ-independent), by the densities per event."""
    n = 200
    c_sig = quadratic_events(rng, n, 2)
    c_bkg = np.zeros_like(c_sig)
    c_bkg[:, 0] = 1.0  # R_b = 1 at every θ
    p_sig, p_bkg = rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 2.0, n)  # p_c(x_e|θ0)
    nu_sig0, nu_bkg0 = 70.0, 30.0
    total = nu_sig0 * p_sig + nu_bkg0 * p_bkg
    rate = RateModel.from_event_coefficients(c_sig)
    signal = Component(
        "signal", c_sig[None], features, rate, nu_sig0, event_fractions=nu_sig0 * p_sig / total
    )
    background = Component(
        "background",
        c_bkg[None],
        features,
        RateModel.build([1.0, 0, 0, 0, 0, 0]),
        nu_bkg0,
        event_fractions=nu_bkg0 * p_bkg / total,
    )
    model = LikelihoodModel((signal, background))
    rho = rate.ratio(features(GRID))[0]
    # log L(θ) − log L(θ0) with p_s(x|θ) = R p_s(x|θ0)/ρ and ν_s(θ) = ν_s0 ρ.
    mix = nu_sig0 * ratios(c_sig, GRID) * p_sig[:, None] + nu_bkg0 * p_bkg[:, None]
    by_hand = np.log(mix / total[:, None]).sum(0) - (nu_sig0 * rho + nu_bkg0 - 100.0)
    np.testing.assert_allclose(model.log_likelihood(GRID)[0], by_hand, rtol=1e-12, atol=1e-9)
    with pytest.raises(InputError, match="use log_likelihood"):
        model.scan(GRID)


def test_normalisation_scales_nu_and_adds_its_constraint(
    events: tuple[np.ndarray, np.ndarray],
) -> None:
    c, _ = events
    rate = RateModel.from_event_coefficients(c)
    lumi = Normalisation.on("lumi", 0.02)
    base = LikelihoodModel.single(c, features, rate, expected_events0=100.0)
    model = LikelihoodModel(base.components, modifiers=(lumi,))
    np.testing.assert_array_equal(
        model.log_likelihood(GRID, {"lumi": 0.0}), base.log_likelihood(GRID)
    )
    eta = 1.02**1.5
    r = ratios(c, GRID)
    rho = r.mean(0)
    by_hand = np.log(r).sum(0) + c.shape[0] * np.log(eta) - 100.0 * (eta * rho - 1) - 1.5**2 / 2
    got = model.log_likelihood(GRID, {"lumi": 1.5})[0]
    np.testing.assert_allclose(got, by_hand, rtol=1e-12, atol=1e-9)
    other = Normalisation.on("xsec", 0.3, ["background"])
    assert other.rate_factor("signal", 2.0) == 1.0
    assert other.rate_factor("background", -1.0) == pytest.approx(1 / 1.3)
    with pytest.raises(InputError, match=r"\['nope'\] are not parameters"):
        model.log_likelihood(GRID, {"nope": 1.0})
    with pytest.raises(InputError, match="sigma must be"):
        Normalisation.on("bad", -0.1)


def test_members_and_bad_inputs(events: tuple[np.ndarray, np.ndarray]) -> None:
    c, w = events
    c3 = np.stack([c, c * 1.01])
    every = RateModel.from_event_coefficients(c3, w)
    model = LikelihoodModel.single(c3, features, every, expected_events0=20.0, weights=w)
    ll = model.log_likelihood(GRID)
    assert ll.shape == (2, GRID.shape[0])
    for m in range(2):
        single = LikelihoodModel.single(
            c3[m], features, every.member(m), expected_events0=20.0, weights=w
        )
        np.testing.assert_allclose(single.log_likelihood(GRID)[0], ll[m], rtol=1e-12, atol=1e-12)
    with pytest.raises(InputError, match="at least one"):
        LikelihoodModel(())
    comp = model.components[0]
    with pytest.raises(InputError, match="event_fractions"):
        LikelihoodModel((comp, comp))
    with pytest.raises(InputError, match="another grid"):
        tabulated(GRID, features(GRID))(GRID[:3])


def test_poisson_term_and_data_weights() -> None:
    rho = np.array([0.5, 1.0, 2.0])
    np.testing.assert_array_equal(poisson_term(rho, 10.0), [5.0, 0.0, -10.0])
    w = np.array([1.0, 3.0])
    np.testing.assert_array_equal(data_weights("counts", w, 7.0), [1.0, 1.0])
    np.testing.assert_allclose(data_weights("asimov", w, 8.0), [2.0, 6.0])
    with pytest.raises(InputError, match="data_mode"):
        data_weights("both", w, 1.0)


def test_scan_is_reexported_from_likelihood() -> None:
    from madsbi.inference import likelihood

    assert likelihood.scan is scan
