"""Analytic event coefficients for the likelihood tests (binned, dense coverage)."""

from __future__ import annotations

import numpy as np

from madsbi.inference.model import Component, LikelihoodModel
from madsbi.inference.modifiers import EventShape
from madsbi.inference.rate import RateModel
from madsbi.theory.polynomial import polynomial_features


def quadratic_events(rng: np.random.Generator, n_events: int, n_params: int) -> np.ndarray:
    """c_e = c_e/c_e0 of R(x_e|θ) = (1 + a·θ)² + θᵀ B θ with B ⪰ 0: positive everywhere."""
    a = rng.normal(0.0, 0.5, size=(n_events, n_params))
    b = rng.normal(0.0, 0.3, size=(n_events, n_params, n_params))
    hess = np.einsum("eij,ekj->eik", b, b) + np.einsum("ei,ej->eij", a, a)
    coef = [np.ones(n_events)]
    coef += [2.0 * a[:, i] for i in range(n_params)]
    coef += [hess[:, i, i] for i in range(n_params)]
    coef += [2.0 * hess[:, i, j] for i in range(n_params) for j in range(i + 1, n_params)]
    return np.stack(coef, axis=1)


def _features(thetas: np.ndarray) -> np.ndarray:
    return polynomial_features(thetas, np.zeros(2))


def signal_and_background(rng: np.random.Generator, n_events: int) -> LikelihoodModel:
    """Signal (quadratic in two parameters, ν = 70) + a θ-independent background (ν = 30).

    Per-event densities p_sig, p_bkg uniform in [0.5, 2] give the event fractions; the data
    are like the model (Σ w = ν0); no modifiers (add them with ``dataclasses.replace``).
    """
    c_sig = quadratic_events(rng, n_events, 2)
    c_bkg = np.zeros_like(c_sig)
    c_bkg[:, 0] = 1.0
    p_sig, p_bkg = rng.uniform(0.5, 2.0, n_events), rng.uniform(0.5, 2.0, n_events)
    nu_s, nu_b = 70.0, 30.0
    total = nu_s * p_sig + nu_b * p_bkg
    signal = Component(
        "signal", c_sig[None], _features, RateModel.from_event_coefficients(c_sig), nu_s,
        event_fractions=nu_s * p_sig / total,
    )  # fmt: skip
    background = Component(
        "background", c_bkg[None], _features, RateModel.build([1.0, 0, 0, 0, 0, 0]), nu_b,
        event_fractions=nu_b * p_bkg / total,
    )  # fmt: skip
    w = np.full(n_events, (nu_s + nu_b) / n_events)
    return LikelihoodModel((signal, background), w)


def paired_shape(
    rng: np.random.Generator,
    n_events: int,
    size: float,
    component: str = "signal",
    rates: tuple[float, float] = (1.0, 1.0),
) -> EventShape:
    """r(x|±1) = e^{±δ(x)}/⟨e^{±δ}⟩, δ ~ N(0, size) in ± pairs: no pull on the nominal sample.

    The events are their own nominal sample (normalising r at every α); ``rates``: η(±1).
    """
    half = rng.normal(0.0, size, n_events // 2)
    delta = np.concatenate([half, -half])
    up = delta - np.log(np.mean(np.exp(delta)))
    down = -delta - np.log(np.mean(np.exp(-delta)))
    return EventShape("shape", component, up, down, rates[0], rates[1], up, down)
