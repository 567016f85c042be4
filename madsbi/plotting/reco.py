"""Reco-level W±Z figures.

The fractional-smearing targets (paper Fig. 4 for W±Z) and weighted distributions (parton vs
reco, smeared vs unsmeared).

The paper's Fig. 13 (targets against the observable at parton and reco level) is
:func:`madsbi.plotting.plot_scatter_targets`, called with parton m_WZ and reco m_T^WZ.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import InputError
from madsbi.plotting import _mpl

PathLike = str | os.PathLike[str]


def plot_smearing_targets(
    targets: Any,
    copies: Any,
    names: Sequence[str],
    path: PathLike,
    *,
    bins: int = 40,
    title: str = "",
) -> Path:
    """Histograms of every target before and after fractional smearing (Fig. 4, all targets).

    "original" counts each parent event once; "fractional smearing" counts each copy once
    (the training entries: a parent with n copies enters n times, with weight 1/n each, so
    its weighted contribution is unchanged while the tails get populated).

    Parameters
    ----------
    targets : array_like, shape (N, T)
        Parton-level targets R_i, R_ij of the parent events.
    copies : array_like of int, shape (N,)
        Copies of every parent.
    names : sequence of str, length T
        Axis labels of the targets.
    path : str or path-like
        Output PNG.
    """
    out = _mpl.output_path(path)
    y = np.asarray(targets, dtype=np.float64)
    n_copies = np.asarray(copies, dtype=np.int64)
    if y.ndim != 2 or y.shape[1] != len(names) or n_copies.shape != (y.shape[0],):
        raise InputError(
            f"targets {y.shape}, copies {n_copies.shape}, {len(names)} names: expected (N, T), "
            "(N,) and T names"
        )
    if bins < 1:
        raise InputError(f"bins: expected >= 1, got {bins}")
    cols = min(3, y.shape[1])
    rows = math.ceil(y.shape[1] / cols)
    with _mpl.figure(out, figsize=(4.2 * cols, 3.2 * rows), nrows=rows, ncols=cols) as (fig, axes):
        flat = np.atleast_1d(axes).ravel()
        for k, ax in enumerate(flat):
            if k >= y.shape[1]:
                ax.set_visible(False)
                continue
            edges = np.linspace(y[:, k].min(), y[:, k].max() + 1e-12, bins + 1)
            before, _ = np.histogram(y[:, k], bins=edges)
            after, _ = np.histogram(y[:, k], bins=edges, weights=n_copies.astype(np.float64))
            ax.stairs(before, edges, linewidth=2.2, label="original")
            ax.stairs(after, edges, linewidth=1.3, label="fractional smearing")
            ax.set_yscale("log")
            ax.set_xlabel(names[k])
            ax.set_ylabel("entries")
            _mpl.finish(ax, legend=k == 0)
        if title:
            fig.suptitle(title)
    return out


def plot_distributions(
    datasets: Mapping[str, tuple[Any, Any]],
    path: PathLike,
    *,
    xlabel: str,
    bins: int = 30,
    value_range: tuple[float, float] | None = None,
    title: str = "",
) -> Path:
    """Normalised weighted histograms with ±1σ (Σw²) error bars, one per dataset.

    Parameters
    ----------
    datasets : mapping of str to (values, weights)
        Each with shape (N_i,).
    path : str or path-like
        Output PNG.
    xlabel : str
    bins : int
    value_range : (float, float), optional
        Histogram range (default: the 0.5–99.5 % quantiles of all values).
    """
    out = _mpl.output_path(path)
    if not datasets:
        raise InputError("datasets: expected at least one")
    data: dict[str, tuple[FloatArray, FloatArray]] = {}
    for name, (v, w) in datasets.items():
        values = _mpl.vector(v, f"datasets[{name!r}] values")
        data[name] = (values, _mpl.vector(w, f"datasets[{name!r}] weights", values.shape[0]))
    every = np.concatenate([v for v, _ in data.values()])
    if every.size == 0:
        raise InputError("datasets: no values to histogram")
    lo, hi = value_range or (float(np.quantile(every, 0.005)), float(np.quantile(every, 0.995)))
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    with _mpl.figure(out) as (_, ax):
        for name, (values, weights) in data.items():
            h, _ = np.histogram(values, bins=edges, weights=weights)
            h2, _ = np.histogram(values, bins=edges, weights=weights**2)
            norm = h.sum() * np.diff(edges) if h.sum() > 0 else np.ones_like(h)
            ax.errorbar(
                centres, h / norm, yerr=np.sqrt(h2) / norm, drawstyle="steps-mid", label=name
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("normalised density")
        _mpl.finish(ax, title=title)
    return out


def chi2_per_ndf(
    a: tuple[Any, Any], b: tuple[Any, Any], edges: Any, *, min_expected: float = 5.0
) -> tuple[float, int]:
    """χ²/ndf of the shapes of two weighted histograms (same distribution expected).

    Each dataset's normalised histogram h_X has variance p_b / N_X, with p_b the pooled
    shape (both datasets, weighted by N_X) and N_X = (Σw)²/Σw² its effective number of
    events; using the pooled p_b instead of each bin's own Σw² keeps bins with few entries
    from inflating χ². Bins where either dataset expects fewer than ``min_expected`` effective
    events are left out; ndf is the number of compared bins minus one (the normalisation).

    Returns
    -------
    chi2_ndf : float
    ndf : int
    """
    shapes, n_eff = [], []
    for values, weights in (a, b):
        v = np.asarray(values, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        h, _ = np.histogram(v, bins=edges, weights=w)
        h2, _ = np.histogram(v, bins=edges, weights=w**2)
        total = h.sum()
        if not total > 0:
            raise InputError("chi2_per_ndf: a dataset has no weight inside the bins")
        shapes.append(h / total)
        n_eff.append(total**2 / h2.sum())
    (ha, hb), (na, nb) = shapes, n_eff
    pooled = (na * ha + nb * hb) / (na + nb)
    use = (pooled * min(na, nb)) >= min_expected
    ndf = int(use.sum()) - 1
    if ndf < 1:
        raise InputError("chi2_per_ndf: fewer than two bins with enough expected entries")
    variance = pooled[use] * (1.0 / na + 1.0 / nb)
    chi2 = float((((ha - hb)[use]) ** 2 / variance).sum())
    return chi2 / ndf, ndf
