"""Figures of the two-Gaussian toy model (paper Sec. 3 Figs. 1-5, App. B Fig. 13).

Every function takes NumPy arrays and an output path, writes one PNG and returns its path.
Ensemble results enter as ``(mean, std)`` pairs over the ensemble members and are drawn as a
line with a shaded ±1σ band.

References
----------
H. Bahl et al., "Advancing Tools for Simulation-Based Inference" (2025), Sec. 3 and App. B.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray
from madsbi.errors import InputError
from madsbi.plotting import _mpl

PathLike = str | os.PathLike[str]
ArrayLike = npt.ArrayLike

_LINESTYLES = ("-", "--", "-.", (0, (1, 1.5)))


def plot_likelihoods(
    x: ArrayLike, densities: Mapping[str, ArrayLike], path: PathLike, *, title: str = ""
) -> Path:
    """Likelihood curves p(x|θ) on one panel (paper Fig. 1).

    Parameters
    ----------
    x : array_like, shape (N,)
        Points of the observable x, strictly increasing.
    densities : mapping of str to array_like of shape (N,)
        Legend label (e.g. ``"α = 1.5, θ = 0"``) → p(x|θ) on ``x``.
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
        If ``densities`` is empty, an array has the wrong shape or a value is not finite.
    """
    out = _mpl.output_path(path)
    xs = _mpl.grid(x, "x")
    if not densities:
        raise InputError("densities: expected at least one curve, got an empty mapping")
    curves = {
        label: _mpl.vector(values, f"densities[{label!r}]", xs.shape[0])
        for label, values in densities.items()
    }
    colors = _mpl.method_colors(curves)
    with _mpl.figure(out) as (_, ax):
        for index, (label, values) in enumerate(curves.items()):
            # Distinct dashes keep coinciding curves (every α at θ = 0) visible.
            style = _LINESTYLES[index % len(_LINESTYLES)]
            ax.plot(xs, values, color=colors[label], linestyle=style, label=label)
        ax.set_xlabel(r"$x$")
        ax.set_ylabel(r"$p(x|\theta)$")
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(bottom=0.0)
        _mpl.finish(ax, title=title)
    return out


def plot_mean_log_ratio(
    thetas: ArrayLike,
    truth: ArrayLike,
    methods: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: PathLike,
    *,
    theta_test: float | None = None,
    xlabel: str = r"$\theta$",
    ylabel: str = r"$\langle \log r(x|\theta,\theta_0)\rangle$",
    title: str = "",
) -> Path:
    """Expected log-likelihood ratio versus θ, truth against learned (Figs. 2, 3, 5 right).

    The upper panel shows the truth (black) and each method's ensemble mean with a ±1σ band;
    the lower panel shows method − truth with the same band.

    Parameters
    ----------
    thetas : array_like, shape (G,)
        Grid of θ values, strictly increasing.
    truth : array_like, shape (G,)
        True ⟨log r(x|θ, θ0)⟩ on the grid.
    methods : mapping of str to (array_like, array_like), each of shape (G,)
        Method name → (mean, std) over the ensemble members.
    path : str or path-like
        Output ``.png`` file.
    theta_test : float, optional
        θ of the evaluation sample, marked by a dotted vertical line.
    xlabel : str, optional
        Label of the θ axis.
    ylabel : str, optional
        Label of the upper y axis.
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    InputError
        If an array has the wrong shape, a value is not finite or a std is negative.
    """
    out = _mpl.output_path(path)
    grid = _mpl.grid(thetas, "thetas")
    true = _mpl.vector(truth, "truth", grid.shape[0])
    curves = _mpl.mean_std_pairs(methods, "methods", grid.shape[0])
    colors = _mpl.method_colors(["truth", *curves])
    with _mpl.figure(
        out,
        figsize=(6.4, 5.6),
        nrows=2,
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1]},
    ) as (fig, (ax, ax_diff)):
        fig.get_layout_engine().set(hspace=0.0, h_pad=0.02)
        ax.plot(grid, true, color=colors["truth"], label="truth", zorder=3)
        ax_diff.axhline(0.0, color=colors["truth"], linewidth=1.0)
        bands = {}
        for name, (mean, std) in curves.items():
            line, fill = _band(ax, grid, mean, std, colors[name], name)
            if fill is not None:
                bands[line] = fill
            _band(ax_diff, grid, mean - true, std, colors[name], None)
        if theta_test is not None:
            label = rf"$\theta_\mathrm{{test}} = {float(theta_test):g}$"
            ax.axvline(theta_test, color="0.3", linestyle=":", linewidth=1.4, label=label)
            ax_diff.axvline(theta_test, color="0.3", linestyle=":", linewidth=1.4)
        ax.set_ylabel(ylabel)
        ax_diff.set_ylabel("method\n$-$ truth", fontsize=11)
        ax_diff.set_xlabel(xlabel)
        ax_diff.set_xlim(grid[0], grid[-1])
        fig.align_ylabels([ax, ax_diff])
        _mpl.finish(ax, title=title, bands=bands)
    return out


def plot_target_histogram(
    values: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: PathLike,
    *,
    xlabel: str = r"$R_{\theta\theta}$",
    bins: int = 60,
    log: bool = True,
    title: str = "",
) -> Path:
    """Weighted histograms of reco-level training targets (paper Fig. 4).

    All datasets share one binning. With ``log=True`` the bins are log-spaced over the
    positive range of all datasets, cut at :data:`~madsbi.plotting._mpl.LOG_DECADES` decades
    below the largest value; non-positive values and values below the range are not shown and
    their number is given in the legend. The paper's figure counts training events: pass unit
    weights for that (the 1/n weights of fractional-smearing copies of one parent event sum
    to the parent's weight, so the weighted histograms of both datasets agree by design).

    Parameters
    ----------
    values : mapping of str to (array_like, array_like), each of shape (N_i,)
        Dataset name (e.g. ``"original"``, ``"fractional smearing"``) → (targets, weights).
    path : str or path-like
        Output ``.png`` file.
    xlabel : str, optional
        Label of the x axis.
    bins : int, optional
        Number of bins.
    log : bool, optional
        Log-spaced bins and a log x axis (the y axis is always logarithmic).
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    InputError
        If ``values`` is empty, ``bins < 1``, shapes disagree, or nothing is left to histogram.
    """
    out = _mpl.output_path(path)
    if not values:
        raise InputError("values: expected at least one dataset, got an empty mapping")
    if bins < 1:
        raise InputError(f"bins: expected >= 1, got {bins}")
    data: dict[str, tuple[FloatArray, FloatArray]] = {}
    for name, pair in values.items():
        target = _mpl.vector(pair[0], f"values[{name!r}] values")
        weight = _mpl.vector(pair[1], f"values[{name!r}] weights", target.shape[0])
        data[name] = (target, weight)
    every = np.concatenate([v for v, _ in data.values()])
    if log:
        lower = _mpl.log_lower_limit(every)
        if lower is None:
            raise InputError("values: no positive target left for log-spaced bins")
        lo, hi = lower, float(every.max())
    else:
        lo, hi = float(every.min()), float(every.max())
    if hi <= lo:
        hi = lo * 1.5 if log else lo + 1.0
    edges = np.geomspace(lo, hi, bins + 1) if log else np.linspace(lo, hi, bins + 1)
    unweighted = all(bool(np.all(w == 1.0)) for _, w in data.values())
    colors = _mpl.method_colors(data)
    with _mpl.figure(out) as (_, ax):
        lowest = np.inf
        for index, (name, (target, weight)) in enumerate(data.items()):
            counts, _ = np.histogram(target, bins=edges, weights=weight)
            positive = counts[counts > 0]
            if positive.size:
                lowest = min(lowest, float(positive.min()))
            notes = []
            if log and (dropped := int((target <= 0).sum())):
                notes.append(f"{dropped} $\\leq 0$")
            if log and (below := int(((target > 0) & (target < lo)).sum())):
                notes.append(f"{below} below {_mpl.sci(lo)}")
            label = f"{name} ({', '.join(notes)} not shown)" if notes else name
            # Earlier datasets thicker, so identical bins of later ones do not hide them.
            width = max(1.2, 3.0 - 0.9 * index)
            ax.stairs(counts, edges, color=colors[name], linewidth=width, label=label)
        ax.set_yscale("log")
        if np.isfinite(lowest):
            ax.set_ylim(bottom=0.5 * lowest)
        if log:
            ax.set_xscale("log")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("events per bin" if unweighted else "weighted events per bin")
        _mpl.finish(ax, title=title)
    return out


def plot_learned_function(
    x: ArrayLike,
    truth: ArrayLike,
    methods: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: PathLike,
    *,
    xlabel: str = "x",
    ylabel: str = r"$R_{\theta\theta}(x)$",
    logy: bool = True,
    shade_from: float | None = None,
    title: str = "",
) -> Path:
    """A learned function of x (e.g. R_θθ) against its truth (paper Fig. 5 left).

    Parameters
    ----------
    x : array_like, shape (N,)
        Points of the observable, strictly increasing.
    truth : array_like, shape (N,)
        True function values.
    methods : mapping of str to (array_like, array_like), each of shape (N,)
        Method name → (mean, std) over ensemble members (std 0 for a single network).
    path : str or path-like
        Output ``.png`` file.
    xlabel, ylabel : str, optional
        Axis labels.
    logy : bool, optional
        Logarithmic y axis, spanning at most :data:`~madsbi.plotting._mpl.LOG_DECADES`
        decades; non-positive values leave gaps and bands are cut at the bottom.
    shade_from : float, optional
        Shade the tail region x > ``shade_from`` (the region of the tail error metric).
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    InputError
        If an array has the wrong shape, a value is not finite, a std is negative, or
        ``logy`` is set and no value is positive.
    """
    out = _mpl.output_path(path)
    xs = _mpl.grid(x, "x")
    true = _mpl.vector(truth, "truth", xs.shape[0])
    curves = _mpl.mean_std_pairs(methods, "methods", xs.shape[0])
    colors = _mpl.method_colors(["truth", *curves])
    floor = None
    if logy:
        lower = _mpl.log_lower_limit(np.concatenate([true, *(m for m, _ in curves.values())]))
        if lower is None:
            raise InputError("truth, methods: no positive value for a log axis; pass logy=False")
        floor = 0.5 * lower
    with _mpl.figure(out) as (_, ax):
        if shade_from is not None:
            ax.axvspan(
                shade_from,
                xs[-1],
                color="0.5",
                alpha=0.12,
                linewidth=0,
                label=rf"tail: $x > {float(shade_from):g}$",
            )
        true_line = _mpl.positive_or_nan(true) if logy else true
        ax.plot(xs, true_line, color=colors["truth"], label="truth", zorder=3)
        bands = {}
        for name, (mean, std) in curves.items():
            line, fill = _band(ax, xs, mean, std, colors[name], name, floor=floor)
            if fill is not None:
                bands[line] = fill
        if logy:
            ax.set_yscale("log")
            ax.set_ylim(bottom=floor)
        ax.set_xlim(xs[0], xs[-1])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        _mpl.finish(ax, title=title, bands=bands)
    return out


def plot_scatter_targets(
    parton: tuple[ArrayLike, ArrayLike],
    reco: tuple[ArrayLike, ArrayLike],
    path: PathLike,
    *,
    reco_weights: ArrayLike | None = None,
    xlabel: str = "x or z",
    ylabel: str = r"$R_{\theta\theta}$",
    title: str = "",
    max_points: int = 20000,
) -> Path:
    """Training targets against the observable, parton and reco level (paper Fig. 13).

    Parton events are blue circles at (z, target), reco events orange triangles at
    (x, target). Each set is subsampled (fixed seed) to at most ``max_points``. With
    ``reco_weights`` (e.g. the 1/n of fractional-smearing copies) the reco markers' area and
    opacity grow with the weight. The y axis is logarithmic and spans at most
    :data:`~madsbi.plotting._mpl.LOG_DECADES` decades; non-positive targets and targets below
    that range are not drawn. The legend says how many points of each level are shown.

    Parameters
    ----------
    parton : (array_like, array_like), each of shape (N,)
        Parton-level (z, target).
    reco : (array_like, array_like), each of shape (M,)
        Reco-level (x, target).
    path : str or path-like
        Output ``.png`` file.
    reco_weights : array_like of shape (M,), optional
        Weights of the reco events.
    xlabel, ylabel : str, optional
        Axis labels.
    title : str, optional
        Figure title.
    max_points : int, optional
        Maximum number of points drawn per level.

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    InputError
        If shapes disagree, a value is not finite, ``max_points < 1`` or no target is positive.
    """
    out = _mpl.output_path(path)
    if max_points < 1:
        raise InputError(f"max_points: expected >= 1, got {max_points}")
    z = _mpl.vector(parton[0], "parton z")
    z_target = _mpl.vector(parton[1], "parton target", z.shape[0])
    x = _mpl.vector(reco[0], "reco x")
    x_target = _mpl.vector(reco[1], "reco target", x.shape[0])
    weights = (
        None if reco_weights is None else _mpl.vector(reco_weights, "reco_weights", x.shape[0])
    )
    lower = _mpl.log_lower_limit(np.concatenate([z_target, x_target]))
    if lower is None:
        raise InputError("parton, reco: no positive target to draw on a log axis")
    rng = np.random.default_rng(20250101)
    colors = _mpl.method_colors(["parton", "reco"])
    line2d = _mpl.pyplot().Line2D
    handles = []
    with _mpl.figure(out) as (_, ax):
        # Reco first, parton on top: the parton targets lie on a curve the cloud would hide.
        for level, xs, ys, ws, marker, zorder in (
            ("reco", x, x_target, weights, "^", 2),
            ("parton", z, z_target, None, "o", 3),
        ):
            idx = np.flatnonzero(ys >= lower)
            if idx.size > max_points:
                idx = np.sort(rng.choice(idx, size=max_points, replace=False))
            label = level if idx.size == ys.shape[0] else f"{level} ({idx.size} of {ys.shape[0]})"
            size: Any = 12.0
            alpha: Any = 0.45
            if ws is not None:
                scale = np.abs(ws[idx]) / max(float(np.abs(ws).max()), np.finfo(float).tiny)
                # sqrt: copy weights 1/n span decades; light copies must stay visible.
                size = 30.0 * np.clip(np.sqrt(scale), 0.15, 1.0)
                alpha = 0.25 + 0.5 * np.sqrt(scale)
                label += ", size grows with weight"
            ax.scatter(
                xs[idx],
                ys[idx],
                s=size,
                alpha=alpha,
                marker=marker,
                color=colors[level],
                linewidths=0,
                zorder=zorder,
            )
            # Proxy key: the scatter's per-point sizes and opacities make a poor legend key.
            handles.append(
                line2d([], [], marker=marker, color=colors[level], ls="none", ms=7, label=label)
            )
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.5 * lower)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(handles=handles[::-1])
        _mpl.finish(ax, title=title, legend=False)
    return out


def _band(
    ax: Any,
    x: FloatArray,
    mean: FloatArray,
    std: FloatArray,
    color: str,
    label: str | None,
    *,
    floor: float | None = None,
) -> tuple[Any, Any]:
    """Mean line and ±1σ band; with ``floor`` (log axis) the band is cut at ``floor``.

    Returns the line and the band artist (None where std is 0 everywhere, e.g. one network).
    """
    lower, upper = mean - std, mean + std
    line = mean
    if floor is not None:
        lower = np.maximum(lower, floor)
        upper = np.maximum(upper, floor)
        line = _mpl.positive_or_nan(mean)
    fill = None
    if np.any(std > 0):
        # A thin opaque edge keeps overlapping bands of different methods apart.
        fill = ax.fill_between(
            x,
            lower,
            upper,
            facecolor=_mpl.rgba(color, _mpl.BAND_ALPHA),
            edgecolor=_mpl.rgba(color, 0.6),
            linewidth=0.6,
        )
    (artist,) = ax.plot(x, line, color=color, label=label)
    return artist, fill
