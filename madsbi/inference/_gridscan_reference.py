"""Plain NumPy reference of the likelihood grid scan (tests compare the C++ core with it).

Same definitions as ``csrc/src/gridscan.cpp``, written for clarity: per chunk of grid points
the (G_chunk, N) matrix of arguments, NumPy's log / log1p, the clamping, and a float64
pairwise sum over the events (NumPy sums the contiguous last axis pairwise).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Arguments per chunk (G_chunk × N): 64 MB per float64 temporary (a few live at once),
#: whatever N and G are.
CHUNK_ELEMENTS = 1 << 23


def log_ratio_sums(
    coefficients: F64, features: F64, weights: F64 | None, log1p: bool, floor: float
) -> tuple[F64, I64]:
    """S[m, g] = Σ_e w_e log(c_me · φ_g) and the number of clamped pairs.

    Parameters
    ----------
    coefficients : ndarray, shape (M, N, K)
    features : ndarray, shape (G, K)
    weights : ndarray, shape (N,), or None for unit weights
    log1p : bool
        Compute log1p(Σ_{k≥1} c_mek φ_gk); the caller has checked c_me0 = φ_g0 = 1.
    floor : float
        Pairs whose argument is not finite or outside the domain contribute w_e log(floor).

    Returns
    -------
    sums : ndarray of float64, shape (M, G)
    n_clamped : ndarray of int64, shape (M, G)
    """
    n_members, n_events, _ = coefficients.shape
    n_points = features.shape[0]
    sums = np.zeros((n_members, n_points))
    n_clamped = np.zeros((n_members, n_points), dtype=np.int64)
    w = np.ones(n_events) if weights is None else weights
    log_floor = np.log(floor)
    step = max(1, CHUNK_ELEMENTS // max(1, n_events))
    first = 1 if log1p else 0
    for m in range(n_members):
        c = coefficients[m, :, first:]
        for g0 in range(0, n_points, step):
            with np.errstate(all="ignore"):  # overflow to inf is clamped below
                x = features[g0 : g0 + step, first:] @ c.T  # (G_chunk, N)
                if log1p:
                    ok = np.isfinite(x) & (x > -1.0)
                    terms = np.log1p(np.where(ok, x, 0.0))
                else:
                    ok = np.isfinite(x) & (x > 0.0)
                    terms = np.log(np.where(ok, x, 1.0))
            terms[~ok] = log_floor
            sums[m, g0 : g0 + step] = np.sum(terms * w, axis=1)
            n_clamped[m, g0 : g0 + step] = np.count_nonzero(~ok, axis=1)
    return sums, n_clamped
