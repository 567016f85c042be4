"""Likelihood grid scans (paper App. A, docs/design.md "Likelihood, test statistic, coverage").

For per-event coefficients c_e of the quadratic θ-polynomial (one set per ensemble member m)
and the features φ(θ_g − θ0) of G grid points, the event term of the log likelihood ratio is

    S[m, g] = Σ_e w_e log(c_me · φ_g),

summed over 10⁵–10⁷ events for every grid point, in float64. When the coefficients are
normalised so that c_e0 = 1 (and φ_0 = 1 as always), ``log1p=True`` computes
log1p(Σ_{k≥1} c_ek φ_k) instead, which keeps the accuracy of terms near θ0 where the ratio is
close to 1. Pairs whose argument lies outside the domain of the log (≤ 0, resp. ≤ −1 for
log1p) or is not finite contribute w_e log(floor) and are counted, so that a scan over a
region where the quadratic turns negative stays finite and says where it was clamped.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._backend import call_core, call_cuda, resolve_backend
from madsbi._validate import FloatArray, IntArray, as_float_array, check_shape
from madsbi.errors import InputError, ShapeError
from madsbi.inference import _gridscan_reference as reference

#: Default value that clamped log arguments are replaced by: the smallest positive normal
#: double, so a clamped pair contributes w_e · (−708.4).
DEFAULT_LOG_FLOOR = float(np.finfo(np.float64).tiny)
#: Largest number of coefficients per event: K = 1 + n + n(n+1)/2 for n = 14 parameters.
MAX_COEFFICIENTS = 120


@dataclass(frozen=True, eq=False)
class GridScanResult:
    """Summed log terms of a grid scan and the number of clamped pairs behind each sum.

    Attributes
    ----------
    sums : ndarray of float64, shape (M, G), or (G,) for coefficients of shape (N, K)
        S[m, g] = Σ_e w_e log(c_me · φ_g).
    n_clamped : ndarray of int64, same shape as ``sums``
        Number of events whose argument was clamped to ``floor``.
    """

    sums: FloatArray
    n_clamped: IntArray

    @property
    def any_clamped(self) -> bool:
        """Whether any pair of the scan was clamped."""
        return bool(np.any(self.n_clamped))


def log_ratio_sums(
    coefficients: Any,
    features: Any,
    weights: Any | None = None,
    *,
    log1p: bool = False,
    floor: float = DEFAULT_LOG_FLOOR,
    backend: str = "auto",
    n_threads: int = 0,
) -> GridScanResult:
    """S[m, g] = Σ_e w_e log(c_me · φ_g) for every ensemble member m and grid point g.

    Parameters
    ----------
    coefficients : array_like, shape (M, N, K) or (N, K)
        Per-event coefficients c_e of M ensemble members (or of one estimate), K <= 120.
    features : array_like, shape (G, K)
        Features φ(θ_g − θ0) of G grid points (e.g. from
        :func:`madsbi.theory.polynomial_features`).
    weights : array_like, shape (N,), optional
        Event weights w_e; unit weights by default.
    log1p : bool
        Compute log1p(Σ_{k≥1} c_ek φ_gk); requires ``coefficients[..., 0] == 1`` and
        ``features[:, 0] == 1``, and is accurate where the ratio is close to 1.
    floor : float
        Finite value > 0: a pair whose argument is ≤ 0 (≤ −1 with ``log1p``) or not finite
        contributes w_e log(floor) and is counted in ``n_clamped``.
    backend : {"auto", "core", "cuda", "numpy"}
        "core" is the C++ kernel (float64 sums in a fixed order: the result does not depend on
        ``n_threads``); "cuda" the GPU kernel of ``madsbi._core_cuda`` (the same per-pair
        float64 math, sums in a fixed order that depends on the shapes only, the grid split
        over every visible GPU; agrees with "core" to rounding); "numpy" the plain reference;
        "auto" is "cuda" when :func:`madsbi.has_cuda` is true, else "core"
        (``madsbi._backend.resolve_backend``).
    n_threads : int
        Threads of the C++ kernel; 0 uses all hardware threads. Ignored by "cuda".

    Returns
    -------
    GridScanResult
        ``sums`` and ``n_clamped`` of shape (M, G), or (G,) for coefficients of shape (N, K).

    Raises
    ------
    ShapeError
        If an array has the wrong shape, or K is not in [1, 120].
    InputError
        If an input is not finite, ``floor`` is not a finite value > 0, with ``log1p`` a
        leading coefficient or feature is not 1, or ``backend`` is unknown.
    BackendError
        With ``backend="cuda"``, if madsbi was built without ``MADSBI_CUDA=ON``, no CUDA
        device is visible, or the GPU run failed.
    DtypeError
        If an array is not real-valued.
    """
    # Before any work: an explicit "cuda" without a GPU says why (BackendError).
    name = resolve_backend(backend)
    # The C++ core checks finiteness in its own pass; the reference and the GPU kernel need it
    # done here.
    check_finite = name != "core"
    coef = as_float_array(coefficients, "coefficients", finite=check_finite)
    single = coef.ndim == 2
    if single:
        coef = coef.reshape(1, *coef.shape)
    if coef.ndim != 3:
        raise ShapeError(
            f"coefficients: expected shape (N, K) or (M, N, K), got {tuple(np.shape(coefficients))}"
        )
    n_events, k = coef.shape[1], coef.shape[2]
    if not 1 <= k <= MAX_COEFFICIENTS:
        raise ShapeError(
            f"coefficients: expected K in [1, {MAX_COEFFICIENTS}] coefficients per event, "
            f"got K = {k}"
        )
    phi = as_float_array(features, "features", finite=check_finite)
    check_shape(phi, "features", (None, k))
    w = None if weights is None else as_float_array(weights, "weights", finite=check_finite)
    if w is not None:
        check_shape(w, "weights", (n_events,))
    try:
        floor_value = float(floor)
    except (TypeError, ValueError):
        floor_value = float("nan")
    if not (np.isfinite(floor_value) and floor_value > 0.0):
        raise InputError(f"floor: expected a finite value > 0, got {floor!r}")
    if log1p:
        _check_leading_ones(coef[..., 0], "coefficients", single)
        _check_leading_ones(phi[:, 0], "features", single=False)
    threads = operator.index(n_threads)

    if name == "numpy":
        sums, n_clamped = reference.log_ratio_sums(coef, phi, w, bool(log1p), floor_value)
    elif name == "cuda":
        sums, n_clamped = call_cuda("log_ratio_sums", coef, phi, w, bool(log1p), floor_value)
    else:
        sums, n_clamped = call_core(
            "log_ratio_sums", coef, phi, w, bool(log1p), floor_value, threads
        )
    if single:
        sums, n_clamped = sums[0], n_clamped[0]
    return GridScanResult(sums, n_clamped)


def _check_leading_ones(column: FloatArray, name: str, single: bool) -> None:
    """Raise InputError naming ``name`` unless every entry of ``column`` is exactly 1."""
    bad = np.argwhere(column != 1.0)
    if bad.size == 0:
        return
    first = tuple(int(i) for i in bad[0])
    index = first[1:] if single else first
    where = "[..., 0]" if name == "coefficients" else "[:, 0]"
    raise InputError(
        f"{name}: log1p=True needs {name}{where} == 1, got {float(column[first])} at index {index}"
    )
