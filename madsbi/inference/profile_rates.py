"""The profile's rate-separable form: shapes alike on every process, normalisations on some.

A mixture whose modifiers are of two kinds only (the shipped background-aware analyses):

- alike on every component — the luminosity, or a shape with the same per-event factors
  r(x_e|α) and η(α) for every process (``acts_alike``), which factor out of the mixture;
- normalisations η_c(α) without per-event factors, on some components only (a process's
  cross-section, ``xsec_<process>``),

has per-event densities D_e(θ, α) = r(x_e|α) Σ_c u_c(α) b_ce(θ), u_c = Π_k η_kc(α_k). The
event sum then depends on α through the alike shapes' sums E_k(α_k) (θ-independent, two
numbers per shape, as in the separable form of :mod:`madsbi.inference.profile`) and through
the C numbers u_c:

    Σ_e w_e log D_e = Σ_k E_k(α_k) + Σ_e w_e log Σ_c u_c b_ce(θ),

whose derivatives are sums of the per-event component shares q_ce = u_c b_ce / Σ_d u_d b_de:
with κ_c = log u_c, S_c = Σ_e w_e q_ce and S_cd = Σ_e w_e q_ce q_de,

    ∂_k = Σ_c S_c ∂_k κ_c,
    ∂_k ∂_j = Σ_c S_c (∂_k ∂_j κ_c + ∂_k κ_c ∂_j κ_c) − Σ_cd S_cd ∂_k κ_c ∂_j κ_d.

A Newton step costs O(C N G) (the b_ce are formed once per block of θ points), where the
general form evaluates every modifier's per-event terms for every component: O(k C N G) with
a larger constant. The Poisson term is that of the general form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.inference.newton import Objective


def acts_alike_or_on_rates(modifier: Any, components: Sequence[str]) -> bool:
    """Whether a modifier fits the rate-separable form (module docstring)."""
    events = {modifier.has_event_factors(c) for c in components}
    if events == {False}:
        return True
    return events == {True} and bool(getattr(modifier, "acts_alike", False))


def rate_separable_objective(
    model: Any,
    modifiers: Sequence[Any],
    base: Sequence[FloatArray],
    nus: Sequence[FloatArray],
    n_observed: float,
    weights: FloatArray,
) -> Objective:
    """The objective of the rate-separable form at a block of θ points (flattened M·G).

    ``base``: b_ce (M, N, G) per component at α = 0 (shares × ratios × ρ_P/ρ̂, as the
    general form); ``nus``: ν_c0 ρ_P,c(θ) (M, G) per component.
    """
    members, _, g = base[0].shape
    names = [c.name for c in model.components]
    first = names[0]
    w, sum_w = weights, float(weights.sum())
    nu0 = model.expected_events0
    shaped = [i for i, m in enumerate(modifiers) if m.has_event_factors(first)]

    def objective(alpha: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        k = alpha.shape[1]
        a = alpha.reshape(members, g, k)
        kappa = np.zeros((len(names), 3, members, g, k))
        for c, name in enumerate(names):
            for i, m in enumerate(modifiers):
                kappa[c, :, :, :, i] = m.log_rate_terms(name, a[..., i])
        u = np.exp(kappa[:, 0].sum(axis=-1))  # (C, M, G)
        parts = [u[c][:, None, :] * b for c, b in enumerate(base)]
        mix = np.sum(parts, axis=0)
        good = mix > 0
        safe = np.where(good, mix, 1.0)
        with np.errstate(divide="ignore"):
            value = w @ np.where(good, np.log(safe), -np.inf)  # Σ_e w_e (…)_mge: (M, G)
        shares = [p / safe for p in parts]
        s1 = np.stack([w @ q for q in shares])  # (C, M, G)
        d1, d2 = kappa[:, 1], kappa[:, 2]  # (C, M, G, k)
        grad = np.einsum("cmg,cmgk->mgk", s1, d1)
        hess = np.einsum("cmg,cmgk,cmgj->mgkj", s1, d1, d1)
        diag = np.einsum("cmg,cmgk->mgk", s1, d2)
        for c, qc in enumerate(shares):
            for d, qd in enumerate(shares[c:], start=c):
                s2 = w @ (qc * qd)
                outer = np.einsum("mg,mgk,mgj->mgkj", s2, d1[c], d1[d])
                hess -= outer if c == d else outer + np.swapaxes(outer, -1, -2)
        for i in shaped:
            e0, e1, e2 = modifiers[i].event_sum_terms(first, w, a[..., i])
            value = value + e0
            grad[..., i] += e1
            diag[..., i] += e2
        nu_c = np.stack(nus) * u  # (C, M, G)
        nu = nu_c.sum(axis=0)
        nu_1 = np.einsum("cmg,cmgk->mgk", nu_c, d1)
        nu_2 = np.einsum("cmg,cmgk,cmgj->mgkj", nu_c, d1, d1)
        ratio = (n_observed - sum_w) / nu - 1.0
        diag += np.einsum("cmg,cmgk->mgk", nu_c, d2) * ratio[..., None]
        value = value + (n_observed - sum_w) * np.log(nu / nu0) - (nu - nu0)
        grad += ratio[..., None] * nu_1
        hess += ratio[..., None, None] * nu_2
        hess -= (
            ((n_observed - sum_w) / nu**2)[..., None, None]
            * nu_1[..., :, None]
            * nu_1[..., None, :]
        )
        for i, m in enumerate(modifiers):
            c0, c1, c2 = m.constraint_terms(a[..., i])
            value = value + c0
            grad[..., i] += c1
            diag[..., i] += c2
        hess[..., np.arange(k), np.arange(k)] += diag
        return value.reshape(-1), grad.reshape(-1, k), hess.reshape(-1, k, k)

    return objective
