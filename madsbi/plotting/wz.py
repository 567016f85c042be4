"""Figures of the W±Z analysis (paper Sec. 4): ⟨log r⟩ contours in a parameter plane."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from madsbi.plotting import _mpl

PathLike = str | os.PathLike[str]
_STYLES = ("--", "-.", ":")


def plot_mean_log_ratio_2d(
    x: ArrayLike,
    y: ArrayLike,
    truth: ArrayLike,
    methods: Mapping[str, ArrayLike],
    path: PathLike,
    *,
    labels: tuple[str, str] = (r"$\theta_1$", r"$\theta_2$"),
    levels: Sequence[float] | None = None,
    title: str = "",
) -> Path:
    """Contours of ⟨log r(x|θ, θ0)⟩ in a plane: truth (black) against methods (Figs. 8, 9).

    Parameters
    ----------
    x, y : array_like, shapes (A,) and (B,)
        Grid lines of the two parameters, strictly increasing.
    truth : array_like, shape (A, B)
        True ⟨log r⟩ at (x_a, y_b).
    methods : mapping of str to array_like of shape (A, B)
        Method name → learned ⟨log r⟩ (ensemble mean).
    path : str or path-like
        Output ``.png`` file.
    labels : (str, str), optional
        Axis labels.
    levels : sequence of float, optional
        Contour levels; default: five levels spread between the truth's minimum and maximum.
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    InputError
        If a grid is not increasing, an array has the wrong shape or a value is not finite.
    """
    out = _mpl.output_path(path)
    xs, ys = _mpl.grid(x, "x"), _mpl.grid(y, "y")
    shape = (xs.shape[0], ys.shape[0])
    true = _mpl.plane(truth, "truth", shape)
    curves = {name: _mpl.plane(v, f"methods[{name!r}]", shape) for name, v in methods.items()}
    if levels is None:
        lo, hi = float(true.min()), float(true.max())
        chosen = np.linspace(lo, hi, 7)[1:-1] if hi > lo else np.array([lo])
    else:
        chosen = np.sort(np.asarray(levels, dtype=np.float64))
    colors = _mpl.method_colors(["truth", *curves])
    with _mpl.figure(out, figsize=(5.6, 4.8)) as (_, ax):
        # Explicit line styles: matplotlib otherwise dashes single-colour negative levels.
        ax.contour(
            xs, ys, true.T, levels=chosen, colors=colors["truth"], linewidths=1.6, linestyles="-"
        )
        ax.plot([], [], color=colors["truth"], label="truth")
        for index, (name, values) in enumerate(curves.items()):
            style = _STYLES[index % len(_STYLES)]
            ax.contour(xs, ys, values.T, levels=chosen, colors=colors[name], linestyles=style)
            ax.plot([], [], color=colors[name], linestyle=style, label=name)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        _mpl.finish(ax, title=title, fontsize=9)
    return out
