"""The pp → W±Z parton-level analysis of paper Sec. 4.1, end to end, on an event store.

``run_wz_study(config, out_dir)`` reads the store (by default the shipped MadGraph sample),
computes the parton features, splits the events into training and test parts and writes

- ``estimators/<method>/``: trained estimators (checkpoints resume an interrupted run);
- ``figures/*.png``: the average log-likelihood ratio along each parameter (Fig. 7) and in
  each plane (Figs. 8 and 9, SM and BSM test samples), the expected q(θ) at the luminosity
  of the config, the loss curves;
- ``summary.json``: per method and test sample, the RMS over every grid of learned − true
  ⟨log r⟩, the largest deviation and the share of grid points where the truth lies within
  the ensemble band; per parameter the expected 68 % and 95 % intervals, learned and true.

The truth is exact: every event carries its coefficients c_e, so R(z_e|θ) = c_e·φ/c_e0 is
known at every θ. The rate σ(θ)/σ(θ0) enters as in eq. 34, the mean of R over the SM test
sample: exact coefficients for the truth, each member's learned ones for a method. Truth and
estimate thus share formula and events, and differ only by the learned per-event ratio
(first-order errors of the learned coefficients cancel between the two terms, as eq. 34
intends).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.data import SAMPLES, sample_path
from madsbi.errors import ConfigError, WeightError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.morphing import MorphingAwareEstimator
from madsbi.estimators.trainer import TrainingHistory
from madsbi.inference.expected import expected_limits_1d
from madsbi.inference.likelihood import (
    RateModel,
    exact_event_coefficients,
    projected,
    scan,
)
from madsbi.inference.rate import FB_PER_PB, data_weights, expected_events
from madsbi.studies._common import (
    loss_curve_figures,
    n_network_parameters,
    nonzero_targets,
    train_seconds,
    write_json,
)
from madsbi.studies.wz_closure import heldout_reports
from madsbi.studies.wz_config import WZStudyConfig
from madsbi.studies.wz_data import pool_stores, rate_report, save_study_analysis
from madsbi.theory.morphing import MorphingBasis
from madsbi.theory.polynomial import polynomial_features

SAMPLE_LABELS = {"sm": "SM test sample", "bsm": "BSM test sample"}


@dataclass(frozen=True)
class _Scan:
    """One evaluation grid: a line along parameter i, or a plane in parameters (i, j)."""

    name: str
    axes: tuple[int, ...]
    thetas: FloatArray  # (G, n)
    shape: tuple[int, ...]


def _store_path(name: str) -> Path:
    return sample_path(name) if name in SAMPLES else Path(name)


class PartonStudy:
    """The state of one parton-level W±Z study: samples, rates, models, scans."""

    def __init__(self, config: WZStudyConfig, out_dir: Path, progress: bool) -> None:
        self.config = config
        self.out = out_dir
        self.progress = progress
        a = config.analysis
        self.store_path = _store_path(a.store)
        names = [a.store, *a.stores]
        self.pooled = pool_stores(
            names,
            a.features,
            seed=a.seed,
            test_fraction=a.test_fraction,
            validation_fraction=a.validation_fraction,
            rate_only=a.rate_stores,
        )
        pooled = self.pooled
        self.theta0 = pooled.theta0
        self.names = pooled.parameters
        n = len(self.names)
        self._check_lengths(n)
        self.process = " | ".join(pooled.processes)
        self.basis_points = np.vstack([self.theta0, np.asarray(config.morphing.basis, float)])
        # σ(θ0) from every event of every store (MIS, eq. 34 for a single SM store).
        self.sigma0 = float(pooled.sigma(self.theta0[None])[0])
        train, test = pooled.parts["train"], pooled.parts["test"]
        # σ(θ0) of the rate model: Σ v_e over the test parts (the expected count's scale).
        self.sigma0_rate = float(test.weights.sum())
        self.train = HypothesisSample.build(
            train.x, train.coefficients, train.weights / train.weights.mean()
        )
        self.x_test = test.x
        # The truth in the per-event form of every estimator: C_e = c_e/c_e0.
        self.truth_coefficients = exact_event_coefficients(test.coefficients)
        bsm = polynomial_features(np.asarray(a.bsm_point, float)[None], self.theta0)[0]
        w_sm = test.weights / test.weights.mean()
        self.weights = {"sm": w_sm, "bsm": w_sm * (self.truth_coefficients[0] @ bsm)}
        if not (self.weights["bsm"] > 0).all():
            raise WeightError(
                f"bsm_point {a.bsm_point}: the exact weight is not positive for some test events"
            )
        # σ(θ)/σ(θ0) from the sums over the SM test sample (eq. 34; the MIS weights v_e of
        # every store's test part), exact here and learned for every method: the truth and
        # the estimates share the formula and the events.
        self.rate = RateModel.from_event_coefficients(self.truth_coefficients, self.weights["sm"])
        self.scans = self._scans(n)
        self.grid = np.vstack([s.thetas for s in self.scans])
        phi = polynomial_features(self.grid, self.theta0)
        self.truth = {
            sample: self._mean_log_ratio(self.truth_coefficients, self.rate, phi, sample, True)
            for sample in self.weights
        }
        self.histories: dict[str, dict[str, TrainingHistory]] = {}
        self.models: dict[str, Any] = {}
        self.learned: dict[str, dict[str, FloatArray]] = {}
        self.summary: dict[str, Any] = {"methods": {}}

    # -- set-up ------------------------------------------------------------------------
    def _check_lengths(self, n: int) -> None:
        a, m = self.config.analysis, self.config.morphing
        checks = {
            "[analysis] bsm_point": len(a.bsm_point),
            "[analysis] ranges": len(a.ranges),
            **{f"[morphing] basis[{i}]": len(p) for i, p in enumerate(m.basis)},
        }
        for where, length in checks.items():
            if length != n:
                raise ConfigError(
                    f"{where}: the store has {n} parameters {self.names}, got {length} values"
                )
        k = (n + 1) * (n + 2) // 2
        if len(m.basis) != k - 1:
            raise ConfigError(
                f"[morphing] basis: {n} parameters need {k - 1} points besides θ0, "
                f"got {len(m.basis)}"
            )

    def _scans(self, n: int) -> list[_Scan]:
        a = self.config.analysis
        scans = []
        for i in range(n):
            line = np.tile(self.theta0, (a.points_1d, 1))
            line[:, i] = np.linspace(*a.ranges[i], a.points_1d)
            scans.append(_Scan(f"1d_{self.names[i]}", (i,), line, (a.points_1d,)))
        for i, j in itertools.combinations(range(n), 2):
            gi = np.linspace(*a.ranges[i], a.points_2d)
            gj = np.linspace(*a.ranges[j], a.points_2d)
            plane = np.tile(self.theta0, (a.points_2d**2, 1))
            mesh_i, mesh_j = np.meshgrid(gi, gj, indexing="ij")
            plane[:, i], plane[:, j] = mesh_i.ravel(), mesh_j.ravel()
            name = f"2d_{self.names[i]}_{self.names[j]}"
            scans.append(_Scan(name, (i, j), plane, (a.points_2d, a.points_2d)))
        return scans

    def _mean_log_ratio(
        self,
        coefficients: FloatArray,
        rate: RateModel,
        features: FloatArray,
        sample: str,
        log1p: bool,
    ) -> FloatArray:
        """⟨log r⟩ over one test sample at every grid point, (M, G)."""
        result = scan(
            coefficients,
            features,
            rate,
            thetas=self.grid,
            weights=self.weights[sample],
            log1p=log1p,
        )
        mean: FloatArray = result.mean_log_ratio()
        return mean

    # -- methods -----------------------------------------------------------------------
    def _model(self, estimator: Any) -> Any:
        return projected(estimator, self.config.analysis.projection)

    def derivative(self) -> None:
        """Train derivative learning at θ0 and evaluate it."""
        c = self.config
        estimator = DerivativeEstimator(
            self.theta0,
            self.train.x.shape[1],
            c.network,
            targets=nonzero_targets(self.train.coefficients),
            combination_seed=c.analysis.seed,
            joint=c.analysis.joint_derivative,
        )
        histories = estimator.fit(
            self.train,
            c.training,
            out_dir=self.out / "estimators" / "derivative",
            progress=self.progress,
        )
        estimator.save(self.out / "estimators" / "derivative" / "final")
        self._evaluate("derivative", self._model(estimator), histories, estimator.networks)

    def morphing_aware(self) -> None:
        """Train morphing-aware learning on the basis points and evaluate it."""
        c = self.config
        basis = MorphingBasis.from_points(self.basis_points, self.theta0)
        network = c.network
        if c.morphing.repulsion is not None:
            network = replace(network, repulsion=c.morphing.repulsion)
        samples = [self._reweighted(point) for point in self.basis_points]
        # σ_b/σ0 as the training events themselves give it (Σ of each reweighted sample's
        # weights): each per-basis classifier learns r_b(x) normalised over the training
        # sample, and C_eb = (σ_b/σ0) r̂_b(x) must use the same normalisation, not the pooled
        # MIS σ, which differs where rate stores at BSM points fill the tail.
        sigma_train = np.array([sample.weights.sum() for sample in samples])
        estimator = MorphingAwareEstimator(
            basis,
            self.sigma0 * sigma_train / sigma_train[0],
            self.sigma0,
            self.train.x.shape[1],
            network,
            loss=c.morphing.loss,
            seed=c.analysis.seed,
        )
        histories = estimator.fit(
            samples,
            samples[estimator.reference_index],
            c.training,
            out_dir=self.out / "estimators" / "morphing_aware",
            progress=self.progress,
        )
        estimator.save(self.out / "estimators" / "morphing_aware" / "final")
        self._evaluate("morphing_aware", self._model(estimator), histories, estimator.networks)

    def _reweighted(self, point: FloatArray) -> HypothesisSample:
        """The training events as a sample at ``point``: weights × R(z|θ_b) (exact)."""
        ratio = self.train.unnormalised_ratio(point, self.theta0)
        if not (ratio >= 0).all():
            raise WeightError(
                f"[morphing] basis point {point.tolist()}: the exact weight R(z|θ) is negative "
                f"for {(ratio < 0).sum()} training events"
            )
        return HypothesisSample(self.train.x, self.train.coefficients, self.train.weights * ratio)

    def _evaluate(
        self,
        name: str,
        model: Any,
        histories: dict[str, TrainingHistory],
        networks: dict[str, Any],
    ) -> None:
        self.models[name] = model
        self.histories[name] = histories
        coefficients = model.event_coefficients(self.x_test)
        rate = RateModel.from_event_coefficients(coefficients, self.weights["sm"])
        features = model.grid_features(self.grid)
        entry: dict[str, Any] = {
            "train_seconds": train_seconds(histories),
            "n_network_parameters": n_network_parameters(networks),
            "n_members": int(coefficients.shape[0]),
            "samples": {},
        }
        self.learned[name] = {}
        for sample in self.weights:
            members = self._mean_log_ratio(coefficients, rate, features, sample, model.log1p)
            self.learned[name][sample] = members
            entry["samples"][sample] = self.metrics(members, self.truth[sample][0])
        entry["rms_error"] = entry["samples"]["sm"]["all"]["rms_error"]
        entry["band_coverage"] = entry["samples"]["sm"]["all"]["band_coverage"]
        self.summary["methods"][name] = entry

    def metrics(self, members: FloatArray, truth: FloatArray) -> dict[str, Any]:
        """Errors of ⟨log r⟩ against the truth and the truth's coverage by the member band."""
        mean, spread = members.mean(0), members.std(0)
        band = self.config.analysis.band_sigmas
        tolerance = 1e-9 * max(float(np.ptp(truth)), 1e-300)
        error = mean - truth
        covered = np.abs(error) <= band * spread + tolerance
        out: dict[str, Any] = {}
        start = 0
        for s in self.scans:
            stop = start + s.thetas.shape[0]
            out[s.name] = _error_summary(error[start:stop], covered[start:stop], truth[start:stop])
            start = stop
        out["all"] = _error_summary(error, covered, truth)
        return out

    # -- limits ------------------------------------------------------------------------
    def expected_limits(self) -> dict[str, Any]:
        """68 % / 95 % intervals per parameter (others at θ0) from the Asimov SM sample.

        The test events, weighted to ν0 = L σ(θ0) · rate_factor in total, stand for the
        expected data; q(θ) = −2 log r_full of eq. 49 with the Poisson term.
        """
        a = self.config.analysis
        nu0 = float(expected_events(a.luminosity_fb * FB_PER_PB, self.sigma0_rate, a.rate_factor))
        weights = data_weights("asimov", self.weights["sm"], nu0)
        limits: dict[str, Any] = {"expected_events0": nu0, "parameters": {}}
        # Each model's rate comes from its own sums over the Asimov sample (eq. 34), so that
        # θ̂ = θ0 by construction and the intervals measure the curvature alone.
        inputs = {"truth": (_ExactRatio(self.theta0), self.truth_coefficients[0])}
        for name, model in self.models.items():
            inputs[name] = (model, model.event_coefficients(self.x_test).mean(0))
        for i, parameter in enumerate(self.names):
            line = np.tile(self.theta0, (a.limit_points, 1))
            line[:, i] = np.linspace(*a.ranges[i], a.limit_points)
            per_method: dict[str, Any] = {"theta": line[:, i].tolist()}
            for name, (model, coefficients) in inputs.items():
                per_method[name] = expected_limits_1d(
                    coefficients,
                    model.grid_features(line),
                    RateModel.from_event_coefficients(coefficients, weights),
                    thetas=line,
                    axis=i,
                    weights=weights,
                    expected_events0=nu0,
                    log1p=bool(model.log1p),
                )
            limits["parameters"][parameter] = per_method
        self.summary["expected_limits"] = limits
        return limits


@dataclass(frozen=True)
class _ExactRatio:
    """The exact parton ratio as a scanned model: C_e = c_e/c_e0 with Φ = φ(θ − θ0)."""

    theta0: FloatArray
    log1p = True

    def grid_features(self, thetas: Any) -> FloatArray:
        return polynomial_features(thetas, self.theta0)


def _error_summary(error: FloatArray, covered: Any, truth: FloatArray) -> dict[str, float]:
    rms = float(np.sqrt(np.mean(error**2)))
    return {
        "rms_error": rms,
        "max_abs_error": float(np.max(np.abs(error))),
        "relative_rms_error": rms / max(float(np.ptp(truth)), 1e-300),
        "band_coverage": float(np.mean(covered)),
    }


def run_wz_study(
    config: WZStudyConfig, out_dir: str | Path, *, progress: bool = True, figures: bool = True
) -> dict[str, Any]:
    """Run the parton-level analysis end to end; returns (and writes) the summary.

    Re-running into the same directory resumes (or skips) the trainings from their
    checkpoints.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    analysis = PartonStudy(config, out, progress)
    for method in config.analysis.methods:
        getattr(analysis, method)()
    analysis.expected_limits()
    summary = analysis.summary
    summary["analysis_dir"] = str(save_study_analysis(analysis, out / "analysis"))
    summary["heldout"] = heldout_reports(analysis, Path(summary["analysis_dir"]))
    rate_points = np.vstack([analysis.basis_points, config.analysis.bsm_point])
    summary["rate_model"] = rate_report(analysis.pooled, rate_points)
    summary.update(
        {
            "config": asdict(config),
            "store": str(analysis.store_path),
            "stores": [r.path for r in analysis.pooled.records],
            "process": analysis.process,
            "parameters": analysis.names,
            "n_train": analysis.train.n_events,
            "n_test": int(analysis.x_test.shape[0]),
            "sigma0_pb": analysis.sigma0,
            "scans": {
                s.name: {"axes": list(s.axes), "shape": list(s.shape), "thetas": s.thetas.tolist()}
                for s in analysis.scans
            },
            "truth_mean_log_r": {k: v[0].tolist() for k, v in analysis.truth.items()},
            "learned_mean_log_r": {
                name: {
                    k: {"mean": v.mean(0).tolist(), "spread": v.std(0).tolist()}
                    for k, v in per_sample.items()
                }
                for name, per_sample in analysis.learned.items()
            },
        }
    )
    if figures:
        summary["figures"] = _figures(analysis)
    summary["wall_seconds"] = time.perf_counter() - started
    write_json(out / "summary.json", summary)
    return summary


def _figures(analysis: PartonStudy) -> list[str]:
    from madsbi import plotting

    fig = analysis.out / "figures"
    written: list[Path] = []
    start = 0
    for s in analysis.scans:
        stop = start + s.thetas.shape[0]
        for sample in analysis.weights:
            truth = analysis.truth[sample][0, start:stop]
            learned = {
                name: (v[sample][:, start:stop].mean(0), v[sample][:, start:stop].std(0))
                for name, v in analysis.learned.items()
            }
            title = SAMPLE_LABELS[sample]
            if len(s.axes) == 1:
                i = s.axes[0]
                written.append(
                    plotting.plot_mean_log_ratio(
                        s.thetas[:, i],
                        truth,
                        learned,
                        fig / f"mean_log_r_{sample}_{s.name}.png",
                        xlabel=analysis.names[i],
                        title=title,
                    )
                )
            else:
                i, j = s.axes
                written.append(
                    plotting.plot_mean_log_ratio_2d(
                        s.thetas[:, i].reshape(s.shape)[:, 0],
                        s.thetas[:, j].reshape(s.shape)[0],
                        truth.reshape(s.shape),
                        {k: m.reshape(s.shape) for k, (m, _) in learned.items()},
                        fig / f"mean_log_r_{sample}_{s.name}.png",
                        labels=(analysis.names[i], analysis.names[j]),
                        title=title,
                    )
                )
        start = stop
    limits = analysis.summary["expected_limits"]
    for parameter, entry in limits["parameters"].items():
        theta = np.asarray(entry["theta"])
        others = {
            k: (np.asarray(v["q"]), np.zeros(theta.shape[0]))
            for k, v in entry.items()
            if k not in ("theta", "truth")
        }
        written.append(
            plotting.plot_learned_function(
                theta,
                np.asarray(entry["truth"]["q"]),
                others,
                fig / f"expected_q_{parameter}.png",
                xlabel=parameter,
                ylabel=r"$q(\theta)$, Asimov SM sample",
                logy=False,
                title=f"expected, ν0 = {limits['expected_events0']:.3g} events",
            )
        )
    written.extend(loss_curve_figures(analysis.histories, fig))
    return [str(Path(p).relative_to(analysis.out)) for p in written]
