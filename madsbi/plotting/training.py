"""Training diagnostics: loss curves per network."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError
from madsbi.plotting import _mpl


def plot_loss_curves(
    histories: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> Path:
    """Training (solid) and validation (dashed) loss per epoch for each named network.

    The best epoch (lowest validation loss, or lowest training loss without validation) is
    marked by a star. The y axis is logarithmic when every loss is positive and linear
    otherwise (e.g. negative log-likelihood losses).

    Parameters
    ----------
    histories : mapping of str to (sequence of float, sequence of float)
        Network name → (training losses, validation losses), one value per epoch; the
        validation list may be empty.
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
        If ``histories`` is empty, a training history is empty or a loss is not finite.
    """
    out = _mpl.output_path(path)
    if not histories:
        raise InputError("histories: expected at least one network, got an empty mapping")
    curves: dict[str, tuple[FloatArray, FloatArray]] = {}
    for name, (train, val) in histories.items():
        train_array = as_float_array(list(train), f"histories[{name!r}] train", (None,))
        val_array = as_float_array(list(val), f"histories[{name!r}] validation", (None,))
        if train_array.shape[0] == 0:
            raise InputError(f"histories[{name!r}] train: expected at least one epoch, got none")
        curves[name] = (train_array, val_array)
    every = np.concatenate([np.concatenate(pair) for pair in curves.values()])
    logy = bool(np.all(every > 0))
    colors = _mpl.method_colors(curves)
    plt = _mpl.pyplot()
    with _mpl.figure(out) as (_, ax):
        for name, (train_loss, val_loss) in curves.items():
            color = colors[name]
            ax.plot(np.arange(1, train_loss.shape[0] + 1), train_loss, color=color, label=name)
            best_curve = train_loss
            if val_loss.shape[0]:
                epochs = np.arange(1, val_loss.shape[0] + 1)
                ax.plot(epochs, val_loss, color=color, linestyle="--")
                best_curve = val_loss
            best = int(np.argmin(best_curve))
            ax.plot(
                best + 1,
                best_curve[best],
                marker="*",
                markersize=13,
                color=color,
                markeredgecolor="black",
                markeredgewidth=0.6,
                linestyle="none",
                zorder=4,
            )
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_xlim(left=0.5)
        ax.xaxis.get_major_locator().set_params(integer=True)
        styles = [
            plt.Line2D([], [], color="0.2", label="training"),
            plt.Line2D([], [], color="0.2", linestyle="--", label="validation"),
            plt.Line2D(
                [],
                [],
                color="0.2",
                marker="*",
                markersize=11,
                markeredgecolor="black",
                linestyle="none",
                label="best epoch",
            ),
        ]
        style_legend = ax.legend(handles=styles, loc="lower left")
        ax.add_artist(style_legend)
        # Many networks (ensemble members) would cover the curves: list them beside the axes.
        outside = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0)}
        _mpl.finish(ax, title=title, **(outside if len(curves) > 5 else {"loc": "upper right"}))
    return out
