"""Fitting data with a trained analysis: best fit, 1D/2D intervals, q at given points.

The likelihood is eq. 49 with the Poisson term: for events with weights w_e (1 per observed
event, or MC weights scaled to the luminosity for Asimov data),

    log r_full(θ) = Σ_e w_e log R̂(x_e|θ, θ0) − ν_sel(θ0) (ρ'(θ) − 1) + (n − Σ w) log ρ'(θ),

ν_sel(θ0) = L σ_sel(θ0) · rate_factor and ρ'(θ) = σ_sel(θ)/σ_sel(θ0), both from the
analysis's rate model with the same selection as the data. An analysis whose Poisson rate is
the exact one (``Analysis.poisson_rate == "exact"``, the reco study's default) splits eq. 49
into its two factors as :mod:`madsbi.studies.wz_reco_limits` does,

    log r_full(θ) = Σ_e w_e log R̂(x_e|θ) − Σ w log ρ̂(θ) + n log ρ_P(θ) − ν_sel(θ0) (ρ_P(θ) − 1),

with ρ̂ = ⟨R̂⟩ over the rate events (each method's own normalisation) and ρ_P the exact
σ_sel(θ)/σ_sel(θ0) of their coefficients.

A reco-level analysis reads the passed ``/reco`` entries (:mod:`madsbi.analysis.reco`); a
fractionally smeared store is refused in ``counts`` mode (its copies are not independent
events) and fitted with its smearing weights in ``asimov`` mode. Every method is fitted with the
members' mean per-event coefficients (the central estimate) and with each member (the
ensemble band).

- best fit: the maximum over the θ box, by grid search refined by zooming; the box is the
  trained range widened to hold every ``at`` point, or set by ``ranges``
  (:mod:`madsbi.analysis.box`); a best fit or interval end on its edge is warned about
  (:class:`madsbi.errors.BoxEdgeWarning`) and recorded (``at_box_edge``);
- 1D intervals ``fixed`` (the other parameters at θ0: the lines of ``madsbi run``'s
  expected limits) or ``profiled`` (maximised over the others, by zooming per point);
- 2D regions in every plane, fixed or profiled likewise (dof = 2);
- at each ``at`` point: q(θ) = −2 (log r_full(θ) − log r_full(θ̂)) and its χ² p-value with
  dof = number of parameters;
- the rate model's MC error at each best fit and ``at`` point (``rate_mc_error``,
  :mod:`madsbi.analysis.rate_error`).

When the data store is one the analysis was trained on (same SHA-256), only its test split
is used. Data outside the training support are refused or warned about
(:mod:`madsbi.analysis.support`); the store's ``/meta`` must match its digests.

Nuisance parameters (issue 27; declared in ``analysis.json`` or given as options,
:mod:`madsbi.analysis.nuisances`) are profiled at every θ (:mod:`madsbi.inference.profile`):
the best fit, intervals and q values are those of the profile likelihood, and the result adds
each nuisance's pull and post-fit constraint, its impact on every parameter's 68 % interval,
and the stat-only best fit and intervals next to the full ones. Without nuisances (or with
``stat_only``) the fit is the stat-only one, as before. Options are checked before the data
are read (:mod:`madsbi.analysis.fit_options`).

An analysis with background components (``"components"`` in ``analysis.json``, added by
``madsbi analysis-backgrounds``) fits the factorised mixture of the signal and its
backgrounds (:mod:`madsbi.analysis.components`, which also builds the signal-only models), and
the result lists each component's expected yield at the best fit and at the SM
(``components`` in ``fit.json``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.analysis.box import edge_report, fit_box, outside_points, warn_edges
from madsbi.analysis.components import component_names
from madsbi.analysis.data import Selection, StoreEvents
from madsbi.analysis.fit_options import (
    check_grid_sizes,
    check_levels,
    check_positive,
    choose_data_mode,
    data_store_kind,
    parse_point,
    parse_points,
)
from madsbi.analysis.nuisances import NuisanceSpec, parse_declared, resolve, summarise
from madsbi.analysis.oracles import METHODS as ORACLES
from madsbi.analysis.oracles import fit_models
from madsbi.analysis.pooled import POOLED, drop_if_nuisances, has_pooled, require_pooled
from madsbi.analysis.prepare import FitData, prepare_data
from madsbi.analysis.rate_error import rate_errors
from madsbi.analysis.shape_nuisances import fit_modifiers
from madsbi.errors import InputError, StoreFormatError
from madsbi.inference.limits import best_fit, chi2_quantile, intervals_1d, p_value, q_statistic
from madsbi.inference.model import single_log_likelihoods
from madsbi.inference.profile import profiled_log_likelihoods
from madsbi.inference.search import (
    LogLikelihood,
    maximise,
    plane_window,
    profile_max,
    profiled_line,
)

if TYPE_CHECKING:
    from madsbi.analysis.load import Analysis

PROFILES = ("fixed", "profiled")
EXACT = "exact"

__all__ = [
    "EXACT", "PROFILES", "FitData", "FitResult", "MethodFit", "fit", "parse_point", "prepare_data",
]  # fmt: skip


@dataclass
class MethodFit:
    """The fit of one method: central estimate and per-member results."""

    best_fit: FloatArray
    max_log_likelihood: float
    intervals: dict[str, dict[str, list[tuple[float, float]]]]
    lines: dict[str, dict[str, list[float]]]
    planes: dict[str, dict[str, Any]]
    points: list[dict[str, float]]
    members: dict[str, Any] = field(default_factory=dict)
    expected_events0: float = 0.0
    at_box_edge: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    nuisances: dict[str, dict[str, Any]] = field(default_factory=dict)
    impacts: dict[str, Any] = field(default_factory=dict)
    stat_only: dict[str, Any] = field(default_factory=dict)
    rate_mc_error: dict[str, Any] = field(default_factory=dict)
    components: dict[str, Any] = field(default_factory=dict)


@dataclass
class FitResult:
    """Fits of every method; ``best_fit``, ``intervals`` and ``points`` of the first one."""

    parameters: list[str]
    methods: dict[str, MethodFit]
    at: list[FloatArray]
    settings: dict[str, Any]
    data: dict[str, Any]

    @property
    def primary(self) -> str:
        """The first method (a learned one when there is one)."""
        return next(iter(self.methods))

    @property
    def best_fit(self) -> dict[str, float]:
        """θ̂ of the primary method, by parameter name."""
        return dict(zip(self.parameters, self.methods[self.primary].best_fit.tolist(), strict=True))

    @property
    def intervals(self) -> dict[str, dict[str, list[tuple[float, float]]]]:
        """1D intervals of the primary method: parameter → level → intervals."""
        return self.methods[self.primary].intervals

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``madsbi fit`` (``fit.json``)."""
        points = {}
        for k, theta in enumerate(self.at):
            label = ",".join(f"{p}={v:g}" for p, v in zip(self.parameters, theta, strict=True))
            points[label] = {
                "theta": dict(zip(self.parameters, theta.tolist(), strict=True)),
                "q": {m: f.points[k]["q"] for m, f in self.methods.items()},
                "p_value": {m: f.points[k]["p_value"] for m, f in self.methods.items()},
                "q_members_mean": {
                    m: f.points[k]["q_members_mean"] for m, f in self.methods.items()
                },
                "q_members_std": {m: f.points[k]["q_members_std"] for m, f in self.methods.items()},
            }
        document = {
            "parameters": self.parameters,
            "data": self.data,
            "settings": self.settings,
            "best_fit": {
                m: dict(zip(self.parameters, f.best_fit.tolist(), strict=True))
                for m, f in self.methods.items()
            },
            "intervals": {m: f.intervals for m, f in self.methods.items()},
            "at_box_edge": {m: f.at_box_edge for m, f in self.methods.items()},
            "rate_mc_error": {m: f.rate_mc_error for m, f in self.methods.items()},
        }
        if any(f.stat_only for f in self.methods.values()):
            document["best_fit_stat_only"] = {
                m: f.stat_only["best_fit"] for m, f in self.methods.items()
            }
            document["intervals_stat_only"] = {
                m: f.stat_only["intervals"] for m, f in self.methods.items()
            }
            document["nuisances"] = {m: f.nuisances for m, f in self.methods.items()}
            document["impacts"] = {m: f.impacts for m, f in self.methods.items()}
        if any(f.components for f in self.methods.values()):
            document["components"] = {m: f.components for m, f in self.methods.items()}
        return document | {
            "points": points,
            "methods": {
                m: {
                    "expected_events0": f.expected_events0,
                    "max_log_likelihood": f.max_log_likelihood,
                    "members": f.members,
                    "lines": f.lines,
                    "planes": f.planes,
                }
                for m, f in self.methods.items()
            },
        }


def _fit_one(
    ll: LogLikelihood,
    analysis: Analysis,
    settings: Mapping[str, Any],
    at: Sequence[FloatArray],
    *,
    detail: bool,
) -> MethodFit:
    ranges = np.asarray(settings["ranges"], dtype=np.float64)
    lo, hi = ranges[:, 0], ranges[:, 1]
    theta0 = analysis.theta0
    n = theta0.shape[0]
    theta_hat, top = maximise(ll, lo, hi, candidates=[theta0, *at])
    profiled = settings["profile"] == "profiled"
    levels = settings["levels"]
    intervals: dict[str, dict[str, list[tuple[float, float]]]] = {}
    lines: dict[str, dict[str, list[float]]] = {}
    for i, name in enumerate(analysis.parameters):
        k = settings["points_profile"] if profiled else settings["points_1d"]
        line = np.tile(theta0, (k, 1))
        line[:, i] = np.linspace(lo[i], hi[i], k)
        if profiled:
            line, q = profiled_line(ll, i, lo, hi, k, theta_hat, top, max(levels))
        else:
            values = ll(line)
            _, line_top = best_fit(line[:, i : i + 1], values)
            q = q_statistic(values, line_top)
        intervals[name] = {f"{lv:g}": intervals_1d(line[:, i], q, lv) for lv in levels}
        if detail:
            lines[name] = {"theta": line[:, i].tolist(), "q": q.tolist()}
    planes: dict[str, dict[str, Any]] = {}
    if detail and n >= 2:
        k = settings["points_2d"]
        window = [
            plane_window(intervals[p], lo[i], hi[i]) for i, p in enumerate(analysis.parameters)
        ]
        for i, j in itertools.combinations(range(n), 2):
            gi, gj = np.linspace(*window[i], k), np.linspace(*window[j], k)
            mi, mj = np.meshgrid(gi, gj, indexing="ij")
            pair = np.stack([mi.ravel(), mj.ravel()], axis=1)
            if profiled:
                values = profile_max(ll, (i, j), pair, lo, hi, centre=theta_hat)
                q = q_statistic(values, max(top, float(values.max())))
            else:
                plane = np.tile(theta0, (pair.shape[0], 1))
                plane[:, [i, j]] = pair
                values = ll(plane)
                q = q_statistic(values)
            entry: dict[str, Any] = {
                "axes": [analysis.parameters[i], analysis.parameters[j]],
                "x": gi.tolist(),
                "y": gj.tolist(),
                "q": q.reshape(k, k).tolist(),
            }
            for lv in levels:
                inside = q <= chi2_quantile(lv, 2)
                box = (
                    [
                        pair[inside, 0].min(),
                        pair[inside, 0].max(),
                        pair[inside, 1].min(),
                        pair[inside, 1].max(),
                    ]
                    if inside.any()
                    else []
                )
                entry[f"box_{lv:g}"] = [float(b) for b in box]
            planes[f"{analysis.parameters[i]}_{analysis.parameters[j]}"] = entry
    points = []
    for theta in at:
        q_at = float(max(-2.0 * (float(ll(theta[None])[0]) - top), 0.0))
        points.append({"q": q_at, "p_value": float(p_value(q_at, n))})
    return MethodFit(theta_hat, top, intervals, lines, planes, points)


def fit(
    analysis: Analysis,
    data: str | Path | StoreEvents | FitData,
    *,
    methods: Sequence[str] | None = None,
    data_mode: str | None = None,
    luminosity: float | None = None,
    rate_factor: float | None = None,
    select: Sequence[Selection | str] = (),
    at: Sequence[Any] = (),
    profile: str = "fixed",
    ranges: Any | None = None,
    points_1d: int | None = None,
    points_2d: int = 21,
    points_profile: int = 41,
    levels: Sequence[float] = (0.68, 0.95),
    nuisances: Iterable[NuisanceSpec | str | Mapping[str, Any]] = (),
    stat_only: bool = False,
    fix: Mapping[str, float] | Iterable[str] | None = None,
) -> FitResult:
    """Fit ``data`` with every method.

    By default the learned methods, and ``exact`` if the data carry coefficients and the
    analysis has no background components (for a mixture ``exact`` is refused: the truths are
    ``oracle`` and ``truth_learned_d``, :mod:`madsbi.analysis.oracles`).

    Parameters
    ----------
    data : store path, StoreEvents or FitData
    data_mode : {"asimov", "counts"}, optional
        ``counts``: every event is one observed event; ``asimov``: the store's MC weights
        scaled to L σ_gen · rate_factor. Default: ``counts`` for a store without a process
        (real data, pseudo-data), else ``asimov``; ``data["mode_reason"]`` says why
        (:func:`madsbi.analysis.fit_options.choose_data_mode`).
    luminosity, rate_factor : float, optional
        fb⁻¹ and the factor on the parton cross-section; default the analysis's.
    select : ``Selection`` or ``"name=value"`` / ``"name=low,high"`` texts
    at : points θ (arrays or ``"cW=0.1,..."`` texts) at which q and the p-value are reported
    profile : {"fixed", "profiled"}
        Intervals with the other parameters at θ0 (the default here) or profiled (the
        default of ``madsbi fit``).
    ranges : (n, 2) or mapping name → (low, high), optional
        The θ box. Default: the analysis's trained range, widened per parameter to hold every
        ``at`` point ± half the range; a mapping sets the named parameters (the others
        default); an array is the box as is (:func:`madsbi.analysis.box.fit_box`).
    points_1d, points_2d, points_profile : grid sizes of the lines, planes, profiled lines
        Each at least 2 (``points_2d`` at most 1001 per axis).
    nuisances : ``"NAME=SIZE"`` texts, mappings like the manifest's entries, or specs
        Normalisation nuisances added to the analysis's ``"nuisances"`` (one of the same name
        replaces it; :mod:`madsbi.analysis.nuisances`). All are profiled.
    stat_only : bool
        Ignore every nuisance: the statistics-only fit.
    fix : mapping name → value, or ``"NAME=VALUE"`` texts
        Nuisances held at the given α instead of profiled.

    Raises
    ------
    InputError
        An unknown profile or method, a bad ``ranges`` (naming it), bad ``at`` points, a bad
        grid size, luminosity, rate factor or level (naming the option), a bad nuisance or
        ``fix``; all before the data are read.
    StoreFormatError
        A bad ``"nuisances"`` entry in ``analysis.json``, or a data store that fails its
        schema (:func:`madsbi.events.verify.check_structure`).
    StoreCorruptError
        The data store's ``/meta`` does not match its digests.
    TrainingSupportError
        Data with a categorical feature value the training never saw.

    Warns
    -----
    BoxEdgeWarning
        A method's best fit or 1D interval end on the box edge (naming the parameters), or an
        ``at`` point outside a box the caller set.
    TrainingSupportWarning
        Data far outside the training range of a continuous feature (with the counts).
    """
    if profile not in PROFILES:
        raise InputError(f"profile: expected one of {PROFILES}, got {profile!r}")
    points_1d, points_2d, points_profile = check_grid_sizes(points_1d, points_2d, points_profile)
    luminosity = check_positive(luminosity, "luminosity")
    rate_factor = check_positive(rate_factor, "rate_factor")
    levels = check_levels(levels)
    points = parse_points(at, analysis.parameters, analysis.theta0)
    try:
        declared = parse_declared(
            analysis.manifest.get("nuisances"), f"{analysis.path / 'analysis.json'}: nuisances"
        )
    except InputError as exc:
        raise StoreFormatError(str(exc)) from None
    nuisances = list(nuisances)
    known = component_names(analysis)
    specs, fixed = resolve(declared, nuisances, fix, stat_only=stat_only, components=known)
    stored = isinstance(data, str | Path) and Path(data).is_file()
    process, asimov_data = (
        data_store_kind(Path(str(data))) if stored else (getattr(data, "process", None), False)
    )
    data_mode, why = choose_data_mode(getattr(data, "mode", data_mode), process, asimov_data)
    prepared = (
        data
        if isinstance(data, FitData)
        else prepare_data(
            analysis,
            data,
            data_mode=data_mode,
            luminosity=luminosity,
            rate_factor=rate_factor,
            select=select,
        )
    )
    chosen = choose_methods(analysis, methods, prepared.coefficients is not None)
    chosen = drop_if_nuisances(chosen, specs, explicit=methods is not None)
    box = fit_box(analysis.parameters, analysis.defaults["ranges"], ranges, points)
    if box.given:
        outside_points(box.ranges, points, analysis.parameters)
    settings = {
        "profile": profile,
        "ranges": box.ranges.tolist(),
        "box": box.describe(),
        "points_1d": int(points_1d or analysis.defaults["limit_points"]),
        "points_2d": int(points_2d),
        "points_profile": int(points_profile),
        "levels": list(levels),
        "luminosity_fb": prepared.luminosity_fb,
        "rate_factor": prepared.rate_factor,
    }
    if declared or specs or stat_only:
        settings["stat_only"] = bool(stat_only)
        listed = resolve(declared, nuisances, components=known)[0] if stat_only else specs
        settings["nuisances"] = [s.describe() for s in listed]
        settings["fixed_nuisances"] = fixed
    results: dict[str, MethodFit] = {}
    for method in chosen:
        models, nu0, mixture = fit_models(analysis, prepared, method)
        if specs:
            modifiers = fit_modifiers(specs, analysis, prepared)
            models = [replace(m, modifiers=modifiers) for m in models]
            likelihoods = profiled_log_likelihoods(models, fixed)
        else:
            likelihoods = single_log_likelihoods(models)
        central = _fit_one(likelihoods[0], analysis, settings, points, detail=True)
        central.expected_events0 = nu0
        central.rate_mc_error = rate_errors(analysis, prepared.selections, central.best_fit, points)
        line_points = settings["points_profile" if profile == "profiled" else "points_1d"]
        central.at_box_edge = edge_report(
            box.ranges, analysis.parameters, central.best_fit, central.intervals, line_points
        )
        warn_edges(method, central.at_box_edge)
        members = [_fit_one(ll, analysis, settings, points, detail=False) for ll in likelihoods[1:]]
        if members:
            fits = np.array([m.best_fit for m in members])
            central.members = {
                "best_fit": fits.tolist(),
                "best_fit_std": dict(zip(analysis.parameters, fits.std(0).tolist(), strict=True)),
                "intervals": [m.intervals for m in members],
            }
        for k, point in enumerate(central.points):
            qs = (
                np.array([m.points[k]["q"] for m in members]) if members else np.array([point["q"]])
            )
            point["q_members_mean"] = float(qs.mean())
            point["q_members_std"] = float(qs.std())
        if specs:

            def refit(ll: LogLikelihood, options: Mapping[str, Any]) -> tuple[FloatArray, Any]:
                shifted = _fit_one(ll, analysis, options, points, detail=False)
                return shifted.best_fit, shifted.intervals

            summary = summarise(
                models[0], central.best_fit, central.intervals, fixed, settings, refit
            )
            central.stat_only, central.nuisances, central.impacts = summary
        if mixture is not None:
            central.components = mixture.report(central.best_fit, analysis.parameters)
        results[method] = central
    described = {**prepared.description, "mode_reason": why}
    return FitResult(list(analysis.parameters), results, points, settings, described)


def choose_methods(
    analysis: Analysis, methods: Sequence[str] | None, with_coefficients: bool
) -> list[str]:
    """The methods a fit runs: ``methods``, or the analysis's with ``exact`` where it is a truth.

    ``exact`` (each data event's own exact coefficients in the signal) is added by default when
    the data carry coefficients, unless the analysis has background components: there it would
    treat every event as signal, so it is refused; the truths of a mixture are the oracles.
    ``pooled`` (:mod:`madsbi.analysis.pooled`) is among the defaults when the analysis has it.

    Raises
    ------
    InputError
        An unknown method, ``exact`` for an analysis with components, or ``pooled`` for one
        without its ensemble.
    """
    chosen = list(methods) if methods is not None else list(analysis.methods)
    has_components = analysis.manifest.get("components") is not None
    if methods is None and has_pooled(analysis):
        chosen.append(POOLED)
    if methods is None and with_coefficients and not has_components:
        chosen.append(EXACT)
    if has_components and EXACT in chosen:
        raise InputError(
            f"methods: {EXACT!r} is the signal's exact ratio, and this analysis has background "
            f"components (data events of several processes); the truths of a mixture are "
            f"{ORACLES} (data from madsbi store mix, which keeps each event's process)"
        )
    known = {EXACT, POOLED, *analysis.models, *ORACLES}  # oracles: data with /truth/mix
    unknown = [m for m in chosen if m not in known]
    if unknown:
        raise InputError(
            f"methods: {unknown} not in the analysis ({analysis.methods}), {EXACT!r}, "
            f"{POOLED!r} or {ORACLES}"
        )
    if POOLED in chosen:
        require_pooled(analysis)
    return chosen
