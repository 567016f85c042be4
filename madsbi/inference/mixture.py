"""A mixture of components collapsed into one per-event form C_e · Φ(θ) (paper App. D).

The mixture of :class:`~madsbi.inference.model.LikelihoodModel` (no modifiers) has the
event term

    D_e(θ) = Σ_c f_c(x_e) κ_c(θ) C^c_e·Φ_c(θ),     κ_c(θ) = ρ_P,c(θ)/ρ̂_c(θ),

and the Poisson term −(ν(θ) − ν0) + (n − Σ w) log(ν(θ)/ν0), ν(θ) = Σ_c ν_c0 ρ_P,c(θ).

**When it collapses.** If every component has the same features, Φ_c = Φ (one basis: the
analysis's φ(θ − θ0), a θ-independent component with C^c_e = (1, 0, …, 0)), and the same
κ_c = κ for every component, member and θ, then D_e = κ(θ) C_e·Φ(θ) with

    C_e = Σ_c f_c(x_e) C^c_e,

and the mixture is exactly the split form of one component with that C_e,

    ρ̂(θ) = Σ_c (ν_c0/ν0) ρ̂_c(θ),    ρ_P(θ) = Σ_c (ν_c0/ν0) ρ_P,c(θ),    ν0 = Σ_c ν_c0,

since ρ_P/ρ̂ = κ and Σ w log D_e = S(θ) − Σ w log ρ̂ + Σ w log ρ_P. Both rates stay linear
in Φ, so the compiled scans (:mod:`madsbi.inference.gridscan`, the dense coverage toys, the
CUDA kernel) run unchanged. κ = 1 (ρ̂_c = ρ_P,c for every component: the joint form, e.g.
exact coefficients with their exact rates) is the usual case; a θ-independent component has
ρ̂ = ρ_P = 1, so with one in the mixture every other component must have ρ̂_c = ρ_P,c.

**When it does not.** A learned ratio normalised by its own mean (ρ̂_c = ⟨R̂_c⟩) next to an
exact or pooled Poisson rate ρ_P,c ≠ ρ̂_c gives each component its own factor κ_c(θ), a ratio
of two quadratics: D_e is not of the form C_e·Φ. Then either evaluate the mixture as it is
(:meth:`~madsbi.inference.model.LikelihoodModel.log_likelihood`, compiled in the stacked
basis of :mod:`madsbi.inference.stacked`, K' = Σ_c K_c coefficients per event) or use ρ̂_c for
the Poisson term too (``poisson_rate=None``) before collapsing. :func:`collapse` checks the
condition on the grid it is given and refuses otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from madsbi._validate import FloatArray, as_grid
from madsbi.errors import InputError
from madsbi.inference.model import Component, LikelihoodModel
from madsbi.inference.rate import RateModel

#: Relative tolerance of the checks of :func:`collapse` (Φ_c and κ_c equal on the grid).
TOLERANCE = 1e-12


def _weighted_rate(parts: list[tuple[float, FloatArray]], total: float) -> RateModel:
    s = sum(nu * coefficients for nu, coefficients in parts) / total
    return RateModel(np.atleast_2d(np.asarray(s, dtype=np.float64)))


def collapsed_coefficients(components: tuple[Component, ...]) -> FloatArray:
    """C_e = Σ_c f_c(x_e) C^c_e of the components, (M, N, K).

    Raises
    ------
    InputError
        Components with different K or without ``event_fractions`` (several components).
    """
    ks = {c.coefficients.shape[2] for c in components}
    if len(ks) != 1:
        raise InputError(f"components: different numbers of coefficients {sorted(ks)}")
    if len(components) == 1:
        return components[0].coefficients
    total: FloatArray = np.zeros_like(components[0].coefficients)
    for c in components:
        if c.event_fractions is None:
            raise InputError(f"component {c.name!r}: event_fractions are needed to collapse")
        total = total + c.event_fractions[None, :, None] * c.coefficients
    return total


def collapse(model: LikelihoodModel, thetas: Any, *, strict: bool = True) -> LikelihoodModel:
    """The one-component model of the same likelihood on the grid ``thetas`` (G, n).

    ``strict=False`` skips the κ check: the result then normalises the summed ratio by the
    summed rates (ρ̂ and ρ_P as above, the pooled method's treatment), an approximation of
    the per-component factors κ_c that differs where the ρ_P,c/ρ̂_c differ.

    Returns a :class:`~madsbi.inference.model.LikelihoodModel` whose one component has
    C_e = Σ_c f_c C^c_e, the features of the first component, ρ̂ and ρ_P the ν_c0-weighted
    means of the components' (ρ_P None when every component's is) and ν0 = Σ_c ν_c0 (module
    docstring); its
    log-likelihood equals ``model.log_likelihood(thetas)`` (to rounding) and it scans with
    the compiled kernels.

    Raises
    ------
    InputError
        Modifiers (they act per component); features that differ between components on the
        grid; κ_c = ρ_P,c/ρ̂_c that differ between components (the condition of the module
        docstring); a total ν0 that is not positive.
    """
    if model.modifiers:
        raise InputError("collapse: a model with modifiers does not collapse (per component)")
    comps = model.components
    if len(comps) == 1:
        return model
    grid = as_grid(thetas)
    phi = comps[0].features(grid)
    kappa0: FloatArray | None = None
    for c in comps:
        phi_c = c.features(grid)
        if phi_c.shape != phi.shape or not np.allclose(phi_c, phi, rtol=TOLERANCE, atol=0):
            raise InputError(
                f"component {c.name!r}: its features Φ(θ) differ from {comps[0].name!r}'s; "
                "the mixture collapses only in one common basis (embed the store)"
            )
        rho_hat = c.rate.ratio(phi)
        rho_p = rho_hat if c.poisson_rate is None else c.poisson_rate.ratio(phi)
        kappa = np.broadcast_to(rho_p / rho_hat, (model.components[0].n_members, grid.shape[0]))
        if kappa0 is None:
            kappa0 = kappa
        elif strict and not np.allclose(kappa, kappa0, rtol=TOLERANCE, atol=0):
            worst = float(np.max(np.abs(np.log(kappa / kappa0))))
            raise InputError(
                f"component {c.name!r}: ρ_P/ρ̂ differs from {comps[0].name!r}'s by up to "
                f"{worst:.3g} in log on this grid; the mixture is not of the form C_e·Φ(θ). "
                "Use ρ̂_c = ρ_P,c for every component (poisson_rate=None) or the mixture's "
                "own log_likelihood"
            )
    nu = [c.expected_events0 for c in comps]
    nu0 = float(sum(nu))
    if not nu0 > 0:
        raise InputError(f"components: ν0 = Σ_c ν_c0 must be > 0, got {nu0}")
    rate = _weighted_rate([(n, c.rate.coefficients) for n, c in zip(nu, comps, strict=True)], nu0)
    poisson = None
    if any(c.poisson_rate is not None for c in comps):
        parts = [
            (n, (c.rate if c.poisson_rate is None else c.poisson_rate).coefficients)
            for n, c in zip(nu, comps, strict=True)
        ]
        poisson = _weighted_rate(parts, nu0)
    coefficients = collapsed_coefficients(comps)
    # log1p drops C_e0, which is Σ_c f_c = 1 only for shares that sum to one.
    log1p = all(c.log1p for c in comps) and bool(
        np.allclose(coefficients[..., 0], 1.0, rtol=0, atol=TOLERANCE)
    )
    if log1p:  # the compiled log1p scan wants C_e0 == 1 exactly, not 1 − 1e-16
        coefficients[..., 0] = 1.0
    component = Component(
        "+".join(c.name for c in comps),
        coefficients,
        comps[0].features,
        rate,
        nu0,
        poisson,
        log1p,
    )
    return LikelihoodModel((component,), model.weights, model.n_observed, (), model.backend)
