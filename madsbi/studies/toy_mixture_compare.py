"""Factorised vs pooled learning of a mixture likelihood on the analytic toy, vs the oracles.

:func:`compare` trains, on events of :func:`~madsbi.studies.toy_mixture.default_toy` at θ0,

- the process classifier (D_c) and one derivative estimator per θ-dependent process
  (factorised, :func:`~madsbi.inference.mixture_models.factorised_model`);
- one derivative estimator on all processes (pooled,
  :func:`~madsbi.inference.mixture_models.pooled_model`);

and reports ⟨log r̂(x|θ, θ0)⟩ on an independent test mixture reweighted to θ (exact per-event
weights v_e R(z_e, c_e|θ)), per process and overall, next to the x-level truth (analytic),
the labelled oracle (z and c known: an upper bound, it sees more than x) and the unlabelled
oracle (exact C^c(x) with the learned D_c). Every model is collapsed to C_e·Φ(θ)
(:func:`madsbi.inference.mixture.collapse`). For θ drawn from the test mixture itself the
truth maximises ⟨log r̂⟩ among normalised estimates (the gap is a KL divergence).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, IntArray
from madsbi.estimators.classifier import ProcessClassifier
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.trainer import TrainingConfig
from madsbi.inference.mixture import collapse
from madsbi.inference.mixture_models import (
    factorised_model,
    mixture_model,
    oracle_labelled_model,
    oracle_unlabelled_model,
    own_or,
    pooled_model,
)
from madsbi.inference.model import LikelihoodModel
from madsbi.inference.processes import ProcessSample, classifier_data, pooled_training_set
from madsbi.nn.build import NetworkConfig
from madsbi.studies.toy_mixture import ToyMixture, default_toy, mean_log_ratio
from madsbi.theory.polynomial import polynomial_features

THETA0 = np.zeros(1)
THETAS = np.array([-1.5, -1.0, -0.5, 0.5, 1.0, 1.5])


def features(thetas: FloatArray) -> FloatArray:
    """φ(θ − θ0) of the toy."""
    return polynomial_features(thetas, THETA0)


def _central(model: LikelihoodModel, grid: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-member C_e (M, N, K) and rate coefficients (M, K) of the collapsed model."""
    c = collapse(model, grid).components[0]
    rate = np.broadcast_to(c.rate.coefficients, (c.n_members, c.coefficients.shape[2]))
    return c.coefficients, np.asarray(rate)


def train(
    toy: ToyMixture,
    samples: list[ProcessSample],
    network: NetworkConfig,
    training: TrainingConfig,
) -> dict[str, Any]:
    """The classifier, one estimator per θ-dependent process, and the pooled estimator."""
    classifier = ProcessClassifier(toy.names, 1, network, seed=training.seed)
    classifier.fit(*classifier_data(samples), training, progress=False)
    ratios: dict[str, DerivativeEstimator | None] = {}
    for p in samples:
        if not p.theta_dependent:
            ratios[p.name] = None
            continue
        est = DerivativeEstimator(THETA0, 1, network, combination_seed=training.seed)
        est.fit(HypothesisSample.build(p.x, p.ratios(), p.weights), training, progress=False)
        ratios[p.name] = est
    pooled = DerivativeEstimator(THETA0, 1, network, combination_seed=training.seed + 1)
    pooled.fit(HypothesisSample.build(*pooled_training_set(samples)), training, progress=False)
    return {"classifier": classifier, "ratios": ratios, "pooled": pooled}


def _rows(values: FloatArray, rows: IntArray) -> FloatArray:
    result: FloatArray = values[rows]
    return result


def models(
    toy: ToyMixture, trained: dict[str, Any], test: list[ProcessSample]
) -> dict[str, LikelihoodModel]:
    """The likelihood models of every method on the test events (rates from the test samples)."""
    x = np.concatenate([p.x for p in test])
    labels = np.concatenate([np.full(p.n_events, i) for i, p in enumerate(test)])
    own = np.concatenate([p.ratios() for p in test])
    yields = np.array([p.sigma0 for p in test])
    shares = trained["classifier"].event_fractions(x)
    reco = toy.reco_coefficients(x[:, 0])
    exact = [
        own_or(labels, i, own, partial(_rows, reco[i])) if p.theta_dependent else None
        for i, p in enumerate(test)
    ]
    reco_list = [reco[i] if p.theta_dependent else None for i, p in enumerate(test)]
    exact_own = [p.ratios() if p.theta_dependent else None for p in test]
    learned = [trained["ratios"][p.name] for p in test]
    learned_data = [None if e is None else e.event_coefficients(x) for e in learned]
    learned_own = [
        None if e is None else e.event_coefficients(p.x) for e, p in zip(learned, test, strict=True)
    ]
    args = (test, yields, features)
    return {
        "truth (x, analytic)": mixture_model(
            toy.shares(x[:, 0]), reco_list, test, exact_own, yields, features
        ),
        "oracle: labels + exact": oracle_labelled_model(labels, own, *args),
        "oracle: exact + learned D": oracle_unlabelled_model(shares, exact, *args),
        "truth C(x) + learned D": mixture_model(
            shares, reco_list, test, exact_own, yields, features
        ),
        "factorised": factorised_model(x, trained["classifier"], trained["ratios"], *args),
        "factorised, exact D": mixture_model(
            toy.shares(x[:, 0]), learned_data, test, learned_own, yields, features
        ),
        "pooled": pooled_model(x, trained["pooled"], *args),
    }


def evaluate(
    built: dict[str, LikelihoodModel], test: list[ProcessSample], thetas: FloatArray = THETAS
) -> dict[str, Any]:
    """⟨log r̂⟩ at every θ, overall and per process, mean and spread over members.

    Events where a member's C_e·Φ(θ) ≤ 0 are clamped as in the grid scan (log of the
    smallest normal double, −708): ``clamped`` counts them per method and θ (mean over
    members), and the group ``all, unclamped`` leaves out, for every method alike, the
    events that any method clamps at any θ.
    """
    grid = thetas.reshape(-1, 1)
    phi = features(grid)
    v = np.concatenate([p.weights for p in test])
    own = np.concatenate([p.ratios() for p in test])
    u = (v[:, None] * (own @ phi.T)).T  # (G, N) the test mixture at θ
    labels = np.concatenate([np.full(p.n_events, i) for i, p in enumerate(test)])
    collapsed = {name: _central(model, grid) for name, model in built.items()}
    negative = {
        name: np.einsum("mnk,gk->mgn", coeff, phi) <= 0 for name, (coeff, _) in collapsed.items()
    }
    clean = ~np.any([n.any(axis=(0, 1)) for n in negative.values()], axis=0)
    groups = {"all": np.ones(labels.shape[0], bool), "all, unclamped": clean}
    groups.update({p.name: labels == i for i, p in enumerate(test)})
    out: dict[str, Any] = {"thetas": thetas.tolist(), "methods": {}, "clamped": {}}
    out["n_unclamped"] = [int(clean.sum()), int(clean.shape[0])]
    for name, (coeff, rate) in collapsed.items():
        row = {}
        for group, mask in groups.items():
            values = np.stack(
                [
                    mean_log_ratio(c[mask], r, phi, u[:, mask])
                    for c, r in zip(coeff, rate, strict=True)
                ]
            )
            row[group] = {"mean": values.mean(0).tolist(), "std": values.std(0).tolist()}
        out["methods"][name] = row
        out["clamped"][name] = negative[name].sum(axis=2).mean(axis=0).tolist()
    return out


def compare(
    n_train: int,
    n_test: int,
    *,
    seed: int = 0,
    network: NetworkConfig | None = None,
    training: TrainingConfig | None = None,
    toy: ToyMixture | None = None,
    thetas: FloatArray = THETAS,
) -> dict[str, Any]:
    """Train every method on ``n_train`` events per process and evaluate on ``n_test``."""
    toy = toy or default_toy()
    network = network or NetworkConfig(kind="ensemble", hidden=(32, 32), members=2)
    training = training or TrainingConfig(
        epochs=30, batch_size=512, patience=5, device="cpu", seed=seed
    )
    samples = toy.draw(n_train, seed)
    test = toy.draw(n_test, seed + 1000)
    trained = train(toy, samples, network, training)
    result = evaluate(models(toy, trained, test), test, np.asarray(thetas, dtype=float))
    x = np.concatenate([p.x for p in test])
    shares = trained["classifier"].event_fractions(x)
    result["max_share_error"] = float(np.abs(shares - toy.shares(x[:, 0])).max())
    result["mean_share_error"] = float(np.abs(shares - toy.shares(x[:, 0])).mean())
    return result
