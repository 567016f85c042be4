"""Fractional smearing (paper Sec. 2.3, App. B): copy counts, copies, and survivor regrouping.

Events whose targets y_e (r, R_i or R_ij) lie far out in the tails are sent through the
stochastic simulation n_e times, each copy with weight 1/n_e, so that sparse regions of large
targets are populated by many weighted reco events instead of one unit-weight event.

Copy counts: with the weighted mean μ and standard deviation s of each target and a threshold
t, n_e is the smallest n >= 1 with |y_e|/n <= B for every target, where B = μ + t·s for y >= 0
and B = t·s − μ for y < 0, the edge of the band [μ − t·s, μ + t·s] on the side of zero where
y lies (splitting only shrinks |y|/n towards zero, so a target whose edge does not reach past
zero never asks for copies); n_e is capped at ``max_copies``. Both implementations compute
ceil(|y|·(1/B)), so they agree to the last bit. Every copy gets a counter-based
seed f(run seed, event id, copy id), so shards simulated anywhere reproduce a one-machine run.

Every function takes ``backend``: "auto" or "core" for the C++ core, "numpy" for the NumPy
reference (``madsbi._backend.resolve_backend``; there is no GPU kernel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from madsbi._backend import CPU_KERNELS, call_core, resolve_backend
from madsbi._validate import FloatArray, IntArray, as_float_array, as_int_array
from madsbi.errors import InputError
from madsbi.simulate import _smearing_reference as reference

UIntArray = npt.NDArray[np.uint64]


def _targets(targets: Any, backend: str) -> FloatArray:
    # The C++ core checks finiteness in its own pass; the reference needs it done here.
    array = as_float_array(targets, "targets", finite=backend == "numpy")
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[0] == 0:
        raise InputError(f"targets: expected shape (N,) or (N, T) with N >= 1, got {array.shape}")
    return array


def _weights(weights: Any, n: int) -> FloatArray | None:
    return None if weights is None else as_float_array(weights, "weights", (n,))


def _backend(name: str) -> str:
    """The kernel for ``backend``: "auto" and "core" the C++ core (no GPU kernel), "numpy"."""
    return resolve_backend(name, CPU_KERNELS)


def _statistics(y: FloatArray, w: FloatArray | None, backend: str) -> tuple[FloatArray, FloatArray]:
    if backend == "numpy":
        if w is not None and not w.sum() > 0:
            raise InputError("weights: the sum of event weights must be positive")
        return reference.target_statistics(y, w)
    mean, std = call_core("target_statistics", y, w, 0)
    return mean, std


def _counts(
    y: FloatArray, mu: FloatArray, sd: FloatArray, threshold: float, max_copies: int, backend: str
) -> IntArray:
    if not (threshold > 0 and np.isfinite(threshold)):
        raise InputError(f"threshold: expected a finite value > 0, got {threshold}")
    if max_copies < 1:
        raise InputError(f"max_copies: expected >= 1, got {max_copies}")
    if backend == "numpy":
        return reference.copy_counts(y, mu, sd, float(threshold), int(max_copies))
    counts: IntArray = call_core("copy_counts", y, mu, sd, float(threshold), int(max_copies), 0)
    return counts


def _resolve_statistics(
    y: FloatArray, weights: Any, mean: Any, std: Any, backend: str
) -> tuple[FloatArray, FloatArray]:
    """The given mean and std (both or neither), else those of the targets."""
    if mean is None and std is None:
        return _statistics(y, _weights(weights, y.shape[0]), backend)
    if mean is None or std is None:
        raise InputError("mean, std: give both or neither")
    mu = as_float_array(mean, "mean", (y.shape[1],))
    sd = as_float_array(std, "std", (y.shape[1],))
    if np.any(sd < 0):
        raise InputError(f"std: need std >= 0 for every target, got {sd.tolist()}")
    return mu, sd


def target_statistics(
    targets: Any, weights: Any | None = None, *, backend: str = "auto"
) -> tuple[FloatArray, FloatArray]:
    """Weighted mean μ and standard deviation s of each target (float64/long-double sums).

    Parameters
    ----------
    targets : array_like, shape (N,) or (N, T)
    weights : array_like, shape (N,), optional

    Returns
    -------
    mean : ndarray, shape (T,)
        Weighted mean μ of each target.
    std : ndarray, shape (T,)
        Weighted standard deviation s of each target.
    """
    backend = _backend(backend)
    y = _targets(targets, backend)
    return _statistics(y, _weights(weights, y.shape[0]), backend)


def copy_counts(
    targets: Any,
    threshold: float,
    *,
    max_copies: int = 1000,
    weights: Any | None = None,
    mean: Any | None = None,
    std: Any | None = None,
    backend: str = "auto",
) -> IntArray:
    """Number of copies n_e of every event (see the module docstring).

    Parameters
    ----------
    targets : array_like, shape (N,) or (N, T)
    threshold : float
        t > 0; smaller values split more.
    max_copies : int
        Cap on n_e.
    weights : array_like, shape (N,), optional
        Event weights for μ and s.
    mean, std : array_like, shape (T,), optional
        Use these statistics instead of computing them (e.g. from a whole sample when
        planning one shard).

    Returns
    -------
    ndarray of int64, shape (N,)
    """
    backend = _backend(backend)
    y = _targets(targets, backend)
    mu, sd = _resolve_statistics(y, weights, mean, std, backend)
    return _counts(y, mu, sd, threshold, max_copies, backend)


def copy_seeds(run_seed: int, event_ids: Any, copy_ids: Any) -> UIntArray:
    """Counter-based seeds splitmix64(splitmix64(splitmix64(run_seed) ^ event) ^ copy)."""
    return reference.copy_seeds(
        int(run_seed), as_int_array(event_ids, "event_ids"), as_int_array(copy_ids, "copy_ids")
    )


@dataclass(frozen=True, eq=False)
class SmearingPlan:
    """The copies of a fractional-smearing pass.

    Attributes
    ----------
    counts : ndarray (N,)
        Copies per parent event.
    offsets : ndarray (N + 1,)
        Copies of event e are rows ``offsets[e] .. offsets[e+1]``.
    parent, copy_index, weight, seed : ndarray (M,)
        Parent event, copy number, fractional weight 1/n_e and random seed of every copy.
    mean, std : ndarray (T,)
        Target statistics the counts were computed with.
    threshold : float
    max_copies : int
    """

    counts: IntArray
    offsets: IntArray
    parent: IntArray
    copy_index: npt.NDArray[np.int32]
    weight: FloatArray
    seed: UIntArray
    mean: FloatArray
    std: FloatArray
    threshold: float
    max_copies: int

    @property
    def n_copies(self) -> int:
        """Total number of copies M."""
        return int(self.parent.shape[0])


def plan_copies(
    targets: Any,
    threshold: float,
    *,
    max_copies: int = 1000,
    weights: Any | None = None,
    event_ids: Any | None = None,
    run_seed: int = 0,
    mean: Any | None = None,
    std: Any | None = None,
    backend: str = "auto",
) -> SmearingPlan:
    """Copy counts, then the table of all copies with weights 1/n and counter-based seeds.

    ``event_ids`` (N,) are the events' global ids entering the seeds (default 0..N−1): give
    the store row numbers when planning a shard, so every split gives the same seeds.
    """
    backend = _backend(backend)
    y = _targets(targets, backend)
    mu, sd = _resolve_statistics(y, weights, mean, std, backend)
    counts = _counts(y, mu, sd, threshold, max_copies, backend)
    ids = None if event_ids is None else as_int_array(event_ids, "event_ids", (y.shape[0],))
    if not 0 <= int(run_seed) < 2**64:
        raise InputError(f"run_seed: expected 0 <= seed < 2**64, got {run_seed}")
    table: dict[str, Any]
    if backend == "numpy":
        table = reference.expand_copies(counts, ids, int(run_seed))
    else:
        table = call_core("expand_copies", counts, ids, int(run_seed), 0)
    return SmearingPlan(
        counts=counts,
        offsets=table["offsets"],
        parent=table["parent"],
        copy_index=table["copy_index"],
        weight=table["weight"],
        seed=table["seed"],
        mean=mu,
        std=sd,
        threshold=float(threshold),
        max_copies=int(max_copies),
    )


@dataclass(frozen=True, eq=False)
class SurvivorGroups:
    """Survivors of cuts grouped by parent.

    The survivors of parent p are ``order[offsets[p]:offsets[p+1]]``;

    ``weight_sum[p]`` sums their weights (None if no weights were given); a parent whose copies
    all failed the cuts has an empty group and zero weight.
    """

    order: IntArray
    offsets: IntArray
    weight_sum: FloatArray | None

    @property
    def counts(self) -> IntArray:
        """Number of surviving copies per parent."""
        return np.diff(self.offsets)


def regroup_survivors(
    parent: Any, n_parents: int, weights: Any | None = None, *, backend: str = "auto"
) -> SurvivorGroups:
    """Group surviving copies by their parent event (stable within a parent).

    Parameters
    ----------
    parent : array_like of int, shape (M,)
        Parent index of every surviving copy, in [0, n_parents).
    n_parents : int
    weights : array_like, shape (M,), optional
    """
    backend = _backend(backend)
    par = as_int_array(parent, "parent", (None,))
    w = _weights(weights, par.shape[0])
    if n_parents < 0:
        raise InputError(f"n_parents: expected >= 0, got {n_parents}")
    if backend == "numpy":
        if par.size and (par.min() < 0 or par.max() >= n_parents):
            raise InputError(
                f"parent: indices must lie in [0, {n_parents}), got [{par.min()}, {par.max()}]"
            )
        order, offsets, weight_sum = reference.regroup_survivors(par, int(n_parents), w)
    else:
        order, offsets, weight_sum = call_core("regroup_survivors", par, int(n_parents), w, 0)
    return SurvivorGroups(order, offsets, weight_sum)
