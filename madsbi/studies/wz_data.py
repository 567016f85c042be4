"""The W±Z study's events: one or several stores, split per store, weighted to θ0 by MIS.

Every store is split once (seeded per store) into test, validation and training parts. The
stores may be of different processes (W⁺Z and W⁻Z: channels whose cross-sections add) and
generated at different points (SM, basis points, BSM); each part's events get the weights
v_e at θ0 of :func:`madsbi.inference.rate.mis_weights`, so every part is a θ0 sample with
the right mixture of channels, and σ̂(θ) = Σ_e v_e R_e(θ) over any part. With one SM store
this is the store's own weights scaled to σ0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray, IntArray
from madsbi.analysis.data import StoreEvents, read_store
from madsbi.analysis.save import StoreRecord
from madsbi.cards import channel_names, process_key
from madsbi.data import SAMPLES, sample_path
from madsbi.errors import StoreMismatchError
from madsbi.inference.rate import GeneratedSample, mis_weights
from madsbi.processes.wz_parton import OBSERVABLES
from madsbi.theory.polynomial import polynomial_features

PARTS = ("train", "validation", "test")

if TYPE_CHECKING:
    from madsbi.studies.wz import PartonStudy


def store_path(name: str) -> Path:
    """A shipped sample's path for its name, else the path itself."""
    return sample_path(name) if name in SAMPLES else Path(name)


@dataclass(frozen=True)
class Part:
    """One part (train, validation or test) of the pooled stores."""

    x: FloatArray
    observables: dict[str, FloatArray]
    coefficients: FloatArray
    weights: FloatArray  # v_e at θ0, pb
    store_index: IntArray

    @property
    def n_events(self) -> int:
        """N."""
        return int(self.weights.shape[0])


@dataclass(frozen=True)
class PooledStores:
    """The parts, the parameter space and σ at the basis points."""

    parts: dict[str, Part]
    parameters: list[str]
    theta0: FloatArray
    processes: list[str]
    records: list[StoreRecord]
    events: list[StoreEvents]

    def sigma(self, thetas: FloatArray) -> FloatArray:
        """σ̂(θ) (pb) from all events (every part), (G,)."""
        phi = polynomial_features(thetas, self.theta0)
        total = np.zeros(phi.shape[0])
        samples = [_generated(e, np.arange(e.n_events)) for e in self.events]
        for s, v in zip(samples, mis_weights(samples, self.theta0), strict=True):
            total += (v[:, None] * (s.coefficients @ phi.T) / s.coefficients[:, :1]).sum(0)
        return total


def _generated(e: StoreEvents, index: IntArray) -> GeneratedSample:
    c = e.coefficients
    if c is None:  # pragma: no cover - read with need_coefficients
        raise StoreMismatchError(f"{e.path}: no coefficients", "/parton/coefficients")
    # One channel per process (W⁺Z, W⁻Z): productions differing only in `define` lines are one.
    return GeneratedSample(
        c[index], e.weights[index], e.theta_gen, e.sigma_gen, process_key(e.process)
    )


def _split(n: int, seed: int, store: int, test: float, validation: float) -> dict[str, IntArray]:
    rng = np.random.default_rng(seed if store == 0 else [seed, store])
    order = rng.permutation(n)
    n_test = max(1, round(test * n))
    n_val = round(validation * n)
    return {
        "test": order[:n_test],
        "validation": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }


def pool_stores(
    names: Sequence[str],
    features: Sequence[str],
    *,
    seed: int,
    test_fraction: float,
    validation_fraction: float = 0.0,
    rate_only: Sequence[str] = (),
) -> PooledStores:
    """Read, check, split and weight the stores ``names`` (paths or shipped names).

    The stores ``rate_only`` (e.g. generated at basis or BSM points) go whole into the test
    part: they widen the rate model's and the truth curves' coverage of θ, and no network
    trains on them.

    Raises
    ------
    StoreMismatchError
        If a store names other parameters or another θ0 than the first.
    """
    events = [
        read_store(store_path(n), features, need_coefficients=True, optional=sorted(OBSERVABLES))
        for n in [*names, *rate_only]
    ]
    first = events[0]
    for e in events[1:]:
        if e.parameters != first.parameters:
            raise StoreMismatchError(
                f"{e.path}: /meta/parameter_names {list(e.parameters)} differ from "
                f"{list(first.parameters)} of {first.path}",
                "/meta/parameter_names",
            )
        if not np.array_equal(e.theta0, first.theta0):
            raise StoreMismatchError(
                f"{e.path}: θ0 {e.theta0.tolist()} differs from {first.theta0.tolist()} of "
                f"{first.path}",
                "/meta/theta0",
            )
    n_trained = len(names)
    splits = [
        _split(e.n_events, seed, i, test_fraction, validation_fraction)
        if i < n_trained
        else _split(e.n_events, seed, i, 1.0, 0.0)
        for i, e in enumerate(events)
    ]
    common = sorted(set.intersection(*(set(e.observables) for e in events)))
    parts = {}
    for part in PARTS:
        nonempty = [i for i, s in enumerate(splits) if s[part].shape[0]]
        if not nonempty:
            continue
        samples = {i: _generated(events[i], splits[i][part]) for i in nonempty}
        weights = mis_weights([samples[i] for i in nonempty], first.theta0)
        parts[part] = Part(
            x=np.concatenate([events[i].features(features, splits[i][part]) for i in nonempty]),
            observables={
                k: np.concatenate([events[i].observables[k][splits[i][part]] for i in nonempty])
                for k in common
            },
            coefficients=np.concatenate([samples[i].coefficients for i in nonempty]),
            weights=np.concatenate(weights),
            store_index=np.concatenate(
                [np.full(samples[i].coefficients.shape[0], i) for i in nonempty]
            ),
        )
    records = [
        StoreRecord(
            path=str(e.path),
            sha256=e.sha256,
            process=e.process,
            n_events=e.n_events,
            theta_gen=tuple(e.theta_gen.tolist()),
            sigma_gen_pb=e.sigma_gen,
            test_indices=s["test"],
            validation_indices=s["validation"],
        )
        for e, s in zip(events, splits, strict=True)
    ]
    return PooledStores(
        parts=parts,
        parameters=list(first.parameters),
        theta0=first.theta0,
        processes=sorted(channel_names(e.process for e in events).values()),
        records=records,
        events=events,
    )


def save_study_analysis(study: PartonStudy, path: Path) -> Path:
    """Write the trained analysis of a finished W±Z study (see :mod:`madsbi.analysis.save`).

    ``study`` is the study's internal state: ``config``, ``pooled``, ``models`` (possibly
    wrapped in :class:`~madsbi.inference.likelihood.NonNegativeRatio`). The features'
    training support is that of the training part.
    """
    from madsbi.analysis.save import RateEvents, write_analysis
    from madsbi.analysis.support import TRAINING, categorical_features, training_support

    a = study.config.analysis
    pooled: PooledStores = study.pooled
    estimators = {name: getattr(m, "model", m) for name, m in study.models.items()}
    test = pooled.parts["test"]
    train = pooled.parts["train"]
    categorical = categorical_features(a.features, [r.process for r in pooled.records])
    support = training_support(
        dict(zip(a.features, train.x.T, strict=True)), a.features, categorical, TRAINING
    )
    return write_analysis(
        path,
        estimators=estimators,
        parameters=pooled.parameters,
        theta0=pooled.theta0,
        features=a.features,
        projection=a.projection,
        stores=pooled.records,
        rate_events=RateEvents(test.observables, test.coefficients, test.weights),
        split={
            "seed": a.seed,
            "test_fraction": a.test_fraction,
            "validation_fraction": a.validation_fraction,
            "per_store_seed": "numpy default_rng(seed) for store 0, default_rng([seed, i]) after",
        },
        defaults={
            "luminosity_fb": a.luminosity_fb,
            "rate_factor": a.rate_factor,
            "ranges": [list(r) for r in a.ranges],
            "limit_points": a.limit_points,
            "band_sigmas": a.band_sigmas,
        },
        config=asdict(study.config),
        support=support,
    )


def rate_report(pooled: PooledStores, thetas: FloatArray) -> dict[str, Any]:
    """σ̂(θ) of the rate model (MIS over the test parts) with MC errors, next to eq. 34.

    ``eq34`` is the estimate from the first store's test part alone (eq. 34 with exact
    coefficients when that store was generated at θ0): the single-sample rate of before.
    """
    from madsbi.inference.rate import cross_section

    samples = [
        _generated(e, r.test_indices) for e, r in zip(pooled.events, pooled.records, strict=True)
    ]
    mis = cross_section(samples, pooled.theta0, thetas)
    single = cross_section(samples[:1], pooled.theta0, thetas)
    return {
        "thetas": np.asarray(thetas).tolist(),
        "n_events": [s.coefficients.shape[0] for s in samples],
        "theta_gen": [s.theta_gen.tolist() for s in samples],
        "sigma_pb": mis.sigma.tolist(),
        "sigma_error_pb": mis.sigma_error.tolist(),
        "ratio": mis.ratio.tolist(),
        "ratio_error": mis.ratio_error.tolist(),
        "eq34": {
            "store": pooled.records[0].path,
            "sigma_pb": single.sigma.tolist(),
            "sigma_error_pb": single.sigma_error.tolist(),
        },
    }
