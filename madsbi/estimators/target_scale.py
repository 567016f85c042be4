"""Per-target output scales g_k(x) for derivative learning of energy-growing targets.

Derivative targets t_k(z) = c_k(z)/c_0(z) of SMEFT operators grow with the energy of the
event (a quadratic cW term ∝ ŝ²): over a W±Z sample t_cW² spans four orders of magnitude, a
few tail entries hold half of Σ w t², and the standardised MSE (scale = the target's RMS) is
set by them. A bulk error of the size of the bulk's own mean then costs less than the tail's
gradient noise, and the network leaves the bulk biased (issue 25: t̂_cW² low by ≈ 65 % at
m_T^WZ = 300–500 GeV, on its own training set).

A :class:`TargetScale` divides every target by a smooth positive function of one positive
input column u (an energy, e.g. m_T^WZ), g_k(u) = exp(interp(log u; knots, log s_k)), with
s_k the weighted RMS of t_k in bins of log u (the knots are the bins' weighted mean log u;
g is constant beyond the outer knots). The network regresses t_k/g_k(x), which is O(1)
everywhere, and predicts t̂_k(x) = g_k(x) · net_k(x). Because g_k depends on x alone, the
minimiser of the weighted MSE of t_k/g_k is E[t_k|x]/g_k(x): the estimate of E[t_k|x] is
unchanged in the limit, only the weight the loss gives each region moves (each region's
relative error counts with its number of entries instead of its share of Σ w t²).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError


def _bins(log_u: FloatArray, n_bins: int, min_entries: int) -> FloatArray:
    """Inner edges of ``n_bins`` equal bins in log u (1 %–max), merged to ≥ min_entries."""
    low = float(np.quantile(log_u, 0.01))
    edges = np.linspace(low, float(log_u.max()), n_bins + 1)[1:-1]
    while edges.size:
        counts = np.bincount(np.searchsorted(edges, log_u, side="right"), minlength=edges.size + 1)
        sparse = np.flatnonzero(counts < min_entries)
        if not sparse.size:
            break
        # Merge the sparse bin into its lower neighbour (the first bin: into the second).
        edges = np.delete(edges, max(int(sparse[-1]) - 1, 0))
    return edges


@dataclass(frozen=True, eq=False)
class TargetScale:
    """g_k(x) = exp(interp(log x[:, column]; knots, log_scales[k])) per target k.

    Attributes
    ----------
    column : int
        The input column u (values > 0).
    knots : (B,)
        Increasing log u of the bins' weighted means.
    log_scales : dict of int to (B,)
        Log of the weighted RMS of t_k per bin.
    """

    column: int
    knots: FloatArray
    log_scales: Mapping[int, FloatArray]

    @classmethod
    def fit(
        cls,
        x: Any,
        targets: Any,
        weights: Any,
        keys: Sequence[int],
        column: int,
        *,
        n_bins: int = 12,
        min_entries: int = 50,
    ) -> TargetScale:
        """Bin log x[:, column] and take each target's weighted RMS per bin.

        Parameters
        ----------
        x : (N, d)
            Network inputs.
        targets : (N, T)
            t_k for the keys, column j for ``keys[j]``.
        weights : (N,)
            Event weights (≥ 0).
        keys : sequence of int
            The coefficient index k of every target column.
        column : int
            The input column u; every value must be > 0.
        n_bins, min_entries : int
            Equal bins in log u between its 1 % quantile and its maximum, merged until each
            holds at least ``min_entries`` entries.

        Raises
        ------
        InputError
            A column outside the inputs, a value of u ≤ 0, or a target that is zero in
            every entry of a bin.
        """
        xs = as_float_array(x, "x", (None, None))
        t = as_float_array(targets, "targets", (xs.shape[0], len(keys)))
        w = as_float_array(weights, "weights", (xs.shape[0],))
        if not 0 <= column < xs.shape[1]:
            raise InputError(
                f"target scale column: expected 0 <= column < {xs.shape[1]}, got {column}"
            )
        u = xs[:, column]
        if not (u > 0).all():
            raise InputError(
                f"target scale column {column}: needs values > 0, event {int(np.argmax(u <= 0))} "
                f"has {float(u[np.argmax(u <= 0)])}"
            )
        log_u = np.log(u)
        edges = _bins(log_u, n_bins, max(int(min_entries), 1))
        index = np.searchsorted(edges, log_u, side="right")
        n = edges.size + 1
        knots = np.empty(n)
        scales: dict[int, FloatArray] = {int(k): np.empty(n) for k in keys}
        for b in range(n):
            in_bin = index == b
            wb = w[in_bin]
            total = float(wb.sum())
            if not total > 0:
                raise InputError(f"target scale column {column}: bin {b} has no weight")
            knots[b] = float(np.dot(wb, log_u[in_bin]) / total)
            for j, k in enumerate(keys):
                second = float(np.dot(wb, t[in_bin, j] ** 2) / total)
                if not second > 0:
                    raise InputError(f"targets[:, {j}] (t_{k}): zero in every entry of bin {b}")
                scales[int(k)][b] = 0.5 * np.log(second)
        return cls(int(column), knots, scales)

    def __call__(self, x: Any, key: int) -> FloatArray:
        """g_k at the inputs x (N, d), (N,); u ≤ 0 counts as the lowest knot."""
        xs = np.asarray(x, dtype=np.float64)
        u = xs[:, self.column]
        log_u = np.log(np.where(u > 0, u, np.exp(self.knots[0])))
        result: FloatArray = np.exp(np.interp(log_u, self.knots, self.log_scales[key]))
        return result

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (:meth:`from_dict` reads it)."""
        return {
            "column": self.column,
            "knots": self.knots.tolist(),
            "log_scales": {str(k): v.tolist() for k, v in self.log_scales.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetScale:
        """Read :meth:`to_dict`'s description."""
        knots = np.asarray(data["knots"], dtype=np.float64)
        scales = {
            int(k): np.asarray(v, dtype=np.float64) for k, v in dict(data["log_scales"]).items()
        }
        if any(v.shape != knots.shape for v in scales.values()):
            raise InputError("target_scale: every log_scales row needs one value per knot")
        return cls(int(data["column"]), knots, scales)


__all__ = ["TargetScale"]
