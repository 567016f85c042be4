"""Figures as pure functions of NumPy arrays, each writing one PNG and returning its path.

matplotlib is an optional dependency (extra ``plot``); it is imported on the first figure,
not by ``import madsbi.plotting``, and always with the non-interactive Agg backend unless the
caller chose a backend. Without matplotlib every function raises
:class:`~madsbi.errors.OptionalDependencyError`.

Toy model (paper Sec. 3, App. B): :func:`plot_likelihoods` (Fig. 1),
:func:`plot_mean_log_ratio` (Figs. 2, 3, 5 right), :func:`plot_target_histogram` (Fig. 4),
:func:`plot_learned_function` (Fig. 5 left), :func:`plot_scatter_targets` (Fig. 13).
Training: :func:`plot_loss_curves`. Calibration (App. A): :func:`plot_coverage` (Fig. 12) and
:func:`plot_q_histogram`. W±Z analysis (Sec. 4): :func:`plot_mean_log_ratio_2d` (Figs. 8, 9).
"""

from __future__ import annotations

from madsbi.plotting.coverage import plot_coverage, plot_q_histogram
from madsbi.plotting.toy import (
    plot_learned_function,
    plot_likelihoods,
    plot_mean_log_ratio,
    plot_scatter_targets,
    plot_target_histogram,
)
from madsbi.plotting.training import plot_loss_curves
from madsbi.plotting.wz import plot_mean_log_ratio_2d

__all__ = [
    "plot_coverage",
    "plot_learned_function",
    "plot_likelihoods",
    "plot_loss_curves",
    "plot_mean_log_ratio",
    "plot_mean_log_ratio_2d",
    "plot_q_histogram",
    "plot_scatter_targets",
    "plot_target_histogram",
]
