"""σ(θ) from samples generated at several points, combined by multiple importance weighting.

Sample k holds n_k events generated at θ_k with cross-section σ_k; its normalised weights
π_e (Σ_{e∈k} π_e = 1) follow p_k(z) = dσ(z|θ_k)/σ_k. Every event carries its exact
coefficients, dσ(z|θ) ∝ c_e·φ(θ − θ0), so R_e(θ; θ') = c_e·φ(θ − θ0)/c_e·φ(θ' − θ0) is
known at every θ and so is the ratio of the generation densities. With the balance heuristic

    β_k(z) = n_k p_k(z) / Σ_j n_j p_j(z),   p_j(z) ∝ c·φ(θ_j − θ0)/σ_j,

(a partition of unity), the estimate

    σ̂(θ) = Σ_k σ_k Σ_{e∈k} β_k(z_e) π_e R_e(θ; θ_k) = Σ_e v_e R_e(θ; θ0),
    v_e = σ_k β_k(z_e) π_e / R_e(θ_k; θ0),

is unbiased for every θ, and each event's weight v_e at θ0 does not depend on θ. For
unweighted events (π_e = 1/n_k) v_e = c_e0 / Σ_j n_j c_e·φ(θ_j − θ0)/σ_j. With one sample
generated at θ0, v_e = σ0 π_e and ρ(θ) = σ̂(θ)/σ̂(θ0) is the weighted mean of R_e(θ) — eq. 34
with exact coefficients. Any per-event estimate Ĉ_e of the ratio (a learned one) gives its
rate from the same weights: ρ̂(θ) = Σ_e v_e Ĉ_e·Φ(θ) / Σ_e v_e.

Samples of different processes (W⁺Z and W⁻Z) are separate channels: the weights are built
per channel and the channels' σ̂ add.

Also here: the rate model ρ(θ) = σ(θ)/σ(θ0) = s·Φ(θ) of a likelihood (:class:`RateModel`),
the expected events ν = F L σ (:func:`expected_events`, the one place where a constant factor
on σ enters) and the weights of data events (:func:`data_weights`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError, WeightError
from madsbi.theory.polynomial import polynomial_features


@dataclass(frozen=True)
class GeneratedSample:
    """One sample's events as the rate model needs them.

    Attributes
    ----------
    coefficients : (N, K)
        Exact per-event coefficients c_e in the φ(θ − θ0) form.
    weights : (N,)
        Generation weights (any normalisation; only their shares within the sample count).
    theta_gen : (n,)
        The generation point θ_k.
    sigma_gen : float
        σ(θ_k) in pb (e.g. ``EventStore.cross_section(theta_gen)``).
    channel : str
        Samples of one channel (process) are combined by MIS; channels add.
    n_generated, weight_total : int, float
        When the events are the selected part of a larger generated sample (the passed
        entries of a reco store, whose cuts make σ a fiducial one): the number of generated
        events and their total weight. 0 (default): the events are the whole sample.
    """

    coefficients: FloatArray
    weights: FloatArray
    theta_gen: FloatArray
    sigma_gen: float
    channel: str = ""
    n_generated: int = 0
    weight_total: float = 0.0

    def __post_init__(self) -> None:
        c = as_float_array(self.coefficients, "coefficients", (None, None))
        w = as_float_array(self.weights, "weights", (c.shape[0],), finite=False)
        if c.shape[0] == 0:
            raise InputError(f"channel {self.channel!r}: a sample without events")
        if not np.all(np.isfinite(w)) or (w < 0).any() or not w.sum() > 0:
            raise WeightError(
                f"channel {self.channel!r}: weights must be finite, >= 0 and not all zero"
            )
        if not self.sigma_gen > 0:
            raise WeightError(
                f"channel {self.channel!r}: sigma_gen must be > 0, got {self.sigma_gen}"
            )
        if self.n_generated and self.n_generated < c.shape[0]:
            raise InputError(
                f"channel {self.channel!r}: n_generated = {self.n_generated} is below the "
                f"{c.shape[0]} events given"
            )
        if self.weight_total and self.weight_total < w.sum() * (1 - 1e-12):
            raise WeightError(
                f"channel {self.channel!r}: weight_total = {self.weight_total} is below the "
                f"events' weight sum {w.sum()}"
            )
        object.__setattr__(self, "coefficients", c)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "theta_gen", as_float_array(self.theta_gen, "theta_gen", (None,)))

    @property
    def size(self) -> int:
        """n_k: the number of generated events."""
        return self.n_generated or int(self.coefficients.shape[0])

    @property
    def total_weight(self) -> float:
        """The generated events' total weight (π_e = w_e / total)."""
        return self.weight_total or float(self.weights.sum())


def mis_weights(samples: Sequence[GeneratedSample], theta0: Any) -> list[FloatArray]:
    """Per-event weights v_e at θ0 (pb) of the balance-heuristic estimate, one array per sample.

    Σ_e v_e R_e(θ; θ0) over all samples is σ̂(θ), the sum of the channels' estimates.

    Raises
    ------
    WeightError
        If an event has a non-positive generation density at its own generation point, or
        a non-positive c_e0.
    """
    theta0 = as_float_array(theta0, "theta0", (None,))
    channels: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        channels.setdefault(s.channel, []).append(i)
    out: list[FloatArray] = [np.empty(0)] * len(samples)
    for members in channels.values():
        phis = [polynomial_features(samples[j].theta_gen[None], theta0)[0] for j in members]
        for i in members:
            s = samples[i]
            c = s.coefficients
            if c.shape[1] != phis[0].shape[0]:
                raise InputError(
                    f"channel {s.channel!r}: coefficients have {c.shape[1]} columns, the "
                    f"parameter space needs {phis[0].shape[0]}"
                )
            own = c @ polynomial_features(s.theta_gen[None], theta0)[0]
            if not (own > 0).all() or not (c[:, 0] > 0).all():
                raise WeightError(
                    f"channel {s.channel!r}: dσ(z|θ) is not positive for every event at the "
                    f"generation point {s.theta_gen.tolist()} and at θ0"
                )
            # Σ_j n_j p_j(z_e) up to the common factor of c_e.
            mixture = np.zeros(c.shape[0])
            for j, phi in zip(members, phis, strict=True):
                mixture += samples[j].size * (c @ phi) / samples[j].sigma_gen
            pi = s.weights / s.total_weight
            beta = s.size * (own / s.sigma_gen) / mixture
            out[i] = s.sigma_gen * beta * pi * c[:, 0] / own
    return out


@dataclass(frozen=True)
class CrossSectionEstimate:
    """σ̂(θ) with its Monte Carlo standard error, and ρ = σ̂(θ)/σ̂(θ0) with its own."""

    sigma: FloatArray
    sigma_error: FloatArray
    ratio: FloatArray
    ratio_error: FloatArray


def cross_section(
    samples: Sequence[GeneratedSample], theta0: Any, thetas: Any
) -> CrossSectionEstimate:
    """σ̂(θ) (pb) at the points ``thetas`` (G, n) by MIS, with MC errors.

    The variance adds the samples' terms n_k/(n_k − 1) Σ_{e∈k} (t_e − t̄_k)², t_e = v_e R_e(θ)
    summed over the sample's n_k generated events (t_e = 0 for events a selection removed);
    ρ's error follows from the delta method with u_e = t_e(θ) − ρ t_e(θ0).
    """
    theta0 = as_float_array(theta0, "theta0", (None,))
    phi = polynomial_features(thetas, theta0)
    weights = mis_weights(samples, theta0)
    total = np.zeros(phi.shape[0])
    sigma0 = 0.0
    terms = []
    for s, v in zip(samples, weights, strict=True):
        t = v[:, None] * (s.coefficients @ phi.T) / s.coefficients[:, :1]  # (N, G)
        terms.append((t, v, s.size))
        total += t.sum(0)
        sigma0 += float(v.sum())
    ratio = total / sigma0
    var_sigma = np.zeros_like(total)
    var_ratio = np.zeros_like(total)
    for t, v, n in terms:
        if n < 2:
            continue
        u = t - ratio[None] * v[:, None]
        var_sigma += n / (n - 1) * _sum_squared_deviations(t, n)
        var_ratio += n / (n - 1) * _sum_squared_deviations(u, n)
    return CrossSectionEstimate(total, np.sqrt(var_sigma), ratio, np.sqrt(var_ratio) / sigma0)


def _sum_squared_deviations(x: FloatArray, n: int) -> FloatArray:
    """Σ (x − x̄)² over n generated events, of which the rows of x are the selected ones.

    The n − len(x) events a selection removed contribute x = 0 (two-pass form, stable).
    """
    mean = x.sum(0) / n
    result: FloatArray = ((x - mean) ** 2).sum(0) + (n - x.shape[0]) * mean**2
    return result


FB_PER_PB = 1000.0
"""fb per pb: ν = L[fb⁻¹] · σ[pb] · FB_PER_PB."""

DATA_MODES = ("counts", "asimov")
"""How data events are weighted: each one observed event, or MC weights scaled to ν."""


def expected_events(luminosity: Any, cross_section: Any, rate_factor: float = 1.0) -> FloatArray:
    """ν = F L σ: the expected count of every likelihood (eq. 49, binned, rate-only).

    The one place where a constant factor F on σ(θ) at every θ enters — an (NLO) K-factor, a
    branching ratio, or both: it scales ν0 = L σ(θ0) (and each ν_b of a binned likelihood) and
    leaves ρ(θ) unchanged. ``luminosity`` and ``cross_section`` in reciprocal units (fb⁻¹ and
    fb, or pb⁻¹ and pb); arrays broadcast.

    Raises
    ------
    InputError
        If ``rate_factor`` is not a finite value > 0, or the luminosity is negative.
    """
    k = float(rate_factor)
    if not (np.isfinite(k) and k > 0):
        raise InputError(f"rate_factor: expected a finite value > 0, got {rate_factor!r}")
    lumi = as_float_array(luminosity, "luminosity")
    if (lumi < 0).any():
        raise InputError(f"luminosity: expected >= 0, got {lumi.min()}")
    result: FloatArray = k * lumi * as_float_array(cross_section, "cross_section")
    return result


def data_weights(mode: str, mc_weights: FloatArray, expected: float) -> FloatArray:
    """Event weights w_e of the data: 1 each (``counts``) or MC weights summing to ν (``asimov``).

    Raises
    ------
    InputError
        Unknown ``mode``.
    """
    if mode not in DATA_MODES:
        raise InputError(f"data_mode: expected one of {DATA_MODES}, got {mode!r}")
    if mode == "counts":
        return np.ones(mc_weights.shape[0])
    result: FloatArray = mc_weights / mc_weights.sum() * expected
    return result


@dataclass(frozen=True, eq=False)
class RateModel:
    """ρ(θ) = σ(θ)/σ(θ0) = s·Φ(θ), one row of s per member: s has shape (M, K)."""

    coefficients: FloatArray

    @classmethod
    def build(cls, coefficients: Any) -> RateModel:
        """From s of shape (K,) or (M, K)."""
        s = np.atleast_2d(as_float_array(coefficients, "rate coefficients"))
        return cls(s)

    @classmethod
    def from_event_coefficients(cls, coefficients: Any, weights: Any | None = None) -> RateModel:
        """S = Σ_e w_e C_e / Σ_e w_e from the events of a θ0 sample.

        With learned C_e this is eq. 34 (the rate from the learned sums: the first-order term
        of Σ log r vanishes by construction); with the exact parton coefficients normalised
        to c_e0 it is the exact rate of that sample.
        """
        c = as_float_array(coefficients, "coefficients")
        c3 = c[None] if c.ndim == 2 else c
        if c3.ndim != 3:
            raise InputError(f"coefficients: expected (N, K) or (M, N, K), got {c.shape}")
        w = np.ones(c3.shape[1]) if weights is None else as_float_array(weights, "weights")
        if w.shape != (c3.shape[1],):
            raise InputError(f"weights: expected shape ({c3.shape[1]},), got {w.shape}")
        s = np.einsum("mnk,n->mk", c3, w) / w.sum()
        return cls(s)

    def ratio(self, features: Any) -> FloatArray:
        """ρ(θ) for Φ of shape (G, K): (M, G)."""
        phi = as_float_array(features, "features")
        result: FloatArray = self.coefficients @ phi.T
        return result

    def member(self, m: int) -> RateModel:
        """The rate of member ``m`` alone (one row)."""
        return RateModel(self.coefficients[m : m + 1])


def rate_mc_error(weights: Any, ratios: Any) -> dict[str, FloatArray]:
    """Relative MC errors of σ̂(θ) = Σ_e v_e R_e(θ) and of ρ̂ = σ̂(θ)/σ̂(θ0) of a pooled sample.

    With t_e = v_e R_e(θ) and ρ̂ = Σ_e t_e / Σ_e v_e,

        δσ̂/σ̂ = sqrt(Σ_e t_e²) / Σ_e t_e,
        δρ̂/ρ̂ = sqrt(Σ_e (t_e − ρ̂ v_e)²) / Σ_e v_e / ρ̂   (delta method),
        n_eff = (Σ_e t_e)² / Σ_e t_e²,

    so δσ̂/σ̂ = 1/sqrt(n_eff). This treats the pooled entries as independent draws and ignores
    the small mean correction of the MIS estimate (the variance of a weighted sum about zero,
    not about its mean); the ratio's error is smaller than σ̂'s where R_e(θ) ≈ 1, as the
    errors of numerator and denominator are correlated.

    Parameters
    ----------
    weights : (N,)
        The MIS weights v_e (pb), θ-independent.
    ratios : (N,) or (G, N)
        R_e(θ; θ0) = c_e·φ(θ − θ0)/c_e0 at one or G points.

    Returns
    -------
    dict
        ``sigma_relative``, ``ratio_relative`` and ``n_eff``, each () or (G,) like ``ratios``.

    Raises
    ------
    InputError
        Shapes that do not match, or Σ t_e or Σ v_e not > 0.
    """
    v = as_float_array(weights, "weights", (None,))
    r = as_float_array(ratios, "ratios")
    r2 = r[None] if r.ndim == 1 else r
    if r2.ndim != 2 or r2.shape[1] != v.shape[0]:
        raise InputError(f"ratios: expected ({v.shape[0]},) or (G, {v.shape[0]}), got {r.shape}")
    t = v[None, :] * r2
    total, norm = t.sum(axis=1), float(v.sum())
    if not norm > 0 or not np.all(total > 0):
        raise InputError("rate_mc_error: Σ v_e and Σ v_e R_e(θ) must be > 0")
    squares = np.einsum("gn,gn->g", t, t)
    rho = total / norm
    deviation = t - rho[:, None] * v[None, :]
    ratio = np.sqrt(np.einsum("gn,gn->g", deviation, deviation)) / norm / rho
    out = {
        "sigma_relative": np.sqrt(squares) / total,
        "ratio_relative": ratio,
        "n_eff": total**2 / squares,
    }
    return {k: (a.reshape(()) if r.ndim == 1 else a) for k, a in out.items()}
