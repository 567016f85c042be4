"""Grid scan S[m, g] = Σ_e w_e log(c_me·φ_g): core = reference, log1p accuracy, clamping, errors."""

from __future__ import annotations

import decimal
import math

import numpy as np
import pytest

from madsbi import _core
from madsbi.errors import DtypeError, InputError, ShapeError
from madsbi.inference import GridScanResult, log_ratio_sums
from madsbi.inference.gridscan import DEFAULT_LOG_FLOOR

from helpers.gridscan import random_scan

BACKENDS = ("core", "numpy")


def term_scale(coef: np.ndarray, feat: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Σ_e |w_e log(c_me·φ_g)|, shape (M, G): the size of the terms, against which the sums
    (which may cancel) are compared."""
    w = np.ones(coef.shape[1]) if weights is None else weights
    args = np.einsum("mnk,gk->mgn", coef, feat)
    result: np.ndarray = np.abs(np.log(args)) @ np.abs(w)
    return np.maximum(result, np.finfo(np.float64).tiny)  # K = 1: every term is log 1 = 0


# -- core vs reference -----------------------------------------------------------------------

SIZES = [  # (M, N, K, G): odd sizes that fill neither a SIMD vector, a block nor a tile
    (1, 1, 1, 1),
    (2, 7, 3, 5),
    (3, 1000, 10, 13),
    (1, 257, 6, 9),
    (2, 3001, 28, 7),
    (1, 100, 120, 6),
    (4, 517, 10, 1),
    (1, 4099, 3, 33),
]


@pytest.mark.parametrize(("m", "n", "k", "g"), SIZES)
@pytest.mark.parametrize("log1p", [False, True])
def test_core_matches_reference(
    rng: np.random.Generator, m: int, n: int, k: int, g: int, log1p: bool
) -> None:
    coef, feat, weights = random_scan(rng, m, n, k, g)
    core = log_ratio_sums(coef, feat, weights, log1p=log1p, backend="core")
    ref = log_ratio_sums(coef, feat, weights, log1p=log1p, backend="numpy")
    assert core.sums.shape == ref.sums.shape == (m, g)
    assert core.sums.dtype == np.float64
    assert core.n_clamped.dtype == np.int64
    np.testing.assert_array_equal(core.n_clamped, 0)
    np.testing.assert_array_equal(ref.n_clamped, 0)
    rel = np.abs(core.sums - ref.sums) / term_scale(coef, feat, weights)
    assert rel.max() < 1e-12, rel.max()


def test_auto_is_core_without_a_gpu(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import madsbi._backend as backend

    monkeypatch.setattr(backend, "has_cuda", lambda: False)
    coef, feat, weights = random_scan(rng, 2, 300, 4, 11)
    auto = log_ratio_sums(coef, feat, weights)
    core = log_ratio_sums(coef, feat, weights, backend="core")
    np.testing.assert_array_equal(auto.sums, core.sums)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_dimensional_coefficients(rng: np.random.Generator, backend: str) -> None:
    coef, feat, weights = random_scan(rng, 1, 200, 6, 8)
    single = log_ratio_sums(coef[0], feat, weights, backend=backend)
    batched = log_ratio_sums(coef, feat, weights, backend=backend)
    assert single.sums.shape == single.n_clamped.shape == (8,)
    np.testing.assert_array_equal(single.sums, batched.sums[0])
    np.testing.assert_array_equal(single.n_clamped, batched.n_clamped[0])


def test_independent_of_threads(rng: np.random.Generator) -> None:
    coef, feat, weights = random_scan(rng, 3, 5000, 10, 37)
    results = [
        log_ratio_sums(coef, feat, weights, backend="core", n_threads=t) for t in (1, 2, 3, 7, 0)
    ]
    for r in results[1:]:
        np.testing.assert_array_equal(r.sums, results[0].sums)  # bitwise
        np.testing.assert_array_equal(r.n_clamped, results[0].n_clamped)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_none_is_ones(rng: np.random.Generator, backend: str) -> None:
    coef, feat, _ = random_scan(rng, 2, 999, 5, 6)
    none = log_ratio_sums(coef, feat, backend=backend)
    ones = log_ratio_sums(coef, feat, np.ones(999), backend=backend)
    np.testing.assert_array_equal(none.sums, ones.sums)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_inputs(backend: str) -> None:
    no_events = log_ratio_sums(np.zeros((2, 0, 3)), np.ones((4, 3)), backend=backend)
    np.testing.assert_array_equal(no_events.sums, np.zeros((2, 4)))
    np.testing.assert_array_equal(no_events.n_clamped, np.zeros((2, 4)))
    no_points = log_ratio_sums(np.ones((2, 5, 3)), np.ones((0, 3)), backend=backend)
    assert no_points.sums.shape == no_points.n_clamped.shape == (2, 0)


# -- log1p: accuracy close to θ0 -------------------------------------------------------------


def exact_sums(coef: np.ndarray, feat: np.ndarray, weights: np.ndarray, log1p: bool) -> np.ndarray:
    """Σ_e w_e log(c_e·φ_g) in 60-digit decimal arithmetic from the exact float64 inputs."""
    first = 1 if log1p else 0
    out = np.empty(feat.shape[0])
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        for g, phi in enumerate(feat):
            total = decimal.Decimal(0)
            for c, w in zip(coef, weights, strict=True):
                arg = sum(
                    (
                        decimal.Decimal(a) * decimal.Decimal(b)
                        for a, b in zip(c[first:], phi[first:], strict=True)
                    ),
                    decimal.Decimal(0),
                )
                total += decimal.Decimal(w) * ((1 + arg) if log1p else arg).ln()
            out[g] = float(total)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_log1p_accurate_for_tiny_arguments(rng: np.random.Generator, backend: str) -> None:
    n, k = 300, 4
    coef = np.ones((n, k))
    coef[:, 1:] = rng.normal(size=(n, k - 1)) * 1e-12  # ratios within ~1e-12 of 1
    feat = np.ones((3, k))
    feat[:, 1:] = rng.uniform(-2.0, 2.0, size=(3, k - 1))
    weights = rng.uniform(0.5, 1.5, size=n)
    exact = exact_sums(coef, feat, weights, log1p=True)
    scale = np.abs(np.abs(coef[:, 1:]) @ np.abs(feat[:, 1:]).T).T @ weights  # Σ_e w_e |u_e|
    with_log1p = log_ratio_sums(coef, feat, weights, log1p=True, backend=backend).sums
    plain_log = log_ratio_sums(coef, feat, weights, backend=backend).sums
    err_log1p = np.abs(with_log1p - exact) / scale
    err_log = np.abs(plain_log - exact) / scale
    assert err_log1p.max() < 1e-14, err_log1p
    # log(1 + u) loses the digits of u below 1e-16: about 1e-4 relative here.
    assert err_log.max() > 1e3 * err_log1p.max()


def test_log_mode_matches_exact(rng: np.random.Generator) -> None:
    coef, feat, weights = random_scan(rng, 1, 200, 5, 4, spread=2.0)
    coef[..., 0] = 5.0  # keep every argument positive
    exact = exact_sums(coef[0], feat, weights, log1p=False)
    core = log_ratio_sums(coef[0], feat, weights, backend="core").sums
    scale = term_scale(coef, feat, weights)[0]
    assert (np.abs(core - exact) / scale).max() < 1e-14


# -- clamping --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("floor", [DEFAULT_LOG_FLOOR, 1e-10])
def test_clamped_pairs_counted_and_floored(backend: str, floor: float) -> None:
    # K = 2: the argument is c_0 + c_1 φ_1, at φ_1 = 0, 1, 2:
    # [1, .75, .5], [1, 0, −1], [1, .25, −.5], [0, 0, 0], [1e308, inf, inf].
    coef = np.array([[1.0, -0.25], [1.0, -1.0], [1.0, -0.75], [0.0, 0.0], [1e308, 1e308]])
    feat = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]])
    weights = np.array([1.0, 2.0, 3.0, 0.5, 0.25])
    with np.errstate(over="ignore"):
        args = coef[:, :1] * feat[:, 0] + coef[:, 1:] * feat[:, 1]  # (N, G)
    ok = np.isfinite(args) & (args > 0)
    logs = np.where(ok, np.log(np.where(ok, args, 1.0)), math.log(floor))
    result = log_ratio_sums(coef, feat, weights, floor=floor, backend=backend)
    np.testing.assert_array_equal(result.n_clamped, [1, 3, 4])
    np.testing.assert_allclose(result.sums, weights @ logs, rtol=1e-14)
    assert result.any_clamped


@pytest.mark.parametrize("backend", BACKENDS)
def test_log1p_clamps_at_minus_one(backend: str) -> None:
    coef = np.array([[1.0, -0.5], [1.0, -1.0], [1.0, -1.5], [1.0, 1e300]])
    feat = np.array([[1.0, 1.0], [1.0, 1e10]])
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    floor = 1e-30
    result = log_ratio_sums(coef, feat, weights, log1p=True, floor=floor, backend=backend)
    # φ_1 = 1: u = −0.5, −1 (clamped), −1.5 (clamped), 1e300.
    # φ_1 = 1e10: u = −5e9, −1e10, −1.5e10, inf: all clamped.
    np.testing.assert_array_equal(result.n_clamped, [2, 4])
    expected = [
        math.log1p(-0.5) + 5.0 * math.log(floor) + 4.0 * math.log1p(1e300),
        10.0 * math.log(floor),
    ]
    np.testing.assert_allclose(result.sums, expected, rtol=1e-14)


def test_result_without_clamping(rng: np.random.Generator) -> None:
    coef, feat, weights = random_scan(rng, 1, 50, 3, 2)
    result = log_ratio_sums(coef, feat, weights)
    assert isinstance(result, GridScanResult)
    assert not result.any_clamped


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_shapes(backend: str) -> None:
    feat = np.ones((3, 4))
    with pytest.raises(ShapeError, match=r"coefficients: expected shape \(N, K\) or \(M, N, K\)"):
        log_ratio_sums(np.ones(4), feat, backend=backend)
    with pytest.raises(ShapeError, match="coefficients"):
        log_ratio_sums(np.ones((1, 1, 2, 4)), feat, backend=backend)
    with pytest.raises(ShapeError, match=r"features: expected shape \(\*, 4\), got \(3, 5\)"):
        log_ratio_sums(np.ones((2, 4)), np.ones((3, 5)), backend=backend)
    with pytest.raises(ShapeError, match=r"weights: expected shape \(2,\), got \(3,\)"):
        log_ratio_sums(np.ones((2, 4)), feat, np.ones(3), backend=backend)
    with pytest.raises(ShapeError, match=r"K in \[1, 120\].*got K = 0"):
        log_ratio_sums(np.ones((2, 0)), np.ones((3, 0)), backend=backend)
    with pytest.raises(ShapeError, match="got K = 121"):
        log_ratio_sums(np.ones((2, 121)), np.ones((3, 121)), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_named(backend: str, bad: float) -> None:
    coef, feat, weights = np.ones((2, 6, 3)), np.ones((4, 3)), np.ones(6)
    c = coef.copy()
    c[1, 4, 2] = bad
    with pytest.raises(
        InputError,
        match=r"coefficients: non-finite value .*(1, 4, 2|member 1, event 4, component 2)",
    ):
        log_ratio_sums(c, feat, weights, backend=backend)
    f = feat.copy()
    f[3, 1] = bad
    with pytest.raises(
        InputError, match=r"features: non-finite value .*(3, 1|point 3, component 1)"
    ):
        log_ratio_sums(coef, f, weights, backend=backend)
    w = weights.copy()
    w[5] = bad
    with pytest.raises(InputError, match=r"weights: non-finite value .*(\(5,\)|event 5)"):
        log_ratio_sums(coef, feat, w, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_log1p_needs_leading_ones(backend: str) -> None:
    coef, feat = np.ones((2, 6, 3)), np.ones((4, 3))
    c = coef.copy()
    c[1, 2, 0] = 0.5
    with pytest.raises(
        InputError, match=r"coefficients: log1p=True needs .* got 0.5 at index \(1, 2\)"
    ):
        log_ratio_sums(c, feat, log1p=True, backend=backend)
    with pytest.raises(InputError, match=r"got 0.5 at index \(2,\)"):
        log_ratio_sums(c[1], feat, log1p=True, backend=backend)
    f = feat.copy()
    f[3, 0] = 2.0
    with pytest.raises(InputError, match=r"features: log1p=True needs .* got 2.0 at index \(3,\)"):
        log_ratio_sums(coef, f, log1p=True, backend=backend)
    log_ratio_sums(c, feat, backend=backend)  # fine without log1p


def test_core_rejects_bad_input_itself() -> None:
    """The compiled kernel checks what the Python layer leaves to it."""
    coef, feat = np.ones((1, 3, 2)), np.ones((2, 2))
    c = coef.copy()
    c[0, 1, 0] = 3.0
    with pytest.raises(ValueError, match=r"coefficients: log1p needs .* member 0, event 1"):
        _core.log_ratio_sums(c, feat, None, True, DEFAULT_LOG_FLOOR, 1)
    f = feat.copy()
    f[1, 0] = 0.0
    with pytest.raises(ValueError, match=r"features: log1p needs .* at point 1"):
        _core.log_ratio_sums(coef, f, None, True, DEFAULT_LOG_FLOOR, 1)
    with pytest.raises(ValueError, match=r"floor: expected a finite value > 0, got -1"):
        _core.log_ratio_sums(coef, feat, None, False, -1.0, 1)
    with pytest.raises(ValueError, match="must be in"):
        _core.log_ratio_sums(np.ones((1, 3, 0)), np.ones((2, 0)), None, False, 1e-300, 1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("floor", [0.0, -1.0, np.nan, np.inf, "x"])
def test_bad_floor(backend: str, floor: object) -> None:
    with pytest.raises(InputError, match="floor: expected a finite value > 0"):
        log_ratio_sums(np.ones((2, 3)), np.ones((1, 3)), floor=floor, backend=backend)


def test_bad_backend_and_dtype() -> None:
    with pytest.raises(
        InputError, match="backend: expected 'auto', 'core', 'cuda' or 'numpy', got 'gpu'"
    ):
        log_ratio_sums(np.ones((2, 3)), np.ones((1, 3)), backend="gpu")
    with pytest.raises(DtypeError, match="coefficients"):
        log_ratio_sums(np.ones((2, 3), dtype=complex), np.ones((1, 3)))


# -- the vectorised log --------------------------------------------------------------------


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.abs(got - want) / np.spacing(np.abs(want))
    return result


def test_log_kernel_agrees_with_numpy(rng: np.random.Generator) -> None:
    x = np.concatenate(
        [
            10.0 ** rng.uniform(-300, 300, 200_000),  # the whole normal range
            rng.uniform(5e-324, 2.3e-308, 20_000),  # subnormals
            1.0 + rng.uniform(-1e-3, 1e-3, 50_000),  # close to 1
            1.0 + np.arange(-2000, 2000) * np.finfo(np.float64).eps / 2,  # next to 1, by ulps
            [np.finfo(np.float64).max, np.finfo(np.float64).tiny, 5e-324, 0.5, 2.0, np.sqrt(2)],
        ]
    )
    x = x[x != 1.0]  # log(1) = 0 exactly, where an ulp is not defined
    got = _core._log_kernel(x)
    assert ulps(got, np.log(x)).max() <= 2.0
    assert _core._log_kernel(np.array([1.0]))[0] == 0.0


def test_log1p_kernel_agrees_with_numpy(rng: np.random.Generator) -> None:
    magnitude = 10.0 ** rng.uniform(-30, 3, 200_000)
    u = np.concatenate(
        [
            magnitude,
            -magnitude[magnitude < 1.0],
            -1.0 + 10.0 ** rng.uniform(-15, -1, 10_000),  # just above −1
            10.0 ** rng.uniform(3, 300, 10_000),
            [1e-300, -1e-300, 5e-324, np.finfo(np.float64).max],
        ]
    )
    got = _core._log1p_kernel(u)
    assert ulps(got, np.log1p(u)).max() <= 2.0
    assert _core._log1p_kernel(np.array([0.0]))[0] == 0.0
