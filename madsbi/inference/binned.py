"""Binned and rate-only likelihoods: the analyst's baselines of paper Sec. 4.2 (Figs. 10–11).

A histogram of one observable with Poisson counts in every bin, each bin with its exact
quadratic in θ: with per-event coefficients C_e (C_e·Φ(θ) = dσ(x_e|θ)/dσ(x_e|θ0), the exact
c_e/c_e0 or a learned Ĉ_e) and event weights w_e (each event's share of σ(θ0)),

    σ_b(θ) = Σ_{e in b} w_e C_e·Φ(θ) = s_b·Φ(θ),        ν_b(θ) = K L σ_b(θ),

    log L(θ) = Σ_b [n_b log ν_b(θ) − ν_b(θ)],        q(θ) = −2 (log L(θ) − max_θ log L),

with the observed counts n_b, or the Asimov counts n_b = ν_b(θ_A). The rate-only
likelihood is the same with one bin that holds every event. Everything is vectorised over
the grid (the (G, B) expectations in one product), in float64. K is the K-factor of
:func:`madsbi.inference.likelihood.expected_events`.

**MC statistics** (``mc_uncertainty``, Barlow–Beeston-lite): ν_b is estimated from finitely
many weighted MC events, with variance V_b(θ) = (K L)² Σ_{e in b} (w_e C_e·Φ(θ))². Each bin
gets one nuisance β_b on its expected count with the Poisson constraint of pyhf's
``shapesys`` (an auxiliary count of m_b = ν_b²/V_b effective MC events, expectation β_b m_b),
profiled analytically:

    log L_b = max_β [n_b log(β ν_b) − β ν_b + m_b log β − m_b (β − 1)],
    β̂_b = (n_b + m_b)/(ν_b + m_b),

so a bin's log L is never below the plain Poisson one and tends to it as the MC sample grows
(m_b → ∞). A bin without MC events (ν_b = 0) would make log L = −∞ wherever it holds data;
there the expected count μ_b is free with the constraint that an MC event of weight k (the
mean expected count of one MC event at θ, ν_tot(θ)/N_MC) was not seen, Pois(0 | μ_b/k):
μ̂_b = n_b k/(1 + k), a finite penalty. V_b and m_b are evaluated at every θ (the MC error of
the reweighted estimate there), the constraint is written relative to its maximum, so log L
stays comparable between grid points.

References
----------
R. Barlow and C. Beeston, Comput. Phys. Commun. 77 (1993) 219; J. S. Conway,
arXiv:1103.0354 (the "lite" form, one nuisance per bin); pyhf ``shapesys``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, IntArray, as_float_array
from madsbi.errors import InputError, ShapeError
from madsbi.inference.likelihood import RateModel, expected_events

#: The m_T^WZ bin edges of the paper's histogram (GeV).
MT_WZ_EDGES_GEV = (200.0, 400.0, 600.0, 800.0, 1000.0, 1500.0, 2500.0)


def bin_index(
    observable: Any, edges: Any, *, underflow: bool = True, overflow: bool = True
) -> IntArray:
    """The bin of every event; −1 for events outside the configured bins.

    Bins are [edges[i], edges[i+1]), preceded by (−∞, edges[0]) with ``underflow`` and
    followed by [edges[-1], ∞) with ``overflow``. No edges: one bin that holds everything.

    Raises
    ------
    InputError
        If the edges are not strictly increasing or the observable is not finite.
    """
    x = as_float_array(observable, "observable", (None,))
    e = as_float_array(edges, "edges", (None,))
    if e.size == 0:
        return np.zeros(x.shape[0], dtype=np.int64)
    if not (np.diff(e) > 0).all():
        raise InputError(f"edges: expected strictly increasing values, got {e.tolist()}")
    raw = np.searchsorted(e, x, side="right")  # 0: below edges[0]; len(e): at/above the last
    index = raw - (0 if underflow else 1)
    outside = ((raw == 0) & (not underflow)) | ((raw == e.size) & (not overflow))
    index[outside] = -1
    return index.astype(np.int64)


def n_bins(edges: Any, *, underflow: bool = True, overflow: bool = True) -> int:
    """Number of bins of :func:`bin_index` for these edges and flags."""
    n = int(np.size(edges))
    return 1 if n == 0 else n - 1 + int(underflow) + int(overflow)


@dataclass(frozen=True, eq=False)
class BinnedModel:
    """σ_b(θ) = s_b·Φ(θ) per bin of one observable; s has shape (B, K).

    Attributes
    ----------
    coefficients : (B, K)
        s_b = Σ_{e in b} w_e C_e.
    edges : (E,)
        Bin edges (empty for the rate-only model: one bin).
    underflow, overflow : bool
        Whether the bins below the first and above the last edge exist.
    squares : (B, K, K), optional
        Σ_{e in b} w_e² C_e C_eᵀ, the MC variance of σ_b(θ) as Φ squares Φᵀ (from
        :meth:`from_events`; needed for ``mc_uncertainty``).
    mc_events : (B,), optional
        MC events per bin.
    """

    coefficients: FloatArray
    edges: FloatArray
    underflow: bool = True
    overflow: bool = True
    squares: FloatArray | None = None
    mc_events: IntArray | None = None

    @classmethod
    def from_events(
        cls,
        observable: Any,
        coefficients: Any,
        *,
        edges: Any,
        weights: Any | None = None,
        underflow: bool = True,
        overflow: bool = True,
    ) -> BinnedModel:
        """Per-bin quadratics from the events of a θ0 sample.

        Parameters
        ----------
        observable : (N,)
            The binned observable of every event (e.g. m_T^WZ in GeV).
        coefficients : (N, K)
            C_e: the exact c_e/c_e0 (:func:`madsbi.inference.likelihood.exact_event_coefficients`)
            or a learned Ĉ_e (an ensemble mean).
        edges : (E,)
            Bin edges (e.g. :data:`MT_WZ_EDGES_GEV`).
        weights : (N,), optional
            w_e, each event's share of σ(θ0) (σ(θ0)/N for unweighted events); unit weights by
            default (then σ_b is a count of the sample).
        underflow, overflow : bool
            Keep the bins below the first and above the last edge (else their events are
            dropped from the likelihood).
        """
        c = as_float_array(coefficients, "coefficients", (None, None))
        index = bin_index(observable, edges, underflow=underflow, overflow=overflow)
        if index.shape[0] != c.shape[0]:
            raise ShapeError(
                f"observable: expected {c.shape[0]} values like coefficients, got {index.shape[0]}"
            )
        w = np.ones(c.shape[0]) if weights is None else as_float_array(weights, "weights")
        if w.shape != (c.shape[0],):
            raise ShapeError(f"weights: expected shape ({c.shape[0]},), got {w.shape}")
        n = n_bins(edges, underflow=underflow, overflow=overflow)
        s = np.zeros((n, c.shape[1]))
        squares = np.zeros((n, c.shape[1], c.shape[1]))
        keep = index >= 0
        np.add.at(s, index[keep], w[keep, None] * c[keep])
        for b in range(n):
            weighted = w[index == b, None] * c[index == b]
            squares[b] = weighted.T @ weighted
        events = np.bincount(index[keep], minlength=n).astype(np.int64)
        edges_array = as_float_array(edges, "edges", (None,))
        return cls(s, edges_array, underflow, overflow, squares, events)

    @classmethod
    def rate_only(cls, coefficients: Any, weights: Any | None = None) -> BinnedModel:
        """The cross-section-only model: one bin with every event, σ(θ) = Σ_e w_e C_e·Φ(θ)."""
        c = as_float_array(coefficients, "coefficients", (None, None))
        return cls.from_events(np.zeros(c.shape[0]), c, edges=(), weights=weights)

    @property
    def n_bins(self) -> int:
        """B."""
        return int(self.coefficients.shape[0])

    def cross_sections(self, features: Any) -> FloatArray:
        """σ_b(θ) for Φ of shape (G, K): (G, B)."""
        phi = as_float_array(features, "features", (None, self.coefficients.shape[1]))
        result: FloatArray = phi @ self.coefficients.T
        return result

    def expected(self, features: Any, luminosity: float, rate_factor: float = 1.0) -> FloatArray:
        """ν_b(θ) = K L σ_b(θ), (G, B)."""
        return expected_events(luminosity, self.cross_sections(features), rate_factor)

    def variances(self, features: Any, luminosity: float, rate_factor: float = 1.0) -> FloatArray:
        """MC variance of ν_b(θ), (K L)² Φ squares_b Φᵀ: (G, B).

        Raises
        ------
        InputError
            If the model has no ``squares`` (not built by :meth:`from_events`).
        """
        if self.squares is None:
            raise InputError(
                "BinnedModel: no per-bin squares Σ w² C Cᵀ for the MC uncertainty; build the "
                "model with BinnedModel.from_events"
            )
        phi = as_float_array(features, "features", (None, self.coefficients.shape[1]))
        scale = float(expected_events(luminosity, 1.0, rate_factor))
        result: FloatArray = scale**2 * np.einsum("gk,bkl,gl->gb", phi, self.squares, phi)
        return result

    def counts(self, observable: Any, weights: Any | None = None) -> FloatArray:
        """Observed counts n_b of events (Σ of their weights if given), (B,)."""
        index = bin_index(observable, self.edges, underflow=self.underflow, overflow=self.overflow)
        w = np.ones(index.shape[0]) if weights is None else as_float_array(weights, "weights")
        if w.shape != index.shape:
            raise ShapeError(f"weights: expected shape {index.shape}, got {w.shape}")
        keep = index >= 0
        result: FloatArray = np.bincount(index[keep], w[keep], minlength=self.n_bins).astype(
            np.float64
        )
        return result


def poisson_log_likelihood(expected: Any, observed: Any) -> FloatArray:
    """Σ_b [n_b log ν_b − ν_b] for expectations (G, B) and counts (B,): (G,).

    The constant −Σ_b log n_b! is dropped (it cancels in q). 0·log ν = 0; a point where some
    ν_b < 0, or ν_b = 0 with n_b > 0 (a learned model outside its domain), gets −∞ (q = ∞:
    excluded).

    Raises
    ------
    InputError
        If a count is negative or not finite.
    """
    nu = as_float_array(expected, "expected", (None, None))
    n = as_float_array(observed, "observed", (nu.shape[1],))
    if (n < 0).any():
        raise InputError(f"observed: expected counts >= 0, got {n.min()}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > 0, n * np.log(np.where(nu > 0, nu, 1.0)), 0.0) - nu
    invalid = ((nu < 0) | ((nu == 0) & (n > 0))).any(axis=1)
    result: FloatArray = terms.sum(axis=1)
    result[invalid] = -np.inf
    return result


def mc_poisson_log_likelihood(
    expected: Any, variance: Any, observed: Any, empty_weight: Any
) -> FloatArray:
    """Σ_b log L_b with each bin's MC error profiled (Barlow–Beeston-lite, module docstring).

    Parameters
    ----------
    expected, variance : (G, B)
        ν_b(θ) and its MC variance V_b(θ).
    observed : (B,)
        Counts n_b.
    empty_weight : (G,)
        k, the expected count of one MC event, for bins without MC events (ν_b = 0).

    Returns
    -------
    (G,)
        With the constant −Σ_b log n_b! dropped; −∞ where some ν_b < 0.

    Raises
    ------
    InputError
        If a count is negative or not finite.
    """
    nu = as_float_array(expected, "expected", (None, None))
    var = as_float_array(variance, "variance", nu.shape)
    n = as_float_array(observed, "observed", (nu.shape[1],))
    k = as_float_array(empty_weight, "empty_weight", (nu.shape[0],))[:, None]
    if (n < 0).any():
        raise InputError(f"observed: expected counts >= 0, got {n.min()}")
    filled = nu > 0
    safe_nu = np.where(filled, nu, 1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # m = ν²/V effective MC events; V = 0 with ν > 0 cannot arise from events, take m = ∞.
        m = np.where(filled & (var > 0), safe_nu**2 / np.where(var > 0, var, 1.0), np.inf)
        x = np.where(np.isinf(m), 0.0, (n - safe_nu) / (m + safe_nu))  # β̂ − 1
        constraint = np.where(np.isinf(m), 0.0, m * (np.log1p(x) - x))
        mu = safe_nu * (1.0 + x)
        log_mu = np.log(np.where(n > 0, mu, 1.0))
        terms_filled = np.where(n > 0, n * log_mu, 0.0) - mu + constraint
        k_safe = np.where(k > 0, k, 1.0)
        mu_empty = n * k_safe / (1.0 + k_safe)
        terms_empty = np.where(n > 0, n * np.log(np.where(n > 0, mu_empty, 1.0)) - n, 0.0)
    terms = np.where(filled, terms_filled, terms_empty)
    invalid = (nu < 0).any(axis=1) | (((nu == 0) & (n > 0)).any(axis=1) & (k[:, 0] <= 0))
    result: FloatArray = terms.sum(axis=1)
    result[invalid] = -np.inf
    return result


@dataclass(frozen=True, eq=False)
class BinnedScan:
    """log L(θ) and q(θ) of a binned (or rate-only) likelihood over G grid points."""

    log_likelihood: FloatArray
    q: FloatArray
    best_index: int
    observed: FloatArray


def binned_scan(
    model: BinnedModel,
    features: Any,
    *,
    luminosity: float,
    observed: Any | None = None,
    asimov_features: Any | None = None,
    rate_factor: float = 1.0,
    mc_uncertainty: bool = True,
) -> BinnedScan:
    """Q(θ) = −2 (log L(θ) − max_θ log L) over a grid, with observed or Asimov counts.

    Parameters
    ----------
    model : BinnedModel
    features : (G, K)
        Φ(θ) at the grid points.
    luminosity : float
        L, in the units reciprocal to the model's σ.
    observed : (B,), optional
        Observed counts n_b (:meth:`BinnedModel.counts`).
    asimov_features : (K,), optional
        Φ(θ_A): Asimov counts n_b = ν_b(θ_A) (Φ(θ0) = (1, 0, …, 0) in the derivative form).
        Exactly one of ``observed`` and ``asimov_features``.
    rate_factor : float
        K-factor multiplying every σ_b (:func:`madsbi.inference.likelihood.expected_events`).
    mc_uncertainty : bool
        Profile each bin's MC statistical error (Barlow–Beeston-lite, see the module
        docstring): a data event in a bin without model events gives a finite log L. False:
        the plain Poisson likelihood (ν_b taken as exact).

    Raises
    ------
    InputError
        Neither or both of ``observed`` and ``asimov_features``; counts that are negative;
        no grid point with a finite likelihood; ``mc_uncertainty`` with a model that has no
        per-bin squares.
    """
    if (observed is None) == (asimov_features is None):
        raise InputError("binned_scan: expected exactly one of observed and asimov_features")
    nu = model.expected(features, luminosity, rate_factor)
    if asimov_features is not None:
        phi_a = as_float_array(asimov_features, "asimov_features", (model.coefficients.shape[1],))
        n = model.expected(phi_a[None], luminosity, rate_factor)[0]
    else:
        n = as_float_array(observed, "observed", (model.n_bins,))
    if mc_uncertainty:
        variance = model.variances(features, luminosity, rate_factor)
        n_mc = 0 if model.mc_events is None else int(model.mc_events.sum())
        empty_weight = nu.sum(axis=1) / max(n_mc, 1)
        ll = mc_poisson_log_likelihood(nu, variance, n, empty_weight)
    else:
        ll = poisson_log_likelihood(nu, n)
    if not np.isfinite(ll).any():
        raise InputError("binned_scan: no grid point has ν_b > 0 wherever n_b > 0")
    best = int(np.argmax(ll))
    q: FloatArray = np.maximum(-2.0 * (ll - ll[best]), 0.0)
    return BinnedScan(ll, q, best, n)


def rate_only_scan(
    rate: RateModel, features: Any, *, expected_events0: float, observed: float | None = None
) -> BinnedScan:
    """Cross-section-only q(θ) from ρ(θ) = σ(θ)/σ(θ0): ν(θ) = ν0 ρ(θ), one Poisson count.

    ``expected_events0`` is ν0 = K L σ(θ0) (:func:`madsbi.inference.likelihood.expected_events`);
    without ``observed`` the Asimov count n = ν0. The same as :meth:`BinnedModel.rate_only`
    for a rate built from the same events (:meth:`RateModel.from_event_coefficients`).
    """
    if rate.coefficients.shape[0] != 1:
        raise InputError(
            f"rate: expected one member, got {rate.coefficients.shape[0]} rows of coefficients"
        )
    nu = float(expected_events0) * rate.ratio(features)[0]
    n = float(expected_events0) if observed is None else float(observed)
    ll = poisson_log_likelihood(nu[:, None], [n])
    if not np.isfinite(ll).any():
        raise InputError("rate_only_scan: no grid point has ν > 0")
    best = int(np.argmax(ll))
    q: FloatArray = np.maximum(-2.0 * (ll - ll[best]), 0.0)
    return BinnedScan(ll, q, best, np.array([n]))
