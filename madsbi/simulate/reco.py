"""The reco simulation: parton store → copies → Pythia → jets → detector → selection → ``/reco``.

The selection is a registered process's (:mod:`madsbi.processes`), named by
:attr:`RecoConfig.selection` (default ``"wz"``, W±Z → 3ℓν, paper eq. 47–48); the input store's
MadGraph process must be one that a registered process describes (so a background sample
passes the W±Z selection once its process is registered), and that process checks the parton
events. The selection's name is recorded in the output's ``reco_config`` attribute, the input
process's name in ``reco_process``.

One run reads rows ``start .. stop`` of a parton store and writes a store whose ``/parton``
holds those rows and whose ``/reco`` holds every simulated copy (those failing cuts too,
with their cut flags): observables ``x``, token four-momenta and ids, event weight (parent
weight × smearing weight), smearing weight 1/n, parent row (into this store's ``/parton``),
copy index and cut flags. Copy counts come from the targets R_i and R_ij at θ0 with the
statistics of the whole run (:func:`run_statistics`), and every copy's random numbers from
its counter-based seed, so splitting the rows into chunks or jobs changes nothing.

With :attr:`RecoConfig.variations` every copy is also seen by the detector varied by ±1σ of
each named variation (:mod:`madsbi.simulate.variations`), from the same shower and random
numbers, into ``/reco_variations/<name>_{up,down}`` row for row with ``/reco``
(:mod:`madsbi.events.schema`); with :attr:`RecoConfig.shifts` the nominal itself is shifted.

A card with a ``[fakes]`` table (jets faking leptons, e.g. ``atlas_like_fakes``) adds, after
each chunk's copies, one row per jet and flavour that may fake: the copy with that jet as a
lepton, weighted by its probability (the copy's own row by 1 − Σ of them); such a store is
weighted, not counted data (mix it into pseudo-data with ``madsbi store mix``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._progress import progress_bar
from madsbi._validate import FloatArray
from madsbi.errors import InputError
from madsbi.events import schema
from madsbi.events.meta import ShardInfo, StoreMeta
from madsbi.events.schema import variation_group
from madsbi.events.store import EventStore
from madsbi.events.writer import StoreWriter
from madsbi.processes import (
    DEFAULT_PROCESS,
    Process,
    RecoObjects,
    RecoSelection,
    SelectionResult,
    find_process,
    get_process,
    registered_processes,
)
from madsbi.simulate.detector import load_card, plan_fakes
from madsbi.simulate.shower import ShowerSettings, beam_energies, run_shower
from madsbi.simulate.smearing import SmearingPlan, plan_copies, target_statistics
from madsbi.simulate.variations import (
    check_names,
    check_shifts,
    detect,
    passes_all,
    stored_rows,
    variation_shifts,
)
from madsbi.theory.polynomial import first_derivatives, second_derivatives


@dataclass(frozen=True)
class RecoConfig:
    """Settings of a reco run.

    Parameters
    ----------
    seed : int
        Run seed; a copy's seed is f(seed, parent row in the input store, copy id).
    smear : bool
        Fractional smearing (training/validation samples) or one copy per event (test).
    threshold : float
        Smearing threshold t (paper: 0.5).
    max_copies : int
        Cap on the copies of one event.
    shower : str
        Pythia setting, ``default`` or ``fast`` (:mod:`madsbi.simulate.shower`).
    card : str
        Detector card name or TOML path.
    pythia : tuple of str
        Extra Pythia settings.
    selection : str
        The registered process whose reco selection is applied (:func:`get_process`). Dask
        workers in other processes see only the processes registered on import of
        :mod:`madsbi.processes`, so a plugin registers from a module they import too.
    variations : tuple of str
        Detector variations (:mod:`madsbi.simulate.variations`) to simulate at ±1σ beside the
        nominal, paired with it, into ``/reco_variations/<name>_{up,down}``
        (:mod:`madsbi.events.schema`); the card must give their sizes.
    shifts : tuple of (str, float)
        Nuisances shifted by α standard deviations in the nominal simulation (pseudo-data);
        not together with ``variations``.
    """

    seed: int = 0
    smear: bool = True
    threshold: float = 0.5
    max_copies: int = 50
    shower: str = "default"
    card: str = "atlas_like"
    pythia: tuple[str, ...] = field(default_factory=tuple)
    selection: str = DEFAULT_PROCESS
    variations: tuple[str, ...] = ()
    shifts: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 2**63:
            raise InputError(f"seed: expected 0 <= seed < 2**63, got {self.seed}")
        if not self.threshold > 0:
            raise InputError(f"threshold: expected > 0, got {self.threshold}")
        if self.max_copies < 1:
            raise InputError(f"max_copies: expected >= 1, got {self.max_copies}")
        ShowerSettings(self.shower, tuple(self.pythia))
        get_process(self.selection).reco_selection()
        card = load_card(self.card)  # a bad card is refused before any event is simulated
        object.__setattr__(self, "variations", tuple(self.variations))
        object.__setattr__(self, "shifts", tuple((str(n), float(a)) for n, a in self.shifts))
        check_names(self.variations, card, "variations")
        check_shifts(self.shifts, card)
        if self.variations and self.shifts:
            raise InputError(
                f"variations {list(self.variations)} and shifts {dict(self.shifts)}: give one "
                "or the other (variations are ±1σ around the nominal, shifts move the nominal)"
            )

    @property
    def reco_selection(self) -> RecoSelection:
        """The selection applied to every copy."""
        return get_process(self.selection).reco_selection()


def smearing_targets(coefficients: Any) -> FloatArray:
    """R_i (n) and R_ij, i <= j (n(n+1)/2) at θ0 for every event: (N, n + n(n+1)/2)."""
    first = first_derivatives(coefficients)
    hess = second_derivatives(coefficients)
    i, j = np.triu_indices(first.shape[1])
    return np.concatenate([first, hess[:, i, j]], axis=1)


@dataclass(frozen=True, eq=False)
class RunStatistics:
    """Weighted mean and standard deviation of the targets over a whole run's rows."""

    mean: FloatArray
    std: FloatArray


def run_statistics(
    store: EventStore, start: int, stop: int, chunk_size: int = 100_000
) -> RunStatistics:
    """Target statistics of rows ``start .. stop`` (streamed; equal weights per event)."""
    targets = [
        smearing_targets(chunk["coefficients"])
        for chunk in _chunks(store, ("coefficients",), start, stop, chunk_size)
    ]
    mean, std = target_statistics(np.concatenate(targets))
    return RunStatistics(mean, std)


def _chunks(
    store: EventStore, fields: tuple[str, ...], start: int, stop: int, size: int
) -> Iterator[Any]:
    for a in range(start, stop, size):
        yield store.read(schema.PARTON, fields, a, min(stop, a + size))


def plan_chunk(
    coefficients: Any, first_row: int, config: RecoConfig, stats: RunStatistics
) -> SmearingPlan:
    """Copies of a chunk whose first event is input row ``first_row``."""
    n = np.shape(coefficients)[0]
    return plan_copies(
        smearing_targets(coefficients),
        config.threshold,
        max_copies=config.max_copies if config.smear else 1,
        event_ids=np.arange(first_row, first_row + n, dtype=np.int64),
        run_seed=config.seed,
        mean=stats.mean,
        std=stats.std,
    )


@dataclass(frozen=True, eq=False)
class SimulatedChunk:
    """The simulated copies of one chunk.

    Attributes
    ----------
    reco : dict of str to ndarray
        The ``/reco`` arrays (nominal, or shifted by :attr:`RecoConfig.shifts`).
    variations : dict of str to dict
        Per variation group (``reco_variations/<name>_<direction>``): ``x``, ``cuts`` and the
        tokens of the same copies, row for row.
    shower_failures : int
        Copies Pythia failed on.
    fake_factor : ndarray, shape (rows,), or None
        With the card's ``[fakes]``: each row's probability factor (1 − Σ p for the nominal
        rows, p for the fake rows, :func:`madsbi.simulate.detector.plan_fakes`).
    """

    reco: dict[str, np.ndarray[Any, Any]]
    variations: dict[str, dict[str, np.ndarray[Any, Any]]]
    shower_failures: int
    fake_factor: FloatArray | None = None


def _selected(result: SelectionResult) -> dict[str, np.ndarray[Any, Any]]:
    arrays: dict[str, np.ndarray[Any, Any]] = {"x": result.x, "cuts": result.cuts}
    if result.tokens is not None and result.token_ids is not None:
        arrays["momentum"] = result.tokens
        arrays["pdg_id"] = result.token_ids
    return arrays


def simulate_chunk(
    parton: dict[str, Any],
    plan: SmearingPlan,
    energies: tuple[float, float],
    config: RecoConfig,
    parent_offset: int = 0,
) -> SimulatedChunk:
    """``/reco`` arrays of the copies of one chunk, their variations and Pythia's failures.

    ``parent_offset`` is added to the chunk-local parent index (the chunk's first row in the
    output store's ``/parton``). Every variation reuses the shower and the detector's random
    numbers of the nominal (:mod:`madsbi.simulate.variations`).
    """
    card = load_card(config.card)
    settings = ShowerSettings(config.shower, tuple(config.pythia))
    shower = run_shower(parton, plan.parent, plan.seed, energies, settings)
    response = detect(shower.final_state, shower.ok, plan.seed, card)
    select = config.reco_selection
    fakes = plan_fakes(response.jets, plan.seed, card)
    rows: Any = slice(None)
    factor: FloatArray | None = None
    if fakes is not None:  # nominal rows, then one per faking (jet, flavour)
        rows = np.concatenate([np.arange(plan.n_copies), fakes.copy])
        factor = np.concatenate([fakes.keep_probability(), fakes.probability])

    def selected(objects: RecoObjects) -> dict[str, np.ndarray[Any, Any]]:
        result = _selected(select(objects))
        if fakes is None:
            return result
        extra = _selected(select(fakes.objects(objects)))
        return {k: np.concatenate([v, extra[k]]) for k, v in result.items()}

    parent_weight = np.asarray(parton["weight"], dtype=np.float64)[plan.parent]
    weight = (parent_weight * plan.weight)[rows]
    arrays: dict[str, np.ndarray[Any, Any]] = {
        "weight": weight if factor is None else weight * factor,
        "smearing_weight": plan.weight[rows],
        "parent": plan.parent[rows] + parent_offset,
        "copy_index": plan.copy_index[rows],
        **selected(response.objects(card, dict(config.shifts))),
    }
    varied = {
        variation_group(name, direction): selected(response.objects(card, shifts))
        for (name, direction), shifts in variation_shifts(config.variations).items()
    }
    return SimulatedChunk(arrays, varied, int((~shower.ok).sum()), factor)


#: Reduced reco stores shipped in ``madsbi/data/reco`` (see the README there).
SHIPPED_RECO = ("wz_reco_train", "wz_reco_test", "wz_reco_bsm_test")


def shipped_reco_path(name: str) -> Path:
    """Path of a shipped reco store (:data:`SHIPPED_RECO`).

    Raises
    ------
    InputError
        For an unknown name.
    """
    if name not in SHIPPED_RECO:
        raise InputError(f"unknown shipped reco store {name!r}; available: {list(SHIPPED_RECO)}")
    return Path(__file__).parents[1] / "data" / "reco" / f"{name}.h5"


def reco_names(selection: RecoSelection) -> dict[str, list[str]]:
    """Column names of the named ``/reco`` fields of a selection's output."""
    return {"x": list(selection.observables), "cuts": list(selection.cuts)}


#: Column names of the named /reco fields of the default (W±Z) selection.
RECO_NAMES = reco_names(get_process(DEFAULT_PROCESS).reco_selection())


def input_process(config: RecoConfig, process: str, where: str) -> Process:
    """The registered process of an input store whose MadGraph process text is ``process``.

    The selection's own process is preferred; a store without a process text is taken as the
    selection's process (its events are checked one by one).

    Raises
    ------
    InputError
        If no registered process describes ``process`` (naming the store, its process and
        the registered ones).
    """
    own = get_process(config.selection)
    if not " ".join(process.split()):
        return own
    found = find_process(process, prefer=own.name)
    if found is None:
        known = ", ".join(f"{n} ({get_process(n).description})" for n in registered_processes())
        raise InputError(
            f"{where}: no registered process describes this store's process {process!r} "
            f"(registered: {known}); register one (madsbi.processes.register_process) to pass "
            f"it through the {own.name!r} selection"
        )
    return found


@dataclass(frozen=True)
class RecoReport:
    """What a reco run did."""

    path: Path
    n_parents: int
    n_copies: int
    n_passed: int
    shower_failures: int
    cut_flow: dict[str, float]
    variations_passed: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """A few lines for the CLI."""
        flow = ", ".join(f"{k} {v:.3f}" for k, v in self.cut_flow.items())
        text = (
            f"{self.path}: {self.n_parents} events → {self.n_copies} copies, "
            f"{self.n_passed} pass all cuts; Pythia failures {self.shower_failures}\n"
            f"  weighted cut flow (cumulative): {flow}"
        )
        if self.variations_passed:
            passed = ", ".join(f"{g.split('/')[-1]} {n}" for g, n in self.variations_passed.items())
            text += f"\n  copies passing all cuts per variation: {passed}"
        return text


def _reco_meta(
    meta: StoreMeta, config: RecoConfig, stats: RunStatistics, process: Process
) -> StoreMeta:
    attributes = dict(meta.attributes)
    attributes["reco_config"] = json.dumps(asdict(config), sort_keys=True)
    attributes["reco_process"] = process.name
    attributes["reco_target_mean"] = json.dumps(stats.mean.tolist())
    attributes["reco_target_std"] = json.dumps(stats.std.tolist())
    return replace(meta, attributes=attributes)


def simulate_reco(
    store_path: str | Path,
    out: str | Path,
    config: RecoConfig,
    *,
    start: int = 0,
    stop: int | None = None,
    stats: RunStatistics | None = None,
    chunk_size: int = 1000,
    overwrite: bool = False,
    progress: bool = False,
    shard_id: str | None = None,
    passed_only: bool = False,
    compression: str | None = schema.DEFAULT_COMPRESSION,
) -> RecoReport:
    """Simulate rows ``start .. stop`` of a parton store into a new store ``out``.

    Parameters
    ----------
    store_path, out : path
        Input parton store, output store (written atomically).
    config : RecoConfig
    start, stop : int
        Input rows to simulate (default: all).
    stats : RunStatistics, optional
        Target statistics (default: those of rows ``start .. stop``); a job of a larger run
        passes the run's, so that its copies equal a one-process run's.
    chunk_size : int
        Parent events per Pythia initialisation and per write.
    shard_id : str, optional
        Provenance id of the output (default: derived from the input and the rows).
    passed_only : bool
        Keep only the copies that pass every cut (training samples: a few % of the copies);
        the cut flow of all copies is then in the shard's report (``/meta`` shards). With
        :attr:`RecoConfig.variations`, a copy is kept when the nominal or any variation
        passes every cut (so a variation's selection is complete), with its flags.
    compression : {None, "lzf", "gzip"}
        HDF5 filter (compress small or shipped stores: uncompressed chunks are allocated
        whole).

    Raises
    ------
    InputError
        For a store whose process no registered process describes (named), events its
        process refuses, bad rows, or an inconsistent LHE record.
    """
    with EventStore(store_path) as store:
        n_total = store.n_events()
        stop = n_total if stop is None else stop
        if not 0 <= start < stop <= n_total:
            raise InputError(f"rows: expected 0 <= start < stop <= {n_total}, got {start}, {stop}")
        if chunk_size < 1:
            raise InputError(f"chunk_size: expected >= 1, got {chunk_size}")
        process = input_process(config, store.meta.process, str(store.path))
        cuts = config.reco_selection.cuts
        columns = reco_names(config.reco_selection)
        energies = beam_energies(store.meta.cards)
        stats = stats or run_statistics(store, start, stop)
        meta = _reco_meta(store.meta, config, stats, process)
        sid = shard_id or f"{store.path.stem}-reco-rows{start}-{stop}"
        failures = 0
        flow = np.zeros(len(cuts))
        total_weight = 0.0
        n_copies = n_passed = 0
        varied_passed: dict[str, int] = {}
        with (
            StoreWriter(out, meta, overwrite=overwrite, compression=compression) as writer,
            progress_bar(stop - start, "reco", unit="ev", enabled=progress) as bar,
        ):
            for chunk in _chunks(store, tuple(store.fields()), start, stop, chunk_size):
                parton = dict(chunk.arrays)
                if process.check_events is not None:
                    process.check_events(parton, str(store.path), chunk.start)
                plan = plan_chunk(parton["coefficients"], chunk.start, config, stats)
                simulated = simulate_chunk(parton, plan, energies, config, chunk.start - start)
                reco = simulated.reco
                names = {
                    k: store.column_names(schema.PARTON, k)
                    for k in parton
                    if (schema.PARTON, k) in schema.NAMED_FIELDS
                }
                cumulative = np.cumprod(reco["cuts"], axis=1).astype(bool)
                writer.append(schema.PARTON, parton, names=names)
                varied = {g: passes_all(v["cuts"]) for g, v in simulated.variations.items()}
                keep = stored_rows(cumulative[:, -1], list(varied.values()))
                rows = keep if passed_only else slice(None)
                writer.append(schema.RECO, {k: v[rows] for k, v in reco.items()}, names=columns)
                for group, arrays in simulated.variations.items():
                    writer.append(group, {k: v[rows] for k, v in arrays.items()}, names=columns)
                    varied_passed[group] = varied_passed.get(group, 0) + int(varied[group].sum())
                failures += simulated.shower_failures
                share = reco["smearing_weight"]
                if simulated.fake_factor is not None:
                    share = share * simulated.fake_factor
                flow += (share[:, None] * cumulative).sum(axis=0)
                total_weight += float(share.sum())
                n_copies += plan.n_copies
                n_passed += int(cumulative[:, -1].sum())
                bar.update(chunk.n_events)
            cut_flow = dict(zip(cuts, (flow / total_weight).tolist(), strict=True))
            summary = {
                "copies": n_copies,
                "passed": n_passed,
                "shower_failures": failures,
                "passed_only": passed_only,
                "cut_flow": cut_flow,
                **({"variations_passed": varied_passed} if config.variations else {}),
            }
            writer.set_shards(
                (ShardInfo(sid, stop - start, config.seed, store.path.name, json.dumps(summary)),)
            )
        return RecoReport(
            Path(out), stop - start, n_copies, n_passed, failures, cut_flow, varied_passed
        )
