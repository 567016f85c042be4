"""A mixture at fixed nuisances as one dot product per (event, θ): the stacked basis.

The mixture of :class:`~madsbi.inference.model.LikelihoodModel` (module docstring there) at
given nuisances α has the per-event density

    D_e(θ, α) = Σ_c f_c(x_e) e^{Σ_k log r_k,c(x_e|α)} η_c(α) κ_c(θ) C^c_e·Φ_c(θ),
    κ_c(θ) = ρ_P,c(θ)/ρ̂_c(θ),

which is one dot product D_e = C'_e·Φ'(θ) in the stacked basis

    C'_e = (f_c(x_e) e^{Σ_k log r_k,c(x_e|α)} C^c_e)_c,    Φ'(θ) = (η_c(α) κ_c(θ) Φ_c(θ))_c,

and ν(θ, α)/ν0 = s'·Φ'(θ) with s' = (ν_c0/ν0 s_c)_c (ρ̂_c = s_c·Φ_c). So the compiled event
sums of one component (:func:`madsbi.inference.gridscan.log_ratio_sums`, C++ or CUDA) give
Σ_e w_e log D_e of any mixture — collapsible or not (:mod:`madsbi.inference.mixture`), the
split form of one component (ρ_P ≠ ρ̂) and non-zero α included. Φ' differs per member where
ρ̂_c (or ρ_P,c) has a row per member; the sums then run member by member.

The stacked sums use ``log1p=False``: C^c_e·Φ_c is the full ratio R_c for every component (a
``log1p`` component has C_e0 = Φ_0 = 1, the leading one included in the dot product), so
components with mixed ``log1p`` flags stack exactly. Blocks with equal Φ' (on the grid, per
member) are merged, C' summed (the collapse of :mod:`madsbi.inference.mixture`), and columns
that are zero in C' and s' are dropped (a θ-independent component keeps one column).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from madsbi._validate import FloatArray, as_grid
from madsbi.errors import InputError
from madsbi.inference.gridscan import MAX_COEFFICIENTS, log_ratio_sums

if TYPE_CHECKING:
    from madsbi.inference.model import Component, LikelihoodModel


@dataclass(frozen=True, eq=False)
class StackedBasis:
    """A mixture at fixed α in the stacked basis (module docstring).

    Attributes
    ----------
    coefficients : (M, N, K')
        C'_e per member.
    features : (M', G, K')
        Φ'(θ) at the grid points, M' = 1 (shared by the members) or M.
    rate : (M'', K')
        s', ν(θ, α)/ν0 = s'·Φ'(θ); M'' = 1 or M.
    expected_events : (M, G)
        ν(θ, α) = Σ_c ν_c0 η_c(α) ρ_P,c(θ).
    expected_events0 : float
        ν0 = Σ_c ν_c0.
    """

    coefficients: FloatArray
    features: FloatArray
    rate: FloatArray
    expected_events: FloatArray
    expected_events0: float

    @property
    def n_members(self) -> int:
        """M."""
        return int(self.coefficients.shape[0])

    def member(self, m: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """C' (N, K'), Φ' (G, K') and s' (K',) of member ``m``."""
        phi = self.features[m if self.features.shape[0] > 1 else 0]
        return self.coefficients[m], phi, self.rate[m if self.rate.shape[0] > 1 else 0]


@dataclass
class _Block:
    coefficients: FloatArray  # (M, N, K_c)
    features: FloatArray  # (M', G, K_c)
    rate: FloatArray  # (M'', K_c)


def _block(
    c: Component,
    phi: FloatArray,
    members: int,
    nu0: float,
    eta: float,
    log_event: FloatArray | None,
) -> tuple[_Block, FloatArray]:
    """The stacked block of one component and its ν_c(θ, α) (M, G)."""
    rho_hat = c.rate.ratio(phi)
    rho_p = rho_hat if c.poisson_rate is None else c.poisson_rate.ratio(phi)
    if not ((rho_hat > 0).all() and (rho_p > 0).all()):
        raise InputError(f"component {c.name!r}: σ(θ)/σ(θ0) is not positive at every grid point")
    kappa = rho_p / rho_hat if c.poisson_rate is not None else np.ones((1, phi.shape[0]))
    scale = np.ones(c.coefficients.shape[1])
    if c.event_fractions is not None:
        scale = scale * c.event_fractions
    if log_event is not None:
        scale = scale * np.exp(log_event)
    coefficients = scale[None, :, None] * c.coefficients
    features = (eta * kappa)[:, :, None] * phi[None]
    rate = c.expected_events0 / nu0 * c.rate.coefficients
    nu = c.expected_events0 * eta * np.broadcast_to(rho_p, (members, phi.shape[0]))
    return _Block(coefficients, features, rate), nu


def _merge(blocks: list[_Block]) -> list[_Block]:
    """Blocks with equal Φ' (every member) merged: C' and s' summed."""
    out: list[_Block] = []
    for b in blocks:
        for o in out:
            if o.features.shape == b.features.shape and np.array_equal(o.features, b.features):
                o.coefficients = o.coefficients + b.coefficients
                o.rate = o.rate + b.rate
                break
        else:
            out.append(_Block(b.coefficients, b.features, b.rate))
    return out


def stacked_basis(
    model: LikelihoodModel,
    thetas: FloatArray,
    nuisances: Mapping[str, float] | None = None,
    *,
    compact: bool = True,
) -> StackedBasis:
    """The stacked basis of ``model`` at the grid ``thetas`` (G, n) and nuisances α.

    Parameters
    ----------
    model : LikelihoodModel
    thetas : (G, n)
    nuisances : mapping, optional
        α_k by modifier name; absent ones at 0.
    compact : bool
        Merge blocks of equal Φ' and drop columns that are zero in C' and s' (module
        docstring); False keeps one block of K_c columns per component, in order.

    Raises
    ------
    InputError
        A nuisance not among the modifiers; a rate not positive on the grid.
    """
    grid = as_grid(thetas)
    alphas = model.nuisance_values(nuisances)
    modifiers = [(m, alphas[m.name]) for m in model.modifiers]
    members = model.components[0].n_members
    nu0 = model.expected_events0
    blocks: list[_Block] = []
    nu = np.zeros((members, grid.shape[0]))
    for c in model.components:
        eta = float(np.prod([m.rate_factor(c.name, a) for m, a in modifiers]))
        log_event: FloatArray | None = None
        for m, a in modifiers:
            factor = m.event_log_factors(c.name, a)
            if factor is not None:
                log_event = factor if log_event is None else log_event + factor
        block, nu_c = _block(c, c.features(grid), members, nu0, eta, log_event)
        blocks.append(block)
        nu = nu + nu_c
    if compact:
        blocks = _merge(blocks)
    m_phi = max(b.features.shape[0] for b in blocks)
    m_rate = max(b.rate.shape[0] for b in blocks)
    coefficients = np.concatenate([b.coefficients for b in blocks], axis=2)
    features = np.concatenate(
        [np.broadcast_to(b.features, (m_phi, *b.features.shape[1:])) for b in blocks], axis=2
    )
    rate = np.concatenate(
        [np.broadcast_to(b.rate, (m_rate, b.rate.shape[1])) for b in blocks], axis=1
    )
    if compact:
        used = (coefficients != 0).any(axis=(0, 1)) | (rate != 0).any(axis=0)
        if not used.any():
            used[0] = True
        coefficients, features, rate = coefficients[..., used], features[..., used], rate[:, used]
    return StackedBasis(
        np.ascontiguousarray(coefficients),
        np.ascontiguousarray(features),
        np.ascontiguousarray(rate),
        nu,
        nu0,
    )


def stacked_event_sums(
    basis: StackedBasis, weights: FloatArray | None, backend: str = "auto"
) -> FloatArray | None:
    """Σ_e w_e log D_e(θ) (M, G) by the compiled scan; None where it does not apply.

    A pair of non-positive density D_e ≤ 0 of an event of weight w_e > 0 gives −inf (as the
    plain sum of logs); events of weight 0 are left out (they add nothing). None (use the
    plain sums) where K' exceeds the scan's ``MAX_COEFFICIENTS``
    or where a density is not positive for some event of negative weight.
    """
    c = basis.coefficients
    if c.shape[2] > MAX_COEFFICIENTS:
        return None
    w = weights
    if w is not None and not (w != 0).all():
        keep = w != 0
        c, w = c[:, keep], w[keep]
    if basis.features.shape[0] == 1:
        result = log_ratio_sums(c, basis.features[0], w, backend=backend)
        sums, clamped = result.sums, result.n_clamped
    else:
        parts = [
            log_ratio_sums(c[m], basis.features[m], w, backend=backend) for m in range(c.shape[0])
        ]
        sums = np.stack([p.sums for p in parts])
        clamped = np.stack([p.n_clamped for p in parts])
    if clamped.any():
        if w is not None and (w < 0).any():
            return None
        sums = np.where(clamped > 0, -np.inf, sums)
    out: FloatArray = sums
    return out
