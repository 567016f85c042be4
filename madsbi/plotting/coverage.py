"""Calibration figures: empirical coverage (paper App. A, Fig. 12) and the q(θ_true) distribution.

References
----------
H. Bahl et al., "Advancing Tools for Simulation-Based Inference" (2025), App. A, eqs. 50-53.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray
from madsbi.errors import InputError
from madsbi.plotting import _mpl

PathLike = str | os.PathLike[str]


def plot_coverage(
    gammas: npt.ArrayLike,
    empirical: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
    path: PathLike,
    *,
    title: str = "",
) -> Path:
    """Empirical against expected coverage with ±1σ bands (paper Fig. 12).

    Points above the diagonal are conservative (the true θ lies in the γ region more often
    than γ), points below overconfident.

    Parameters
    ----------
    gammas : array_like, shape (G,)
        Expected coverages (confidence levels) γ in [0, 1].
    empirical : mapping of str to (array_like, array_like), each of shape (G,)
        Method name → (empirical coverage c_γ, its 1σ statistical error), eq. 53.
    path : str or path-like
        Output ``.png`` file; its parent directory is created.
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    InputError
        If shapes disagree, a value is not finite, a coverage lies outside [0, 1] or an
        error is negative.
    """
    out = _mpl.output_path(path)
    levels = _mpl.vector(gammas, "gammas")
    _check_unit_interval(levels, "gammas")
    curves = _mpl.mean_std_pairs(empirical, "empirical", levels.shape[0])
    for name, (fraction, _) in curves.items():
        _check_unit_interval(fraction, f"empirical[{name!r}] fraction")
    colors = _mpl.method_colors(curves)
    with _mpl.figure(out, figsize=(5.4, 5.2)) as (_, ax):
        ax.plot(
            [0, 1],
            [0, 1],
            color="0.4",
            linestyle="--",
            linewidth=1.2,
            label=r"ideal: $c_\gamma = \gamma$",
        )
        for name, (fraction, error) in curves.items():
            color = colors[name]
            ax.fill_between(
                levels,
                np.clip(fraction - error, 0.0, 1.0),
                np.clip(fraction + error, 0.0, 1.0),
                color=color,
                alpha=_mpl.BAND_ALPHA,
                linewidth=0,
            )
            ax.plot(levels, fraction, color=color, marker="o", markersize=3.5, label=name)
        text = {"color": "0.45", "fontsize": 11, "fontstyle": "italic"}
        ax.text(0.05, 0.93, "conservative", ha="left", va="top", **text)
        ax.text(0.95, 0.07, "overconfident", ha="right", va="bottom", **text)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.0)
        ax.set_aspect("equal")
        ax.set_xlabel(r"expected coverage $\gamma$")
        ax.set_ylabel(r"empirical coverage $c_\gamma$")
        _mpl.finish(ax, title=title, loc="center right")
    return out


def plot_q_histogram(
    q: Mapping[str, npt.ArrayLike], dof: int, path: PathLike, *, title: str = ""
) -> Path:
    """Density histogram of q(θ_true) over pseudo-experiments with the χ²_k density overlaid.

    Asymptotically q(θ_true) follows a χ² distribution with ``dof`` degrees of freedom
    (Wilks); a histogram to the right of the curve means an overconfident likelihood. The
    histograms share bins from 0 to about the 99.9 % χ² quantile; entries beyond are counted
    in the legend and still enter the normalisation.

    Parameters
    ----------
    q : mapping of str to array_like of shape (n_toys,)
        Method name → q(θ_true) of each pseudo-experiment (eq. 50).
    dof : int
        Degrees of freedom k (number of theory parameters).
    path : str or path-like
        Output ``.png`` file; its parent directory is created.
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    InputError
        If ``q`` is empty, ``dof < 1`` or a value is not finite.
    """
    out = _mpl.output_path(path)
    if not q:
        raise InputError("q: expected at least one method, got an empty mapping")
    if dof < 1:
        raise InputError(f"dof: expected an integer >= 1, got {dof}")
    values = {name: _mpl.vector(v, f"q[{name!r}]") for name, v in q.items()}
    every = np.concatenate(list(values.values()))
    lower = min(0.0, float(every.min()))
    upper = max(_chi2_quantile_999(dof), float(np.quantile(every, 0.99)))
    n_bins = int(np.clip(math.sqrt(every.shape[0] / len(values)), 10, 50))
    edges = np.linspace(lower, upper, n_bins + 1)
    colors = _mpl.method_colors(values)
    x = np.linspace(upper * 1e-3, upper, 500)
    pdf = chi2_pdf(x, dof)
    with _mpl.figure(out) as (_, ax):
        top = 0.0
        for name, v in values.items():
            counts, _ = np.histogram(v, bins=edges)
            density = counts / (v.shape[0] * np.diff(edges))
            top = max(top, float(density.max()))
            overflow = int((v > upper).sum())
            label = f"{name} ($N$ = {v.shape[0]}"
            label += f"; {overflow} above {upper:.3g})" if overflow else ")"
            ax.stairs(density, edges, color=colors[name], fill=True, alpha=0.18)
            ax.stairs(density, edges, color=colors[name], linewidth=1.8, label=label)
        ax.plot(
            x,
            pdf,
            color="black",
            linestyle="--",
            linewidth=1.8,
            label=rf"$\chi^2_{{{dof}}}$ density",
        )
        first_centre = 0.5 * (edges[0] + edges[1])
        top = max(top, float(chi2_pdf(np.array([max(first_centre, x[0])]), dof)[0]))
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0.0, 1.25 * top)
        ax.set_xlabel(r"$q(\theta_\mathrm{true})$")
        ax.set_ylabel("probability density")
        _mpl.finish(ax, title=title)
    return out


def chi2_pdf(x: FloatArray, dof: int) -> FloatArray:
    """The χ²_k density x^{k/2-1} e^{-x/2} / (2^{k/2} Γ(k/2)) for x > 0 (0 elsewhere).

    Evaluated in log space (``math.lgamma``) so that large k does not overflow Γ(k/2).
    """
    half = 0.5 * dof
    positive = x > 0
    safe = np.where(positive, x, 1.0)
    log_pdf = (half - 1.0) * np.log(safe) - 0.5 * safe - half * math.log(2.0) - math.lgamma(half)
    result: FloatArray = np.where(positive, np.exp(log_pdf), 0.0)
    return result


def _chi2_quantile_999(dof: int) -> float:
    """The 99.9 % quantile of χ²_k (Wilson-Hilferty approximation, a few % high for k = 1)."""
    z = 3.090232
    a = 2.0 / (9.0 * dof)
    return float(dof * (1.0 - a + z * math.sqrt(a)) ** 3)


def _check_unit_interval(values: FloatArray, name: str) -> None:
    if np.any((values < 0) | (values > 1)):
        bad = float(values[(values < 0) | (values > 1)][0])
        raise InputError(f"{name}: expected values in [0, 1], got {bad}")
