"""Pseudo-data: an unweighted sample of several processes, drawn as real data would look.

``madsbi store mix OUT A.h5 B.h5 … --luminosity L --seed S [--at θ]`` (issue 26 item 3).
From each input store p (the passed ``/reco`` entries, :func:`madsbi.events.reco.read_reco`)

1. the fiducial weights at θ: at the generation point by default; with ``at``, each entry's
   weight times its parent's exact ratio c·φ(θ − θ0) / c·φ(θ_gen − θ0) (the store's own
   coefficients; θ-independent stores are unchanged), so σ_fid,p(θ) = Σ_e w_e(θ);
2. the number of events n_p ~ Poisson(L σ_fid,p(θ)), the luminosity L in fb⁻¹;
3. n_p unweighted events by acceptance–rejection on the weights: the entries in a random
   order, each kept with probability w_e / max w, the first n_p kept ones taken; every entry
   is used at most once. Only when the store holds fewer than n_p such events are the n_p
   drawn with replacement (probability ∝ w_e), with a :class:`~madsbi.errors.MadSBIWarning`
   naming the store and its effective sample size (Σw)²/Σw².

The events of all inputs are shuffled together and written without labels: no process
string, no parameters (a θ-independent store with K = 1), no parent rows or coefficients,
no cut flags (every event passed); ``/reco`` holds the observables ``x`` (the inputs must
share their columns) and, when every input has them, the token momenta and ids. Every
event's weight, in ``/parton`` and ``/reco``, is n/L (pb), so the store's σ_fid is the count
over the luminosity and ``madsbi fit`` reads it as reco-level counted data
(``--data-mode counts``: one event each). The composition (per input: path, σ_fid, ν, n)
is recorded as provenance in the shard report, not per event.

**Truth for validation only.** The labels are not dropped from the file but kept apart, in
the group ``/truth/mix``, which no reader of event data opens (it is not an event group of
:mod:`madsbi.events.schema`: ``madsbi fit`` reads it only for its oracle methods,
:mod:`madsbi.analysis.oracles`). Per event: ``process`` (int32, the input's index),
``row`` (its ``/reco`` row in that input), ``parent`` (its ``/parton`` row, −1 without one)
and ``coefficients`` (float64 (N, K), the parent's exact ``/parton/coefficients`` in its own
store's basis and θ0, zero-padded to the widest input; zeros without coefficients). The
attribute ``inputs`` (JSON) gives per input its path, SHA-256, process text, ``name`` (the
``names`` argument, else null), parameters, θ0, θ_gen, the θ it was drawn at
(``theta_drawn``: ``at`` for a θ-dependent store, else θ_gen), whether it is θ-independent and
its K; ``description`` says "truth for validation only". Stores written before it have no
``/truth`` group and are read as before (:func:`madsbi.events.mix_truth.read_truth` returns None).

**Asimov data** (``asimov=True``, ``--asimov``): instead of steps 2–3 every passed entry of
every input is written with its weight w_e(θ) (pb), so the store's σ_fid is the mixture's
Σ_p σ_fid,p(θ) and ``madsbi fit --data-mode asimov`` (its default for such a store, which it
refuses to count) scales it to any luminosity: the expected data without Poisson
fluctuations, for closure tests at high luminosity. ``/meta`` says so
(:data:`madsbi.events.schema.ASIMOV_DATA`); the truth is kept as for drawn data.

A store none of whose entries passes the selection contributes no event (a warning says
so). Fractionally smeared stores (weighted copies of one parent) are refused: their copies are
not independent events (simulate with ``--no-smear``). A store with fake-lepton rows
(:mod:`madsbi.simulate.detector`) is weighted and is drawn from like any other.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._paths import refuse_output_over_inputs
from madsbi._validate import FloatArray, IntArray
from madsbi.errors import (
    InputError,
    MadSBIWarning,
    StoreMismatchError,
    WeightError,
)
from madsbi.events import schema
from madsbi.events.meta import ShardInfo, StoreMeta
from madsbi.events.mix_truth import input_record, theta_independent, truth_arrays, write_truth
from madsbi.events.reco import RecoEntries, read_reco
from madsbi.events.store import EventStore
from madsbi.events.writer import StoreWriter
from madsbi.theory.parameters import ParameterSpace
from madsbi.theory.polynomial import polynomial_features

#: fb per pb (luminosities are in fb⁻¹, cross-sections in pb).
FB_PER_PB = 1000.0


@dataclass(frozen=True)
class MixedInput:
    """What one input contributed: σ_fid(θ) (pb), ν, the drawn count, n_eff, replacement."""

    path: str
    sigma_fid: float
    expected: float
    drawn: int
    effective_size: float
    with_replacement: bool


@dataclass(frozen=True)
class MixReport:
    """The written store and each input's contribution."""

    path: Path
    luminosity: float
    seed: int
    at: dict[str, float] | None
    inputs: tuple[MixedInput, ...]

    @property
    def n_events(self) -> int:
        """Events written."""
        return sum(i.drawn for i in self.inputs)


def parse_point(text: str) -> dict[str, float]:
    """θ from ``"cHWB=1,cW=0.1,cHq3=0.1"`` (every parameter by name).

    Raises
    ------
    InputError
        For an item that is not ``name=number``, a non-finite value or a repeated name.
    """
    point: dict[str, float] = {}
    for item in text.split(","):
        name, sep, raw = item.partition("=")
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not sep or not name.strip() or not math.isfinite(value):
            raise InputError(f"at: expected name=value,... (e.g. cHWB=1,cW=0), got {text!r}")
        if name.strip() in point:
            raise InputError(f"at: {name.strip()} given twice in {text!r}")
        point[name.strip()] = value
    return point


def weights_at(entries: RecoEntries, meta: StoreMeta, at: Mapping[str, float] | None) -> FloatArray:
    """Fiducial weights (N,) in pb of the passed entries at ``at`` (θ_gen when None).

    Raises
    ------
    InputError
        If ``at`` lacks one of the store's parameters, or names one the store does not have
        while the store depends on θ (embed it first: ``madsbi store embed``).
    WeightError
        If a weight at θ is negative or not finite.
    """
    weights = entries.fiducial_weights
    if at is None or theta_independent(meta):
        return weights
    names = meta.space.names
    missing = [n for n in names if n not in at]
    extra = [n for n in at if n not in names]
    if missing or extra:
        raise InputError(
            f"{entries.path}: --at {dict(at)} must give exactly the store's parameters "
            f"{list(names)} (missing {missing}, not in the store {extra}); a store of fewer "
            "parameters joins with madsbi store embed"
        )
    if entries.coefficients is None:
        raise InputError(f"{entries.path}: --at needs /parton/coefficients and /reco/parent")
    theta = np.array([[at[n] for n in names], list(entries.theta_gen)], dtype=np.float64)
    phi = polynomial_features(theta, meta.space.theta0_array)  # (2, K)
    at_theta, at_gen = entries.coefficients @ phi[0], entries.coefficients @ phi[1]
    result: FloatArray = weights * np.divide(
        at_theta, at_gen, out=np.zeros_like(at_theta), where=at_gen != 0
    )
    if not np.all(np.isfinite(result) & (result >= 0)):
        raise WeightError(f"{entries.path}: negative or non-finite weights at θ = {dict(at)}")
    return result


def draw_unweighted(
    weights: FloatArray, n: int, rng: np.random.Generator, where: str
) -> tuple[IntArray, bool]:
    """``n`` entry indices drawn as unweighted events (module docstring, step 3).

    Returns the indices and whether they were drawn with replacement (then warned).
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64), False
    total = float(weights.sum())
    if not total > 0:
        raise WeightError(f"{where}: the weights sum to {total}; nothing to draw {n} events from")
    order = rng.permutation(weights.size)
    kept = order[rng.random(weights.size) * weights.max() < weights[order]]
    if kept.size >= n:
        return kept[:n].astype(np.int64), False
    n_eff = total**2 / float(np.sum(weights**2))
    warnings.warn(
        f"{where}: {n} events asked for, but the store holds only {kept.size} unweighted "
        f"events (effective sample size {n_eff:.1f} of {weights.size} entries); drawing "
        "with replacement, so events repeat",
        MadSBIWarning,
        stacklevel=3,
    )
    return rng.choice(weights.size, size=n, replace=True, p=weights / total).astype(np.int64), True


def _pseudo_data_meta(report: dict[str, Any]) -> StoreMeta:
    return StoreMeta(
        space=ParameterSpace((), ()),
        basis_ids=("data",),
        basis_points=np.zeros((1, 0)),
        process="",
        sample_id="pseudo_data",
        attributes={
            schema.THETA_INDEPENDENT: True,
            "pseudo_data": True,
            schema.ASIMOV_DATA: bool(report["asimov"]),
        },
        shards=(
            ShardInfo(
                "pseudo-data", int(report["events"]), int(report["seed"]), "mix", json.dumps(report)
            ),
        ),
    )


def mix_stores(
    output: str | Path,
    inputs: Sequence[str | Path],
    *,
    luminosity: float,
    seed: int,
    at: Mapping[str, float] | str | None = None,
    names: Sequence[str] | None = None,
    asimov: bool = False,
    overwrite: bool = False,
    compression: str | None = schema.DEFAULT_COMPRESSION,
) -> MixReport:
    """Write pseudo-data drawn from ``inputs`` at ``luminosity`` (fb⁻¹) (module docstring).

    Parameters
    ----------
    output : str or Path
        The pseudo-data store (written atomically).
    inputs : sequence of str or Path
        Reco stores, one per process (or per shard of one).
    luminosity : float
        L in fb⁻¹ (finite, > 0).
    seed : int
        Seeds the Poisson counts, the acceptance–rejection and the shuffle: the same seed
        gives the same store.
    at : mapping or str, optional
        θ by parameter name (text: :func:`parse_point`); default: each store's θ_gen.
    names : sequence of str, optional
        One name per input (e.g. an analysis's component: ``signal``, ``zz_4l``), recorded
        in the hidden truth only (``/truth/mix``).
    asimov : bool
        Every passed entry with its weight at θ instead of a Poisson draw (module docstring);
        ``luminosity`` then only sets the reported ν.

    Raises
    ------
    InputError
        For no inputs, a bad luminosity or seed, a smeared store, ``at`` not matching a
        θ-dependent store's parameters, ``names`` not one per input, or no event drawn.
    StoreMismatchError
        If the inputs' ``/reco/x`` columns differ (field ``/reco/x``).
    """
    output = Path(output)
    paths = [Path(p) for p in inputs]
    if not paths:
        raise InputError("inputs: expected at least one reco store")
    if not (math.isfinite(luminosity) and luminosity > 0):
        raise InputError(f"luminosity: expected a finite number > 0 (fb⁻¹), got {luminosity!r}")
    if isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise InputError(f"seed: expected an integer 0 <= seed < 2**63, got {seed!r}")
    refuse_output_over_inputs(output, paths, what="store mix")
    if names is not None and (len(names) != len(paths) or not all(names)):
        raise InputError(f"names: expected one non-empty name per input, got {list(names)}")
    point = parse_point(at) if isinstance(at, str) else (dict(at) if at is not None else None)
    streams = np.random.SeedSequence(seed).spawn(len(paths) + 1)
    columns: tuple[str, ...] | None = None
    picked: list[dict[str, np.ndarray[Any, Any]]] = []
    contributions = []
    records: list[dict[str, Any]] = []
    for j, (path, stream) in enumerate(zip(paths, streams, strict=False)):
        if _passes_none(path):
            warnings.warn(
                f"{path}: no /reco entry passes every cut; it contributes no event",
                MadSBIWarning,
                stacklevel=2,
            )
            contributions.append(MixedInput(str(path), 0.0, 0.0, 0, 0.0, False))
            records.append(input_record(path, None, None, point, names, j))
            continue
        entries = read_reco(path, momenta=True, need_coefficients=False)
        with EventStore(path) as store:
            meta = store.meta
        if entries.smeared:
            raise InputError(
                f"{path}: a fractionally smeared store (weighted copies of each parent) is no "
                "sample of independent events; simulate it with --no-smear"
            )
        if columns is None:
            columns = entries.columns
        elif entries.columns != columns:
            raise StoreMismatchError(
                f"{path}: /reco/x columns {list(entries.columns)} differ from "
                f"{paths[0]}'s {list(columns)}; mix stores of one selection",
                "/reco/x",
            )
        weights = weights_at(entries, meta, point)
        rng = np.random.default_rng(stream)
        sigma = float(weights.sum())
        expected = luminosity * FB_PER_PB * sigma
        if asimov:
            index, replaced = np.arange(weights.size, dtype=np.int64), False
            n = int(index.size)
        else:
            n = int(rng.poisson(expected))
            index, replaced = draw_unweighted(weights, n, rng, str(path))
        arrays: dict[str, np.ndarray[Any, Any]] = {"x": entries.x[index], "weight": weights[index]}
        if entries.momentum is not None and entries.pdg_id is not None:
            arrays |= {"momentum": entries.momentum[index], "pdg_id": entries.pdg_id[index]}
        arrays |= truth_arrays(path, entries, index, j)
        records.append(input_record(path, entries, meta, point, names, j))
        picked.append(arrays)
        n_eff = sigma**2 / float(np.sum(weights**2)) if sigma > 0 else 0.0
        contributions.append(MixedInput(str(path), sigma, expected, n, n_eff, replaced))
    total = sum(c.drawn for c in contributions)
    if total == 0:
        expected = sum(c.expected for c in contributions)
        raise InputError(f"no event drawn (ν = {expected:.3g} at L = {luminosity} fb⁻¹)")
    arrays = _combine(picked, np.random.default_rng(streams[-1]))
    # A store's σ is the mean of its weights: Asimov entries weigh N × their σ_fid share at
    # θ (pb), so the store's σ_fid is the mixture's; drawn events n/L each.
    shares = arrays.pop("weight")
    weight = shares * total if asimov else np.full(total, total / (luminosity * FB_PER_PB))
    report = {
        "events": total,
        "seed": seed,
        "luminosity_fb": luminosity,
        "at": point,
        "asimov": bool(asimov),
        "inputs": [c.__dict__ for c in contributions],
    }
    meta = _pseudo_data_meta(report)
    truth = {k[6:]: arrays.pop(k) for k in list(arrays) if k.startswith("truth_")}
    with StoreWriter(output, meta, overwrite=overwrite, compression=compression) as writer:
        writer.append(schema.PARTON, {"weight": weight, "coefficients": weight[:, None]})
        writer.append(schema.RECO, {**arrays, "weight": weight}, names={"x": list(columns or ())})
        # the hidden labels, in the same temporary file, published with the store
        writer._io(lambda: write_truth(writer._file, truth, records, compression))
    return MixReport(writer.path, luminosity, seed, point, tuple(contributions))


def _passes_none(path: Path) -> bool:
    """Whether a store has a ``/reco`` group none of whose entries passes every cut."""
    with EventStore(path) as store:
        if schema.RECO not in store.groups:
            return False  # read_reco names the missing group
        n = store.n_events(schema.RECO)
        if n == 0:
            return True
        if "cuts" not in store.fields(schema.RECO):
            return False
        cuts = store.read(schema.RECO, ["cuts"])["cuts"]
        return not bool(np.all(np.asarray(cuts, dtype=bool), axis=1).any())


def _combine(
    picked: list[dict[str, np.ndarray[Any, Any]]], rng: np.random.Generator
) -> dict[str, np.ndarray[Any, Any]]:
    """Concatenate the inputs' draws (tokens only if all have them, padded) and shuffle."""
    tokens = all("momentum" in p for p in picked)
    width = max((p["momentum"].shape[1] for p in picked if "momentum" in p), default=0)
    out: dict[str, list[np.ndarray[Any, Any]]] = {"x": [], "weight": []}
    out |= {k: [] for k in ("truth_process", "truth_row", "truth_parent", "truth_coefficients")}
    if tokens:
        out |= {"momentum": [], "pdg_id": []}
    k_max = max(p["truth_coefficients"].shape[1] for p in picked)
    for p in picked:
        out["x"].append(p["x"])
        out["weight"].append(p["weight"])
        for key in ("truth_process", "truth_row", "truth_parent"):
            out[key].append(p[key])
        c = p["truth_coefficients"]
        out["truth_coefficients"].append(np.pad(c, ((0, 0), (0, k_max - c.shape[1]))))
        if tokens:
            n, k = p["momentum"].shape[:2]
            mom = np.zeros((n, width, 4))
            ids = np.zeros((n, width), dtype=np.int32)
            mom[:, :k], ids[:, :k] = p["momentum"], p["pdg_id"]
            out["momentum"].append(mom)
            out["pdg_id"].append(ids)
    joined = {k: np.concatenate(v) for k, v in out.items()}
    order = rng.permutation(joined["x"].shape[0])
    return {k: v[order] for k, v in joined.items()}
