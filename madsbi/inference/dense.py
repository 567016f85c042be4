"""Coverage toys as dense algebra (docs/design.md "Coverage at scale is dense algebra").

Toys drawn from one test sample differ only in how often each event occurs in them: toy t
holds event e N[t, e] times. With L[e, g] = log R(x_e|θ_g, θ0) = log(C_e·Φ(θ_g)) formed once
per chunk of grid points, the event term of every toy is one matrix product,

    S[t, g] = Σ_e N[t, e] L[e, g]          (toys × events) @ (events × grid),

and with the rate ρ(θ) = σ(θ)/σ(θ0) the full log likelihood ratio of eq. 49 is

    log r_full[t, g] = S[t, g] − ν0 (ρ_g − 1),

exactly what :meth:`madsbi.inference.model.LikelihoodModel.log_likelihood` gives for an
observed sample with unit weights (its (n − Σ w) log ρ term vanishes). The per-toy kernel
costs Σ_t n_t × G logs; this costs N × G logs once, and the product runs in BLAS (float64
GEMM; torch/cuBLAS through :class:`madsbi.nn.dense_sums.TorchDense`, which this torch-free
stage takes as an argument). When each toy holds few of the events (the physics case:
ν ≈ 3·10³ of 2·10⁵) the product is mostly zeros and N × G logs cost about as much as the
per-toy scans; :class:`CoreGather` (compiled) then takes each toy's sum of logs as the log of a
product of arguments: no log per pair at all. Pairs whose argument leaves the domain of the
log are clamped to log(floor) as in :func:`madsbi.inference.gridscan.log_ratio_sums`.

Memory stays bounded: the grid is processed in chunks of ``grid_chunk`` points and, inside a
chunk, the events in blocks of about ``block_elements`` / ``grid_chunk``; the counts are
kept as small unsigned integers (T × N × 2 bytes) and widened to float64 block by block.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from madsbi._backend import call_core
from madsbi._progress import progress_bar
from madsbi._validate import FloatArray, IntArray, as_float_array, check_shape
from madsbi.errors import DtypeError, InputError
from madsbi.inference.gridscan import DEFAULT_LOG_FLOOR
from madsbi.inference.model import poisson_term
from madsbi.inference.rate import RateModel

CountArray = npt.NDArray[np.unsignedinteger[Any]]

#: Grid points per chunk: the (toys × chunk) sums and the log block of one chunk.
GRID_CHUNK = 4096
#: Elements of one block of L (events × grid points): 32 MB of float64.
BLOCK_ELEMENTS = 1 << 22
#: Below this share of non-zero counts, :class:`NumpyDense` gathers each toy's events from L
#: instead of multiplying the dense counts (gathering cost ≈ 3 ns per count and grid point
#: here, the product ≈ 0.05 ns per event, toy and grid point: break-even near 1 %).
SPARSE_DENSITY = 0.01
#: Below this share of non-zero counts the default backend is :class:`CoreGather`, whose cost
#: grows with the non-zero counts, rather than the float64 product, whose cost does not: with
#: 2·10⁵ events × 500 toys × 41³ points the gather took 148 s at 7 % and 533 s at 22 % non-zero
#: counts, the product 280–330 s (benchmarks/RESULTS.md).
GATHER_DENSITY = 0.12


class ChunkSums(Protocol):
    """S[t, g] for a chunk of grid points, with the counts and coefficients already bound."""

    def __call__(self, features: FloatArray) -> FloatArray:
        """Features Φ of a chunk (G_c, K) → S of shape (T, G_c), float64."""

    @property
    def clamped_pairs(self) -> int:
        """(event, grid point) pairs clamped so far."""


class DenseBackend(Protocol):
    """Where the dense product runs: :class:`NumpyDense` here, or a torch device."""

    def bind(
        self, counts: CountArray, coefficients: FloatArray, *, log1p: bool, floor: float
    ) -> ChunkSums:
        """Prepare counts (T, N) and coefficients (N, K) for chunk after chunk of the grid."""


@dataclass(frozen=True)
class NumpyDense:
    """Float64 BLAS on the CPU: L block by block, S += N_block @ L_block (NumPy matmul).

    Parameters
    ----------
    block_elements : int
        Elements of one block of L (events × grid points).
    sparse : bool, optional
        Gather each toy's events from L instead of the dense product: cheaper when a toy
        holds few of the sample's events. None (default): when fewer than
        :data:`SPARSE_DENSITY` of the counts are non-zero.
    """

    block_elements: int = BLOCK_ELEMENTS
    sparse: bool | None = None

    def bind(
        self, counts: CountArray, coefficients: FloatArray, *, log1p: bool, floor: float
    ) -> ChunkSums:
        """See :class:`DenseBackend`."""
        sparse = self.sparse
        if sparse is None:
            sparse = bool(np.count_nonzero(counts) < SPARSE_DENSITY * max(1, counts.size))
        return _NumpySums(counts, coefficients, log1p, floor, self.block_elements, sparse)


class _NumpySums:
    def __init__(
        self,
        counts: CountArray,
        coefficients: FloatArray,
        log1p: bool,
        floor: float,
        block: int,
        sparse: bool,
    ) -> None:
        self._first = 1 if log1p else 0
        self._coef = np.ascontiguousarray(coefficients[:, self._first :])
        self._counts = counts
        self._log1p = log1p
        self._log_floor = float(np.log(floor))
        self._block = max(1, int(block))
        self._clamped = 0
        self._rows: list[tuple[IntArray, FloatArray]] | None = None
        if sparse:
            self._rows = []
            for row in counts:
                index = np.flatnonzero(row)
                self._rows.append((index, row[index].astype(np.float64)))

    @property
    def clamped_pairs(self) -> int:
        return self._clamped

    def _logs(self, coef: FloatArray, phi_t: FloatArray, out: FloatArray) -> FloatArray:
        """L = log(C·Φ) (log1p of the rest with log1p) into ``out``, clamped pairs floored."""
        np.matmul(coef, phi_t, out=out)  # (E_b, G_c) arguments
        with np.errstate(all="ignore"):  # outside the domain: clamped below
            (np.log1p if self._log1p else np.log)(out, out=out)
            total = float(np.sum(out))  # finite iff every term is (no overflow here)
        if not np.isfinite(total):
            bad = ~np.isfinite(out)
            out[bad] = self._log_floor
            self._clamped += int(np.count_nonzero(bad))
        return out

    def __call__(self, features: FloatArray) -> FloatArray:
        phi_t = np.ascontiguousarray(features[:, self._first :].T)
        if self._rows is not None:
            return self._gathered(phi_t, self._rows)
        n_toys, n_events = self._counts.shape
        step = max(1, self._block // max(1, phi_t.shape[1]))
        sums = np.zeros((n_toys, phi_t.shape[1]))
        # One buffer for the blocks of L: fresh memory per block costs page faults.
        buffer = np.empty((min(step, n_events), phi_t.shape[1]))
        for e0 in range(0, n_events, step):
            coef = self._coef[e0 : e0 + step]
            logs = self._logs(coef, phi_t, buffer[: coef.shape[0]])
            sums += self._counts[:, e0 : e0 + step].astype(np.float64) @ logs
        return sums

    def _gathered(self, phi_t: FloatArray, rows: list[tuple[IntArray, FloatArray]]) -> FloatArray:
        """S[t] = n_t @ L[events of t]: L for every event and a slice of the grid at a time."""
        n_events, n_points = self._coef.shape[0], phi_t.shape[1]
        step = max(1, self._block // max(1, n_events))
        sums = np.empty((len(rows), n_points))
        for g0 in range(0, n_points, step):
            part = np.ascontiguousarray(phi_t[:, g0 : g0 + step])
            logs = self._logs(self._coef, part, np.empty((n_events, part.shape[1])))
            for t, (index, values) in enumerate(rows):
                sums[t, g0 : g0 + part.shape[1]] = values @ logs[index]
        return sums


@dataclass(frozen=True)
class CoreGather:
    """The toys as products on the CPU, compiled (``madsbi._core.toy_log_sums``).

    For each strip of grid points and block of events the arguments a = C_e·Φ_g are formed
    once; every toy multiplies in the arguments of its events (binary exponents moved into a
    running sum before the product could leave the double range) and takes one log at the
    end. No log per (event, grid point): the cost is N × G dot products plus one multiply per
    count and grid point, against Σ_t n_t × G logs of a scan per toy, so it pays even when
    each event lies in only a few toys (ν ≈ 3·10³ of 2·10⁵ events), where the dense product
    does not. Sums agree with the per-pair logs to ~1e-16 × (events per toy), absolute.

    Parameters
    ----------
    n_threads : int
        Threads of the kernel (grid strips in parallel; the result does not depend on it);
        <= 0 (default): all hardware threads, as the other compiled kernels.
    """

    n_threads: int = 0

    def bind(
        self, counts: CountArray, coefficients: FloatArray, *, log1p: bool, floor: float
    ) -> ChunkSums:
        """See :class:`DenseBackend`."""
        return _CoreSums(counts, coefficients, log1p, floor, int(self.n_threads))


class _CoreSums:
    def __init__(
        self, counts: CountArray, coefficients: FloatArray, log1p: bool, floor: float, threads: int
    ) -> None:
        toy, event = np.nonzero(counts)  # row-major: each toy's events ascending
        starts = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(toy, minlength=counts.shape[0]), out=starts[1:])
        self._args = (
            np.ascontiguousarray(coefficients, dtype=np.float64),
            starts,
            event.astype(np.int64),
            counts[toy, event].astype(np.float64),
        )
        self._log1p = bool(log1p)
        self._floor = float(floor)
        self._threads = threads
        self._clamped = 0

    @property
    def clamped_pairs(self) -> int:
        return self._clamped

    def __call__(self, features: FloatArray) -> FloatArray:
        coef, starts, event, values = self._args
        phi = np.ascontiguousarray(features, dtype=np.float64)
        sums, clamped = call_core(
            "toy_log_sums", coef, phi, starts, event, values, self._log1p, self._floor,
            self._threads,
        )  # fmt: skip
        self._clamped += int(clamped)
        result: FloatArray = sums
        return result


def default_backend(counts: CountArray) -> DenseBackend:
    """The backend for these counts: the compiled gather for sparse toys, else BLAS.

    :class:`CoreGather` below :data:`GATHER_DENSITY` non-zero counts, else :class:`NumpyDense`.
    """
    if np.count_nonzero(counts) < GATHER_DENSITY * max(1, counts.size):
        return CoreGather()
    return NumpyDense()


@dataclass(frozen=True, eq=False)
class ToyStatistics:
    """Per toy: log r_full at θ_true, its maximum over the grid and where it lies.

    Attributes
    ----------
    log_likelihood_true : (T,)
    log_likelihood_max : (T,)
    best_index : (T,)
        Grid index of the maximum (the first one on ties).
    clamped_pairs : int
        (event, grid point) pairs of the test sample whose R was not positive (clamped).
    """

    log_likelihood_true: FloatArray
    log_likelihood_max: FloatArray
    best_index: IntArray
    clamped_pairs: int

    @property
    def q_true(self) -> FloatArray:
        """q(θ_true) = −2 (log r_full(θ_true) − max_θ log r_full(θ)) ≥ 0 (eq. 50)."""
        result: FloatArray = np.maximum(
            -2.0 * (self.log_likelihood_true - self.log_likelihood_max), 0.0
        )
        return result


def draw_toys(
    rng: np.random.Generator,
    n_events: int,
    expected_events: float,
    n_toys: int,
    probabilities: FloatArray | None = None,
) -> Iterator[IntArray]:
    """Event indices of each toy: n ~ Pois(ν) (at least 1) events drawn with replacement.

    Uniformly (unweighted events), or with ``probabilities`` (N,) summing to 1 (weighted
    events, e.g. samples pooled by multiple importance weighting). The per-toy and the dense
    coverage draw their toys through this one function, so that the same generator state
    gives the same toys to both.
    """
    if probabilities is not None:
        p = np.asarray(probabilities, dtype=np.float64)
        if p.shape != (n_events,) or not np.all(np.isfinite(p)) or (p < 0).any():
            raise InputError(
                f"probabilities: expected {n_events} finite values >= 0, got shape {p.shape}"
            )
        if abs(float(p.sum()) - 1.0) > 1e-9:
            raise InputError(f"probabilities: expected a sum of 1, got {float(p.sum())}")
    for _ in range(n_toys):
        n = max(int(rng.poisson(expected_events)), 1)
        if probabilities is None:
            yield rng.integers(0, n_events, n)
        else:
            yield rng.choice(n_events, n, p=p)


def toy_counts(
    rng: np.random.Generator,
    n_events: int,
    expected_events: float,
    n_toys: int,
    probabilities: FloatArray | None = None,
) -> CountArray:
    """Counts N[t, e] (T, N) of the toys of :func:`draw_toys`, as uint16 (uint32 if needed)."""
    if n_events < 1 or n_toys < 1:
        raise InputError(f"toy_counts: expected n_events, n_toys >= 1, got {n_events}, {n_toys}")
    counts: CountArray = np.zeros((n_toys, n_events), dtype=np.uint16)
    toys = draw_toys(rng, n_events, expected_events, n_toys, probabilities)
    for t, picked in enumerate(toys):
        row = np.bincount(picked, minlength=n_events)
        if int(row.max()) > int(np.iinfo(counts.dtype).max):
            counts = counts.astype(np.uint32)
        counts[t] = row
    return counts


def _as_counts(counts: Any) -> CountArray:
    array = np.asarray(counts)
    if array.dtype.kind not in "iu":
        raise DtypeError(f"counts: expected an integer array, got dtype {array.dtype}")
    check_shape(array, "counts", (None, None))
    if array.dtype.kind == "i":
        if array.size and int(array.min()) < 0:
            raise InputError(f"counts: expected counts >= 0, got {int(array.min())}")
        top = int(array.max()) if array.size else 0
        array = array.astype(np.min_scalar_type(max(top, 255)))
    result: CountArray = array
    return result


def _prepare(
    counts: Any,
    coefficients: Any,
    features: Any,
    rate: RateModel,
    log1p: bool,
    floor: float,
) -> tuple[CountArray, FloatArray, FloatArray, FloatArray]:
    """Validated counts, coefficients restricted to the events any toy uses, Φ and ρ(θ)."""
    n = _as_counts(counts)
    c = as_float_array(coefficients, "coefficients", (n.shape[1], None))
    phi = as_float_array(features, "features", (None, c.shape[1]))
    if not (np.isfinite(floor) and floor > 0):
        raise InputError(f"floor: expected a finite value > 0, got {floor!r}")
    if log1p:
        for name, column in (("coefficients[:, 0]", c[:, 0]), ("features[:, 0]", phi[:, 0])):
            if (column != 1.0).any():
                raise InputError(f"{name}: log1p=True needs every entry == 1")
    if rate.coefficients.shape[0] != 1:
        raise InputError(
            f"rate: expected one member, got {rate.coefficients.shape[0]} rows of coefficients"
        )
    rho = rate.ratio(phi)[0]
    if not (rho > 0).all():
        raise InputError("rate: σ(θ)/σ(θ0) is not positive at every grid point")
    used = n.any(axis=0)
    if used.sum() < 0.9 * used.size:  # events no toy holds cost logs and flops for nothing
        n, c = np.ascontiguousarray(n[:, used]), c[used]
    return n, c, phi, rho


def _chunks(
    counts: Any,
    coefficients: Any,
    features: Any,
    rate: RateModel,
    expected_events0: float,
    log1p: bool,
    floor: float,
    backend: DenseBackend | None,
    grid_chunk: int,
    progress: bool,
    label: str,
) -> Iterator[tuple[int, FloatArray, ChunkSums]]:
    """Log r_full[t, g0:g0 + G_c] chunk by chunk, with its start g0."""
    if grid_chunk < 1:
        raise InputError(f"grid_chunk: expected >= 1, got {grid_chunk}")
    n, c, phi, rho = _prepare(counts, coefficients, features, rate, log1p, float(floor))
    sums = (backend or default_backend(n)).bind(n, c, log1p=bool(log1p), floor=float(floor))
    nu0 = float(expected_events0)
    with progress_bar(phi.shape[0], label, unit="point", enabled=progress) as bar:
        for g0 in range(0, phi.shape[0], grid_chunk):
            block = phi[g0 : g0 + grid_chunk]
            s = np.asarray(sums(block), dtype=np.float64)
            yield g0, s + poisson_term(rho[g0 : g0 + grid_chunk], nu0), sums
            bar.update(block.shape[0])


def toy_log_likelihoods(
    counts: Any,
    coefficients: Any,
    features: Any,
    rate: RateModel,
    *,
    expected_events0: float,
    log1p: bool = False,
    floor: float = DEFAULT_LOG_FLOOR,
    backend: DenseBackend | None = None,
    grid_chunk: int = GRID_CHUNK,
) -> FloatArray:
    """Log r_full[t, g] of every toy at every grid point, (T, G): for small problems and tests.

    Parameters
    ----------
    counts : array_like of int, shape (T, N)
        How often each of the N test events occurs in each of the T toys.
    coefficients : array_like, shape (N, K)
        C_e of the test events.
    features : array_like, shape (G, K)
        Φ(θ) of the grid points.
    rate : RateModel
        ρ(θ) = s·Φ(θ), one member.
    expected_events0 : float
        ν0 = L σ(θ0) (with any K-factor).
    log1p : bool
        C_e0 = Φ_0 = 1: accumulate log1p of the rest (the per-pair formulation of the scan).
    floor : float
        Clamped pairs contribute log(floor).
    backend : DenseBackend, optional
        :func:`default_backend` of the counts (:class:`CoreGather` for sparse toys, else
        :class:`NumpyDense`) by default.
    grid_chunk : int
        Grid points per chunk.

    Raises
    ------
    InputError, ShapeError, DtypeError
        Bad counts (negative, not integers), shapes, non-finite inputs, leading coefficients
        or features ≠ 1 with ``log1p``, a rate that is not positive or not one member.
    """
    g = np.shape(features)[0]
    out = np.empty((np.shape(counts)[0], g))
    for g0, ll, _ in _chunks(
        counts, coefficients, features, rate, expected_events0, log1p, floor, backend,
        grid_chunk, False, "",
    ):  # fmt: skip
        out[:, g0 : g0 + ll.shape[1]] = ll
    return out


def toy_statistics(
    counts: Any,
    coefficients: Any,
    features: Any,
    rate: RateModel,
    *,
    true_index: int,
    expected_events0: float,
    log1p: bool = False,
    floor: float = DEFAULT_LOG_FLOOR,
    backend: DenseBackend | None = None,
    grid_chunk: int = GRID_CHUNK,
    progress: bool = False,
    label: str = "dense toys",
) -> ToyStatistics:
    """Log r_full at θ_true and its grid maximum for every toy, streaming over grid chunks.

    Memory: the counts, one chunk of sums (T × ``grid_chunk``) and one block of L; never the
    (T, G) array. Parameters as :func:`toy_log_likelihoods`, plus ``true_index`` (the grid
    index of θ_true) and a progress bar over grid points.
    """
    g = int(np.shape(features)[0])
    if not 0 <= true_index < g:
        raise InputError(f"true_index: expected in [0, {g}), got {true_index}")
    n_toys = int(np.shape(counts)[0])
    top = np.full(n_toys, -np.inf)
    where = np.zeros(n_toys, dtype=np.int64)
    at_true = np.empty(n_toys)
    clamped = 0
    for g0, ll, sums in _chunks(
        counts, coefficients, features, rate, expected_events0, log1p, floor, backend,
        grid_chunk, progress, label,
    ):  # fmt: skip
        best = np.argmax(ll, axis=1)
        value = ll[np.arange(n_toys), best]
        better = value > top
        top[better], where[better] = value[better], best[better] + g0
        if g0 <= true_index < g0 + ll.shape[1]:
            at_true = ll[:, true_index - g0].copy()
        clamped = sums.clamped_pairs
    return ToyStatistics(at_true, top, where, clamped)
