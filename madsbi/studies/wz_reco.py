"""The pp → W±Z → 3ℓν reco-level analysis of paper Sec. 4.2 (Figs. 10–12), end to end.

``run_wz_reco_study(config, out_dir)`` trains derivative learning (R_i, R_ij at θ0 = SM)
on fractionally smeared reco stores (eq. 35 weights) with a repulsive MLP ensemble and with
L-GATr, then on the unsmeared SM test stores:

- expected limits (Figs. 10, 11) at L = ``luminosity_fb`` (× ``rate_factor``) from the full
  likelihood (eqs. 49–51) for the parton-level truth (exact coefficients of the same events),
  the cross-section alone, the m_T^WZ histogram (Poisson per bin, exact per-bin quadratics),
  the MLP ensemble and L-GATr: 1D scans (others at θ0) with 68 %/95 % intervals, 2D planes
  with 1σ/2σ contours;
- coverage (Fig. 12): toys of Pois(ν0) events drawn from the test store, q over a 3D grid
  (dense algebra, :func:`madsbi.inference.dense_coverage`);
- closure on a BSM reco store when ``bsm_store`` is set.

The train stores of a process may be several, generated at different points (BSM points
fill the high-m_T^WZ tail): they are pooled by multiple importance weighting into training
weights at θ0 (:mod:`madsbi.studies.wz_reco_train`).

One store per role is one process (W⁺Z); lists of stores of several processes (W⁺Z and
W⁻Z) make channels: the networks train on all of them with the charge sum as an input, the
rate model adds the channels' σ̂_fid(θ) (each by MIS over its test and rate stores), the
Asimov data are the pooled events of every channel, and the closure fits the BSM stores
jointly and per channel (:mod:`madsbi.studies.wz_reco_closure`).

It writes ``estimators/``, ``analysis/`` (loadable with :func:`madsbi.load_analysis`),
``figures/*.png`` and ``summary.json``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.cards import process_key
from madsbi.errors import ConfigError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.trainer import TrainingHistory
from madsbi.inference.likelihood import (
    NonNegativeRatio,
    RateModel,
    exact_event_coefficients,
)
from madsbi.inference.rate import FB_PER_PB, expected_events
from madsbi.studies._common import (
    loss_curve_figures,
    n_network_parameters,
    nonzero_targets,
    train_seconds,
    write_json,
)
from madsbi.studies.wz_reco_closure import closure
from madsbi.studies.wz_reco_config import WZRecoStudyConfig, check_channel_feature
from madsbi.studies.wz_reco_data import (
    OBSERVABLES,
    StoreSet,
    load_reco_sample,
    rate_pool,
    save_reco_analysis,
)
from madsbi.studies.wz_reco_limits import coverage, limits_1d, planes_2d
from madsbi.studies.wz_reco_rate import rate_error_report
from madsbi.studies.wz_reco_train import train_stores_report, train_weights
from madsbi.theory.polynomial import polynomial_features

NOTES = (
    "rate model: sigma_fid(theta)/sigma_fid(theta0) of the Poisson term from the exact parton "
    "coefficients of the test store's entries, of [analysis] rate_stores (reco stores "
    "generated anywhere) and, with [analysis] rate_from_training, of the train stores (smeared: "
    "one copy per parent), pooled by multiple importance weighting (summary 'rate_stores'); "
    "with the SM test store alone, far from theta0 this reweighting is "
    "dominated by few tail events. The kinematic densities are normalised by each method's "
    "own rho_hat = <R_hat> over the same pooled events (eq. 34); the m_T^WZ histogram's "
    "per-bin quadratics come from them too.",
    "coverage: the dense kernel takes one rate, so each method's toys use its rho_hat in both "
    "factors (the exact rate for the truth).",
    "the MLP and L-GATr curves use the ensemble mean per event (projected to R >= 0 keeping "
    "R(theta0) and the slope); bands in the 1D figures are the member spread of q.",
    "1D scans keep the other parameters at theta0 (no profiling); 2D planes likewise.",
    "L-GATr inputs (madsbi.nn.lgatr_config): leptons and E_T^miss = (|E_T^miss|, E_x, E_y, 0) "
    "as vector tokens, charge and flavour as token scalars, the event observables as global "
    "scalars; the beam axis and the time direction enter as reference vectors (the symmetry "
    "breakers), leaving rotations about the beam as the exact symmetry.",
    "analysis/ (level reco, the Poisson rate of [analysis] rate_model): `madsbi fit "
    "DIR/analysis STORE.h5` reads the passed /reco entries of an unsmeared reco store and "
    "fits them with the same likelihood as these limits (Asimov on the test store gives the "
    "same intervals); madsbi.load_analysis(DIR/analysis).fit(STORE.h5) from Python.",
    "the trainer's validation split is drawn from the smeared training entries, so copies of "
    "one parent can sit on both sides of it.",
    "training weights: per process the train stores (generated at their theta_gen; summary "
    "channels.*.train_stores) pooled by multiple importance weighting (balance heuristic) into "
    "weights at theta0, normalised to mean 1 (one store per process at theta0: its fiducial "
    "weights).",
)


class RecoAnalysis:
    """The state of one reco-level study: samples, rate pool, ν0, Asimov weights, models."""

    def __init__(self, config: WZRecoStudyConfig, out_dir: Path, progress: bool) -> None:
        self.config = config
        self.out = out_dir
        self.progress = progress
        a = config.analysis
        # Train stores of every process, per process one or several generated at different
        # points (pooled by MIS into weights at θ0; one store at θ0: its fiducial weights);
        # the networks see the channels together, told apart by the charge sum.
        self.train = StoreSet.read(a.train_stores, "train_store")
        self.test = StoreSet.read(a.test_stores, "test_store")
        self.theta0 = self.test.theta0
        self.names = self.test.parameters
        if not np.allclose(self.train.theta0, self.theta0):
            raise ConfigError(
                f"[analysis] train_store θ0 {self.train.theta0.tolist()} differs from the "
                f"test store's {self.theta0.tolist()}"
            )
        if {process_key(p) for p in self.train.channels} != {
            process_key(p) for p in self.test.channels
        }:
            raise ConfigError(
                f"[analysis] test_store: processes {list(self.test.channels)} differ from the "
                f"train stores' {list(self.train.channels)}; give a test store of every process"
            )
        check_channel_feature(config, self.train.channels)
        self.train_weights = train_weights(self.train)  # v_e at θ0 (pb)
        n = self.theta0.shape[0]
        for where, length in (("bsm_point", len(a.bsm_point)), ("ranges", len(a.ranges))):
            if length != n:
                raise ConfigError(
                    f"[analysis] {where}: the stores have {n} parameters {self.names}, got "
                    f"{length} values"
                )
        # The rate model's events: the test entries, then those of [analysis] rate_stores and
        # (rate_from_training) of the train stores, pooled by multiple importance weighting
        # (σ̂_fid(θ) = Σ v_e R_e(θ)); per channel (process) by MIS, the channels' σ̂ adding.
        # The learned ρ̂ = ⟨R̂⟩ enters q at first order (−n log ρ̂): its MC error needs the
        # largest pool available (issue 25).
        self.rate_samples = [load_reco_sample(name) for name in a.rate_stores]
        if a.rate_from_training:
            self.rate_samples += list(self.train.samples)
        self.pool = rate_pool(list(self.test.samples), self.rate_samples, seed=a.seed)
        # ν0 = K L σ_fid(θ0); the Asimov SM sample: the pooled events of every channel
        # weighted to ν0 in total (the test events alone without rate stores), the same events
        # that normalise every method's kinematic density, so an Asimov fit of the truth sits
        # at θ0.
        self.sigma_fid = float(self.pool.weights.sum())
        self.nu0 = self.expected_events(self.sigma_fid)
        self.asimov = self.pool.weights / self.sigma_fid * self.nu0
        self.truth_pool = exact_event_coefficients(self.pool.coefficients)[0]
        self.rate_exact = RateModel.from_event_coefficients(self.truth_pool, self.pool.weights)
        self.models: dict[str, Any] = {}
        self.estimators: dict[str, DerivativeEstimator] = {}
        self.coefficients: dict[str, FloatArray] = {}  # (M, P, K) on the pool (test first)
        self.histories: dict[str, dict[str, TrainingHistory]] = {}
        self.summary: dict[str, Any] = {"methods": {}}

    def expected_events(self, sigma_pb: float) -> float:
        """ν = K L σ of a fiducial cross-section (pb) at the study's luminosity."""
        a = self.config.analysis
        return float(expected_events(a.luminosity_fb * FB_PER_PB, sigma_pb, a.rate_factor))

    def channels_report(self) -> dict[str, Any]:
        """Per channel (process): σ̂_fid(θ0), ν0 and the entries of each role."""
        sigma = self.pool.sigma()
        stores = train_stores_report(self.train)
        out: dict[str, Any] = {}
        for k, name in enumerate(self.pool.channels):
            key = process_key(name)
            train = [process_key(p) for p in self.train.channels].index(key)
            test = [process_key(p) for p in self.test.channels].index(key)
            out[name] = {
                "sigma_fid_pb": float(sigma[k]),
                "expected_events0": self.expected_events(float(sigma[k])),
                "n_train_entries": int((self.train.channel == train).sum()),
                "train_stores": stores[key],
                "n_test_entries": int((self.test.channel == test).sum()),
                "n_rate_entries": int(self.pool.mask(k).shape[0]),
            }
        return out

    def rate_errors(self) -> dict[str, Any]:
        """The rate model's MC errors at θ0, the closure point and along the ranges."""
        a = self.config.analysis
        return rate_error_report(
            [*self.test.samples, *self.rate_samples],
            self.theta0,
            self.names,
            a.ranges,
            {"bsm_point": a.bsm_point},
        )

    def grid_features(self, thetas: FloatArray) -> FloatArray:
        """Φ(θ) = φ(θ − θ0) of every method (all are in the derivative form)."""
        return polynomial_features(thetas, self.theta0)

    def train_method(self, name: str) -> None:
        """Train the method ``name`` (``mlp`` or ``lgatr``) and its C_e on the rate pool."""
        c = self.config
        network, training = (
            (c.network, c.training) if name == "mlp" else (c.lgatr_network, c.lgatr_training)
        )
        sample = HypothesisSample.build(
            self.train.x, self.train.coefficients, self.train_weights / self.train_weights.mean()
        )
        estimator = DerivativeEstimator(
            self.theta0,
            sample.x.shape[1],
            network,
            targets=nonzero_targets(sample.coefficients),
            combination_seed=c.analysis.seed,
            scale_column=(
                OBSERVABLES.index(c.analysis.target_scale) if c.analysis.target_scale else None
            ),
        )
        directory = self.out / "estimators" / name
        histories = estimator.fit(sample, training, out_dir=directory, progress=self.progress)
        estimator.save(directory / "final")
        model = NonNegativeRatio.wrap(estimator, keep_reference=True)
        self.estimators[name] = estimator
        self.models[name] = model
        self.histories[name] = histories
        self.coefficients[name] = np.asarray(model.event_coefficients(self.pool.x))
        self.summary["methods"][name] = {
            "kind": network.kind,
            "members": int(self.coefficients[name].shape[0]),
            "train_seconds": train_seconds(histories),
            "n_network_parameters": n_network_parameters(estimator.networks),
            "targets": list(estimator.targets),
            "joint": estimator.joint,
            "final_validation_loss": {
                k: float(h.validation_loss[-1]) if h.validation_loss else None
                for k, h in histories.items()
            },
            "relative_rms_error_vs_truth": self._target_errors(name),
        }

    def _target_errors(self, name: str) -> dict[str, float]:
        """Weighted RMS of R̂_k − R_k on the test events over the RMS of R_k (per k ≥ 1).

        At reco level the truth per event is the parton ratio, not r(x|θ): this mixes the
        irreducible smearing with the learning error and is a diagnostic only.
        """
        n = self.pool.n_test  # the test entries lead the pool
        mean, truth = self.coefficients[name].mean(0)[:n], self.truth_pool[:n]
        w = self.test.weights / self.test.weights.sum()
        out = {}
        for k in range(1, mean.shape[1]):
            scale = float(np.sqrt(np.sum(w * truth[:, k] ** 2)))
            if scale > 0:
                error = float(np.sqrt(np.sum(w * (mean[:, k] - truth[:, k]) ** 2)))
                out[f"c{k}"] = error / scale
        return out

    def learned_rate(self, name: str) -> RateModel:
        """ρ_P of the method's Poisson term: the exact rate, or its own ⟨R̂⟩ over the pool."""
        if self.config.analysis.rate_model == "exact":
            return self.rate_exact
        return RateModel.from_event_coefficients(self.coefficients[name].mean(0), self.pool.weights)

    def curves_inputs(self) -> dict[str, tuple[FloatArray, RateModel, bool]]:
        """Per unbinned method: coefficients (M, P, K) on the pool (test first), rate, log1p."""
        inputs = {"truth": (self.truth_pool[None], self.rate_exact, True)}
        for name, coefficients in self.coefficients.items():
            inputs[name] = (coefficients, self.learned_rate(name), bool(self.models[name].log1p))
        return inputs


def run_wz_reco_study(
    config: WZRecoStudyConfig, out_dir: str | Path, *, progress: bool = True, figures: bool = True
) -> dict[str, Any]:
    """Run the reco-level analysis end to end; returns (and writes) the summary.

    Re-running into the same directory resumes (or skips) the trainings from their
    checkpoints.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    a = config.analysis
    study = RecoAnalysis(config, out, progress)
    for method in a.methods:
        study.train_method(method)
    inputs = study.curves_inputs()
    summary = study.summary
    mt_wz = study.pool.column("mt_wz")
    summary["limits"] = limits_1d(study, inputs, mt_wz)
    summary["planes"] = planes_2d(study, inputs, mt_wz)
    summary["coverage"] = coverage(study, inputs) if a.coverage_toys > 0 else {}
    summary["closure"] = (
        closure(study, inputs)
        if a.bsm_stores
        else {
            "available": False,
            "note": "no BSM reco store configured ([analysis] bsm_store); none is shipped yet",
        }
    )
    if study.estimators:
        summary["analysis_dir"] = str(
            save_reco_analysis(
                out / "analysis",
                estimators=dict(study.estimators),
                train=study.train,
                test=study.test,
                pool=study.pool,
                config=config,
            )
        )
    summary.update(
        {
            "config": asdict(config),
            "parameters": study.names,
            "train_store": study.train.paths,
            "test_store": study.test.paths,
            "processes": list(study.pool.channels),
            "channels": study.channels_report(),
            "n_train_entries": int(study.train.x.shape[0]),
            "n_train_parents": study.train.n_parents,
            "n_test_entries": int(study.test.x.shape[0]),
            "n_test_parents": study.test.n_parents,
            "rate_stores": list(study.pool.stores),
            "n_rate_entries": int(study.pool.x.shape[0]),
            "sigma_fid_pb": study.sigma_fid,
            "rate_mc_error": study.rate_errors(),
            "expected_events0": study.nu0,
            "notes": list(NOTES),
        }
    )
    if figures:
        summary["figures"] = _figures(study, summary)
    summary["wall_seconds"] = time.perf_counter() - started
    write_json(out / "summary.json", summary)
    return summary


def _figures(study: RecoAnalysis, summary: dict[str, Any]) -> list[str]:
    from madsbi import plotting
    from madsbi.plotting import wz_reco

    fig = study.out / "figures"
    written: list[Path] = []
    labels = [_label(p) for p in study.names]
    for i, parameter in enumerate(study.names):
        entry = summary["limits"]["parameters"][parameter]
        written.append(
            wz_reco.plot_q_scan(
                np.asarray(entry["theta"]),
                {k: (np.asarray(v["q"]), np.asarray(v.get("q_spread", 0.0 * np.asarray(v["q"]))))
                 for k, v in entry["methods"].items()},
                fig / f"q_1d_{parameter}.png",
                xlabel=labels[i],
                title=f"{summary['config']['analysis']['luminosity_fb']:g} fb⁻¹, "
                f"ν0 = {study.nu0:.4g}",
            )
        )  # fmt: skip
    for name, plane in summary["planes"].items():
        i, j = plane["axes"]
        written.append(
            wz_reco.plot_q_contours(
                np.asarray(plane["x"]),
                np.asarray(plane["y"]),
                {k: np.asarray(v) for k, v in plane["q"].items()},
                fig / f"q_{name}.png",
                labels=(labels[i], labels[j]),
            )
        )
    cov = summary["coverage"]
    if cov:
        written.append(
            plotting.plot_coverage(
                np.asarray(cov["curve_gammas"]),
                {k: (np.asarray(v["curve"]), np.asarray(v["curve_errors"]))
                 for k, v in cov["methods"].items()},
                fig / "coverage.png",
                title=f"{cov['n_toys']} toys, {cov['grid_points']}³ grid",
            )
        )  # fmt: skip
    written.extend(loss_curve_figures(study.histories, fig))
    return [str(Path(p).relative_to(study.out)) for p in written]


def _label(name: str) -> str:
    return {"cHWB": r"$c_{\Phi WB}$", "cW": r"$c_{W}$", "cHq3": r"$c_{\Phi q}^{(3)}$"}.get(
        name, name
    )
