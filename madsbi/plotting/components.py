"""Figures of a fit with background components: the classifier's reliability and the m_T^WZ stack.

Both draw the summaries a fit writes into ``fit.json`` (``components.<method>.reliability``
and ``.stack``, :mod:`madsbi.analysis.component_report`):

- :func:`plot_reliability`: per process the observed fraction of its events against the
  predicted share f_c(x) in bins of f_c, with binomial errors, and the diagonal (a calibrated
  classifier lies on it);
- :func:`plot_stack`: the expected events per m_T^WZ bin of every component stacked (the
  backgrounds at the bottom, so that they show on the log axis; the signal on top) at the SM
  (left) and at the best fit (right), the data points with √Σw² errors on both;
- :func:`component_figures`: both from a ``fit.json`` document (``madsbi fit`` writes them).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from madsbi.errors import InputError
from madsbi.plotting import _mpl

PathLike = str | os.PathLike[str]
#: Colours of the components: the signal, then the backgrounds in order.
COMPONENT_COLORS = ("#9ecae1", "#fdae6b", "#a1d99b", "#bcbddc", "#fc9272", "#d9d9d9")


def plot_reliability(entry: Mapping[str, Any], path: PathLike, *, title: str = "") -> Path:
    """The reliability curve of every process from a ``reliability`` entry.

    Raises
    ------
    InputError
        An entry without ``processes``, or a process whose lists differ in length.
    """
    processes = entry.get("processes")
    if not isinstance(processes, Mapping) or not processes:
        raise InputError("reliability: expected an entry with 'processes'")
    out = _mpl.output_path(path)
    with _mpl.figure(out, figsize=(5.6, 5.0)) as (_, ax):
        ax.plot([0, 1], [0, 1], color="0.5", lw=0.8, ls="--", label="calibrated")
        for k, (name, curve) in enumerate(processes.items()):
            x = _mpl.vector(curve["predicted"], f"{name}.predicted")
            y = _mpl.vector(curve["observed"], f"{name}.observed", x.size)
            e = _mpl.vector(curve["error"], f"{name}.error", x.size)
            color = _mpl.FALLBACK_CYCLE[k % len(_mpl.FALLBACK_CYCLE)]
            ax.errorbar(x, y, yerr=e, color=color, marker="o", ms=4, capsize=2, label=name)
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("predicted share $f_c(x)$")
        ax.set_ylabel("observed fraction of process $c$")
        _mpl.finish(ax, title=title, loc="upper left")
    return out


def plot_stack(stack: Mapping[str, Any], path: PathLike, *, title: str = "") -> Path:
    """Stacked expected events per bin at the SM and at the best fit, with the data.

    Raises
    ------
    InputError
        A stack without ``edges``, ``sm``, ``best_fit`` or ``data``, or of other bin counts.
    """
    try:
        edges = _mpl.vector(stack["edges"], "edges")
        panels = {"SM": stack["sm"], "best fit": stack["best_fit"]}
        data = _mpl.vector(stack["data"], "data", edges.size - 1)
        error = _mpl.vector(stack.get("data_error", np.sqrt(data)), "data_error", edges.size - 1)
    except KeyError as exc:
        raise InputError(f"stack: missing {exc}") from None
    centres = 0.5 * (edges[1:] + edges[:-1])
    out = _mpl.output_path(path)
    with _mpl.figure(out, figsize=(11.0, 4.6), ncols=2, sharey=True) as (_, axes):
        for ax, (label, counts) in zip(axes, panels.items(), strict=True):
            bottom = np.zeros(edges.size - 1)
            names = list(counts)
            for name in reversed(names):  # backgrounds at the bottom, the signal on top
                v = _mpl.vector(counts[name], f"{label}.{name}", edges.size - 1)
                color = COMPONENT_COLORS[names.index(name) % len(COMPONENT_COLORS)]
                ax.stairs(bottom + v, edges, baseline=bottom, fill=True, color=color, label=name)
                bottom = bottom + v
            ax.stairs(bottom, edges, color="0.2", lw=0.8)
            shown = data > 0
            ax.errorbar(
                centres[shown], data[shown], yerr=error[shown], fmt="o", color="black",
                ms=3.5, capsize=0, label="data",
            )  # fmt: skip
            ax.set_yscale("log")
            low = _mpl.log_lower_limit(np.concatenate([bottom, data]))
            if low is not None:
                ax.set_ylim(bottom=max(low, 0.05))
            ax.set_xlabel(r"$m_T^{WZ}$ [GeV] (first and last bin: under-, overflow)")
            _mpl.finish(ax, title=f"{title} {label}".strip())
        axes[0].set_ylabel("events per bin")
    return out


def component_figures(result: Mapping[str, Any], directory: Path) -> list[Path]:
    """``reliability.png`` and ``stack_<method>.png`` from a ``fit.json`` document.

    The reliability curve is drawn once (every method shares the classifier), from the first
    method that has one (data with hidden truth only). Nothing without components, and
    nothing without matplotlib.
    """
    entries = result.get("components") or {}
    if not entries or importlib.util.find_spec("matplotlib") is None:
        return []
    written: list[Path] = []
    for method, entry in entries.items():
        if "stack" in entry:
            written.append(plot_stack(entry["stack"], directory / f"stack_{method}.png",
                                      title=method))  # fmt: skip
    calibrated = [e["reliability"] for e in entries.values() if "reliability" in e]
    if calibrated:
        held = "held-out labelled data" if calibrated[0].get("held_out") else "labelled data"
        title = f"classifier reliability ({held}, weighted to θ0)"
        written.append(plot_reliability(calibrated[0], directory / "reliability.png", title=title))
    return written
