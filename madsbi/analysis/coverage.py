"""Coverage of a trained analysis with its background components and profiled nuisances.

Empirical coverage (paper App. A, eq. 53) of the likelihood that ``madsbi fit`` uses, with
toys of the trained analysis itself (``madsbi coverage``):

- **toys** are drawn at θ_true = θ0 (the SM) from a *pool* of events at θ0: every process
  draws n_c ~ Pois(ν_c(θ0)) events from its own events with probabilities ∝ their weights —
  the signal from the analysis's rate events (the held-out test and rate samples, pooled by
  multiple importance weighting) or from the stores given, each background component from its
  own events (``components/<name>/events.npz``), at the cross-sections of the fit: the mixed
  SM sample as ``madsbi store mix`` would draw it. A process with ν_c = 0 draws nothing;
  every process has its own random stream, so switching a background off leaves the signal's
  draws unchanged;
- **the likelihood** of every toy is the fit's (:func:`madsbi.analysis.components.method_models`
  on the pool, the toy's counts as weights), evaluated for all toys at once by the dense
  kernel in the stacked basis of :mod:`madsbi.analysis.coverage_toys` (any mixture, the split
  form with exact Poisson rates included);
- **nuisances** (the analysis's declared ones, unless ``stat_only``): every toy draws its
  global observables a_k ~ N(0, 1) (the centres of the constraints; data at α = 0) and the
  nuisances are profiled at θ_true and at the best fit
  (:func:`madsbi.analysis.coverage_toys.profiled_q`); the stat-only q of the same toys is
  reported next to it;
- q(θ_true) = −2 (log r(θ_true) − max over the grid) with dof = the number of parameters, on
  a grid of ``grid_points`` per axis over the analysis's ranges (θ0 must be a grid point).

``coverage.json`` holds per method c_γ, binomial errors, the deviation in σ and every toy's q.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.analysis.components import (
    EXACT,
    background_yields,
    component_names,
    load_components,
    method_models,
)
from madsbi.analysis.coverage_toys import profiled_q, stacked_form
from madsbi.analysis.nuisances import parse_declared, resolve
from madsbi.analysis.pooled import POOLED, drop_if_nuisances, pooled_models, require_pooled
from madsbi.analysis.prepare import FitData, prepare_data
from madsbi.analysis.shape_nuisances import fit_modifiers
from madsbi.errors import InputError, StoreFormatError
from madsbi.inference.coverage import CoverageResult
from madsbi.inference.dense import (
    GATHER_DENSITY,
    CoreGather,
    DenseBackend,
    NumpyDense,
    toy_statistics,
)
from madsbi.inference.model import LikelihoodModel
from madsbi.inference.rate import FB_PER_PB, RateModel, expected_events

if TYPE_CHECKING:
    from madsbi.analysis.load import Analysis

#: Confidence levels of the coverage curve (Fig. 12), 0.68 and 0.95 among them.
GAMMAS = tuple(sorted({*np.round(np.linspace(0.05, 0.95, 19), 4).tolist(), 0.68}))
LEVELS = (0.68, 0.95)


@dataclass(frozen=True)
class CoverageOptions:
    """Settings of :func:`analysis_coverage`.

    Attributes
    ----------
    n_toys, grid_points : int
        Toys, and grid points per parameter (odd, so that θ0 is one).
    luminosity : float, optional
        fb⁻¹ (default the analysis's).
    seed : int
    stat_only : bool
        Ignore the nuisances.
    top_k : int
        Points profiled per toy in the first round (:func:`profiled_q`).
    threads : int
        Threads of the compiled dense kernel (0: all).
    """

    n_toys: int = 500
    grid_points: int = 41
    luminosity: float | None = None
    seed: int = 0
    stat_only: bool = False
    top_k: int = 16
    threads: int = 0

    def __post_init__(self) -> None:
        if self.n_toys < 1:
            raise InputError(f"n_toys: expected >= 1, got {self.n_toys}")
        if self.grid_points < 3 or self.grid_points % 2 == 0:
            raise InputError(f"grid_points: expected an odd number >= 3, got {self.grid_points}")
        if self.luminosity is not None and not self.luminosity > 0:
            raise InputError(f"luminosity: expected > 0, got {self.luminosity}")
        if self.top_k < 1:
            raise InputError(f"top_k: expected >= 1, got {self.top_k}")


@dataclass(frozen=True, eq=False)
class Process:
    """A toy source: its slice of the pool, draw probabilities and expected events ν_c(θ0)."""

    name: str
    start: int
    probabilities: FloatArray
    expected_events: float

    def describe(self) -> dict[str, Any]:
        """The ``processes`` entry of ``coverage.json``."""
        p = self.probabilities
        return {
            "name": self.name,
            "n_events": int(p.size),
            "effective_events": float(1.0 / np.sum(p * p)),
            "expected_events": self.expected_events,
        }


@dataclass(frozen=True, eq=False)
class Pool:
    """Every process's events as one data set (unit weights), and the processes' slices."""

    data: FitData
    processes: tuple[Process, ...]
    source: str


def coverage_grid(
    ranges: Any, points: int, theta0: FloatArray
) -> tuple[FloatArray, int, tuple[int, ...]]:
    """The product grid (P^n, n) over ``ranges``, the index of θ0 on it, and its shape.

    Raises
    ------
    InputError
        θ0 not a grid point (a range not symmetric about it).
    """
    axes = [np.linspace(float(lo), float(hi), points) for lo, hi in ranges]
    grid = np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=1)
    distance = np.abs(grid - theta0).max(axis=1)
    index = int(np.argmin(distance))
    if distance[index] > 1e-9 * min(float(a[1] - a[0]) for a in axes):
        raise InputError(
            f"ranges {np.asarray(ranges).tolist()}: θ0 = {theta0.tolist()} is not a point of "
            f"the {points}-point grid (ranges must be symmetric about θ0)"
        )
    return grid, index, (points,) * len(axes)


def build_pool(
    analysis: Analysis, stores: Sequence[str | Path] = (), luminosity: float | None = None
) -> Pool:
    """The pool of the toys: the signal's events then every background's (module docstring).

    The signal's expected events are those of the rate model (ν_s(θ0) = L σ0 · rate factor)
    for the rate events, or the stores' L σ_fid in their selection (Asimov weights) for
    ``stores``; a background's are ν_c(θ0) of the fit's mixture.
    """
    lumi = float(analysis.defaults["luminosity_fb"] if luminosity is None else luminosity)
    factor = float(analysis.defaults["rate_factor"])
    if stores:
        parts = [prepare_data(analysis, s, data_mode="asimov", luminosity=lumi) for s in stores]
        x = np.vstack([p.features for p in parts])
        w = np.concatenate([p.weights for p in parts])
        c = _stacked([p.coefficients for p in parts])
        if c is not None:
            from madsbi.inference.likelihood import exact_event_coefficients

            c = exact_event_coefficients(c)[0]
        signal_nu: float | None = float(w.sum())
        source = "stores: " + ", ".join(str(s) for s in stores)
    else:
        x, w = analysis.rate_event_features()
        c = analysis.exact_rate_events()[0]
        signal_nu = None
        source = "the analysis's rate events (held-out test and rate samples, MIS-pooled)"
    blocks_x, blocks_c, weights = [x], [c], [w]
    loaded = load_components(analysis)
    names = ["signal"]
    for b in loaded.backgrounds if loaded is not None else ():
        keep = np.ones(b.weights.shape[0], dtype=bool)
        blocks_x.append(b.inputs(analysis.features, keep))
        blocks_c.append(b.ratios)
        weights.append(b.weights)
        names.append(b.name)
    coefficients = _stacked(blocks_c)
    features = np.vstack(blocks_x)
    data = FitData(
        features=features,
        weights=np.ones(features.shape[0]),
        coefficients=coefficients,
        theta0=analysis.theta0,
        selections=(),
        luminosity_fb=lumi,
        rate_factor=factor,
        mode="counts",
        description={"store": "the coverage pool", "n_events": int(features.shape[0])},
    )
    # ν_c(θ0) as the fit's models have them (checked against them in analysis_coverage)
    nus = [float(expected_events(lumi * FB_PER_PB, analysis.sigma0_pb, factor))]
    nus += [background_yields(data, b)[2] for b in loaded.backgrounds] if loaded else []
    if signal_nu is not None:
        nus[0] = signal_nu
    processes, start = [], 0
    for name, v, nu in zip(names, weights, nus, strict=True):
        if not (np.all(v >= 0) and v.sum() > 0):
            raise StoreFormatError(f"{name}: the toys need event weights >= 0 with a positive sum")
        processes.append(Process(name, start, v / v.sum(), float(nu)))
        start += v.shape[0]
    return Pool(data, tuple(processes), source)


def _stacked(blocks: Sequence[FloatArray | None]) -> FloatArray | None:
    """The blocks one above the other, or None if any is None."""
    present = [b for b in blocks if b is not None]
    if len(present) < len(blocks):
        return None
    result: FloatArray = np.vstack(present)
    return result


def draw_counts(pool: Pool, n_toys: int, seed: int) -> Any:
    """Counts N[t, e] (T, N) of the toys: per process n ~ Pois(ν_c), drawn with replacement.

    Each process has its own stream (``[seed, 1, c]``), so ν_c = 0 changes no other draw.
    """
    n = pool.data.features.shape[0]
    counts = np.zeros((n_toys, n), dtype=np.uint32)
    for i, p in enumerate(pool.processes):
        rng = np.random.default_rng([seed, 1, i])
        for t in range(n_toys):
            k = int(rng.poisson(p.expected_events)) if p.expected_events > 0 else 0
            picked = rng.choice(p.probabilities.size, k, p=p.probabilities)
            counts[t, p.start : p.start + p.probabilities.size] += np.bincount(
                picked, minlength=p.probabilities.size
            ).astype(np.uint32)
    return counts.astype(np.uint16) if counts.max() <= np.iinfo(np.uint16).max else counts


def draw_centres(seed: int, n_toys: int, names: Sequence[str]) -> FloatArray:
    """The toys' global observables a_k ~ N(0, 1) (T, k), one stream per nuisance by name."""
    out = np.empty((n_toys, len(names)))
    for k, name in enumerate(names):
        key = [int(b) for b in name.encode()]
        out[:, k] = np.random.default_rng([seed, 2, *key]).standard_normal(n_toys)
    return out


def summarise(q: FloatArray, dof: int, gammas: Sequence[float] = GAMMAS) -> dict[str, Any]:
    """c_γ, binomial errors, deviations in σ, whether each level is met, and every q."""
    levels = np.asarray(gammas, dtype=np.float64)
    zero = np.zeros_like(levels)
    fractions, errors = CoverageResult(levels, zero, zero, q, dof).curve(levels)
    out = CoverageResult(levels, fractions, errors, q, dof).to_dict()
    for level in LEVELS:
        k = int(np.argmin(np.abs(levels - level)))
        tag = round(100 * level)
        out[f"c_{tag}"] = float(fractions[k])
        out[f"c_{tag}_error"] = float(errors[k])
        out[f"c_{tag}_deviation_sigmas"] = float((fractions[k] - level) / errors[k])
        out[f"c_{tag}_met"] = bool(fractions[k] >= level - 2.0 * errors[k])
    return out


ORACLE = "oracle"


def oracle_model(analysis: Analysis, pool: Pool) -> LikelihoodModel:
    """The labelled truth of the pool: each event's own process and exact coefficients known.

    p(x, c|θ) ∝ ν_c(θ) p_c(x|θ), so each event's ratio to θ0 is its own C^c_e·φ(θ − θ0) and
    the rate is ν(θ)/ν0 = Σ_c (ν_c0/ν0) ρ_c(θ) with every process's exact rate: one component
    in the joint form (a signal-only analysis: its ``exact`` method).

    Raises
    ------
    StoreFormatError
        Pool events without exact coefficients (stores without ``/parton/coefficients``).
    """
    from madsbi.inference.likelihood import exact_event_coefficients
    from madsbi.theory.polynomial import polynomial_features

    if pool.data.coefficients is None:
        raise StoreFormatError(f"{pool.source}: the oracle needs every event's coefficients")
    rates = [analysis.exact_rate_model()[0].coefficients[0]]
    loaded = load_components(analysis)
    for b in loaded.backgrounds if loaded is not None else ():
        rates.append(RateModel.from_event_coefficients(b.ratios, b.weights).coefficients[0])
    nus = np.array([p.expected_events for p in pool.processes])
    s = (nus[:, None] * np.array(rates)).sum(axis=0) / nus.sum()

    def features(grid: FloatArray) -> FloatArray:
        return polynomial_features(grid, analysis.theta0)

    c = exact_event_coefficients(pool.data.coefficients)
    rate = RateModel(s[None, :])
    return LikelihoodModel.single(c, features, rate, expected_events0=nus.sum(), log1p=True)


def model_coverage(
    model: LikelihoodModel,
    counts: Any,
    thetas: FloatArray,
    true_index: int,
    shape: tuple[int, ...],
    centres: FloatArray | None,
    *,
    top_k: int = 16,
    backend: DenseBackend | None = None,
) -> dict[str, Any]:
    """Stat-only (and, with modifiers and ``centres``, profiled) coverage of one pool model."""
    dof = thetas.shape[1]
    if model.modifiers and centres is not None:
        toys = profiled_q(
            model, thetas, true_index, counts, centres, shape=shape, top_k=top_k, backend=backend
        )
        profiled = summarise(toys.q_profiled, dof)
        profiled["certified_toys"] = int(toys.certified.sum())
        profiled["profiled_points"] = toys.profiled_points
        profiled["best_index"] = toys.best_index.tolist()
        return {"stat_only": summarise(toys.q_stat_only, dof), "profiled": profiled}
    form = stacked_form(replace(model, modifiers=()), thetas)
    stats = toy_statistics(
        counts, form.coefficients, form.features, form.rate, true_index=true_index,
        expected_events0=form.expected_events0, backend=backend,
    )  # fmt: skip
    result = summarise(stats.q_true, dof)
    result["best_index"] = stats.best_index.tolist()
    return {"stat_only": result}


def analysis_coverage(
    analysis: Analysis,
    stores: Sequence[str | Path] = (),
    methods: Sequence[str] | None = None,
    options: CoverageOptions | None = None,
) -> dict[str, Any]:
    """The coverage document of ``madsbi coverage`` (module docstring).

    ``methods``: the analysis's estimators by name, ``exact`` (the fit's exact method: the
    events' exact coefficients in the signal component) and ``oracle`` (every event's own
    process and exact coefficients, :func:`oracle_model`: the truth of a mixture) and
    ``pooled`` (:mod:`madsbi.analysis.pooled`, an analysis with its ensemble); default the
    first estimator.

    Raises
    ------
    InputError
        An unknown method; ``exact`` for an analysis with components; ``pooled`` for one
        without its ensemble; θ0 not on the grid; bad options.
    """
    o = options or CoverageOptions()
    chosen = list(methods) if methods else [analysis.methods[0]]
    unknown = [m for m in chosen if m not in (EXACT, ORACLE, POOLED) and m not in analysis.models]
    if unknown:
        raise InputError(
            f"methods: {unknown} not in the analysis ({analysis.methods}), 'exact', 'oracle' "
            "or 'pooled'"
        )
    if POOLED in chosen:
        require_pooled(analysis)
    if EXACT in chosen and analysis.manifest.get("components") is not None:
        raise InputError(  # the signal's exact ratio for every event: a hybrid, no truth
            f"methods: {EXACT!r} is the signal's exact ratio and this analysis has background "
            f"components; the truth of a mixture is {ORACLE!r}"
        )
    thetas, true_index, shape = coverage_grid(
        analysis.defaults["ranges"], o.grid_points, analysis.theta0
    )
    start = time.perf_counter()
    pool = build_pool(analysis, stores, o.luminosity)
    counts = draw_counts(pool, o.n_toys, o.seed)
    declared = parse_declared(analysis.manifest.get("nuisances"))
    specs, _ = resolve(declared, stat_only=o.stat_only, components=component_names(analysis))
    chosen = drop_if_nuisances(chosen, specs, explicit=bool(methods))
    centres = draw_centres(o.seed, o.n_toys, [s.name for s in specs]) if specs else None
    modifiers = fit_modifiers(specs, analysis, pool.data) if specs else ()
    backend: DenseBackend | None = None
    if o.threads:
        dense = np.count_nonzero(counts) >= GATHER_DENSITY * counts.size
        backend = NumpyDense() if dense else CoreGather(o.threads)
    document: dict[str, Any] = {
        "analysis": str(analysis.path),
        "parameters": list(analysis.parameters),
        "theta_true": analysis.theta0.tolist(),
        "luminosity_fb": pool.data.luminosity_fb,
        "n_toys": o.n_toys,
        "grid_points": o.grid_points,
        "ranges": [list(map(float, r)) for r in analysis.defaults["ranges"]],
        "seed": o.seed,
        "source": pool.source,
        "processes": [p.describe() for p in pool.processes],
        "events_per_toy": {
            "mean": float(counts.sum(axis=1).mean()),
            "std": float(counts.sum(axis=1).std()),
        },
        "nuisances": [s.name for s in specs],
        "stat_only": o.stat_only,
        "top_k": o.top_k,
        "global_observables": None if centres is None else centres.tolist(),
        "setup_seconds": time.perf_counter() - start,
        "methods": {},
    }
    for method in chosen:
        start = time.perf_counter()
        if method == ORACLE:
            model = oracle_model(analysis, pool)
        else:
            models, nu0, mixture = (
                pooled_models(analysis, pool.data)
                if method == POOLED
                else method_models(analysis, pool.data, method)
            )
            model = models[0]
            expected = list(mixture.expected_events0) if mixture is not None else [nu0]
            drawn = [p.expected_events for p in pool.processes]
            if not stores and not np.allclose(expected, drawn, rtol=1e-12, atol=0):
                raise InputError(f"{method}: the model expects {expected} events, toys {drawn}")
        if modifiers:
            model = replace(model, modifiers=modifiers)
        entry = model_coverage(
            model, counts, thetas, true_index, shape, centres, top_k=o.top_k, backend=backend
        )
        entry["seconds"] = time.perf_counter() - start
        document["methods"][method] = entry
    return document


def write_coverage(document: dict[str, Any], out: str | Path) -> list[Path]:
    """``coverage.json`` and ``coverage.png`` (Fig. 12 of every method and form) in ``out``."""
    import json

    from madsbi.plotting import plot_coverage

    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "coverage.json"
    path.write_text(json.dumps(document, indent=1))
    curves: dict[str, tuple[Any, Any]] = {}
    for method, entry in document["methods"].items():
        for form in ("stat_only", "profiled"):
            if form in entry:
                label = method if form == "stat_only" else f"{method}, nuisances profiled"
                if form == "stat_only" and "profiled" in entry:
                    label = f"{method}, stat-only"
                curves[label] = (entry[form]["fractions"], entry[form]["errors"])
    some = next(iter(document["methods"].values()))["stat_only"]
    figure = plot_coverage(
        some["gammas"], curves, directory / "coverage.png",
        title=f"{document['n_toys']} toys, {document['grid_points']} points per axis",
    )  # fmt: skip
    return [path, figure]
