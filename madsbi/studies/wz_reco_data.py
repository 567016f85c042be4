"""Reco stores as analysis samples: inputs, the parents' exact coefficients, fiducial weights.

Every ``/reco`` entry (a copy that passed eq. 47–48) carries its parent's exact parton
coefficients c_e (``/parton/coefficients[parent]``), so R(z_e|θ) = c_e·φ(θ − θ0)/c_e0 is the
target of derivative learning (R_i, R_ij) and the parton-level truth of the same events.
Weights are the stored event weights (parent weight × smearing weight 1/n, eq. 35) scaled
so that they sum to the fiducial cross-section at the generation point,
σ_fid = σ(θ_gen) Σ_reco w / Σ_parton w.

Stores of one role (train, test, closure) may be several, of different processes (W⁺Z and
W⁻Z): :class:`StoreSet` reads them together, and every process is a channel
(:func:`madsbi.cards.process_key`) whose fiducial cross-sections add.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, IntArray
from madsbi.cards import channel_names, process_key
from madsbi.errors import ConfigError, StoreFormatError
from madsbi.events.reco import read_reco
from madsbi.processes import wz
from madsbi.simulate.reco import SHIPPED_RECO, shipped_reco_path

#: The observables of the study's stores (``/reco/x``), those of the W±Z selection.
OBSERVABLES = wz.PROCESS.observables
#: The observable that tells the channels (W⁺Z, W⁻Z) apart in data: the leptons' charge sum.
CHANNEL_OBSERVABLE = "sum_charge"


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


def _check_space(samples: Sequence[RecoSample], role: str, reference: RecoSample) -> None:
    for sample in samples:
        if sample.parameters != reference.parameters or not np.allclose(
            sample.theta0, reference.theta0
        ):
            raise ConfigError(
                f"[analysis] {role} {sample.path}: parameters {sample.parameters}, θ0 "
                f"{sample.theta0.tolist()} differ from {reference.path}'s "
                f"({reference.parameters}, {reference.theta0.tolist()})"
            )


@dataclass(frozen=True, eq=False)
class StoreSet:
    """The reco stores of one role (``train_store``, ``test_store``, ``bsm_store``) read together.

    Attributes
    ----------
    samples : tuple of RecoSample
        In the order given.
    x, coefficients, weights : (N, D), (N, K), (N,)
        The samples' entries concatenated (each with its own fiducial weight: the weights
        of stores of different processes add up to the sum of their σ_fid).
    channel : (N,) int
        Each entry's channel, an index into :attr:`channels`.
    channels : tuple of str
        The processes (one text per :func:`madsbi.cards.process_key`), in order of appearance.
    """

    samples: tuple[RecoSample, ...]
    x: FloatArray
    coefficients: FloatArray
    weights: FloatArray
    channel: IntArray
    channels: tuple[str, ...]

    @classmethod
    def read(cls, names: Sequence[str], role: str, *, one_per_channel: bool = False) -> StoreSet:
        """Read the stores ``names`` (:func:`load_reco_sample`) of the config key ``role``.

        Raises
        ------
        ConfigError
            No store, stores of other parameters or θ0 than the first, or (with
            ``one_per_channel``) two stores of one process: their weights would count the
            process twice (merge such shards with ``madsbi store merge``).
        """
        if not names:
            raise ConfigError(f"[analysis] {role}: no store given")
        samples = tuple(load_reco_sample(n) for n in names)
        return cls.of(samples, role, one_per_channel=one_per_channel)

    @classmethod
    def of(
        cls, samples: Sequence[RecoSample], role: str, *, one_per_channel: bool = False
    ) -> StoreSet:
        """The set of already read ``samples`` (see :meth:`read`)."""
        _check_space(samples[1:], role, samples[0])
        named = channel_names(s.process for s in samples)
        keys = list(named)
        labels = [keys.index(process_key(s.process)) for s in samples]
        if one_per_channel and len(set(labels)) != len(labels):
            raise ConfigError(
                f"[analysis] {role}: two stores of one process in {[str(s.path) for s in samples]}"
                f" (processes {[s.process for s in samples]}); give one store per process "
                "(merge shards with madsbi store merge)"
            )
        return cls(
            samples=tuple(samples),
            x=np.concatenate([s.x for s in samples]),
            coefficients=np.concatenate([s.coefficients for s in samples]),
            weights=np.concatenate([s.weights for s in samples]),
            channel=np.repeat(np.asarray(labels, dtype=np.int64), [s.x.shape[0] for s in samples]),
            channels=tuple(named.values()),
        )

    @property
    def first(self) -> RecoSample:
        """The first store (its parameters and θ0 are every store's)."""
        return self.samples[0]

    @property
    def theta0(self) -> FloatArray:
        """θ0 (n,)."""
        return self.first.theta0

    @property
    def parameters(self) -> list[str]:
        """The parameter names."""
        return self.first.parameters

    @property
    def n_parents(self) -> int:
        """Parents of all stores."""
        return sum(s.n_parents for s in self.samples)

    @property
    def paths(self) -> str | list[str]:
        """The store path, or the list of paths of several stores (for summaries)."""
        paths = [str(s.path) for s in self.samples]
        return paths[0] if len(paths) == 1 else paths

    def column(self, name: str) -> FloatArray:
        """One observable column."""
        result: FloatArray = self.x[:, OBSERVABLES.index(name)]
        return result


@dataclass(frozen=True, eq=False)
class RatePool:
    """The events of the rate model: the test entries first, then the rate stores' entries.

    ``weights`` are the multiple-importance weights v_e at θ0 (pb) of
    :func:`madsbi.inference.rate.mis_weights`, built per channel (process), so Σ_e v_e R_e(θ)
    over a channel's events is its σ̂_fid(θ) and over all events the sum of the channels';
    with one test store alone they are its fiducial weights. ``channel`` (P,) indexes
    ``channels`` (the processes, those of the test stores first).
    """

    x: FloatArray
    coefficients: FloatArray
    weights: FloatArray
    n_test: int
    stores: tuple[str, ...]
    channel: IntArray
    channels: tuple[str, ...]

    def column(self, name: str) -> FloatArray:
        """One observable column over the pool."""
        result: FloatArray = self.x[:, OBSERVABLES.index(name)]
        return result

    def mask(self, channel: int) -> IntArray:
        """Rows of the channel ``channel`` (an index into :attr:`channels`)."""
        rows: IntArray = np.flatnonzero(self.channel == channel)
        return rows

    def channel_index(self, process: str) -> int:
        """The channel of a process text (by :func:`madsbi.cards.process_key`).

        Raises
        ------
        ConfigError
            A process that is none of the pool's channels.
        """
        keys = [process_key(c) for c in self.channels]
        key = process_key(process)
        if key not in keys:
            raise ConfigError(
                f"process {process!r} is none of the rate model's channels {list(self.channels)}"
            )
        return keys.index(key)

    def sigma(self) -> FloatArray:
        """σ̂_fid(θ0) per channel (pb), (C,)."""
        result = np.bincount(self.channel, weights=self.weights, minlength=len(self.channels))
        return np.asarray(result, dtype=np.float64)


def _one_copy_per_parent(
    sample: RecoSample, generated_weights: FloatArray, inverse: IntArray, rng: Any
) -> IntArray:
    """One passed copy of each parent, drawn ∝ the copies' weights, in the store's row order.

    An unsmeared store (one entry per parent) keeps every row in its order.
    """
    n = inverse.shape[0]
    if generated_weights.shape[0] == n:
        rows: IntArray = np.arange(n)
        return rows
    w = np.asarray(sample.weights, dtype=np.float64)
    # Exponential race: the copy with the smallest E/w wins with probability ∝ w.
    key = np.divide(rng.exponential(size=n), w, out=np.full(n, np.inf), where=w > 0)
    order = np.lexsort((key, inverse))
    first = np.ones(n, dtype=bool)
    first[1:] = inverse[order][1:] != inverse[order][:-1]
    rows = np.sort(order[first])
    return rows


def rate_pool(
    test: RecoSample | Sequence[RecoSample], others: list[RecoSample], *, seed: int = 0
) -> RatePool:
    """Pool the test store(s) with ``others`` (reco stores generated anywhere) by MIS.

    Every store's passed entries are the selected part of its generated parents
    (``n_generated`` = parents, total weight σ_gen), so the balance heuristic estimates the
    fiducial σ(θ); stores generated at BSM points (recentred to θ0) fill the tail that
    SM-only reweighting samples thinly (the lesson of the parton-level closure). Stores of
    different processes (W⁺Z, W⁻Z) are separate channels whose σ̂ add
    (:func:`madsbi.inference.rate.mis_weights`).

    Smeared stores (the training stores: copies of a parent, each with the parent's weight
    × 1/n) are pooled per parent, as :func:`madsbi.studies.wz_reco_train.train_weights`
    does: the MIS weight of a parent is that of its passed copies' summed weight, which
    estimates its selected weight (the smearing kernel does not depend on θ), so Σ v_e R_e(θ)
    stays unbiased for the smearing-weighted σ_fid(θ). Each parent enters the pool once,
    with its MIS weight on one of its passed copies drawn ∝ the copies' weights (``seed``):
    E[R̂(x)] over the drawn copy is the copies' weighted mean, so the learned ρ̂ = ⟨R̂⟩ stays
    unbiased, and the pool (saved with the analysis) grows by the parents, not the copies.
    Unsmeared stores keep every entry in its order.

    Raises
    ------
    ConfigError
        If a store has other parameters or another θ0 than the first test store, or (a
        further store) a process that none of the test stores has.
    """
    tests = [test] if isinstance(test, RecoSample) else list(test)
    first = tests[0]
    if len(tests) == 1 and not others:
        n = first.x.shape[0]
        channel = np.zeros(n, dtype=np.int64)
        return RatePool(
            first.x, first.coefficients, first.weights, n, (), channel, (first.process,)
        )
    from madsbi.inference.rate import mis_weights
    from madsbi.studies.wz_reco_train import parent_sample

    roles = [*(("test_store", t) for t in tests), *(("rate_stores", o) for o in others)]
    test_keys = {process_key(t.process) for t in tests}
    for role, sample in roles:
        same = sample.parameters == first.parameters and np.allclose(sample.theta0, first.theta0)
        if not same or process_key(sample.process) not in test_keys:
            raise ConfigError(
                f"{role} {sample.path}: process {sample.process!r}, parameters "
                f"{sample.parameters}, θ0 {sample.theta0.tolist()} differ from the test "
                f"stores' (processes {sorted({t.process for t in tests})}, {first.parameters}, "
                f"{first.theta0.tolist()})"
            )
    samples = [sample for _, sample in roles]
    parents = [parent_sample(s) for s in samples]
    per_parent = mis_weights([g for g, _ in parents], first.theta0)
    rng = np.random.default_rng(seed)
    rows = [
        _one_copy_per_parent(s, g.weights, inverse, rng)
        for s, (g, inverse) in zip(samples, parents, strict=True)
    ]
    weights = [v[inverse[r]] for v, (_, inverse), r in zip(per_parent, parents, rows, strict=True)]
    named = channel_names(s.process for s in samples)
    keys = list(named)
    return RatePool(
        x=np.concatenate([s.x[r] for s, r in zip(samples, rows, strict=True)]),
        coefficients=np.concatenate(
            [s.coefficients[r] for s, r in zip(samples, rows, strict=True)]
        ),
        weights=np.concatenate(weights),
        n_test=sum(int(r.shape[0]) for r in rows[: len(tests)]),
        stores=tuple(str(s.path) for s in others),
        channel=np.concatenate(
            [
                np.full(r.shape[0], keys.index(process_key(s.process)))
                for s, r in zip(samples, rows, strict=True)
            ]
        ).astype(np.int64),
        channels=tuple(named.values()),
    )


def channel_selections(pool: RatePool) -> dict[str, list[str]]:
    """Per channel the ``sum_charge`` selection that holds most of its σ_fid(θ0).

    ``madsbi fit`` applies it when the data name that channel's process (W⁻Z data are fitted
    against the W⁻Z rate: :func:`madsbi.analysis.data.channel_selections`); empty for one
    channel.

    Raises
    ------
    ConfigError
        Two channels whose events share their main charge sum (the feature cannot tell them
        apart).
    """
    if len(pool.channels) < 2:
        return {}
    charge = pool.column(CHANNEL_OBSERVABLE)
    out: dict[str, list[str]] = {}
    seen: dict[float, str] = {}
    for k, name in enumerate(pool.channels):
        rows = pool.mask(k)
        values, inverse = np.unique(charge[rows], return_inverse=True)
        main = float(values[np.argmax(np.bincount(inverse, weights=pool.weights[rows]))])
        if main in seen:
            raise ConfigError(
                f"channels {seen[main]!r} and {name!r}: both have {CHANNEL_OBSERVABLE} = "
                f"{main:g} for most events; the feature cannot tell them apart"
            )
        seen[main] = name
        out[name] = [f"{CHANNEL_OBSERVABLE}={main:g}"]
    return out


def save_reco_analysis(
    path: Path,
    *,
    estimators: dict[str, Any],
    train: StoreSet,
    test: StoreSet,
    pool: RatePool,
    config: Any,
) -> Path:
    """Write the trained analysis (:mod:`madsbi.analysis.save`): reco features, rate events.

    The rate model's events are the pool's entries (the test stores', then the rate
    stores') with their exact coefficients and MIS weights; the "split" records the training
    stores whole (nothing of them is held out: the test stores are separate simulations);
    the processes are the training stores', and with several channels the fit defaults
    hold each channel's selection (:func:`channel_selections`).
    """
    from madsbi.analysis.data import file_sha256
    from madsbi.analysis.save import RateEvents, StoreRecord, write_analysis

    a = config.analysis
    records = [
        StoreRecord(
            path=str(sample.path),
            sha256=file_sha256(sample.path),
            process=sample.process,
            n_events=int(sample.x.shape[0]),
            theta_gen=tuple(sample.theta_gen.tolist()),
            sigma_gen_pb=sample.sigma_fid,
            test_indices=np.zeros(0, dtype=np.int64),
        )
        for sample in train.samples
    ]
    observables = {n: pool.x[:, i] for i, n in enumerate(OBSERVABLES)}
    defaults: dict[str, Any] = {
        "luminosity_fb": a.luminosity_fb,
        "rate_factor": a.rate_factor,
        "ranges": [list(r) for r in a.ranges],
        "limit_points": a.points_1d,
    }
    channels = channel_selections(pool)
    if channels:
        defaults["channels"] = channels
    return write_analysis(
        path,
        estimators=estimators,
        parameters=train.parameters,
        theta0=train.theta0,
        features=list(OBSERVABLES),
        projection="keep_reference",
        stores=records,
        rate_events=RateEvents(observables, pool.coefficients, pool.weights),
        split={
            "seed": a.seed,
            "test_store": test.paths,
            "rate_stores": list(pool.stores),
            "level": "reco",
        },
        defaults=defaults,
        config=asdict(config),
        level="reco",
        poisson_rate=a.rate_model,
    )
