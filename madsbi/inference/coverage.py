"""Empirical coverage with toys (App. A, eq. 53).

Each toy draws n ~ Pois(ν_true) events from a test sample simulated at θ_true (with
replacement), scans log r_full(θ) over a grid that contains θ_true, and records
q(θ_true) = −2 (log r_full(θ_true) − max_θ log r_full(θ)). The true point lies inside the
γ region when p(θ_true) = 1 − F_χ²(q|k) > 1 − γ, i.e. q ≤ F⁻¹_χ²(γ|k). For a correct
likelihood the fraction of toys where it does is γ (within the binomial error).

Two ways to the same q(θ_true): ``method="dense"`` (the default) forms log R(x_e|θ_g) once
per grid chunk for the whole test sample and multiplies the toys' event counts into it
(:mod:`madsbi.inference.dense`); ``method="per_toy"`` scans every toy's events with the grid
kernel (:func:`madsbi.inference.likelihood.scan`), the reference. Both draw their toys through
:func:`madsbi.inference.dense.draw_toys`: the same generator gives the same toys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._progress import progress_bar
from madsbi._validate import FloatArray, as_float_array, as_grid
from madsbi.errors import InputError
from madsbi.inference.dense import (
    DenseBackend,
    draw_toys,
    toy_counts,
    toy_log_likelihoods,
    toy_statistics,
)
from madsbi.inference.limits import best_fit, chi2_quantile, p_value
from madsbi.inference.model import LikelihoodModel, tabulated
from madsbi.inference.rate import RateModel


@dataclass(frozen=True, eq=False)
class CoverageResult:
    """Coverage fractions c_γ with binomial errors, and every toy's q(θ_true)."""

    gammas: FloatArray
    fractions: FloatArray
    errors: FloatArray
    q_true: FloatArray
    dof: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "gammas": self.gammas.tolist(),
            "fractions": self.fractions.tolist(),
            "errors": self.errors.tolist(),
            "deviation_sigmas": ((self.fractions - self.gammas) / self.errors).tolist(),
            "n_toys": int(self.q_true.shape[0]),
            "dof": self.dof,
            "q_true": self.q_true.tolist(),
        }

    def curve(self, gammas: Any) -> tuple[FloatArray, FloatArray]:
        """Fractions and binomial errors for any confidence levels (for Fig. 12)."""
        return _fractions(self.q_true, as_float_array(gammas, "gammas"), self.dof)


def _fractions(q_true: FloatArray, levels: FloatArray, dof: int) -> tuple[FloatArray, FloatArray]:
    """Share of toys with q ≤ F⁻¹_χ²(γ|k) per level, and its binomial error (floored at 1/n)."""
    thresholds = np.array([chi2_quantile(float(g), dof) for g in levels])
    fractions = (q_true[:, None] <= thresholds[None, :]).mean(0)
    n = q_true.shape[0]
    return fractions, np.sqrt(np.maximum(fractions * (1 - fractions), 1.0 / n) / n)


#: Values of ``method``.
METHODS = ("dense", "per_toy")


def run_coverage(
    coefficients: Any,
    features: Any,
    rate: RateModel,
    *,
    thetas: Any,
    true_index: int,
    expected_events0: float,
    expected_events_true: float,
    n_toys: int,
    gammas: Any = (0.68, 0.95),
    log1p: bool = False,
    rng: np.random.Generator,
    method: str = "dense",
    backend: DenseBackend | None = None,
    progress: bool = True,
    label: str = "coverage",
    probabilities: Any = None,
) -> CoverageResult:
    """Coverage of the γ regions from ``n_toys`` toys drawn from a test sample at θ_true.

    Parameters
    ----------
    coefficients : (N, K)
        C_e of the test events (one member: the ensemble mean for a learned ratio).
    features : (G, K)
        Φ(θ) on the scan grid ``thetas`` (G, n), which contains θ_true at ``true_index``.
    rate : RateModel
        ρ(θ) = σ(θ)/σ(θ0) (one member).
    expected_events0 : float
        ν0 = L σ(θ0) (with any K-factor: :func:`madsbi.inference.likelihood.expected_events`).
    expected_events_true : float
        L σ(θ_true): the mean of the Poisson number of events of each toy.
    n_toys : int
    gammas : sequence of float
        Confidence levels of the fractions.
    log1p : bool
        C_e0 = Φ_0 = 1 (the derivative form).
    rng : numpy.random.Generator
        Draws the toys (:func:`madsbi.inference.dense.draw_toys`).
    method : {"dense", "per_toy"}
        "dense": counts × log R as a matrix product over grid chunks
        (:func:`madsbi.inference.dense.toy_statistics`); "per_toy": one grid scan per toy (the
        reference). Same toys, same q(θ_true) to rounding.
    backend : DenseBackend, optional
        Where the dense product runs (NumPy float64 BLAS by default; a torch device through
        :class:`madsbi.nn.dense_sums.TorchDense`). Ignored by "per_toy".
    probabilities : (N,), optional
        The test events' shares of the sample at θ_true (weighted events); uniform if not
        given (:func:`madsbi.inference.dense.draw_toys`).

    Raises
    ------
    InputError
        Bad ``true_index``, ``n_toys``, ``method``, or inputs the scan refuses.
    """
    if method not in METHODS:
        raise InputError(f"method: expected 'dense' or 'per_toy', got {method!r}")
    c = as_float_array(coefficients, "coefficients", (None, None))
    phi = as_float_array(features, "features", (None, c.shape[1]))
    grid = as_grid(thetas)
    if not 0 <= true_index < phi.shape[0]:
        raise InputError(f"true_index: expected in [0, {phi.shape[0]}), got {true_index}")
    if n_toys < 1:
        raise InputError(f"n_toys: expected >= 1, got {n_toys}")
    levels = as_float_array(gammas, "gammas", (None,))
    dof = grid.shape[1]
    if method == "dense":
        counts = toy_counts(rng, c.shape[0], expected_events_true, n_toys, probabilities)
        if dof == 1:
            # A line: the whole (T, G) array is small, and best_fit refines each maximum by
            # its parabola exactly as the per-toy path does.
            ll_all = toy_log_likelihoods(
                counts, c, phi, rate, expected_events0=expected_events0, log1p=log1p,
                backend=backend,
            )  # fmt: skip
            tops = np.array([best_fit(grid, row)[1] for row in ll_all])
            q_true = np.maximum(-2.0 * (ll_all[:, true_index] - tops), 0.0)
        else:  # best_fit is the grid maximum: stream over grid chunks
            stats = toy_statistics(
                counts,
                c,
                phi,
                rate,
                true_index=true_index,
                expected_events0=expected_events0,
                log1p=log1p,
                backend=backend,
                progress=progress,
                label=label,
            )
            q_true = stats.q_true
    else:
        q_true = np.empty(n_toys)
        toys = draw_toys(rng, c.shape[0], expected_events_true, n_toys, probabilities)
        features_on_grid = tabulated(grid, phi)
        with progress_bar(n_toys, label, unit="toy", enabled=progress) as bar:
            for t, picked in enumerate(toys):
                model = LikelihoodModel.single(
                    c[picked], features_on_grid, rate, expected_events0=expected_events0,
                    log1p=log1p,
                )  # fmt: skip
                ll = model.log_likelihood(grid)[0]
                _, top = best_fit(grid, ll)
                q_true[t] = max(0.0, -2.0 * (ll[true_index] - top))
                bar.update(1)
    fractions, errors = _fractions(q_true, levels, dof)
    return CoverageResult(levels, fractions, errors, q_true, dof)


def dense_coverage(
    coefficients: Any, features: Any, rate: RateModel, **kwargs: Any
) -> CoverageResult:
    """:func:`run_coverage` with ``method="dense"`` (the toys as one matrix product per chunk)."""
    return run_coverage(coefficients, features, rate, method="dense", **kwargs)


def p_values_at_truth(result: CoverageResult) -> FloatArray:
    """P(θ_true) of every toy (eq. 52)."""
    return p_value(result.q_true, result.dof)
