"""The toy study of paper Sec. 3 end to end: data, training, likelihood scans, coverage, plots.

``run_toy_study(config, out_dir)`` writes

- ``data/*.h5``: the toy samples as event stores (parton z, reco x, exact coefficients);
- ``estimators/<method>/``: trained estimators (checkpoints resume an interrupted run);
- ``figures/*.png``: the equivalents of Figs. 1–5, 12 and 13 and the loss curves;
- ``summary.json``: per method the θ grid, the analytic and learned mean log r over the test
  sample, the ensemble spread, ``rms_error`` (RMS over θ ∈ [−1.5, 1.5] of learned − analytic
  mean log r), ``val_rms_error`` (the same on a validation sample at θ_test with its own
  seed, for choosing hyper-parameters without looking at the test sample),
  ``max_abs_error``, band coverage and training time; the R_θθ tail errors of
  the smearing study; the empirical coverage fractions with their binomial errors.

The smearing experiment is :mod:`madsbi.studies.toy_smearing`, the figures
:mod:`madsbi.studies.toy_figures`, the samples :mod:`madsbi.studies.toy_samples`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.morphing import MorphingAwareEstimator
from madsbi.estimators.single_network import SingleNetworkMorphingEstimator
from madsbi.estimators.trainer import TrainingHistory
from madsbi.inference.coverage import CoverageResult, run_coverage
from madsbi.inference.expected import expected_limits_1d
from madsbi.inference.likelihood import (
    NonNegativeRatio,
    RateModel,
    ScanResult,
    exact_event_coefficients,
    projected,
    scan,
)
from madsbi.inference.limits import asimov_weights
from madsbi.simulate.toy import ToyModel
from madsbi.studies._common import (
    n_network_parameters,
    nonzero_targets,
    train_seconds,
    write_json,
)
from madsbi.studies.toy_config import ToyStudyConfig
from madsbi.studies.toy_figures import toy_figures
from madsbi.studies.toy_samples import THETA0, read_toy_sample, toy_sample

# The tests import flattening_weights and _infinite_smearing from here, where they were.
from madsbi.studies.toy_smearing import flattening_weights as flattening_weights
from madsbi.studies.toy_smearing import infinite_smearing as _infinite_smearing  # noqa: F401
from madsbi.studies.toy_smearing import run_smearing
from madsbi.theory.morphing import MorphingBasis
from madsbi.theory.polynomial import polynomial_features

METRIC_RANGE = (-1.5, 1.5)


class _Study:
    """One toy study's samples, trained methods, scans and summary, filled method by method.

    Built by :func:`run_toy_study`; :func:`madsbi.studies.toy_smearing.run_smearing` and
    :func:`madsbi.studies.toy_figures.toy_figures` read and extend it.
    """

    def __init__(self, config: ToyStudyConfig, out_dir: Path, progress: bool) -> None:
        self.config = config
        self.out = out_dir
        self.progress = progress
        self.model = ToyModel(config.study.alpha)
        lo, hi, n = config.study.grid
        self.grid = np.linspace(lo, hi, int(n))
        self.in_metric = (self.grid >= METRIC_RANGE[0] - 1e-12) & (
            self.grid <= METRIC_RANGE[1] + 1e-12
        )
        self.figures: list[str] = []
        self.histories: dict[str, dict[str, TrainingHistory]] = {}
        self.rates: dict[str, RateModel] = {}
        self.models: dict[str, Any] = {}
        self.coverage_results: dict[str, CoverageResult] = {}
        self.smearing_data: dict[str, Any] = {}
        self.summary: dict[str, Any] = {"methods": {}}
        data = out_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        s = config.study
        test = toy_sample(data / "test.h5", s.theta_test, s.n_test, s.alpha, s.seed + 7, progress)
        _, self.x_test, _ = read_toy_sample(test)
        # A second sample at θ_test, same size, another seed: hyper-parameters are chosen on
        # its val_rms_error, so that the test sample's rms_error stays an unbiased estimate.
        val = toy_sample(
            data / "validation.h5", s.theta_test, s.n_test, s.alpha, s.seed + 11, progress
        )
        _, self.x_val, _ = read_toy_sample(val)
        # The analytic truth in the same per-event form as every estimator: C_e = c(x_e)/c_0(x_e).
        self.truth_scan = self._truth_scan(self.x_test)
        self.truth = self.truth_scan.mean_log_ratio()[0]
        self.truth_val = self._truth_scan(self.x_val).mean_log_ratio()[0]

    def _truth_scan(self, x: FloatArray) -> ScanResult:
        return self._scan(
            exact_event_coefficients(self.model.reco_coefficients(x, THETA0)),
            polynomial_features(self.grid[:, None], [THETA0]),
            RateModel.build([1.0, 0.0, 1.0]),
            log1p=True,
        )

    def _scan(self, c: FloatArray, phi: FloatArray, rate: RateModel, log1p: bool) -> ScanResult:
        return scan(c, phi, rate, thetas=self.grid[:, None], log1p=log1p)

    # -- evaluation shared by every method ------------------------------------------------
    def _record(
        self,
        name: str,
        result: ScanResult,
        histories: dict[str, TrainingHistory],
        n_parameters: int,
        val_result: ScanResult,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        members = result.mean_log_ratio()
        mean, spread = members.mean(0), members.std(0)
        error = (mean - self.truth)[self.in_metric]
        val_error = (val_result.mean_log_ratio().mean(0) - self.truth_val)[self.in_metric]
        band = self.config.study.band_sigmas
        tolerance = 1e-9 * max(float(np.ptp(self.truth)), 1e-300)
        covered = np.abs(mean - self.truth) <= band * spread + tolerance
        entry = {
            "projection": self.config.study.projection,
            "mean_log_r": mean.tolist(),
            "spread": spread.tolist(),
            "members": members.tolist(),
            "rms_error": float(np.sqrt(np.mean(error**2))),
            "val_rms_error": float(np.sqrt(np.mean(val_error**2))),
            "max_abs_error": float(np.max(np.abs(error))),
            "relative_rms_error": float(
                np.sqrt(np.mean(error**2)) / np.ptp(self.truth[self.in_metric])
            ),
            "band_coverage": float(np.mean(covered[self.in_metric])),
            "band_sigmas": band,
            "clamped_pairs": int(result.n_clamped.sum()),
            "train_seconds": train_seconds(histories),
            "n_network_parameters": n_parameters,
            "n_members": int(members.shape[0]),
            **(extra or {}),
        }
        self.summary["methods"][name] = entry
        self.histories[name] = histories
        return entry

    # -- the methods ----------------------------------------------------------------------
    def as_scanned(self, estimator: Any) -> Any:
        """The estimator as scanned: projected onto R ≥ 0 if the study asks for it."""
        return projected(estimator, self.config.study.projection)

    def _finish_morphing(
        self, name: str, estimator: Any, sigma: FloatArray, histories: dict[str, TrainingHistory]
    ) -> None:
        """Save a morphing estimator and scan it with ρ(θ) = Σ_b a_b σ_b/σ0 (σ0 = 1 here)."""
        estimator.save(self.out / "estimators" / name / "final")
        model = self.as_scanned(estimator)
        rate = RateModel.build(sigma)
        if isinstance(model, NonNegativeRatio):
            rate = model.rate(rate)
        self.evaluate(name, model, rate, histories, estimator.networks)

    def evaluate(
        self,
        name: str,
        model: Any,
        rate: RateModel,
        histories: dict[str, TrainingHistory],
        networks: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Scan ``model`` on the test and validation samples and record it as method ``name``."""
        self.models[name] = model
        self.rates[name] = rate
        result, val_result = (
            self._scan(
                model.event_coefficients(x),
                model.grid_features(self.grid[:, None]),
                rate,
                log1p=bool(model.log1p),
            )
            for x in (self.x_test, self.x_val)
        )
        return self._record(
            name, result, histories, n_network_parameters(networks), val_result, extra
        )

    def derivative(self) -> DerivativeEstimator:
        """Derivative learning on the θ0 sample, scanned with the rate of eq. 34."""
        c, s = self.config, self.config.study
        path = toy_sample(
            self.out / "data" / "theta0.h5",
            THETA0,
            c.data.n_derivative,
            s.alpha,
            s.seed,
            self.progress,
        )
        _, x, coeff = read_toy_sample(path)
        sample = HypothesisSample.build(x, coeff)
        estimator = DerivativeEstimator(
            [THETA0], 1, c.network, targets=nonzero_targets(coeff), combination_seed=s.seed
        )
        histories = estimator.fit(
            sample,
            c.training,
            out_dir=self.out / "estimators" / "derivative",
            progress=self.progress,
        )
        estimator.save(self.out / "estimators" / "derivative" / "final")
        model = self.as_scanned(estimator)
        # σ(θ)/σ(θ0) from the learned sums over the training sample (eq. 34).
        rate = RateModel.from_event_coefficients(model.event_coefficients(sample.x))
        self.evaluate("derivative", model, rate, histories, estimator.networks)
        return estimator

    def _basis_samples(self) -> tuple[MorphingBasis, list[HypothesisSample], FloatArray]:
        c, s = self.config, self.config.study
        points = np.array(c.data.basis, dtype=float)[:, None]
        basis = MorphingBasis.from_points(points, [THETA0])
        samples = []
        for i, theta in enumerate(points[:, 0]):
            path = toy_sample(
                self.out / "data" / f"basis{i}.h5",
                float(theta),
                c.data.n_per_basis,
                s.alpha,
                s.seed + 100 + i,
                self.progress,
            )
            _, x, coeff = read_toy_sample(path)
            samples.append(HypothesisSample.build(x, coeff))
        sigma = ToyModel.cross_section(points[:, 0])
        return basis, samples, sigma

    def _morphing_network(self) -> Any:
        """``[network]`` with ``[morphing] repulsion`` if set (both morphing methods)."""
        c = self.config
        if c.morphing.repulsion is None:
            return c.network
        return replace(c.network, repulsion=c.morphing.repulsion)

    def _morphing_training(self) -> Any:
        """``[training]`` with ``[morphing] epochs`` and ``runs`` if set (both morphing methods)."""
        c = self.config
        training = c.training
        if c.morphing.epochs is not None:
            training = replace(training, epochs=c.morphing.epochs)
        if c.morphing.runs is not None:
            training = replace(training, runs=c.morphing.runs)
        return training

    def morphing_aware(self) -> MorphingAwareEstimator:
        """Morphing-aware learning: one network per basis point (eq. 25)."""
        c = self.config
        basis, samples, sigma = self._basis_samples()
        estimator = MorphingAwareEstimator(
            basis, sigma, 1.0, 1, self._morphing_network(), loss=c.morphing.loss, seed=c.study.seed
        )
        reference = samples[estimator.reference_index]
        histories = estimator.fit(
            samples,
            reference,
            self._morphing_training(),
            out_dir=self.out / "estimators" / "morphing_aware",
            progress=self.progress,
        )
        self._finish_morphing("morphing_aware", estimator, sigma, histories)
        return estimator

    def single_network_morphing(self) -> SingleNetworkMorphingEstimator:
        """The single-network morphing baseline (MadMiner style, Fig. 3)."""
        c = self.config
        basis, samples, sigma = self._basis_samples()
        network = replace(self._morphing_network(), hidden=c.morphing.single_network_hidden)
        m = c.morphing
        estimator = SingleNetworkMorphingEstimator(
            basis,
            sigma,
            1.0,
            1,
            network,
            loss=m.single_network_loss,
            prior=m.prior,
            prior_std=m.prior_std,
            seed=c.study.seed,
        )
        training = self._morphing_training()
        if m.single_network_epochs is not None:
            training = replace(training, epochs=m.single_network_epochs)
        histories = estimator.fit(
            samples,
            training,
            out_dir=self.out / "estimators" / "single_network_morphing",
            progress=self.progress,
        )
        # Scanned with its own learned σ ratios, so that the scan reproduces the jointly
        # trained r̂(x|θ, θ0) (= 1 at θ0 exactly); the exact σ_b only weight its training pairs.
        learned = estimator.learned_sigma_ratios()
        self._finish_morphing("single_network_morphing", estimator, learned, histories)
        entry = self.summary["methods"]["single_network_morphing"]
        # ⟨log r̂(x|θ0, θ0)⟩ of the trained model itself and of the scanned (projected) curve.
        entry["mean_log_r_at_theta0"] = float(
            estimator.mean_log_ratio(self.x_test, [[THETA0]]).mean()
        )
        entry["scan_mean_log_r_at_theta0"] = entry["mean_log_r"][
            int(np.argmin(np.abs(self.grid - THETA0)))
        ]
        return estimator

    def smearing(self) -> dict[str, Any]:
        """Derivative learning of R_θθ with and without fractional smearing (toy_smearing)."""
        return run_smearing(self)

    # -- expected limits ------------------------------------------------------------------
    def expected_limits(self, estimators: dict[str, Any]) -> dict[str, Any]:
        """68 % and 95 % intervals from the Asimov-like θ0 sample, truth and every estimator."""
        s = self.config.study
        path = toy_sample(
            self.out / "data" / "test_theta0.h5",
            THETA0,
            s.n_test,
            s.alpha,
            s.seed + 8,
            self.progress,
        )
        _, x0, _ = read_toy_sample(path)
        grid = np.linspace(*METRIC_RANGE, self.config.coverage.grid_points)
        weights = asimov_weights(x0.shape[0], s.expected_events0)
        inputs = {
            "analytic": (
                exact_event_coefficients(self.model.reco_coefficients(x0, THETA0))[0],
                RateModel.build([1.0, 0.0, 1.0]),
                polynomial_features(grid[:, None], [THETA0]),
                True,
            )
        }
        for name in estimators:
            model = self.models.get(name)
            if model is not None:
                inputs[name] = (
                    model.event_coefficients(x0).mean(0),
                    RateModel.build(self.rates[name].coefficients.mean(0)),
                    model.grid_features(grid[:, None]),
                    bool(model.log1p),
                )
        limits: dict[str, Any] = {
            "expected_events0": s.expected_events0,
            "theta_grid": grid.tolist(),
        }
        for name, (c_events, rate, features, log1p) in inputs.items():
            limits[name] = expected_limits_1d(
                c_events,
                features,
                rate,
                thetas=grid[:, None],
                weights=weights,
                expected_events0=s.expected_events0,
                log1p=log1p,
            )
        self.summary["expected_limits"] = limits
        return limits

    # -- coverage -------------------------------------------------------------------------
    def coverage(self, estimators: dict[str, Any]) -> dict[str, CoverageResult]:
        """Coverage toys at θ_test for the analytic truth and ``[coverage] method`` (eq. 53)."""
        cov, s = self.config.coverage, self.config.study
        grid = _grid_with(np.linspace(*METRIC_RANGE, cov.grid_points), s.theta_test)
        phi = polynomial_features(grid[:, None], [THETA0])
        sigma_true = float(ToyModel.cross_section(s.theta_test))
        luminosity = cov.expected_events / sigma_true
        true_index = int(np.argmin(np.abs(grid - s.theta_test)))
        inputs = {
            "analytic": (
                exact_event_coefficients(self.model.reco_coefficients(self.x_test, THETA0))[0],
                RateModel.build([1.0, 0.0, 1.0]),
                phi,
                True,
            )
        }
        method = self.models.get(cov.method)
        if method is not None:
            # The ensemble mean of R̂ = C·Φ is the member-mean of C (linear in C).
            inputs[f"learned ({cov.method})"] = (
                method.event_coefficients(self.x_test).mean(0),
                RateModel.build(self.rates[cov.method].coefficients.mean(0)),
                method.grid_features(grid[:, None]),
                bool(method.log1p),
            )
        results = {}
        rng = np.random.default_rng(s.seed + 999)
        for label, (c_events, rate, features, log1p) in inputs.items():
            results[label] = run_coverage(
                c_events,
                features,
                rate,
                thetas=grid[:, None],
                true_index=true_index,
                expected_events0=luminosity * 1.0,
                expected_events_true=cov.expected_events,
                n_toys=cov.n_toys,
                gammas=cov.gammas,
                log1p=log1p,
                rng=rng,
                progress=self.progress,
                label=f"coverage {label}",
            )
        self.summary["coverage"] = {k: v.to_dict() for k, v in results.items()}
        return results


def _grid_with(grid: FloatArray, point: float) -> FloatArray:
    """The grid with ``point`` on it, without two nearly coincident points.

    ``point`` replaces the nearest grid point if that lies within a tenth of the spacing;
    otherwise it is inserted.
    """
    nearest = int(np.argmin(np.abs(grid - point)))
    spacing = float(np.min(np.diff(grid))) if grid.shape[0] > 1 else 1.0
    if abs(grid[nearest] - point) <= 0.1 * spacing:
        result = grid.copy()
        result[nearest] = point
        return result
    return np.union1d(grid, [point])


def run_toy_study(
    config: ToyStudyConfig, out_dir: str | Path, *, progress: bool = True, figures: bool = True
) -> dict[str, Any]:
    """Run one toy study end to end; returns (and writes) the summary.

    Re-running into the same directory reuses the generated samples and resumes (or skips)
    the trainings from their checkpoints.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    study = _Study(config, out, progress)
    study.coverage_results = {}
    estimators: dict[str, Any] = {}
    for method in config.study.methods:
        estimators[method] = getattr(study, method)()
    if study.rates:
        study.expected_limits(estimators)
    if config.coverage.enabled:
        study.coverage_results = study.coverage(estimators)
    summary = study.summary
    summary.update(
        {
            "config": asdict(config),
            "theta_grid": study.grid.tolist(),
            "analytic_mean_log_r": study.truth.tolist(),
            "analytic_range": float(np.ptp(study.truth[study.in_metric])),
            "metric_range": list(METRIC_RANGE),
        }
    )
    if figures:
        summary["figures"] = toy_figures(study)
    summary["wall_seconds"] = time.perf_counter() - started
    write_json(out / "summary.json", summary)
    return summary
