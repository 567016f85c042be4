"""Figures of the BINN studies (bellagente2022 Figs. 1–10); matplotlib is imported lazily."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from madsbi._validate import FloatArray
from madsbi.generative.drell_yan import LABELS
from madsbi.generative.toys import ToyDensity
from madsbi.plotting._mpl import BAND_ALPHA, figure, finish, output_path

BINN_COLOR = "#1f77b4"
TRAIN_COLOR = "#d62728"
FIT_COLOR = "#2ca02c"


class LossHistory(Protocol):
    """The loss curves of a (B)INN training, e.g. :class:`madsbi.generative.binn.BINNHistory`.

    Plotting takes plain numbers only: it does not import the torch-bound network modules.
    """

    @property
    def step(self) -> Sequence[int]:
        """Weight update of each logged point."""

    @property
    def nll(self) -> Sequence[float]:
        """Mean −log p per event at each logged point."""

    @property
    def kl_per_event(self) -> Sequence[float]:
        """KL / N at each logged point."""


def plot_binn_loss(history: LossHistory, path: str | Path, *, title: str = "") -> Path:
    """−log p per event and KL/N against the weight update."""
    out = output_path(path)
    with figure(out, ncols=2, figsize=(10, 4)) as (_, axes):
        axes[0].plot(history.step, history.nll, color=BINN_COLOR)
        axes[0].set(xlabel="weight update", ylabel=r"$-\langle\log p(x)\rangle$")
        axes[1].plot(history.step, history.kl_per_event, color=TRAIN_COLOR)
        axes[1].set(xlabel="weight update", ylabel="KL / N", yscale="log")
        finish(axes[0], title=title)
    return out


def plot_toy_events(
    events: FloatArray, density: ToyDensity, path: str | Path, *, title: str = ""
) -> Path:
    """Generated events in 2D and their marginals against the truth (Figs. 1, 3, 5)."""
    out = output_path(path)
    with figure(out, ncols=3, figsize=(14, 4.2)) as (_, axes):
        ring = density.name == "ring"
        ranges = [(-7.0, 7.0), (0.0, 7.0)] if ring else [(0.0, 1.0), (0.0, 1.0)]
        axes[0].hist2d(events[:, 0], events[:, 1], bins=60, range=ranges, cmap="viridis")
        axes[0].set(xlabel="x", ylabel="y")
        for axis, column in ((axes[1], 0), (axes[2], 1)):
            edges = np.linspace(*ranges[column], 51)
            axis.hist(
                events[:, column],
                bins=edges,
                density=True,
                histtype="step",
                color=BINN_COLOR,
                label="BINN",
            )
            grid = np.linspace(*ranges[column], 400)
            other = np.linspace(*ranges[1 - column], 801)
            mesh = np.meshgrid(grid, other, indexing="ij")
            points = np.stack([mesh[column].ravel(), mesh[1 - column].ravel()], axis=1)
            if column == 1:
                points = np.stack([mesh[1].ravel(), mesh[0].ravel()], axis=1)
            values = density.density(points).reshape(grid.size, other.size)
            marginal = np.trapezoid(values, other, axis=1)
            axis.plot(grid, marginal, color="k", lw=1.2, label="truth")
            axis.set(xlabel="xy"[column], ylabel="density")
            finish(axis)
        finish(axes[0], title=title)
    return out


def plot_lines(result: Mapping[str, Any], label: str, path: str | Path, *, title: str = "") -> Path:
    """Density ± σ_pred, relative and absolute σ_pred with the fit (Figs. 2, 4, 6)."""
    out = output_path(path)
    line = np.asarray(result["line"])
    p, truth = np.asarray(result["density"]), np.asarray(result["truth"])
    sigma, error = np.asarray(result["sigma"]), np.asarray(result["sigma_error"])
    with figure(out, ncols=3, figsize=(15, 4.3)) as (_, axes):
        axes[0].plot(line, truth, color="k", lw=1.2, label="truth")
        axes[0].plot(line, p, color=BINN_COLOR, label="BINN")
        axes[0].fill_between(line, p - sigma, p + sigma, color=BINN_COLOR, alpha=BAND_ALPHA)
        axes[0].set(xlabel=label, ylabel="p")
        relative = sigma / np.maximum(p, 1e-300)
        axes[1].errorbar(
            line, relative, yerr=error / np.maximum(p, 1e-300), fmt=".", color=BINN_COLOR
        )
        axes[1].set(xlabel=label, ylabel=r"$\sigma_{pred}/p$", yscale="log")
        axes[2].errorbar(line, sigma, yerr=error, fmt=".", color=BINN_COLOR, label="BINN")
        fit = result.get("fit", {})
        axes[2].plot(
            line, result["fit_curve"], color=FIT_COLOR, label=f"fit, eq. {fit.get('equation', '')}"
        )
        axes[2].set(xlabel=label, ylabel=r"$\sigma_{pred}$")
        finish(axes[0], title=f"{title}: coverage {100 * result['coverage']:.0f} %")
        finish(axes[2])
    return out


def plot_marginals(
    marginals: Mapping[str, Mapping[str, Any]],
    train_counts: Mapping[str, Any],
    n_train: int,
    path: str | Path,
    *,
    title: str = "",
) -> Path:
    """Marginalised densities with σ_pred and the training data, σ_pred below (Fig. 8)."""
    out = output_path(path)
    names = list(marginals)
    with figure(out, nrows=2, ncols=len(names), figsize=(4.5 * len(names), 6.5), squeeze=False) as (
        _,
        axes,
    ):
        for i, name in enumerate(names):
            entry = marginals[name]
            edges = np.asarray(entry["edges"])
            mean, sigma = np.asarray(entry["mean"]), np.asarray(entry["sigma"])
            centres = 0.5 * (edges[1:] + edges[:-1])
            ax = axes[0, i]
            ax.stairs(mean, edges, color=BINN_COLOR, label="BINN")
            ax.fill_between(
                centres, mean - sigma, mean + sigma, step="mid", color=BINN_COLOR, alpha=BAND_ALPHA
            )
            if name in train_counts:
                ax.stairs(
                    np.asarray(train_counts[name]) / (n_train * np.diff(edges)),
                    edges,
                    color=TRAIN_COLOR,
                    label="training data",
                )
            if "truth" in entry:
                ax.stairs(np.asarray(entry["truth"]), edges, color="k", ls=":", label="truth")
            ax.set(xlabel=name, ylabel="density")
            finish(ax, title=title if i == 0 else "")
            axes[1, i].stairs(sigma, edges, color=BINN_COLOR)
            axes[1, i].set(xlabel=name, ylabel=r"$\sigma_{pred}$")
    return out


def plot_training_size(
    per_size: Mapping[int, Mapping[str, Any]], label: str, path: str | Path
) -> Path:
    """Density and σ_pred for each training size (Fig. 7)."""
    out = output_path(path)
    sizes = sorted(per_size)
    with figure(out, nrows=2, ncols=len(sizes), figsize=(4.6 * len(sizes), 7), squeeze=False) as (
        _,
        axes,
    ):
        for i, n in enumerate(sizes):
            r = per_size[n]
            line = np.asarray(r["line"])
            p, sigma = np.asarray(r["density"]), np.asarray(r["sigma"])
            axes[0, i].plot(line, r["truth"], color="k", lw=1.2, label="truth")
            axes[0, i].plot(line, p, color=BINN_COLOR, label="BINN")
            axes[0, i].fill_between(line, p - sigma, p + sigma, color=BINN_COLOR, alpha=BAND_ALPHA)
            axes[0, i].set(xlabel=label, ylabel="p")
            finish(axes[0, i], title=f"{n:,} training events")
            axes[1, i].errorbar(line, sigma, yerr=r["sigma_error"], fmt=".", color=BINN_COLOR)
            axes[1, i].set(xlabel=label, ylabel=r"$\sigma_{pred}$")
            at = r["sigma_at"]
            axes[1, i].set_title(rf"$\sigma_{{pred}}({at['x']:g}) = {at['sigma']:.3f}$")
    return out


def _dy_axes(observables: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [n for n in LABELS if n in observables]


def plot_drell_yan(observables: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path:
    """Drell-Yan distributions: BINN ± σ_pred and training data ± statistics (Fig. 9)."""
    out = output_path(path)
    names = _dy_axes(observables)
    cols = 3
    rows = 2 * ((len(names) + cols - 1) // cols)
    with figure(
        out,
        nrows=rows,
        ncols=cols,
        figsize=(15, 3.2 * rows),
        gridspec_kw={"height_ratios": [3, 1] * (rows // 2)},
    ) as (_, axes):
        for i, name in enumerate(names):
            top, bottom = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
            e = observables[name]
            edges = np.asarray(e["edges"])
            centres = 0.5 * (edges[1:] + edges[:-1])
            mean, sigma = np.asarray(e["mean"]), np.asarray(e["sigma"])
            train, tsig = np.asarray(e["train"]), np.asarray(e["train_sigma"])
            top.stairs(mean, edges, color=BINN_COLOR, label="BINN")
            top.fill_between(
                centres, mean - sigma, mean + sigma, step="mid", color=BINN_COLOR, alpha=BAND_ALPHA
            )
            top.stairs(train, edges, color=TRAIN_COLOR, label="training")
            top.fill_between(
                centres, train - tsig, train + tsig, step="mid", color=TRAIN_COLOR, alpha=BAND_ALPHA
            )
            top.set(yscale="log", ylabel="density")
            finish(top, title=f"2σ coverage {100 * e['coverage_binn']:.0f} %")
            safe = np.maximum(train, 1e-300)
            bottom.plot(centres, mean / safe, color=BINN_COLOR, drawstyle="steps-mid")
            bottom.fill_between(
                centres,
                (mean - sigma) / safe,
                (mean + sigma) / safe,
                step="mid",
                color=BINN_COLOR,
                alpha=BAND_ALPHA,
            )
            bottom.fill_between(
                centres,
                1 - tsig / safe,
                1 + tsig / safe,
                step="mid",
                color=TRAIN_COLOR,
                alpha=BAND_ALPHA,
            )
            bottom.set(xlabel=LABELS[name], ylabel="BINN / train", ylim=(0.6, 1.4))
    return out


def plot_drell_yan_uncertainties(
    observables: Mapping[str, Mapping[str, Any]], path: str | Path
) -> Path:
    """Absolute and relative σ_pred of Drell-Yan observables (Fig. 10)."""
    out = output_path(path)
    names = [n for n in ("E_e", "px_e", "m_ee") if n in observables]
    with figure(out, nrows=2, ncols=len(names), figsize=(4.8 * len(names), 7), squeeze=False) as (
        _,
        axes,
    ):
        for i, name in enumerate(names):
            e = observables[name]
            edges = np.asarray(e["edges"])
            sigma, mean = np.asarray(e["sigma"]), np.asarray(e["mean"])
            axes[0, i].stairs(sigma, edges, color=BINN_COLOR)
            axes[0, i].set(xlabel=LABELS[name], ylabel=r"$\sigma_{pred}$", yscale="log")
            rel = np.where(mean > 0, sigma / np.maximum(mean, 1e-300), np.nan)
            axes[1, i].stairs(rel, edges, color=BINN_COLOR)
            axes[1, i].set(xlabel=LABELS[name], ylabel=r"$\sigma_{pred}/p$", yscale="log")
    return out
