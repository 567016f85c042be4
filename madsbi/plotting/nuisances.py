"""Figures of a fit with nuisance parameters: pulls, constraints and impacts (the ranking plot).

They draw what ``madsbi fit`` writes into ``fit.json`` for a profiled fit
(:func:`madsbi.analysis.nuisances.summarise`):

- ``nuisances.<method>``: each nuisance's pull α̂ and post-fit constraint σ (its prior is
  N(0, 1));
- ``impacts.<method>.parameters.<θ_i>.<nuisance>.{up,down}.best_fit``: the shift of θ̂_i when
  the nuisance is held at α̂ ± σ and the others are profiled.

:func:`plot_impacts` draws, for one method, one row per nuisance ranked by its largest impact
on any parameter: the pull with its constraint against the ±1 prior band (left panel), and
for every parameter the up and down impacts as bars, in units of that parameter's 68 %
half-width when it is known (right panels). :func:`nuisance_figures` writes
``impacts_<method>.png`` for every profiled method of a ``fit.json`` document.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from madsbi.errors import InputError
from madsbi.plotting import _mpl

PathLike = str | os.PathLike[str]
#: Colours of the impacts of α held at α̂ + σ (up) and α̂ − σ (down).
UP_COLOR, DOWN_COLOR = "#d6604d", "#4393c3"


def _half_width(intervals: Mapping[str, Any] | None, parameter: str) -> float | None:
    """Half the outer width of a parameter's 68 % interval(s), or None if unknown or empty."""
    if not intervals:
        return None
    found = (intervals.get(parameter) or {}).get("0.68") or []
    if not found:
        return None
    width = max(b for _, b in found) - min(a for a, _ in found)
    return 0.5 * width if width > 0 else None


def impact_table(
    nuisances: Mapping[str, Any], impacts: Mapping[str, Any], parameters: Sequence[str]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Nuisance names ranked by their largest |impact|, and the (N, P) up and down impacts.

    A nuisance without an impact entry (held fixed, or with an undefined constraint) has
    NaN impacts and is ranked last.

    Raises
    ------
    InputError
        ``impacts`` without ``parameters``.
    """
    by_parameter = impacts.get("parameters")
    if not isinstance(by_parameter, Mapping):
        raise InputError("impacts: expected an entry with 'parameters'")
    names = list(nuisances)
    up = np.full((len(names), len(parameters)), np.nan)
    down = np.full_like(up, np.nan)
    for j, p in enumerate(parameters):
        for i, name in enumerate(names):
            entry = (by_parameter.get(p) or {}).get(name) or {}
            if "up" in entry:
                up[i, j] = float(entry["up"]["best_fit"])
            if "down" in entry:
                down[i, j] = float(entry["down"]["best_fit"])
    size = np.nan_to_num(np.fmax(np.abs(up), np.abs(down)), nan=-1.0).max(axis=1)
    order = np.argsort(-size, kind="stable")
    return [names[k] for k in order], up[order], down[order]


def plot_impacts(
    nuisances: Mapping[str, Any],
    impacts: Mapping[str, Any],
    parameters: Sequence[str],
    path: PathLike,
    *,
    intervals: Mapping[str, Any] | None = None,
    title: str = "",
) -> Path:
    """Pulls and constraints, and the impacts on every parameter's best fit (module docstring).

    ``intervals``: the fit's 1D intervals (parameter → level → list); with them each impact is
    drawn in units of the parameter's 68 % half-width (Δθ̂/σ_θ), else in the parameter's units.

    Raises
    ------
    InputError
        No nuisances, or a nuisance without ``pull`` and ``constraint``.
    """
    if not nuisances:
        raise InputError("nuisances: expected at least one nuisance")
    names, up, down = impact_table(nuisances, impacts, parameters)
    try:
        pulls = np.array([float(nuisances[n]["pull"]) for n in names])
        sigmas = np.array([float(nuisances[n]["constraint"]) for n in names])
    except KeyError as exc:
        raise InputError(f"nuisances: an entry without {exc}") from None
    scales = [_half_width(intervals, p) for p in parameters]
    rows = np.arange(len(names))[::-1]
    out = _mpl.output_path(path)
    figsize = (3.0 + 2.6 * len(parameters), 1.4 + 0.38 * len(names))
    with _mpl.figure(out, figsize=figsize, ncols=1 + len(parameters), sharey=True) as (_, axes):
        ax = axes[0]
        ax.axvspan(-1, 1, color="0.9", zorder=0)
        ax.axvline(0, color="0.5", lw=0.6)
        fixed = np.array([bool(nuisances[n].get("fixed", False)) for n in names])
        ax.errorbar(
            pulls[~fixed], rows[~fixed], xerr=np.nan_to_num(sigmas[~fixed]), fmt="o",
            color="black", ms=4, capsize=2, label="pull ± constraint",
        )  # fmt: skip
        if fixed.any():
            ax.plot(pulls[fixed], rows[fixed], "x", color="0.4", label="fixed")
        ax.set_yticks(rows, names)
        ax.set_xlabel(r"$\hat\alpha$ (prior $\mathcal{N}(0, 1)$)")
        ax.set_xlim(min(-2.0, float(np.nanmin(pulls - np.nan_to_num(sigmas))) - 0.2),
                    max(2.0, float(np.nanmax(pulls + np.nan_to_num(sigmas))) + 0.2))  # fmt: skip
        _mpl.finish(ax, title=title, loc="lower left", fontsize="small")
        for j, (p, scale) in enumerate(zip(parameters, scales, strict=True)):
            ax = axes[1 + j]
            unit = 1.0 if scale is None else scale
            ax.barh(rows, np.nan_to_num(up[:, j]) / unit, height=0.7, color=UP_COLOR,
                    alpha=0.8, label=r"$\alpha = \hat\alpha + \sigma$")  # fmt: skip
            ax.barh(rows, np.nan_to_num(down[:, j]) / unit, height=0.7, color=DOWN_COLOR,
                    alpha=0.8, label=r"$\alpha = \hat\alpha - \sigma$")  # fmt: skip
            ax.axvline(0, color="0.3", lw=0.6)
            ax.set_xlabel(rf"$\Delta\hat{{{p}}}$" + ("" if scale is None else r" / $\sigma_{68}$"))
            _mpl.finish(ax, title=p, legend=j == len(parameters) - 1, fontsize="small")
    return out


def nuisance_figures(result: Mapping[str, Any], directory: Path) -> list[Path]:
    """``impacts_<method>.png`` for every method of a ``fit.json`` with profiled nuisances.

    Nothing for a stat-only fit, a fit without nuisances, or without matplotlib.
    """
    entries = result.get("nuisances") or {}
    if not entries or importlib.util.find_spec("matplotlib") is None:
        return []
    written: list[Path] = []
    for method, nuisances in entries.items():
        impacts = (result.get("impacts") or {}).get(method)
        if not nuisances or not impacts:
            continue
        path = directory / f"impacts_{method}.png"
        intervals = (result.get("intervals") or {}).get(method)
        parameters = result["parameters"]
        written.append(
            plot_impacts(nuisances, impacts, parameters, path, intervals=intervals, title=method)
        )
    return written
