"""Reco stores as analysis samples: inputs, the parents' exact coefficients, fiducial weights.

Every ``/reco`` entry (a copy that passed eq. 47–48) carries its parent's exact parton
coefficients c_e (``/parton/coefficients[parent]``), so R(z_e|θ) = c_e·φ(θ − θ0)/c_e0 is the
target of derivative learning (R_i, R_ij) and the parton-level truth of the same events.
Weights are the stored event weights (parent weight × smearing weight 1/n, eq. 35) scaled
so that they sum to the fiducial cross-section at the generation point,
σ_fid = σ(θ_gen) Σ_reco w / Σ_parton w.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.cards import process_key
from madsbi.errors import ConfigError, StoreFormatError
from madsbi.events.reco import read_reco
from madsbi.processes import wz
from madsbi.simulate.reco import SHIPPED_RECO, shipped_reco_path

#: The observables of the study's stores (``/reco/x``), those of the W±Z selection.
OBSERVABLES = wz.PROCESS.observables


def reco_store_path(name: str) -> Path:
    """A shipped reco store (:data:`madsbi.simulate.reco.SHIPPED_RECO`) or a path."""
    return shipped_reco_path(name) if name in SHIPPED_RECO else Path(name)


@dataclass(frozen=True, eq=False)
class RecoSample:
    """The passed reco entries of one store.

    Attributes
    ----------
    path : Path
    x : (N, D)
        Reco observables in the order of :data:`OBSERVABLES` (the W±Z selection's).
    coefficients : (N, K)
        The parent's exact c_e (pb).
    weights : (N,)
        Fiducial weights (pb), summing to σ_fid at ``theta_gen``.
    parents : (N,)
        Parent rows (into the store's ``/parton``).
    theta0, theta_gen : (n,)
    parameters : list of str
    n_parents : int
    sigma_gen : float
        σ(θ_gen) in pb of all parents (before any cut).
    """

    path: Path
    x: FloatArray
    coefficients: FloatArray
    weights: FloatArray
    parents: Any
    theta0: FloatArray
    theta_gen: FloatArray
    parameters: list[str]
    n_parents: int
    process: str
    sigma_gen: float

    @property
    def sigma_fid(self) -> float:
        """σ_fid(θ_gen) in pb."""
        return float(self.weights.sum())

    def column(self, name: str) -> FloatArray:
        """One observable column."""
        result: FloatArray = self.x[:, OBSERVABLES.index(name)]
        return result


def load_reco_sample(name: str) -> RecoSample:
    """Read the passed ``/reco`` entries of a store with their parents' coefficients.

    The reading is :func:`madsbi.events.reco.read_reco`'s (only the entries passing every cut
    flag: all of them in a ``--passed-only`` store).

    Raises
    ------
    MissingFileError
        No such store.
    StoreFormatError
        If the store has no ``/reco`` group, no entries passing every cut flag, other
        observable columns than :data:`OBSERVABLES`, no parent coefficients, or no basis
        cross-sections (σ(θ_gen) scales the weights).
    WeightError
        NaN, infinite or negative weights.
    """
    path = reco_store_path(name)
    entries = read_reco(path, need_coefficients=True)
    if entries.columns != OBSERVABLES:
        raise StoreFormatError(
            f"{path}: /reco/x columns {list(entries.columns)}, expected {list(OBSERVABLES)}"
        )
    if entries.parents is None or entries.coefficients is None:
        raise StoreFormatError(f"{path}: /parton/coefficients (or /reco/parent) is missing")
    if not np.isfinite(entries.sigma_gen):
        raise StoreFormatError(f"{path}: /meta/basis_cross_sections are missing (σ(θ_gen))")
    return RecoSample(
        path=path,
        x=entries.x,
        coefficients=entries.coefficients,
        weights=entries.fiducial_weights,
        parents=entries.parents,
        theta0=entries.theta0,
        theta_gen=entries.theta_gen,
        parameters=list(entries.parameters),
        n_parents=entries.n_parents,
        process=entries.process,
        sigma_gen=entries.sigma_gen,
    )


@dataclass(frozen=True, eq=False)
class RatePool:
    """The events of the rate model: the test entries first, then the rate stores' entries.

    ``weights`` are the multiple-importance weights v_e at θ0 (pb) of
    :func:`madsbi.inference.rate.mis_weights`, so Σ_e v_e R_e(θ) is σ̂_fid(θ) for every θ;
    with the test store alone they are its fiducial weights.
    """

    x: FloatArray
    coefficients: FloatArray
    weights: FloatArray
    n_test: int
    stores: tuple[str, ...]

    def column(self, name: str) -> FloatArray:
        """One observable column over the pool."""
        result: FloatArray = self.x[:, OBSERVABLES.index(name)]
        return result


def _check_unsmeared(sample: RecoSample, role: str) -> None:
    if np.unique(sample.parents).shape[0] != sample.parents.shape[0]:
        raise ConfigError(
            f"{role} {sample.path}: several entries share a parent (a smeared store); the "
            f"rate model needs unsmeared stores (madsbi simulate reco --no-smear)"
        )


def rate_pool(test: RecoSample, others: list[RecoSample]) -> RatePool:
    """Pool the test store with ``others`` (unsmeared reco stores generated anywhere) by MIS.

    Every store's passed entries are the selected part of its generated parents
    (``n_generated`` = parents, total weight σ_gen), so the balance heuristic estimates the
    fiducial σ(θ); stores generated at BSM points fill the tail that SM-only reweighting
    samples thinly (the lesson of the parton-level closure).

    Raises
    ------
    ConfigError
        If a store is smeared, or has another process, parameter space or θ0 than the test
        store.
    """
    if not others:
        return RatePool(test.x, test.coefficients, test.weights, test.x.shape[0], ())
    from madsbi.inference.rate import GeneratedSample, mis_weights

    for sample, role in ((test, "test_store"), *((o, "rate_stores") for o in others)):
        _check_unsmeared(sample, role)
        same = (
            process_key(sample.process) == process_key(test.process)
            and sample.parameters == test.parameters
            and np.allclose(sample.theta0, test.theta0)
        )
        if not same:
            raise ConfigError(
                f"{role} {sample.path}: process {sample.process!r}, parameters "
                f"{sample.parameters}, θ0 {sample.theta0.tolist()} differ from the test "
                f"store's ({test.process!r}, {test.parameters}, {test.theta0.tolist()})"
            )
    samples = [test, *others]
    generated = [
        GeneratedSample(
            s.coefficients,
            s.weights,
            s.theta_gen,
            s.sigma_gen,
            n_generated=s.n_parents,
            weight_total=s.sigma_gen,
        )
        for s in samples
    ]
    weights = mis_weights(generated, test.theta0)
    return RatePool(
        x=np.concatenate([s.x for s in samples]),
        coefficients=np.concatenate([s.coefficients for s in samples]),
        weights=np.concatenate(weights),
        n_test=int(test.x.shape[0]),
        stores=tuple(str(s.path) for s in others),
    )


def save_reco_analysis(
    path: Path,
    *,
    estimators: dict[str, Any],
    train: RecoSample,
    test: RecoSample,
    pool: RatePool,
    config: Any,
) -> Path:
    """Write the trained analysis (:mod:`madsbi.analysis.save`): reco features, rate events.

    The rate model's events are the pool's entries (the test store's, then the rate
    stores') with their exact coefficients and MIS weights; the "split" records the training
    store whole (nothing of it is held out: the test store is a separate simulation).
    """
    from madsbi.analysis.data import file_sha256
    from madsbi.analysis.save import RateEvents, StoreRecord, write_analysis

    a = config.analysis
    record = StoreRecord(
        path=str(train.path),
        sha256=file_sha256(train.path),
        process=train.process,
        n_events=int(train.x.shape[0]),
        theta_gen=tuple(train.theta_gen.tolist()),
        sigma_gen_pb=train.sigma_fid,
        test_indices=np.zeros(0, dtype=np.int64),
    )
    observables = {n: pool.x[:, i] for i, n in enumerate(OBSERVABLES)}
    return write_analysis(
        path,
        estimators=estimators,
        parameters=train.parameters,
        theta0=train.theta0,
        features=list(OBSERVABLES),
        projection="keep_reference",
        stores=[record],
        rate_events=RateEvents(observables, pool.coefficients, pool.weights),
        split={
            "seed": a.seed,
            "test_store": str(test.path),
            "rate_stores": list(pool.stores),
            "level": "reco",
        },
        defaults={
            "luminosity_fb": a.luminosity_fb,
            "rate_factor": a.rate_factor,
            "ranges": [list(r) for r in a.ranges],
            "limit_points": a.points_1d,
        },
        config=asdict(config),
        level="reco",
        poisson_rate=a.rate_model,
    )
