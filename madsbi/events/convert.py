"""LHE → event store: solve every event's θ-polynomial coefficients from its <rwgt> weights.

The points and the basis come from :mod:`madsbi.events.reweighting`: K points form the morphing
basis (c_e = W⁻¹ w_e); every further point, and the event weight itself, is a held-out check.
A file without reweighting points is refused, unless a θ-independent store is asked for
(``reweighting=False``): each event's coefficients are then (w_e, 0, …, 0).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._paths import refuse_output_over_inputs
from madsbi._progress import progress_bar
from madsbi._validate import FloatArray
from madsbi.cards import parse_run_card
from madsbi.errors import InputError, LheFormatError, WeightError
from madsbi.events import schema
from madsbi.events.lhe import LheChunk, LheFile, LheHeader
from madsbi.events.meta import ShardInfo, StoreMeta
from madsbi.events.recentre import recentre_chunk, resolve_theta0
from madsbi.events.reweighting import (
    ReweightPoint,
    choose_basis,
    constant_basis,
    constant_space,
    has_reweighting,
    process_description,
    resolve_parameters,
    reweight_points,
)
from madsbi.events.theory_weights import TheoryVariations
from madsbi.events.writer import StoreWriter
from madsbi.theory.morphing import DEFAULT_MAX_CONDITION, MorphingBasis
from madsbi.theory.parameters import ParameterSpace
from madsbi.theory.polynomial import polynomial_features_reference

#: Default limit on held-out deviations relative to each event's largest weight: LHE prints
#: 8 significant digits, so exact quadratics reproduce to ~1e-7.
DEFAULT_HOLDOUT_TOLERANCE = 1e-5


@dataclass(frozen=True)
class ConvertSettings:
    """How :func:`convert_lhe` turns an LHE file into a store; the one home of its defaults.

    ``madsbi store convert`` builds one from its options and the production plan's
    ``[convert]`` table is one (:mod:`madsbi.production.plan`). Sequences become tuples,
    ``compression = "none"`` becomes ``None``.

    Attributes
    ----------
    parameters : tuple of str, optional
        Parameter names (param-card comment names, case-insensitive); default: all varied.
    basis_ids : tuple of str, optional
        Weight ids of the K basis points; default: the first usable ones in file order.
    ranges : mapping, optional
        Analysis range ``(low, high)`` per parameter name, stored in the metadata.
    theta0 : tuple of float or str, optional
        Reference point of the coefficients (``"cW=0,cHWB=0"`` or values in parameter order);
        default: the param card's point, where the events were generated. The coefficients
        are re-expanded around it (:mod:`madsbi.events.recentre`); ``/meta/theta_gen`` keeps
        the generation point.
    holdout_tolerance : float
        Largest allowed held-out deviation relative to the event's largest weight (finite,
        > 0).
    max_condition : float
        Largest condition number of the morphing matrix W accepted for the basis (>= 1).
    keep_rwgt : bool
        Keep the raw ``<rwgt>`` weights as ``/parton/rwgt``.
    compression : str or None
        HDF5 filter of the event datasets: ``"lzf"``, ``"gzip"`` or ``None``.
    chunk_size : int
        Events read, solved and written at a time.
    reweighting : bool
        Solve the coefficients from the ``<rwgt>`` weights (a file without reweighting
        points is refused). False: a θ-independent store, for a process that does not depend
        on the parameters (e.g. a SM background): every event's coefficients are its weight
        at every θ, (w, 0, …, 0) for ``parameters`` (none by default; names not in the
        param card get θ0 = 0), the basis is θ0, θ0 ± s_i, θ0 + s_i + s_j (s_i half the
        range, else 1), and ``/meta`` attribute ``theta_independent`` is true.

    Raises
    ------
    InputError
        For an empty name list, a non-finite or non-positive tolerance, an unknown
        compression, or a chunk size below 1; the message names the field.
    """

    parameters: tuple[str, ...] | None = None
    basis_ids: tuple[str, ...] | None = None
    ranges: Mapping[str, tuple[float, float]] | None = None
    theta0: tuple[float, ...] | str | None = None
    holdout_tolerance: float = DEFAULT_HOLDOUT_TOLERANCE
    max_condition: float = DEFAULT_MAX_CONDITION
    keep_rwgt: bool = True
    compression: str | None = schema.DEFAULT_COMPRESSION
    chunk_size: int = 50_000
    reweighting: bool = True

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalise in place once
        put(self, "parameters", _names(self.parameters, "parameters", "parameter name"))
        put(self, "basis_ids", _names(self.basis_ids, "basis_ids", "weight id"))
        if self.ranges is not None:
            put(self, "ranges", {str(k): _range(k, v) for k, v in dict(self.ranges).items()})
        if self.theta0 is not None and not isinstance(self.theta0, str):
            put(self, "theta0", tuple(self.theta0))
        tolerance = self.holdout_tolerance
        if isinstance(tolerance, bool) or not (math.isfinite(tolerance) and tolerance > 0):
            raise InputError(f"holdout_tolerance: expected a finite number > 0, got {tolerance!r}")
        if isinstance(self.max_condition, bool) or not self.max_condition >= 1:
            raise InputError(f"max_condition: expected a number >= 1, got {self.max_condition!r}")
        if self.compression == "none":
            put(self, "compression", None)
        if self.compression not in (None, "lzf", "gzip"):
            raise InputError(
                f"compression: expected 'lzf', 'gzip' or 'none', got {self.compression!r}"
            )
        size = self.chunk_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InputError(f"chunk_size: expected an integer >= 1, got {size!r}")
        if not isinstance(self.reweighting, bool):
            raise InputError(f"reweighting: expected true or false, got {self.reweighting!r}")


def _names(value: Sequence[str] | None, field: str, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise InputError(f"{field}: expected a sequence of names, got the string {value!r}")
    items = tuple(value)
    if not items:
        raise InputError(f"{field}: expected at least one {what}, got none")
    if not all(isinstance(v, str) and v.strip() for v in items):
        raise InputError(f"{field}: expected non-empty strings, got {list(items)!r}")
    return items


def _range(name: str, pair: Sequence[float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise InputError(f"ranges[{name!r}]: expected (low, high), got {pair!r}") from None
    return low, high


#: Bins of log10(relative error) for the streaming median of a held-out check: 0.05 decades
#: from 1e-20 to 1e5, so memory stays fixed however many events a file has.
_LOG_REL_BINS = np.linspace(-20.0, 5.0, 501)


@dataclass
class HoldoutCheck:
    """How well the basis coefficients predict a held-out point's weights.

    Relative errors |pred − w|/|w| per event (``max_rel_error``; ``median_rel_error`` from a
    histogram with 0.05-decade bins), relative to the event's largest weight
    (``max_rel_to_largest``), and of the summed cross-section (``cross_section_rel_error``).
    """

    weight_id: str
    theta: tuple[float, ...]
    max_rel_error: float = 0.0
    median_rel_error: float = 0.0
    max_rel_to_largest: float = 0.0
    cross_section_rel_error: float = 0.0
    _histogram: np.ndarray[Any, Any] = field(
        default_factory=lambda: np.zeros(len(_LOG_REL_BINS) - 1, dtype=np.int64), repr=False
    )
    _sums: list[tuple[float, float]] = field(default_factory=list, repr=False)

    def add(self, predicted: FloatArray, actual: FloatArray, largest: FloatArray) -> None:
        """Accumulate one chunk."""
        diff = np.abs(predicted - actual)
        nonzero = actual != 0
        rel = diff[nonzero] / np.abs(actual[nonzero])
        if rel.size:
            self.max_rel_error = max(self.max_rel_error, float(rel.max()))
            with np.errstate(divide="ignore"):
                log_rel = np.clip(np.log10(rel), _LOG_REL_BINS[0], _LOG_REL_BINS[-1])
            self._histogram += np.histogram(log_rel, _LOG_REL_BINS)[0]
        self.max_rel_to_largest = max(self.max_rel_to_largest, float((diff / largest).max()))
        self._sums.append((math.fsum(predicted), math.fsum(actual)))

    def finish(self) -> None:
        """Compute the median and the cross-section error from the accumulated chunks."""
        total = int(self._histogram.sum())
        if total:
            k = int(np.searchsorted(np.cumsum(self._histogram), (total + 1) / 2))
            centre = 0.5 * (_LOG_REL_BINS[k] + _LOG_REL_BINS[k + 1])
            # Never above the largest error actually seen (the bin may be wider than the data).
            self.median_rel_error = min(float(10.0**centre), self.max_rel_error)
        predicted = math.fsum(p for p, _ in self._sums)
        actual = math.fsum(a for _, a in self._sums)
        self.cross_section_rel_error = abs(predicted - actual) / abs(actual) if actual else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


@dataclass(frozen=True)
class ConversionReport:
    """What :func:`convert_lhe` did and how well the quadratic closed."""

    source: str
    output: str
    n_events: int
    parameters: tuple[str, ...]
    theta0: tuple[float, ...]
    basis_ids: tuple[str, ...]
    condition_number: float
    holdouts: tuple[dict[str, Any], ...]
    excluded_weights: dict[str, str]
    decompressed_bytes: int
    seconds: float
    theta_gen: tuple[float, ...] = ()
    theta_independent: bool = False

    def to_json(self) -> str:
        """The report as JSON text."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def _column(chunk: LheChunk, point: ReweightPoint) -> FloatArray:
    return chunk.arrays["weight"] if point.column < 0 else chunk.arrays["rwgt"][:, point.column]


def _check_weights(chunk: LheChunk, header: LheHeader) -> None:
    for name, values in (
        ("event weight", chunk.arrays["weight"][:, None]),
        ("rwgt", chunk.arrays["rwgt"]),
    ):
        bad = ~np.isfinite(values)
        if bad.any():
            row, col = (int(v) for v in np.argwhere(bad)[0])
            label = name if name == "event weight" else f"weight id '{header.weight_ids[col]}'"
            raise WeightError(
                f"event {chunk.start + row}: {label} is {values[row, col]} (non-finite)"
            )


@dataclass(frozen=True, eq=False)
class _Plan:
    """What a conversion solves for: parameters, basis, and the points it checks."""

    space: ParameterSpace
    chosen: list[ReweightPoint]
    basis: MorphingBasis
    holdouts: list[ReweightPoint]
    phi_holdouts: FloatArray
    excluded: dict[str, str]
    constant: bool = False


def _plan(header: LheHeader, settings: ConvertSettings) -> _Plan:
    parameters, ranges = settings.parameters, settings.ranges
    if not settings.reweighting:
        space = constant_space(header, parameters, ranges)
        chosen, basis = constant_basis(space)
        phi = np.zeros((0, space.n_coefficients))
        return _Plan(space, chosen, basis, [], phi, {}, constant=True)
    basis_ids, max_condition = settings.basis_ids, settings.max_condition
    space = resolve_parameters(header, parameters, ranges)
    points, excluded = reweight_points(header, space)
    chosen, basis = choose_basis(points, space, basis_ids, max_condition=max_condition)
    holdouts = [p for p in points if p not in chosen]
    thetas = np.array([p.theta for p in holdouts], dtype=np.float64)
    phi = polynomial_features_reference(
        thetas.reshape(len(holdouts), space.n_parameters), space.theta0_array
    )
    return _Plan(space, chosen, basis, holdouts, phi, excluded)


def _solve_chunk(
    chunk: LheChunk, header: LheHeader, plan: _Plan, checks: list[HoldoutCheck]
) -> FloatArray:
    """Coefficients of one chunk's events; accumulates the held-out checks."""
    _check_weights(chunk, header)
    if plan.constant:
        coefficients = np.zeros((chunk.n_events, plan.space.n_coefficients))
        coefficients[:, 0] = chunk.arrays["weight"]
    else:
        chosen = np.stack([_column(chunk, p) for p in plan.chosen], 1)
        coefficients = plan.basis.coefficients(chosen)
    largest = np.maximum(
        np.abs(chunk.arrays["weight"]), np.abs(chunk.arrays["rwgt"]).max(axis=1, initial=0.0)
    )
    zero = np.flatnonzero(np.abs(coefficients[:, 0]) <= 1e-12 * largest)
    if zero.size:
        row = int(zero[0])
        raise WeightError(
            f"event {chunk.start + row}: the reference weight at θ0 is zero "
            f"(c_0 = {coefficients[row, 0]:.3g}); ratios to θ0 are undefined"
        )
    predicted = coefficients @ plan.phi_holdouts.T
    for j, (point, check) in enumerate(zip(plan.holdouts, checks, strict=True)):
        check.add(predicted[:, j], _column(chunk, point), largest)
    return coefficients


def _head(chunk: LheChunk, n: int) -> LheChunk:
    """The first n events of a chunk."""
    return LheChunk(chunk.start, {k: v[:n] for k, v in chunk.arrays.items()}, chunk.bytes_consumed)


def _with_options(settings: ConvertSettings, options: Mapping[str, Any]) -> ConvertSettings:
    """``settings`` with the fields named in ``options`` replaced (checked again)."""
    if not options:
        return settings
    known = {f.name for f in fields(ConvertSettings)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"convert_lhe() got unexpected keyword argument(s) {unknown}; the settings are "
            f"{sorted(known)} (ConvertSettings)"
        )
    return replace(settings, **options)


def convert_lhe(
    source: str | Path,
    output: str | Path,
    settings: ConvertSettings | None = None,
    *,
    sample_id: str = "",
    shard_id: str | None = None,
    max_events: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    **options: Any,
) -> ConversionReport:
    """Convert a MadGraph LHE file with ``<rwgt>`` weights into an event store.

    Parameters
    ----------
    source, output : str or Path
        LHE (``.lhe`` or ``.lhe.gz``) and the store to write (atomically).
    settings : ConvertSettings, optional
        How to solve and write (parameters, basis, θ0, tolerance, compression, ...);
        default: ``ConvertSettings()``.
    sample_id : str
        Identifies the production; shards merge only if they share it.
    shard_id : str, optional
        Identifies this file among the shards; default: file name and run-card seed.
    max_events : int, optional
        Convert only the first events (for small test stores).
    overwrite : bool
        Replace ``output`` if it exists (never when it is ``source``).
    progress : bool
        Show a progress bar.
    **options
        Fields of :class:`ConvertSettings` that replace those of ``settings``, e.g.
        ``convert_lhe(src, out, parameters=["cW"], holdout_tolerance=1e-4)``.

    Returns
    -------
    ConversionReport

    Raises
    ------
    LheFormatError
        Malformed, truncated or gzip-corrupt input; weight ids missing from events.
    WeightError
        Non-finite weights, zero reference weights, or held-out points off the quadratic.
    UnknownParameterError, InputError, IllConditionedBasisError
        Bad parameter names, too few points, or an unusable basis; bad settings; ``output``
        is ``source`` (the same path, or the same file through a symbolic or hard link).
    TypeError
        For an option that is not a field of :class:`ConvertSettings`.
    """
    started = time.perf_counter()
    source, output = Path(source), Path(output)
    settings = _with_options(settings or ConvertSettings(), options)
    if max_events is not None and max_events < 1:
        raise InputError(f"max_events: expected >= 1, got {max_events}")
    refuse_output_over_inputs(output, [source], what="convert")
    with LheFile(source) as lhe:
        header = lhe.header
        run = parse_run_card(header.run_card)
        norm = run.get("event_norm", "average").lower()
        if norm not in ("average", "sum"):
            raise LheFormatError(
                f"{source}: run card event_norm = {norm!r}; madsbi converts 'average' or 'sum'"
            )
        if settings.reweighting and not has_reweighting(header):
            raise InputError(
                f"{source}: the file has no reweighting weights (no <rwgt> point changes a "
                "param-card entry), so the θ-dependence of its events is unknown; generate "
                "it with reweighting (reweight=madsbi), or, for a process that does not "
                "depend on the parameters (a SM background), ask for a θ-independent store: "
                "--no-reweighting (reweighting=False), with --parameters of the analysis"
            )
        plan = _plan(header, settings)
        checks = [HoldoutCheck(p.id, p.theta) for p in plan.holdouts]
        cards = {
            "proc_card": header.proc_card,
            "run_card": header.run_card,
            "param_card": header.param_card,
        }
        meta = StoreMeta(
            space=plan.space,
            basis_ids=tuple(p.id for p in plan.chosen),
            basis_points=plan.basis.points,
            process=process_description(header.proc_card),
            mg5_version=header.mg5_version,
            sample_id=sample_id,
            cards={k: v for k, v in cards.items() if v},
            attributes={schema.THETA_INDEPENDENT: True} if plan.constant else {},
        )
        if settings.theta0 is not None:
            meta = meta.recentred(resolve_theta0(settings.theta0, plan.space.names))
        theory = TheoryVariations(header, source)  # μ_R/μ_F/PDF factors, if the file has them
        names = {"rwgt": header.weight_ids, **theory.names}
        writer = StoreWriter(output, meta, overwrite=overwrite, compression=settings.compression)
        total = max_events or header.n_events_declared
        with (
            writer,
            progress_bar(total, f"converting {source.name}", unit="ev", enabled=progress) as bar,
        ):
            chunks = lhe.chunks(settings.chunk_size)
            n_file = 0  # events in the file (read so far)
            for chunk in chunks:
                n_file = chunk.start + chunk.n_events
                if max_events is not None and chunk.start + chunk.n_events > max_events:
                    chunk = _head(chunk, max_events - chunk.start)
                keep = settings.keep_rwgt and bool(header.weight_ids)
                arrays = {k: v for k, v in chunk.arrays.items() if k != "rwgt" or keep}
                arrays.update(theory.arrays(chunk))
                arrays["coefficients"] = _solve_chunk(chunk, header, plan, checks)
                if settings.theta0 is not None:
                    arrays["coefficients"] = recentre_chunk(
                        arrays["coefficients"],
                        plan.space.theta0_array,
                        meta.space.theta0,
                        chunk.start,
                        str(source),
                    )
                writer.append(schema.PARTON, arrays, names=names)
                bar.update(chunk.n_events)
                if max_events is not None and n_file >= max_events:
                    break
            n_events = writer.n_events()
            if norm == "sum":
                # Σ weights = σ over the whole file: the mean over its events needs its count.
                for chunk in chunks:
                    n_file = chunk.start + chunk.n_events
                writer.rescale(schema.PARTON, ("weight", "coefficients", "rwgt"), float(n_file))
            for check in checks:
                check.finish()
                if check.max_rel_to_largest > settings.holdout_tolerance:
                    raise WeightError(
                        f"held-out point '{check.weight_id}' θ = {check.theta}: the basis "
                        f"coefficients miss its weights by up to {check.max_rel_to_largest:.3g} "
                        f"of the event's largest weight (tolerance "
                        f"{settings.holdout_tolerance:g}); the "
                        "weights are not a quadratic in the parameters (other couplings varied, "
                        "or more than one EFT insertion per amplitude?)"
                    )
            report = ConversionReport(
                source=str(source),
                output=str(output),
                n_events=n_events,
                parameters=plan.space.names,
                theta0=meta.space.theta0,
                theta_gen=plan.space.theta0,
                basis_ids=meta.basis_ids,
                condition_number=plan.basis.condition_number,
                holdouts=tuple(c.to_dict() for c in checks),
                excluded_weights=plan.excluded,
                decompressed_bytes=lhe.bytes_consumed,
                seconds=0.0,
                theta_independent=plan.constant,
            )
            seed_text = run.get("iseed", "-1")
            seed = int(seed_text) if seed_text.lstrip("-").isdigit() else -1
            default_id = source.name.split(".")[0] + (f"-seed{seed}" if seed >= 0 else "")
            writer.set_shards(
                (
                    ShardInfo(
                        shard_id=shard_id or default_id,
                        n_events=n_events,
                        seed=seed,
                        source=source.name,
                        report=report.to_json(),
                    ),
                )
            )
    seconds = time.perf_counter() - started
    return ConversionReport(**{**asdict(report), "seconds": seconds})
