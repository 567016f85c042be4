"""Figures of a fit: q(θ) along each parameter with the ensemble band, and 2D regions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from madsbi.inference.limits import chi2_quantile


def fit_figures(result: dict[str, Any], directory: Path) -> list[Path]:
    """``q_<parameter>.png`` and ``q_<a>_<b>.png`` from a ``fit.json`` document.

    With background components also ``stack_<method>.png`` and ``reliability.png``
    (``madsbi.plotting.components.component_figures``); with profiled nuisances
    ``impacts_<method>.png`` (``madsbi.plotting.nuisances.nuisance_figures``).
    """
    from madsbi.plotting._mpl import figure, finish, method_colors
    from madsbi.plotting.components import component_figures
    from madsbi.plotting.nuisances import nuisance_figures

    written = []
    methods = result["methods"]
    colors = method_colors(methods)
    profile = result["settings"]["profile"]
    for parameter in result["parameters"]:
        path = directory / f"q_{parameter}.png"
        with figure(path) as (_, ax):
            for name, entry in methods.items():
                line = entry["lines"].get(parameter)
                if line is None:
                    continue
                ax.plot(line["theta"], line["q"], color=colors[name], label=name)
                best = result["best_fit"][name][parameter]
                ax.axvline(best, color=colors[name], lw=0.6, ls=":")
                spread = entry["members"].get("best_fit_std", {}).get(parameter)
                if spread:
                    ax.axvspan(best - spread, best + spread, color=colors[name], alpha=0.12)
            for level in result["settings"]["levels"]:
                ax.axhline(chi2_quantile(level, 1), color="0.5", lw=0.6, ls="--")
            ax.set_xlabel(parameter)
            ax.set_ylabel(f"q ({profile})")
            ax.set_ylim(0, 3 * chi2_quantile(max(result["settings"]["levels"]), 1))
            finish(ax, title="best fit ± member spread (shaded)")
        written.append(path)
    first = next(iter(methods.values()))
    for key, plane in first["planes"].items():
        path = directory / f"q_{key}.png"
        with figure(path) as (_, ax):
            levels = sorted(chi2_quantile(lv, 2) for lv in result["settings"]["levels"])
            for name, entry in methods.items():
                q = np.asarray(entry["planes"][key]["q"])
                ax.contour(plane["x"], plane["y"], q.T, levels=levels, colors=[colors[name]])
                ax.plot([], [], color=colors[name], label=name)
            ax.set_xlabel(plane["axes"][0])
            ax.set_ylabel(plane["axes"][1])
            finish(
                ax, title=f"{', '.join(f'{lv:g}' for lv in result['settings']['levels'])} regions"
            )
        written.append(path)
    return written + component_figures(result, directory) + nuisance_figures(result, directory)
