"""Figures of the reco-level W⁺Z analysis (paper Sec. 4.2): q(θ) scans and contours.

:func:`plot_q_scan` draws q(θ) along one parameter for several methods (Fig. 10) with the
68 % and 95 % thresholds; :func:`plot_q_contours` the 1σ and 2σ regions of q in a plane
(Fig. 11). The coverage figure (Fig. 12) is :func:`madsbi.plotting.plot_coverage`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from madsbi.plotting import _mpl

PathLike = str | os.PathLike[str]
_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 1)))
#: q thresholds of one parameter at 68 % and 95 % (χ², one degree of freedom).
Q_1D = (0.98946, 3.84146)
#: q thresholds of two parameters at 1σ and 2σ (χ², two degrees of freedom).
Q_2D = (2.29575, 6.18007)


def plot_q_scan(
    theta: ArrayLike,
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: PathLike,
    *,
    xlabel: str = r"$\theta$",
    thresholds: Sequence[float] = Q_1D,
    ymax: float | None = None,
    title: str = "",
) -> Path:
    """Q(θ) along one parameter for several methods, each with a ±1σ band (Fig. 10).

    Parameters
    ----------
    theta : array_like, shape (G,)
        Scanned values, strictly increasing.
    curves : mapping of str to (array_like, array_like), each of shape (G,)
        Method name → (q, its spread; zeros for no band).
    path : str or path-like
        Output ``.png`` file.
    xlabel : str, optional
    thresholds : sequence of float, optional
        Horizontal lines (default: the 68 % and 95 % levels of one parameter).
    ymax : float, optional
        Upper end of the q axis (default: 3 × the largest threshold).
    title : str, optional

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    InputError
        If the grid is not increasing, shapes disagree or a value is not finite.
    """
    out = _mpl.output_path(path)
    xs = _mpl.grid(theta, "theta")
    pairs = _mpl.mean_std_pairs(curves, "curves", xs.shape[0])
    colors = _mpl.method_colors(pairs)
    top = 3.0 * max(thresholds) if ymax is None else float(ymax)
    with _mpl.figure(out, figsize=(5.6, 4.4)) as (_, ax):
        for level in thresholds:
            ax.axhline(level, color="0.6", linewidth=0.9, linestyle=":")
        bands = {}
        for index, (name, (q, spread)) in enumerate(pairs.items()):
            color = colors[name]
            style = _STYLES[index % len(_STYLES)]
            (line,) = ax.plot(xs, q, color=color, linestyle=style, linewidth=1.6, label=name)
            if np.any(spread > 0):
                bands[line] = ax.fill_between(
                    xs, q - spread, q + spread, color=color, alpha=_mpl.BAND_ALPHA, linewidth=0
                )
        ax.set_xlim(float(xs[0]), float(xs[-1]))
        ax.set_ylim(0.0, top)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(r"$q(\theta)$")
        _mpl.finish(ax, title=title, bands=bands, fontsize=9)
    return out


def plot_q_contours(
    x: ArrayLike,
    y: ArrayLike,
    planes: Mapping[str, ArrayLike],
    path: PathLike,
    *,
    labels: tuple[str, str] = (r"$\theta_1$", r"$\theta_2$"),
    thresholds: Sequence[float] = Q_2D,
    title: str = "",
) -> Path:
    """The 1σ (solid) and 2σ (dashed) regions of q in a plane for several methods (Fig. 11).

    Parameters
    ----------
    x, y : array_like, shapes (A,) and (B,)
        Grid lines, strictly increasing.
    planes : mapping of str to array_like of shape (A, B)
        Method name → q(x_a, y_b) (finite, ≥ 0).
    path : str or path-like
        Output ``.png`` file.
    labels : (str, str), optional
    thresholds : sequence of two floats, optional
        The q levels of the two contours (default: 1σ and 2σ of two parameters).
    title : str, optional

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputError
        If a grid is not increasing, a plane has the wrong shape or a value is not finite.
    """
    out = _mpl.output_path(path)
    xs, ys = _mpl.grid(x, "x"), _mpl.grid(y, "y")
    shape = (xs.shape[0], ys.shape[0])
    values = {name: _mpl.plane(v, f"planes[{name!r}]", shape) for name, v in planes.items()}
    levels = sorted(float(t) for t in thresholds)
    colors = _mpl.method_colors(values)
    with _mpl.figure(out, figsize=(5.6, 4.8)) as (_, ax):
        for name, arr in values.items():
            if arr.min() < levels[-1]:
                ax.contour(
                    xs,
                    ys,
                    arr.T,
                    levels=levels,
                    colors=colors[name],
                    linestyles=["-", "--"][: len(levels)],
                    linewidths=1.5,
                )
            ax.plot([], [], color=colors[name], label=name)
        ax.plot([], [], color="0.3", linestyle="--", label=r"dashed: 2$\sigma$")
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        _mpl.finish(ax, title=title, fontsize=8)
    return out
