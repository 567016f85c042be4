"""The BINN studies of bellagente2022 end to end: toys, training size, Drell-Yan.

``run_binn_study(config, out_dir)`` writes

- ``models/*.pt``: trained networks (reused when a re-run asks for exactly the same model);
- ``generated.h5``: an event store with the training events under ``/parton`` and BINN
  events under ``/generated`` with σ_pred/p per event (eq. 2);
- ``figures/*.png``: the equivalents of Figs. 1–10 and the loss curves;
- ``summary.json``: coverage of the truth by the ±band σ_pred interval, the fit-like
  analysis of σ_pred (eq. 23, 27, 31), σ_pred at ``sigma_at`` per training size, the
  marginal-distribution checks and wall times.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.events.store import EventStore
from madsbi.generative import drell_yan as dy
from madsbi.generative import fits
from madsbi.generative.binn import (
    BINNHistory,
    build_inn,
    load_model,
    save_model,
    train_inn,
    validate_events,
)
from madsbi.generative.densities import (
    MarginalHistogram,
    generate_events,
    marginal_histograms,
    predictive_density,
)
from madsbi.generative.inn import INN
from madsbi.generative.store import toy_meta, write_generated_store
from madsbi.generative.toys import ToyDensity, toy
from madsbi.studies._common import write_json
from madsbi.studies.binn_config import BINNStudyConfig


class _Study:
    def __init__(self, config: BINNStudyConfig, out_dir: Path, progress: bool, figures: bool):
        self.config = config
        self.out = out_dir
        self.progress = progress
        self.figures = figures
        self.figure_dir = out_dir / "figures"
        self.written: list[str] = []
        out_dir.mkdir(parents=True, exist_ok=True)

    # -- training with reuse --------------------------------------------------------------
    def trained(
        self,
        name: str,
        x: FloatArray,
        data_id: dict[str, Any],
        support: tuple[tuple[float, float], ...] | None,
    ) -> tuple[INN, BINNHistory, bool]:
        """Train (or reload) the model ``name`` on events ``x``."""
        c = self.config
        fingerprint = {
            "network": c.network.to_dict(),
            "training": c.training.to_dict(),
            "data": data_id,
        }
        path = self.out / "models" / f"{name}.pt"
        loaded = load_model(path, fingerprint)
        if loaded is not None:
            return loaded[0], loaded[1], True
        x = validate_events(x, f"{name} training events", None, support)
        model = build_inn(x, c.network, c.training.seed)
        history = train_inn(
            model,
            x,
            c.training,
            support=support,
            name=f"{name} training events",
            progress=self.progress,
            # An interrupted training continues from here when the study is run again.
            checkpoint=path.with_suffix(".partial.pt"),
            fingerprint=fingerprint,
        )
        save_model(model, path, fingerprint, history)
        return model, history, False

    def figure(self, name: str) -> Path:
        path = self.figure_dir / name
        self.written.append(str(path))
        return path

    def loss_figure(self, name: str, history: BINNHistory) -> None:
        if self.figures:
            from madsbi.plotting.binn import plot_binn_loss

            plot_binn_loss(history, self.figure(f"loss_{name}.png"), title=name)


def _training_entry(history: BINNHistory, reused: bool, model: INN) -> dict[str, Any]:
    return {
        "train_seconds": history.seconds,
        "n_train": history.n_train,
        "final_nll": history.nll[-1] if history.nll else math.nan,
        "final_kl_per_event": history.kl_per_event[-1] if history.kl_per_event else math.nan,
        "reused_checkpoint": reused,
        "n_parameters": model.n_parameters(),
    }


# -- toys -------------------------------------------------------------------------------------
def evaluate_lines(
    model: INN, density: ToyDensity, config: BINNStudyConfig, seed: int
) -> dict[str, Any]:
    """P and σ_pred on lines of constant y (φ) inside the reduced range, with the fits."""
    ev = config.evaluation
    line = np.linspace(*density.line_range, ev.n_points)
    crosses = np.linspace(*density.cross_range, ev.n_lines)
    points = np.concatenate([density.line_points(line, c) for c in crosses])
    pred = predictive_density(model, points, n_draws=ev.n_draws, seed=seed)
    truth = density.density(points)
    mean = pred.mean.reshape(ev.n_lines, ev.n_points)
    std = pred.std.reshape(ev.n_lines, ev.n_points)
    covered = np.abs(pred.mean - truth) <= ev.band_sigmas * pred.std
    p_avg, s_avg = mean.mean(0), std.mean(0)
    s_err = std.std(0, ddof=1) if ev.n_lines > 1 else np.zeros_like(s_avg)
    s_err_fit = np.maximum(s_err, 1e-3 * float(s_avg.max()))
    result: dict[str, Any] = {
        "line": line,
        "crosses": crosses,
        "density": p_avg,
        "truth": truth.reshape(ev.n_lines, ev.n_points).mean(0),
        "sigma": s_avg,
        "sigma_error": s_err,
        "coverage": float(covered.mean()),
        "coverage_1sigma": float((np.abs(pred.mean - truth) <= pred.std).mean()),
        "n_points": int(covered.size),
        "max_relative_sigma": float(np.max(pred.std / np.maximum(pred.mean, 1e-300))),
        "median_relative_sigma": float(np.median(pred.std / np.maximum(pred.mean, 1e-300))),
    }
    at = float(np.clip(ev.sigma_at, line[0], line[-1]))
    result["sigma_at"] = {
        "x": at,
        "sigma": float(np.interp(at, line, s_avg)),
        "spread_over_lines": float(np.interp(at, line, s_err)),
        "density": float(np.interp(at, line, p_avg)),
    }
    if density.name == "wedge":
        fit = fits.fit_quadrature(s_avg, fits.wedge_templates(line), s_err_fit)
        slope = np.polyfit(line, p_avg, 1)
        result["fit"] = {
            "equation": "23",
            "delta_a": fit.values[0],
            "delta_a_error": fit.errors[0],
            "delta_x_max": fit.values[1],
            "delta_x_max_error": fit.errors[1],
            "chi2_per_ndf": fit.chi2_per_ndf,
            "learned_slope_a": float(slope[0]),
            "relative_delta_a": float(fit.values[0] / 2.0),
        }
        templates = fits.wedge_templates(line)
    elif density.name == "kicker":
        fit = fits.fit_quadrature(s_avg, fits.kicker_templates(line), s_err_fit)
        result["fit"] = {
            "equation": "27",
            "delta_x0": fit.values[0],
            "delta_x0_error": fit.errors[0],
            "delta_x_max": fit.values[1],
            "delta_x_max_error": fit.errors[1],
            "chi2_per_ndf": fit.chi2_per_ndf,
        }
        templates = fits.kicker_templates(line)
    else:
        shape = fits.fit_ring_density(line, p_avg, np.maximum(s_avg, 1e-6))
        mu, width = float(shape.values[0]), abs(float(shape.values[1]))
        templates = fits.ring_templates(line, mu, width)
        fit = fits.fit_quadrature(s_avg, templates[:1], s_err_fit)
        both = fits.fit_quadrature(s_avg, templates, s_err_fit)
        result["fit"] = {
            "equation": "31",
            "mu": mu,
            "mu_fit_error": float(shape.errors[0]),
            "width": width,
            "width_fit_error": float(shape.errors[1]),
            "delta_mu": fit.values[0],
            "delta_mu_error": fit.errors[0],
            "chi2_per_ndf": fit.chi2_per_ndf,
            "two_parameter": {
                "delta_mu": both.values[0],
                "delta_w": both.values[1],
                "chi2_per_ndf": both.chi2_per_ndf,
            },
        }
        templates = templates[:1]
    values = np.asarray(fit.values)
    result["fit_curve"] = np.sqrt((templates**2).T @ values**2)
    return result


def _marginal_bins(density: ToyDensity, n_bins: int) -> dict[str, FloatArray]:
    if density.name == "ring":
        return {
            "x": np.linspace(-7.0, 7.0, n_bins + 1),
            "y": np.linspace(0.0, 7.0, n_bins + 1),
            "r": np.linspace(0.5, 7.5, n_bins + 1),
            "phi": np.linspace(0.0, math.pi, n_bins + 1),
        }
    return {"x": np.linspace(0.0, 1.0, n_bins + 1), "y": np.linspace(0.0, 1.0, n_bins + 1)}


def _marginal_summary(
    hists: dict[str, MarginalHistogram], density: ToyDensity, band: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    physical = "r" if density.name == "ring" else "x"
    for name, hist in hists.items():
        truth = density.marginal_truth(name, hist.edges)
        centres = 0.5 * (hist.edges[1:] + hist.edges[:-1])
        lo, hi = density.line_range if name == physical else (-math.inf, math.inf)
        if name == "y" and density.name != "ring":
            lo, hi = density.cross_range
        inside = (centres >= lo) & (centres <= hi)
        entry: dict[str, Any] = {
            "mean": hist.mean,
            "sigma": hist.std,
            "edges": hist.edges,
            "median_relative_sigma": float(
                np.median((hist.std / np.maximum(hist.mean, 1e-300))[inside])
            ),
        }
        if truth is not None:
            entry["truth"] = truth
            ok = np.abs(hist.mean - truth) <= band * hist.std
            entry["coverage_reduced_range"] = float(ok[inside].mean())
        out[name] = entry
    return out


def _toy_study(s: _Study, name: str) -> dict[str, Any]:
    c = s.config
    density = toy(name)
    rng = np.random.default_rng(c.study.seed)
    x = density.sample(c.study.n_train, rng)
    data_id = {"toy": name, "n": c.study.n_train, "seed": c.study.seed}
    model, history, reused = s.trained(name, x, data_id, density.support)
    s.loss_figure(name, history)
    summary: dict[str, Any] = {"training": _training_entry(history, reused, model)}
    start = time.perf_counter()
    lines = evaluate_lines(model, density, c, c.study.seed + 11)
    summary["lines"] = lines
    ev = c.evaluation
    if ev.marginal:
        bins = _marginal_bins(density, ev.n_bins)
        marginals = {}
        for label, fixed in (("resampled_latent", False), ("fixed_latent", True)):
            hists = marginal_histograms(
                model,
                density.marginal_observables,
                bins,
                n_draws=ev.n_draws,
                n_samples=ev.n_samples,
                fixed_latent=fixed,
                seed=c.study.seed + 21,
            )
            marginals[label] = _marginal_summary(hists, density, ev.band_sigmas)
        physical = "r" if name == "ring" else "x"
        hist = marginals["resampled_latent"][physical]
        centres = 0.5 * (hist["edges"][1:] + hist["edges"][:-1])
        marginals["sigma_at"] = {
            label: float(np.interp(ev.sigma_at, centres, marginals[label][physical]["sigma"]))
            for label in ("resampled_latent", "fixed_latent")
        }
        summary["marginals"] = marginals
        train_hists = {
            k: np.histogram(v, bins=bins[k])[0] for k, v in density.marginal_observables(x).items()
        }
        if s.figures:
            from madsbi.plotting.binn import plot_marginals

            plot_marginals(
                marginals["resampled_latent"],
                train_hists,
                x.shape[0],
                s.figure(f"{name}_marginals.png"),
                title=f"{name}: marginalised p and σ_pred (Fig. 8)",
            )
    if ev.n_generated:
        generated = generate_events(model, ev.n_generated, n_draws=ev.n_draws, seed=c.study.seed)
        meta = toy_meta(name, c.study.n_train, c.study.seed)
        write_generated_store(
            s.out / "generated.h5", meta, generated, ["x", "y"], training=x, overwrite=True
        )
        summary["generated"] = {
            "path": str(s.out / "generated.h5"),
            "n_events": ev.n_generated,
            "median_sigma_over_p": float(np.median(generated.sigma_over_p)),
        }
        if s.figures:
            from madsbi.plotting.binn import plot_toy_events

            plot_toy_events(
                generated.x, density, s.figure(f"{name}_events.png"), title=f"{name} (Figs. 1/3/5)"
            )
    if s.figures:
        from madsbi.plotting.binn import plot_lines

        plot_lines(lines, density.line_label, s.figure(f"{name}_lines.png"), title=name)
    summary["evaluation_seconds"] = time.perf_counter() - start
    return summary


def _training_size_study(s: _Study) -> dict[str, Any]:
    c = s.config
    density = toy(c.study.toy)
    per_size: dict[str, Any] = {}
    for index, n in enumerate(c.study.training_sizes):
        rng = np.random.default_rng(c.study.seed + 1000 * index)
        x = density.sample(n, rng)
        data_id = {"toy": density.name, "n": n, "seed": c.study.seed + 1000 * index}
        label = f"{density.name}_{n}"
        model, history, reused = s.trained(label, x, data_id, density.support)
        s.loss_figure(label, history)
        lines = evaluate_lines(model, density, c, c.study.seed + 11)
        per_size[str(n)] = {"training": _training_entry(history, reused, model), "lines": lines}
    sigmas = [per_size[str(n)]["lines"]["sigma_at"]["sigma"] for n in c.study.training_sizes]
    summary = {
        "toy": density.name,
        "sizes": list(c.study.training_sizes),
        "n_updates": c.training.n_updates,
        "sigma_at": sigmas,
        "sigma_decreasing": bool(np.all(np.diff(sigmas) < 0)),
        "per_size": per_size,
    }
    if s.figures:
        from madsbi.plotting.binn import plot_training_size

        plot_training_size(
            {int(k): v["lines"] for k, v in per_size.items()},
            density.line_label,
            s.figure("training_size.png"),
        )
    return summary


# -- Drell-Yan ------------------------------------------------------------------------------
def _dy_bins(values: dict[str, FloatArray], n_bins: int) -> dict[str, FloatArray]:
    bins = {}
    for name, v in values.items():
        lo, hi = np.quantile(v, [0.002, 0.998])
        if name == "m_ee":
            lo = float(np.min(v))
        bins[name] = np.linspace(lo, hi, n_bins + 1)
    return bins


def _drell_yan_study(s: _Study) -> dict[str, Any]:
    c = s.config
    path = Path(c.study.data) if c.study.data else dy.shipped_sample()
    x = dy.load_events(path, c.study.max_events)
    data_id = {"store": str(path.resolve()), "n": int(x.shape[0])}
    model, history, reused = s.trained("drell_yan", x, data_id, None)
    s.loss_figure("drell_yan", history)
    ev = c.evaluation
    truth_values = dy.observables(x)
    bins = _dy_bins(truth_values, ev.n_bins)
    start = time.perf_counter()
    hists = marginal_histograms(
        model,
        dy.observables,
        bins,
        n_draws=ev.n_draws,
        n_samples=ev.n_samples,
        seed=c.study.seed,
    )
    n = x.shape[0]
    observables: dict[str, Any] = {}
    for name, hist in hists.items():
        counts = np.histogram(truth_values[name], bins=hist.edges)[0]
        width = np.diff(hist.edges)
        train = counts / (n * width)
        train_sigma = np.sqrt(counts) / (n * width)
        centres = 0.5 * (hist.edges[1:] + hist.edges[:-1])
        populated = counts >= 10
        deviation = np.abs(hist.mean - train)
        within_binn = deviation <= ev.band_sigmas * hist.std
        within_both = deviation <= ev.band_sigmas * np.hypot(hist.std, train_sigma)
        entry: dict[str, Any] = {
            "edges": hist.edges,
            "mean": hist.mean,
            "sigma": hist.std,
            "train": train,
            "train_sigma": train_sigma,
            "coverage_binn": float(within_binn[populated].mean()),
            "coverage_binn_and_training": float(within_both[populated].mean()),
            "n_bins_populated": int(populated.sum()),
        }
        if name == "m_ee":
            peak = populated & (np.abs(centres - dy.MZ) <= 2 * dy.WZ)
            off = populated & ~peak
            entry["z_peak"] = {
                "bins": int(peak.sum()),
                "coverage_binn": float(within_binn[peak].mean()) if peak.any() else math.nan,
                "learned_over_train_peak_height": float(
                    hist.mean[peak].max() / max(train[peak].max(), 1e-300)
                )
                if peak.any()
                else math.nan,
            }
            entry["coverage_binn_off_peak"] = float(within_binn[off].mean())
        observables[name] = entry
    summary: dict[str, Any] = {
        "store": str(path),
        "n_events": n,
        "coordinates": list(dy.COORDINATES),
        "training": _training_entry(history, reused, model),
        "observables": observables,
    }
    if ev.n_generated:
        generated = generate_events(model, ev.n_generated, n_draws=ev.n_draws, seed=c.study.seed)
        with EventStore(path) as source:
            write_generated_store(
                s.out / "generated.h5",
                source.meta,
                generated,
                list(dy.COORDINATES),
                source=source,
                overwrite=True,
                weight=float(source.meta.basis_cross_sections[0])
                if source.meta.basis_cross_sections is not None
                else 1.0,
            )
        summary["generated"] = {
            "path": str(s.out / "generated.h5"),
            "n_events": ev.n_generated,
            "median_sigma_over_p": float(np.median(generated.sigma_over_p)),
        }
    summary["evaluation_seconds"] = time.perf_counter() - start
    if s.figures:
        from madsbi.plotting.binn import plot_drell_yan, plot_drell_yan_uncertainties

        plot_drell_yan(observables, s.figure("drell_yan_distributions.png"))
        plot_drell_yan_uncertainties(observables, s.figure("drell_yan_uncertainties.png"))
    return summary


def run_binn_study(
    config: BINNStudyConfig, out_dir: str | Path, *, progress: bool = True, figures: bool = True
) -> dict[str, Any]:
    """Run the study ``config`` into ``out_dir``; returns (and writes) the summary.

    Parameters
    ----------
    config : BINNStudyConfig
    out_dir : str or Path
        Output directory; models found there with the same settings are reused.
    progress : bool
        Progress bars.
    figures : bool
        Write the PNG figures (needs matplotlib).
    """
    out = Path(out_dir)
    study = _Study(config, out, progress, figures)
    start = time.perf_counter()
    kind = config.study.kind
    if kind == "training_size":
        result = _training_size_study(study)
    elif kind == "drell_yan":
        result = _drell_yan_study(study)
    else:
        result = _toy_study(study, kind)
    summary: dict[str, Any] = {
        "kind": kind,
        "paper": "bellagente2022 (SciPost Phys. 13, 003)",
        "config": {
            "study": config.study.__dict__,
            "evaluation": config.evaluation.__dict__,
            "network": config.network.to_dict(),
            "training": config.training.to_dict(),
        },
        **result,
        "figures": study.written,
        "wall_seconds": time.perf_counter() - start,
    }
    write_json(out / "summary.json", summary)
    return summary
