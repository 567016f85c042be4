"""What a fit with background components reports for its figures: the m_T^WZ stack, reliability.

Two summaries go into each method's ``components`` entry of ``fit.json`` (and from there into
the figures of ``madsbi.plotting.components``):

- ``stack``: the expected events per bin of m_T^WZ (the feature ``mt_wz``) of every component
  at the SM and at the best fit, ν_c,b(θ) = L F_c Σ_{e∈b} v_e C_e·φ(θ − θ0) over the
  process's MC events in the data's selection with their *exact* coefficients (the signal's
  rate events, each background's events), so Σ_b ν_c,b(θ) = ν_c(θ) of ``yields``; and the
  data's weighted counts per bin. Bins :data:`EDGES_GEV`; values below the first edge count
  in the first bin, above the last in the last. Left out when ``mt_wz`` is not a feature.
- ``reliability``: the classifier's calibration per process on labelled events the
  classifier never saw — the data's hidden truth (``/truth/mix`` of ``madsbi store mix``,
  :mod:`madsbi.analysis.oracles`). Each event is weighted back to θ0 by 1/R_c(z_e|θ_drawn)
  (its own process's exact ratio at the point it was drawn at), so the labelled sample
  follows Σ_c ν_c0 p_c(x|θ0), the distribution the shares f_c(x) describe. Per process c and
  bin of the predicted f_c (:data:`RELIABILITY_BINS` equal bins of [0, 1]): the weighted mean
  predicted f_c, the observed fraction Σ_{c_e = c} w_e / Σ w_e, its binomial error
  √(p(1 − p)/n_eff) (n_eff = (Σw)²/Σw²) and the events. Left out without truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, IntArray
from madsbi.errors import InputError

#: Bin edges of the m_T^WZ stack (GeV); under- and overflow fold into the first and last bin.
EDGES_GEV = (100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 800.0, 1000.0, 1500.0, 2500.0)
#: The stack's observable (a feature of the analysis).
OBSERVABLE = "mt_wz"
#: Equal bins of the predicted share in the reliability curve.
RELIABILITY_BINS = 10


def bin_index(values: FloatArray, edges: Sequence[float]) -> IntArray:
    """The bin of each value, under- and overflow folded into the first and last bin."""
    inner = np.asarray(edges, dtype=np.float64)[1:-1]
    result: IntArray = np.searchsorted(inner, values, side="right").astype(np.int64)
    return result


@dataclass(frozen=True, eq=False)
class StackInputs:
    """Per component: its MC events' bins, ν-scaled weights and exact C_e; the data's bins."""

    names: tuple[str, ...]
    bins: tuple[IntArray, ...]
    weights: tuple[FloatArray, ...]
    coefficients: tuple[FloatArray, ...]
    features: Any
    data_bins: IntArray
    data_weights: FloatArray
    edges: tuple[float, ...] = EDGES_GEV

    def counts(self, theta: Any) -> dict[str, list[float]]:
        """ν_c,b(θ) of every component (module docstring)."""
        phi = self.features(np.atleast_2d(np.asarray(theta, dtype=np.float64)))[0]
        n_bins = len(self.edges) - 1
        return {
            name: np.bincount(b, weights=w * (c @ phi), minlength=n_bins).tolist()
            for name, b, w, c in zip(
                self.names, self.bins, self.weights, self.coefficients, strict=True
            )
        }

    def report(self, best_fit: Any) -> dict[str, Any]:
        """The ``stack`` entry of ``fit.json``."""
        n_bins = len(self.edges) - 1
        data = np.bincount(self.data_bins, weights=self.data_weights, minlength=n_bins)
        sq = np.bincount(self.data_bins, weights=self.data_weights**2, minlength=n_bins)
        sm = np.zeros_like(np.asarray(best_fit, dtype=np.float64))
        return {
            "observable": OBSERVABLE,
            "edges": list(self.edges),
            "sm": self.counts(sm),
            "best_fit": self.counts(best_fit),
            "data": data.tolist(),
            "data_error": np.sqrt(sq).tolist(),
        }


def reliability(
    shares: Any, labels: Any, weights: Any, names: Sequence[str], bins: int = RELIABILITY_BINS
) -> dict[str, Any]:
    """The reliability curve of every process (module docstring).

    Parameters
    ----------
    shares : (N, C)
        Predicted f_c(x_e).
    labels : (N,)
        True process index of each event.
    weights : (N,)
        Event weights (≥ 0).
    names : sequence of str
        The C process names.
    bins : int
        Equal bins of [0, 1].

    Raises
    ------
    InputError
        Shapes that disagree, or labels outside 0 … C − 1.
    """
    f = np.asarray(shares, dtype=np.float64)
    lab = np.asarray(labels)
    w = np.asarray(weights, dtype=np.float64)
    n, c = f.shape if f.ndim == 2 else (-1, -1)
    if c != len(names) or lab.shape != (n,) or w.shape != (n,):
        raise InputError(
            f"reliability: shares {f.shape}, labels {lab.shape}, weights {w.shape} and "
            f"{len(names)} names disagree"
        )
    if n and (lab.min() < 0 or lab.max() >= c):
        raise InputError(f"reliability: labels outside 0 … {c - 1}")
    out: dict[str, Any] = {"bins": bins, "n_events": int(n), "processes": {}}
    for k, name in enumerate(names):
        index = np.minimum((f[:, k] * bins).astype(np.int64), bins - 1)
        total = np.bincount(index, weights=w, minlength=bins)
        squares = np.bincount(index, weights=w**2, minlength=bins)
        own = np.bincount(index, weights=w * (lab == k), minlength=bins)
        mean = np.bincount(index, weights=w * f[:, k], minlength=bins)
        events = np.bincount(index, minlength=bins)
        filled = total > 0
        p = np.divide(own, total, out=np.zeros(bins), where=filled)
        n_eff = np.divide(total**2, squares, out=np.zeros(bins), where=squares > 0)
        error = np.sqrt(np.divide(p * (1 - p), n_eff, out=np.zeros(bins), where=n_eff > 0))
        out["processes"][name] = {
            "predicted": np.divide(mean, total, out=np.zeros(bins), where=filled)[filled].tolist(),
            "observed": p[filled].tolist(),
            "error": error[filled].tolist(),
            "events": events[filled].tolist(),
        }
    return out
