"""Limits, contours and coverage of the reco-level study (paper Figs. 10–12, App. A).

Every function takes the study state (:class:`madsbi.studies.wz_reco.RecoAnalysis`: the
Asimov weights, ν0, the exact rate, the rate pool: the test entries first, then those of the
rate stores, with MIS weights) and the unbinned methods' inputs
``{name: (C (M, P, K) on the pool, Poisson rate, log1p)}``. The pool at θ0 is the SM
sample of the analysis: its MIS weights make the Asimov data and the toys' draw
probabilities, and every kinematic density is normalised over it, so the SM model, the
Asimov data and the toys are one distribution. The truth is the one-member entry
``"truth"``. The binned baselines (cross-section only, m_T^WZ histogram)
use the exact coefficients of the same pooled events, so they differ from the truth only by
what they bin away. With several channels (W⁺Z and W⁻Z) the pool holds every channel's
events and each rate is the channels' sum. The closure fits are in
:mod:`madsbi.studies.wz_reco_closure`.

The unbinned log-likelihood splits eq. 49 into its two factors: the Poisson term with the
rate ρ_P(θ) of the inputs (the exact σ_fid(θ)/σ_fid(θ0) by default), and the kinematic
densities p̂(x|θ) = R̂(x|θ) p(x|θ0)/ρ̂(θ), each normalised by its own ρ̂(θ) = ⟨R̂⟩ over the
SM test sample (eq. 34). For n events of weights w_e (Σ w_e = n)

    log r_full(θ) = Σ_e w_e log R̂(x_e|θ) − n log ρ̂(θ) + n log ρ_P(θ) − ν0 (ρ_P(θ) − 1).

With the exact R both rates agree; with a learned R̂ a learned normalisation error would
otherwise tilt q by ν0 (⟨R̂_i⟩ − ρ_i) θ_i.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import ConfigError
from madsbi.inference.binned import BinnedModel, binned_scan, rate_only_scan
from madsbi.inference.coverage import dense_coverage
from madsbi.inference.expected import LEVELS, level_key
from madsbi.inference.likelihood import RateModel
from madsbi.inference.limits import best_fit, chi2_quantile, intervals_1d, q_statistic
from madsbi.inference.model import LikelihoodModel
from madsbi.inference.rate import FB_PER_PB
from madsbi.theory.polynomial import polynomial_features

#: 1σ and 2σ of a Gaussian: the levels of the 2D contours (paper Fig. 11).
SIGMA_LEVELS = (0.6827, 0.9545)
#: Confidence levels of the coverage curve (Fig. 12).
CURVE_GAMMAS = tuple(np.round(np.linspace(0.05, 0.95, 19), 4).tolist())

if TYPE_CHECKING:
    from madsbi.studies.wz_reco import RecoAnalysis

Inputs = dict[str, tuple[FloatArray, RateModel, bool]]


def _histogram(study: RecoAnalysis, mt_wz: FloatArray) -> BinnedModel:
    a = study.config.analysis
    return BinnedModel.from_events(
        mt_wz,
        study.truth_pool,
        edges=a.mt_wz_edges,
        weights=study.pool.weights,
        underflow=a.underflow,
        overflow=a.overflow,
    )


def _binned_q(study: RecoAnalysis, mt_wz: FloatArray, phi: FloatArray) -> dict[str, FloatArray]:
    a = study.config.analysis
    lumi = a.luminosity_fb * FB_PER_PB
    phi0 = polynomial_features(study.theta0[None], study.theta0)[0]
    hist = binned_scan(
        _histogram(study, mt_wz),
        phi,
        luminosity=lumi,
        asimov_features=phi0,
        rate_factor=a.rate_factor,
        mc_uncertainty=False,  # the numbers of the paper's figures (pinned by a test)
    )
    rate = rate_only_scan(study.rate_exact, phi, expected_events0=study.nu0)
    return {"rate_only": rate.q, "mt_wz_histogram": hist.q}


def own_rate(study: RecoAnalysis, coefficients: FloatArray) -> RateModel:
    """Ρ̂(θ) = ⟨R̂⟩ over the pool (eq. 34, MIS weights), per member of C (M, P, K) or (P, K)."""
    return RateModel.from_event_coefficients(coefficients, study.pool.weights)


def toy_probabilities(study: RecoAnalysis) -> FloatArray | None:
    """Each pooled event's share of the SM sample; None (uniform draws) for equal weights."""
    w = study.pool.weights
    if np.all(w == w[0]):
        return None
    p: FloatArray = w / w.sum()
    return p


def likelihood_model(
    study: RecoAnalysis,
    coefficients: FloatArray,
    rate: RateModel,
    own: RateModel,
    log1p: bool,
    weights: FloatArray | None = None,
    expected_events0: float | None = None,
) -> LikelihoodModel:
    """Eq. 49 in the module's split form; Asimov weights and the study's ν0 by default.

    ``rate`` is ρ_P of the Poisson term, ``own`` the kinematic normalisation ρ̂ (one row, or
    one per member of ``coefficients``); ``expected_events0`` ν0 of one channel's model.
    """
    return LikelihoodModel.single(
        coefficients,
        study.grid_features,
        own,
        expected_events0=study.nu0 if expected_events0 is None else expected_events0,
        weights=study.asimov if weights is None else weights,
        poisson_rate=rate,
        log1p=log1p,
    )


def log_full(study: RecoAnalysis, coefficients: FloatArray, rate: RateModel, own: RateModel,
             thetas: FloatArray, log1p: bool, weights: FloatArray | None = None,
             expected_events0: float | None = None) -> FloatArray:  # fmt: skip
    """Log r_full(θ) per member (M, G) of :func:`likelihood_model`."""
    model = likelihood_model(study, coefficients, rate, own, log1p, weights, expected_events0)
    return model.log_likelihood(thetas)


def _member_q(study: RecoAnalysis, coefficients: FloatArray, rate: RateModel,
              thetas: FloatArray, log1p: bool) -> FloatArray:  # fmt: skip
    """Q per member (M, G), each relative to its own grid maximum."""
    ll = log_full(study, coefficients, rate, own_rate(study, coefficients), thetas, log1p)
    q: FloatArray = np.maximum(-2.0 * (ll - ll.max(axis=1, keepdims=True)), 0.0)
    return q


def limits_1d(study: RecoAnalysis, inputs: Inputs, mt_wz: FloatArray) -> dict[str, Any]:
    """Q(θ) along each parameter (others at θ0) and the 68 %/95 % intervals of every method."""
    a = study.config.analysis
    out: dict[str, Any] = {"levels": list(LEVELS), "parameters": {}}
    for i, parameter in enumerate(study.names):
        line = np.tile(study.theta0, (a.points_1d, 1))
        line[:, i] = np.linspace(a.ranges[i][0], a.ranges[i][1], a.points_1d)
        phi = polynomial_features(line, study.theta0)
        methods: dict[str, Any] = {}
        for name, (coefficients, rate, log1p) in inputs.items():
            mean = coefficients.mean(0)
            ll = log_full(study, mean, rate, own_rate(study, mean), line, log1p)[0]
            theta_hat, top = best_fit(line[:, i : i + 1], ll)
            q_mean = q_statistic(ll, top)
            entry: dict[str, Any] = {"theta_hat": float(theta_hat[0]), "q": q_mean.tolist()}
            for level in LEVELS:
                entry[level_key(level)] = intervals_1d(line[:, i], q_mean, level)
            if coefficients.shape[0] > 1:
                q = _member_q(study, coefficients, rate, line, log1p)
                entry["q_spread"] = q.std(0).tolist()
                entry["member_width_68"] = [_width(intervals_1d(line[:, i], qm, 0.68)) for qm in q]
            methods[name] = entry
        for name, q in _binned_q(study, mt_wz, phi).items():
            k = int(np.argmin(q))
            methods[name] = {"theta_hat": float(line[k, i]), "q": q.tolist()}
            for level in LEVELS:
                methods[name][level_key(level)] = intervals_1d(line[:, i], q, level)
        for entry in methods.values():
            for level in LEVELS:
                key = level_key(level)
                entry[f"width_{round(100 * level)}"] = _width(entry[key])
        out["parameters"][parameter] = {"theta": line[:, i].tolist(), "methods": methods}
    return out


def _width(intervals: list[tuple[float, float]]) -> float:
    return float(sum(hi - lo for lo, hi in intervals))


def planes_2d(study: RecoAnalysis, inputs: Inputs, mt_wz: FloatArray) -> dict[str, Any]:
    """Q(θ_i, θ_j) (third parameter at θ0) for every method, and the 1σ/2σ thresholds."""
    a = study.config.analysis
    out: dict[str, Any] = {}
    for i, j in itertools.combinations(range(len(study.names)), 2):
        gi = np.linspace(a.ranges[i][0], a.ranges[i][1], a.points_2d)
        gj = np.linspace(a.ranges[j][0], a.ranges[j][1], a.points_2d)
        plane = np.tile(study.theta0, (a.points_2d**2, 1))
        mesh_i, mesh_j = np.meshgrid(gi, gj, indexing="ij")
        plane[:, i], plane[:, j] = mesh_i.ravel(), mesh_j.ravel()
        phi = polynomial_features(plane, study.theta0)
        shape = (a.points_2d, a.points_2d)
        q: dict[str, Any] = {}
        areas: dict[str, dict[str, float]] = {}
        for name, (coefficients, rate, log1p) in inputs.items():
            values = _member_q(study, coefficients.mean(0)[None], rate, plane, log1p)[0]
            q[name] = values.reshape(shape)
        for name, values in _binned_q(study, mt_wz, phi).items():
            q[name] = values.reshape(shape)
        cell = (gi[1] - gi[0]) * (gj[1] - gj[0])
        for name, values in q.items():
            areas[name] = {
                f"area_{round(100 * g)}": float(np.sum(values <= chi2_quantile(g, 2)) * cell)
                for g in SIGMA_LEVELS
            }
        out[f"2d_{study.names[i]}_{study.names[j]}"] = {
            "axes": [i, j],
            "x": gi.tolist(),
            "y": gj.tolist(),
            "thresholds": [chi2_quantile(g, 2) for g in SIGMA_LEVELS],
            "areas": areas,
            "q": {k: v.tolist() for k, v in q.items()},
        }
    return out


def coverage_grid(study: RecoAnalysis) -> tuple[FloatArray, int]:
    """The 3D grid (P^n, n) over the ranges and the index of θ0 on it.

    Raises
    ------
    ConfigError
        If θ0 is not a grid point (asymmetric ranges).
    """
    a = study.config.analysis
    axes = [np.linspace(lo, hi, a.coverage_points) for lo, hi in a.ranges]
    grid = np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=1)
    distance = np.abs(grid - study.theta0).max(axis=1)
    index = int(np.argmin(distance))
    step = min(float(ax[1] - ax[0]) for ax in axes)
    if distance[index] > 1e-9 * step:
        raise ConfigError(
            f"[analysis] ranges/coverage_points: θ0 = {study.theta0.tolist()} is not a point of "
            f"the coverage grid (make every range symmetric about θ0 with an odd number of points)"
        )
    return grid, index


def coverage(study: RecoAnalysis, inputs: Inputs) -> dict[str, Any]:
    """Empirical coverage c_γ of toys drawn from the pooled SM sample, q over the 3D grid."""
    a = study.config.analysis
    grid, true_index = coverage_grid(study)
    phi = polynomial_features(grid, study.theta0)
    gammas = np.array(sorted({*CURVE_GAMMAS, *LEVELS}))
    out: dict[str, Any] = {
        "n_toys": a.coverage_toys,
        "grid_points": a.coverage_points,
        "expected_events": study.nu0,
        "curve_gammas": gammas.tolist(),
        "methods": {},
    }
    for index, name in enumerate(a.coverage_methods or ("truth", *a.methods)):
        coefficients, _, log1p = inputs[name]
        # The dense kernel takes one rate for both factors: ρ̂ = ⟨R̂⟩ (eq. 34; exact for the
        # truth), so the toys test the learned likelihood as one normalised model.
        mean = coefficients.mean(0)
        result = dense_coverage(
            mean,
            phi,
            own_rate(study, mean),
            thetas=grid,
            true_index=true_index,
            expected_events0=study.nu0,
            expected_events_true=study.nu0,
            n_toys=a.coverage_toys,
            gammas=gammas,
            log1p=log1p,
            rng=np.random.default_rng([a.seed, 13, index]),
            progress=study.progress,
            label=f"coverage {name}",
            probabilities=toy_probabilities(study),
        )
        entry: dict[str, Any] = {
            "curve": result.fractions.tolist(),
            "curve_errors": result.errors.tolist(),
        }
        for level in LEVELS:
            k = int(np.argmin(np.abs(gammas - level)))
            tag = round(100 * level)
            entry[f"c_{tag}"] = float(result.fractions[k])
            entry[f"c_{tag}_error"] = float(result.errors[k])
            entry[f"c_{tag}_deviation_sigmas"] = float(
                (result.fractions[k] - level) / result.errors[k]
            )
        out["methods"][name] = entry
    return out


def closure_box(ranges: Any, point: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The fit box of the closure: the analysis ranges, widened to hold θ_BSM ± half a range.

    A point outside the scanned ranges (cHWB = 1 against [−0.6, 0.6]) must not be reported
    as excluded only because the fit could not reach it.
    """
    lo = np.array([r[0] for r in ranges], dtype=np.float64)
    hi = np.array([r[1] for r in ranges], dtype=np.float64)
    half = 0.5 * (hi - lo)
    return np.minimum(lo, point - half), np.maximum(hi, point + half)
