"""A shape uncertainty: per-event factors and an acceptance factor given at α = ±1.

A systematic variation (a detector scale, a theory scale) changes a component's events in two
ways: the selected rate by η(α) and the shape of the selected events by a density ratio
r(x|α) = p(x|α)/p(x|0). Both are known at the ±1σ variations — r(x_e|±1) for every data event
(from a learned per-event ratio, or exact per-event weights), η(±1) from the selection's
change — and interpolated per event in α: polynomial inside ±1σ, exponential outside
(:mod:`.interpolation`, HistFactory's code 4 written for the logarithm), with a unit Gaussian
constraint on α. This is the per-event interpolation of the ATLAS neural-SBI analysis of
off-shell H → 4ℓ (one ratio per process and variation, interpolated per event, profiled).

The shape must not carry a rate: the rate change lives in η alone, so r(x|α) must be a
normalised density ratio at every α, ⟨r(α)⟩ = 1 over the component's nominal events. The
interpolation keeps that only at α = 0, ±1; in between, and above all in the exponential
extrapolation (⟨r₊^α⟩ grows like e^{α² var(log r₊)/2}), an unnormalised factor would reward
large |α| in the event sum at no cost in the Poisson term. So the factors are normalised at
every α on a nominal sample (``sample_log_up``, ``sample_log_down``, ``sample_weights``: the
same log-factors on MC events of the component at θ0),

    log r̃(x|α) = ℓ(x|α) − log Z(α),   Z(α) = Σ_j v_j exp ℓ_j(α),   Σ_j v_j = 1,

with analytic derivatives (log Z)' = ⟨ℓ'⟩_q and (log Z)'' = ⟨ℓ'' + ℓ'²⟩_q − ⟨ℓ'⟩_q²,
q_j ∝ v_j e^{ℓ_j}.
Without a sample the factors are used as given (normalised only where the interpolation is
exact).

A shape acts on one named component, or, with ``component`` = :data:`ALL_COMPONENTS`, on every
component alike: the same per-event factors r(x_e|α) and the same η(α) for each (``acts_alike``).
Such a modifier factorises out of a mixture's density, D_e(θ, α) = r(x_e|α) η(α) D_e(θ, 0), so
the profile keeps its separable form (:mod:`madsbi.inference.profile`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError
from madsbi.inference.modifiers.interpolation import Terms, gaussian_constraint, interpolate_log

ALL_COMPONENTS = "*"
"""The ``component`` of a shape that acts alike on every component of the model."""
TABLE_RANGE = 8.0
"""|α| up to which log Z(α) is interpolated from a table (beyond: summed exactly)."""
TABLE_STEP = 0.025
"""The table's node spacing (1/TABLE_STEP an integer, so ±1 are nodes)."""
TABLE_MIN_SAMPLE = 2000
"""Samples smaller than this are summed exactly at every α (the table costs 641 sums)."""


def _quintic_hermite(u: FloatArray) -> tuple[tuple[FloatArray, ...], ...]:
    """The six quintic Hermite basis functions on [0, 1] and their first two derivatives.

    Order: f(0), f'(0), f''(0), f''(1), f'(1), f(1) (derivatives in units of the interval).
    """
    u2 = u * u
    u3 = u2 * u
    u4 = u3 * u
    u5 = u4 * u
    value = (
        1 - 10 * u3 + 15 * u4 - 6 * u5,
        u - 6 * u3 + 8 * u4 - 3 * u5,
        0.5 * (u2 - 3 * u3 + 3 * u4 - u5),
        0.5 * (u3 - 2 * u4 + u5),
        -4 * u3 + 7 * u4 - 3 * u5,
        10 * u3 - 15 * u4 + 6 * u5,
    )
    first = (
        -30 * u2 + 60 * u3 - 30 * u4,
        1 - 18 * u2 + 32 * u3 - 15 * u4,
        0.5 * (2 * u - 9 * u2 + 12 * u3 - 5 * u4),
        0.5 * (3 * u2 - 8 * u3 + 5 * u4),
        -12 * u2 + 28 * u3 - 15 * u4,
        30 * u2 - 60 * u3 + 30 * u4,
    )
    second = (
        -60 * u + 180 * u2 - 120 * u3,
        -36 * u + 96 * u2 - 60 * u3,
        0.5 * (2 - 18 * u + 36 * u2 - 20 * u3),
        0.5 * (6 * u - 24 * u2 + 20 * u3),
        -24 * u + 84 * u2 - 60 * u3,
        60 * u - 180 * u2 + 120 * u3,
    )
    return value, first, second


@dataclass(frozen=True, eq=False)
class EventShape:
    """Per-event log-factors log r(x_e|±1) and acceptance factors η(±1) of one component.

    Attributes
    ----------
    name : str
        The nuisance parameter's name (``lep_scale_e``, ``mu_f``, ...).
    component : str
        The component it acts on; :data:`ALL_COMPONENTS` (``"*"``): every component alike.
    log_up, log_down : (N,)
        log r(x_e|α = +1) and log r(x_e|α = −1) for the N data events.
    rate_up, rate_down : float
        η(+1) and η(−1), > 0: the factors on the component's expected events.
    sample_log_up, sample_log_down : (N_s,), optional
        The log-factors on a nominal sample of the component, to normalise r at every α.
    sample_weights : (N_s,), optional
        That sample's weights (default equal).
    """

    name: str
    component: str
    log_up: FloatArray
    log_down: FloatArray
    rate_up: float = 1.0
    rate_down: float = 1.0
    sample_log_up: FloatArray | None = None
    sample_log_down: FloatArray | None = None
    sample_weights: FloatArray | None = None

    def __post_init__(self) -> None:
        up = as_float_array(self.log_up, f"{self.name}: log_up")
        down = as_float_array(self.log_down, f"{self.name}: log_down")
        if up.ndim != 1 or up.shape != down.shape:
            raise InputError(
                f"{self.name}: log_up and log_down must be (N,) arrays of one length, got "
                f"{up.shape} and {down.shape}"
            )
        for label, value in (("rate_up", self.rate_up), ("rate_down", self.rate_down)):
            if not (np.isfinite(value) and value > 0):
                raise InputError(f"{self.name}: {label} must be a finite value > 0, got {value!r}")
        object.__setattr__(self, "log_up", up)
        object.__setattr__(self, "log_down", down)
        if (self.sample_log_up is None) != (self.sample_log_down is None):
            raise InputError(f"{self.name}: give both sample_log_up and sample_log_down, or none")
        if self.sample_log_up is not None and self.sample_log_down is not None:
            s_up = as_float_array(self.sample_log_up, f"{self.name}: sample_log_up")
            s_down = as_float_array(self.sample_log_down, f"{self.name}: sample_log_down")
            if s_up.ndim != 1 or s_up.shape != s_down.shape or s_up.size == 0:
                raise InputError(
                    f"{self.name}: sample_log_up and sample_log_down must be non-empty (N_s,) "
                    f"arrays of one length, got {s_up.shape} and {s_down.shape}"
                )
            w = (
                np.ones(s_up.size)
                if self.sample_weights is None
                else as_float_array(self.sample_weights, f"{self.name}: sample_weights")
            )
            if w.shape != s_up.shape or not ((w >= 0).all() and w.sum() > 0):
                raise InputError(
                    f"{self.name}: sample_weights must be ({s_up.size},) and ≥ 0 with a "
                    f"positive sum, got shape {w.shape}"
                )
            object.__setattr__(self, "sample_log_up", s_up)
            object.__setattr__(self, "sample_log_down", s_down)
            object.__setattr__(self, "sample_weights", w / w.sum())

    @classmethod
    def from_ratios(
        cls,
        name: str,
        component: str,
        ratio_up: Any,
        ratio_down: Any,
        rate_up: float = 1.0,
        rate_down: float = 1.0,
    ) -> EventShape:
        """Build from the factors r(x_e|±1) themselves (each > 0)."""
        up = as_float_array(ratio_up, f"{name}: ratio_up")
        down = as_float_array(ratio_down, f"{name}: ratio_down")
        if not ((up > 0).all() and (down > 0).all()):
            raise InputError(f"{name}: the per-event factors must be > 0")
        return cls(name, component, np.log(up), np.log(down), float(rate_up), float(rate_down))

    @property
    def acts_alike(self) -> bool:
        """Whether it acts alike on every component (``component`` is :data:`ALL_COMPONENTS`)."""
        return self.component == ALL_COMPONENTS

    def _mine(self, component: str) -> bool:
        return self.acts_alike or component == self.component

    @property
    def n_events(self) -> int:
        """N."""
        return int(self.log_up.shape[0])

    def log_normalisation(self, alpha: Any) -> Terms:
        """Log Z(α) and its derivatives, of α's shape (zeros without a nominal sample).

        Inside |α| ≤ :data:`TABLE_RANGE` from a table of the exact values and derivatives at
        nodes :data:`TABLE_STEP` apart (±1 among them, where ℓ'' jumps: each interval is
        smooth), interpolated by quintic Hermite polynomials (value, first and second
        derivative matched at both nodes; error O(h⁶) in the value: 1e-12 for log-factors of
        spread 0.3); the derivatives are the interpolant's own, so the profile's Newton steps
        see one consistent function. Outside, and for a sample of fewer than
        :data:`TABLE_MIN_SAMPLE` events, exact. The exact sum costs O(N_s) per α; the table
        makes the profile's cost independent of N_s.
        """
        a = np.asarray(alpha, dtype=np.float64)
        if self.sample_log_up is None or self.sample_log_down is None:
            zero = np.zeros_like(a)
            return zero, zero, zero
        if self.sample_log_up.size < TABLE_MIN_SAMPLE:
            return self.exact_log_normalisation(a)
        nodes, table = self._normalisation_table
        flat = a.reshape(-1)
        out = np.empty((3, flat.size))
        inside = np.abs(flat) <= TABLE_RANGE
        if not inside.all():
            outside = self.exact_log_normalisation(flat[~inside])
            for k in range(3):
                out[k, ~inside] = outside[k]
        x = flat[inside]
        i = np.clip(((x + TABLE_RANGE) / TABLE_STEP).astype(np.int64), 0, nodes.size - 2)
        h = nodes[i + 1] - nodes[i]
        u = (x - nodes[i]) / h
        f0, d0, s0 = table[0, i], table[1, i] * h, table[2, i] * h * h
        f1, d1, s1 = table[0, i + 1], table[1, i + 1] * h, table[2, i + 1] * h * h
        for k, basis in enumerate(_quintic_hermite(u)):
            value = f0 * basis[0] + d0 * basis[1] + s0 * basis[2]
            value += s1 * basis[3] + d1 * basis[4] + f1 * basis[5]
            out[k, inside] = value / h**k
        return out[0].reshape(a.shape), out[1].reshape(a.shape), out[2].reshape(a.shape)

    @cached_property
    def _normalisation_table(self) -> tuple[FloatArray, FloatArray]:
        n = round(2 * TABLE_RANGE / TABLE_STEP) + 1
        nodes = np.linspace(-TABLE_RANGE, TABLE_RANGE, n)
        return nodes, np.stack(self.exact_log_normalisation(nodes))

    def exact_log_normalisation(self, alpha: Any) -> Terms:
        """Log Z(α) and its derivatives summed over the sample (no table)."""
        a = np.asarray(alpha, dtype=np.float64)
        v = self.sample_weights
        if self.sample_log_up is None or self.sample_log_down is None or v is None:
            zero = np.zeros_like(a)
            return zero, zero, zero
        flat = a.reshape(-1)
        out = np.empty((3, flat.size))
        chunk = max(1, 2**21 // v.size)
        for p0 in range(0, flat.size, chunk):
            part = flat[p0 : p0 + chunk, None]
            ell, d1, d2 = interpolate_log(self.sample_log_up, self.sample_log_down, part)
            top = ell.max(axis=1, keepdims=True)
            q = v * np.exp(ell - top)
            z = q.sum(axis=1)
            q /= z[:, None]
            mean1 = (q * d1).sum(axis=1)
            out[0, p0 : p0 + chunk] = np.log(z) + top[:, 0]
            out[1, p0 : p0 + chunk] = mean1
            out[2, p0 : p0 + chunk] = (q * (d2 + d1 * d1)).sum(axis=1) - mean1 * mean1
        return out[0].reshape(a.shape), out[1].reshape(a.shape), out[2].reshape(a.shape)

    # -- the scalar interface of :class:`madsbi.inference.model.Modifier` -------------------
    def rate_factor(self, component: str, alpha: float) -> float:
        """η(α) for its component(s) (interpolated), else 1."""
        return float(np.exp(self.log_rate_terms(component, np.asarray(alpha))[0]))

    def event_log_factors(self, component: str, alpha: float) -> FloatArray | None:
        """Log r(x_e|α) (N,) for its component(s), else None."""
        if not self._mine(component):
            return None
        value: FloatArray = interpolate_log(self.log_up, self.log_down, float(alpha))[0]
        return value - float(self.log_normalisation(float(alpha))[0])

    def log_constraint(self, alpha: float) -> float:
        """−α²/2."""
        return -0.5 * alpha * alpha

    # -- vectorised terms for the profile (:mod:`madsbi.inference.profile`) -----------------
    def acts_on(self, component: str) -> bool:
        """Whether the component is its own (every one with :data:`ALL_COMPONENTS`)."""
        return self._mine(component)

    def has_event_factors(self, component: str) -> bool:
        """True for its component(s)."""
        return self._mine(component)

    def log_rate_terms(self, component: str, alpha: FloatArray) -> Terms:
        """Log η(α) and its derivatives (α's shape); zeros for another component."""
        a = np.asarray(alpha, dtype=np.float64)
        if not self._mine(component):
            zero = np.zeros_like(a)
            return zero, zero, zero
        return interpolate_log(np.log(self.rate_up), np.log(self.rate_down), a)

    def event_log_terms(self, component: str, alpha: FloatArray) -> Terms | None:
        """Log r(x_e|α) and its α-derivatives, (M, N, G) for α of shape (M, G); None if not its."""
        if not self._mine(component):
            return None
        a = np.asarray(alpha, dtype=np.float64)
        terms = interpolate_log(
            self.log_up[None, :, None], self.log_down[None, :, None], a[:, None]
        )
        norm = self.log_normalisation(a)
        return terms[0] - norm[0][:, None], terms[1] - norm[1][:, None], terms[2] - norm[2][:, None]

    def event_sum_terms(self, component: str, weights: FloatArray, alpha: FloatArray) -> Terms:
        """Σ_e w_e log r(x_e|α) and its derivatives, of α's shape (two sums, any α)."""
        a = np.asarray(alpha, dtype=np.float64)
        if not self._mine(component):
            zero = np.zeros_like(a)
            return zero, zero, zero
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (self.n_events,):
            raise InputError(f"{self.name}: weights of shape ({self.n_events},), got {w.shape}")
        # ℓ_e(α) is linear in (log_up_e, log_down_e), so the sum interpolates the summed logs.
        terms = interpolate_log(float(w @ self.log_up), float(w @ self.log_down), a)
        norm = self.log_normalisation(a)
        total = float(w.sum())
        return terms[0] - total * norm[0], terms[1] - total * norm[1], terms[2] - total * norm[2]

    def constraint_terms(self, alpha: FloatArray) -> Terms:
        """−α²/2 and its derivatives."""
        return gaussian_constraint(alpha)
