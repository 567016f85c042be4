"""Plain NumPy reference of the fractional-smearing bookkeeping (tests compare the C++ core).

Same definitions as ``csrc/src/smearing.cpp``; written for clarity, not speed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: U64) -> U64:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    result: U64 = z ^ (z >> np.uint64(31))
    return result


def copy_seeds(run_seed: int, event_ids: I64, copy_ids: I64) -> U64:
    """Seed = splitmix64(splitmix64(splitmix64(run_seed) ^ event_id) ^ copy_id)."""
    base = splitmix64(np.array([run_seed], dtype=np.uint64))
    return splitmix64(splitmix64(base ^ event_ids.astype(np.uint64)) ^ copy_ids.astype(np.uint64))


def target_statistics(targets: F64, weights: F64 | None) -> tuple[F64, F64]:
    """Weighted mean and (population) standard deviation per target column."""
    w = np.ones(targets.shape[0]) if weights is None else weights
    mean = (w[:, None] * targets).sum(axis=0) / w.sum()
    var = (w[:, None] * (targets - mean) ** 2).sum(axis=0) / w.sum()
    return mean, np.sqrt(var)


def copy_counts(targets: F64, mean: F64, std: F64, threshold: float, max_copies: int) -> I64:
    """n_e = max over targets of ceil(|y|·(1/B)), B = band edge on y's side of zero (if > 0)."""
    upper = mean + threshold * std
    lower = threshold * std - mean
    with np.errstate(divide="ignore"):
        inverse_upper = np.where(upper > 0.0, 1.0 / upper, 0.0)
        inverse_lower = np.where(lower > 0.0, 1.0 / lower, 0.0)
    inverse_edge = np.where(targets >= 0.0, inverse_upper[None, :], inverse_lower[None, :])
    need = np.where(inverse_edge > 0.0, np.ceil(np.abs(targets) * inverse_edge), 1.0)
    n = np.maximum(need.max(axis=1), 1.0)
    counts: I64 = np.minimum(n, float(max_copies)).astype(np.int64)
    return counts


def expand_copies(counts: I64, event_ids: I64 | None, run_seed: int) -> dict[str, Any]:
    """Offsets, parent, copy index, weight 1/n and seed of every copy."""
    n = counts.shape[0]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    parent = np.repeat(np.arange(n, dtype=np.int64), counts)
    copy_index = (np.arange(offsets[-1]) - offsets[parent]).astype(np.int32)
    ids = np.arange(n, dtype=np.int64) if event_ids is None else event_ids
    return {
        "offsets": offsets,
        "parent": parent,
        "copy_index": copy_index,
        "weight": 1.0 / counts[parent].astype(np.float64),
        "seed": copy_seeds(run_seed, ids[parent], copy_index.astype(np.int64)),
    }


def regroup_survivors(
    parent: I64, n_parents: int, weights: F64 | None
) -> tuple[I64, I64, F64 | None]:
    """Stable order by parent, offsets per parent, and summed weights per parent."""
    order = np.argsort(parent, kind="stable").astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(parent, minlength=n_parents))]).astype(
        np.int64
    )
    weight_sum = None
    if weights is not None:
        weight_sum = np.bincount(parent, weights=weights, minlength=n_parents).astype(np.float64)
    return order, offsets, weight_sum
