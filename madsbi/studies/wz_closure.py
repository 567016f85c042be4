"""Held-out reports of the W±Z study, computed with the saved analysis.

- ``validation``: the ⟨log r⟩ errors on the validation split (SM and reweighted to the BSM
  point), the numbers to choose hyper-parameters (λ, features, epochs) on, pooled and, with
  the charge feature, per charge (``per_charge`` → ``+1`` / ``-1``); the test split is
  reported once, by the study itself.
- ``generated_bsm``: per store of ``bsm_stores`` (events generated at, or weighted to, the
  BSM point; never trained on), the ⟨log r(θ, θ0)⟩ errors on every line and plane with the
  truth and the learned estimate each with its own rate model and both with the exact one;
  and the closure fits (exact per-event ratio and every learned one) as observed counts at
  the luminosity where the sample's size is the expected count, and as Asimov data at the
  study's luminosity and rate factor: best fit, q(θ_BSM), its p-value, whether θ_BSM lies in
  the 95 % and 99 % regions (dof = number of parameters).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import BoolArray, FloatArray
from madsbi.analysis.data import Selection, read_store
from madsbi.analysis.fit import EXACT
from madsbi.analysis.load import Analysis
from madsbi.errors import WeightError
from madsbi.inference.likelihood import exact_event_coefficients, scan
from madsbi.inference.limits import chi2_quantile
from madsbi.inference.rate import FB_PER_PB
from madsbi.studies.wz_data import store_path
from madsbi.theory.polynomial import polynomial_features

if TYPE_CHECKING:
    from madsbi.studies.wz import PartonStudy


def _truth(
    analysis: Analysis,
    coefficients: FloatArray,
    weights: FloatArray,
    grid: FloatArray,
    selections: tuple[Selection, ...] = (),
) -> FloatArray:
    rate, _ = analysis.exact_rate_model(selections)
    result = scan(
        exact_event_coefficients(coefficients),
        polynomial_features(grid, analysis.theta0),
        rate,
        thetas=grid,
        weights=weights,
        log1p=True,
    )
    mean: FloatArray = result.mean_log_ratio()[0]
    return mean


def _sample_report(
    study: PartonStudy,
    analysis: Analysis,
    x: FloatArray,
    coefficients: FloatArray,
    weights: FloatArray,
    selections: tuple[Selection, ...] = (),
) -> dict[str, Any]:
    """Errors of every method's ⟨log r⟩ on one weighted sample, own and exact rate.

    ``selections``: the channel the sample belongs to; every rate model is the channel's.
    """
    grid = study.grid
    truth = _truth(analysis, coefficients, weights, grid, selections)
    exact_rate = analysis.exact_rate_model(selections)[0].ratio(
        polynomial_features(grid, analysis.theta0)
    )
    out: dict[str, Any] = {"n_events": int(x.shape[0])}
    for method in analysis.methods:
        result = analysis.scan(x, grid, method, weights=weights, selections=selections)
        own = result.mean_log_ratio()
        shared = result.log_ratio_sum / result.sum_weights - np.log(exact_rate)
        out[method] = {
            "own_rate": study.metrics(own, truth)["all"],
            "exact_rate": study.metrics(shared, truth)["all"],
            "per_scan": study.metrics(own, truth),
        }
    return out


def validation_report(study: PartonStudy, analysis: Analysis) -> dict[str, Any]:
    """⟨log r⟩ errors on the validation split (SM and the exact BSM reweighting)."""
    part = study.pooled.parts.get("validation")
    if part is None:
        return {}
    bsm = polynomial_features(
        np.asarray(study.config.analysis.bsm_point, float)[None], study.theta0
    )[0]
    r_bsm = part.coefficients @ bsm / part.coefficients[:, 0]

    def reports(keep: BoolArray, selections: tuple[Selection, ...]) -> dict[str, Any]:
        x, c, w = part.x[keep], part.coefficients[keep], part.weights[keep]
        return {
            "sm": _sample_report(study, analysis, x, c, w, selections),
            "bsm": _sample_report(study, analysis, x, c, w * r_bsm[keep], selections),
        }

    out = reports(np.ones(part.x.shape[0], dtype=bool), ())
    # With both charges in one analysis the pooled numbers can hide one channel's error (W⁻Z,
    # the smaller cross section, has the thinner tail): report each channel against its own
    # rate model too, as the generated-BSM stores of one charge are.
    if "charge" in analysis.features:
        charge = part.x[:, analysis.features.index("charge")]
        values = np.unique(charge)
        if values.size > 1:
            out["per_charge"] = {
                f"{value:+g}": reports(charge == value, (Selection("charge", float(value)),))
                for value in values
            }
    return out


def _closure(
    analysis: Analysis,
    path: Path,
    study: PartonStudy,
    n_events: int,
    sigma_gen: float,
    selections: tuple[Selection, ...] = (),
) -> dict[str, Any]:
    a = study.config.analysis
    bsm = np.asarray(a.bsm_point, dtype=np.float64)
    n = bsm.shape[0]
    thresholds = {"95": chi2_quantile(0.95, n), "99": chi2_quantile(0.99, n)}
    modes = {
        "counts": {
            "data_mode": "counts",
            "luminosity": n_events / (FB_PER_PB * a.rate_factor * sigma_gen),
        },
        "asimov": {"data_mode": "asimov", "luminosity": a.luminosity_fb},
    }
    out: dict[str, Any] = {}
    for mode, options in modes.items():
        result = analysis.fit(
            path,
            methods=[*analysis.methods, EXACT],
            rate_factor=a.rate_factor,
            at=[bsm],
            points_2d=11,
            select=selections,
            **options,
        )
        entry: dict[str, Any] = {"luminosity_fb": options["luminosity"], "methods": {}}
        for method, fitted in result.methods.items():
            q = fitted.points[0]["q"]
            entry["methods"][method] = {
                "best_fit": dict(zip(analysis.parameters, fitted.best_fit.tolist(), strict=True)),
                "q_bsm": q,
                "p_value_bsm": fitted.points[0]["p_value"],
                "q_bsm_members_mean": fitted.points[0]["q_members_mean"],
                "q_bsm_members_std": fitted.points[0]["q_members_std"],
                **{f"inside_{k}": bool(q <= v) for k, v in thresholds.items()},
                "intervals": fitted.intervals,
            }
        out[mode] = entry
    return out


def generated_bsm_report(study: PartonStudy, analysis: Analysis, name: str) -> dict[str, Any]:
    """⟨log r⟩ errors and closure fits on one store generated at (or for) the BSM point."""
    a = study.config.analysis
    path = store_path(name)
    events = read_store(path, analysis.features, need_coefficients=True)
    c = events.coefficients
    if c is None:  # pragma: no cover - need_coefficients
        raise WeightError(f"{path}: no coefficients")
    # Events at θ_gen, weighted to the BSM point (a no-op when θ_gen is the BSM point).
    phi = polynomial_features(np.vstack([a.bsm_point, events.theta_gen]), analysis.theta0)
    weights = events.weights * (c @ phi[0]) / (c @ phi[1])
    if not (weights >= 0).all():
        raise WeightError(f"{path}: the weights reweighted to {list(a.bsm_point)} are negative")
    x = events.features(analysis.features)
    # A sample of one channel (W⁺Z or W⁻Z alone) is compared with, and fitted against, that
    # channel's rate model, not the pooled W±Z one (whose σ(θ) is both charges').
    charges = np.unique(events.features(["charge"]))
    selections = (Selection("charge", float(charges[0])),) if charges.size == 1 else ()
    return {
        "store": str(path),
        "theta_gen": events.theta_gen.tolist(),
        "selection": [s.text() for s in selections],
        "mean_log_r": _sample_report(study, analysis, x, c, weights / weights.mean(), selections),
        "closure": _closure(analysis, path, study, events.n_events, events.sigma_gen, selections),
    }


def heldout_reports(study: PartonStudy, analysis_dir: Path) -> dict[str, Any]:
    """The validation report and one generated-BSM report per ``bsm_stores`` entry."""
    analysis = Analysis(analysis_dir)
    return {
        "validation": validation_report(study, analysis),
        "generated_bsm": {
            name: generated_bsm_report(study, analysis, name)
            for name in study.config.analysis.bsm_stores
        },
    }
