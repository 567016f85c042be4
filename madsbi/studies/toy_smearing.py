"""The toy study's fractional-smearing experiment (paper Sec. 2.3, Figs. 4, 5 and 13).

Derivative learning of R_θθ on one parton sample at θ0, once on the sample as it is and once
fractionally smeared (:func:`madsbi.simulate.smearing.plan_copies`), compared in the tail of
x against the analytic truth and against what the parton sample itself can teach
(:func:`infinite_smearing`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.inference.likelihood import RateModel
from madsbi.simulate.smearing import plan_copies
from madsbi.simulate.toy import ToyModel
from madsbi.studies.toy_samples import THETA0, read_toy_sample, toy_sample

if TYPE_CHECKING:
    from madsbi.studies.toy import _Study


def run_smearing(study: _Study) -> dict[str, Any]:
    """Derivative learning of R_θθ on 10⁵ events with and without fractional smearing."""
    c, s, sm = study.config, study.config.study, study.config.smearing
    path = toy_sample(
        study.out / "data" / "smearing_theta0.h5",
        THETA0,
        sm.n_events,
        s.alpha,
        s.seed + 200,
        study.progress,
    )
    z, x, coeff = read_toy_sample(path)
    target = 2.0 * coeff[:, 2] / coeff[:, 0]  # R_θθ(z), eq. 29
    plan = plan_copies(target[:, None], sm.threshold, max_copies=sm.max_copies, run_seed=s.seed)
    x_smeared = study.model.smear_with_seeds(z[plan.parent], plan.seed)
    datasets = {
        "original": HypothesisSample.build(x, coeff),
        "fractional smearing": HypothesisSample.build(x_smeared, coeff[plan.parent], plan.weight),
    }
    x_tail = np.linspace(sm.tail_from, sm.tail_to, 101)
    truth_tail = study.model.reco_derivatives(x_tail, THETA0)[1]
    # E[R_θθ(z)|x] over this parton sample: what the sample can teach (the learnable target).
    learnable_tail = infinite_smearing(study.model, z, target, x_tail)
    floor = learnable_tail - truth_tail
    results: dict[str, Any] = {
        # The limit of infinitely many copies: E[R_θθ(z)|x] over this parton sample. Its
        # error is the parton-statistics floor no amount of smearing can go below.
        "tail_rms_error_infinite_smearing": float(np.sqrt(np.mean(floor**2))),
        "learnable_tail": learnable_tail.tolist(),
        "n_events": int(z.shape[0]),
        "n_copies": plan.n_copies,
        "max_copies_used": int(plan.counts.max()),
        "threshold": sm.threshold,
        "x_tail": x_tail.tolist(),
        "truth_tail": truth_tail.tolist(),
        "datasets": {},
    }
    study.smearing_data = {
        "z": z,
        "target": target,
        "plan": plan,
        "x": x,
        "x_smeared": x_smeared,
    }
    for label, sample in datasets.items():
        key = "smeared" if label != "original" else "original"
        estimator = DerivativeEstimator(
            [THETA0], 1, c.network, targets=[2], combination_seed=s.seed
        )
        histories = estimator.fit(
            sample,
            c.training,
            out_dir=study.out / "estimators" / f"rtt_{key}",
            progress=study.progress,
            loss_weights=flattening_weights(sample.x[:, 0], sample.weights, sm.flatten_cap),
        )
        estimator.save(study.out / "estimators" / f"rtt_{key}" / "final")
        learned = estimator.second_derivative(x_tail)
        diff = learned.mean(0) - truth_tail
        diff_learnable = learned.mean(0) - learnable_tail
        model = study.as_scanned(estimator)
        rate = RateModel.from_event_coefficients(model.event_coefficients(sample.x), sample.weights)
        entry = study.evaluate(
            f"derivative ({label})",
            model,
            rate,
            histories,
            estimator.networks,
            {
                "tail_rms_error": float(np.sqrt(np.mean(diff**2))),
                # against E[R_θθ(z)|x] of the same parton events instead of the truth
                "tail_rms_error_learnable": float(np.sqrt(np.mean(diff_learnable**2))),
                "tail_relative_rms_error": float(np.sqrt(np.mean((diff / truth_tail) ** 2))),
                "learned_tail": learned.mean(0).tolist(),
                "learned_tail_spread": learned.std(0).tolist(),
            },
        )
        results["datasets"][label] = {
            k: entry[k]
            for k in (
                "tail_rms_error",
                "tail_rms_error_learnable",
                "tail_relative_rms_error",
                "rms_error",
            )
        }
    orig, smeared = results["datasets"]["original"], results["datasets"]["fractional smearing"]
    results["tail_error_reduction"] = orig["tail_rms_error"] / smeared["tail_rms_error"]
    results["tail_error_reduction_learnable"] = (
        orig["tail_rms_error_learnable"] / smeared["tail_rms_error_learnable"]
    )
    study.summary["smearing"] = results
    return results


def flattening_weights(x: Any, weights: Any, cap: float, bins: int = 100) -> FloatArray:
    """min(cap, p̂_max/p̂(x)) per event, p̂ a weighted histogram of x on ``bins`` equal bins."""
    xa = np.asarray(x, dtype=np.float64)
    if cap == 1.0:
        return np.ones(xa.shape[0])
    density, edges = np.histogram(xa, bins=bins, weights=weights)
    which = np.clip(np.searchsorted(edges, xa, side="right") - 1, 0, bins - 1)
    with np.errstate(divide="ignore"):
        factor = density.max() / density[which]
    result: FloatArray = np.minimum(cap, factor)
    return result


def infinite_smearing(
    model: ToyModel, z: FloatArray, target: FloatArray, x: FloatArray
) -> FloatArray:
    """Σ_e y_e K(x − z_e) / Σ_e K(x − z_e) with the exact Gaussian smearing kernel K."""
    kernel = np.exp(-0.5 * ((x[:, None] - z[None, :]) / model.smearing) ** 2)
    result: FloatArray = (kernel @ target) / kernel.sum(axis=1)
    return result
