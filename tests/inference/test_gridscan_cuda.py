"""Grid scan on the GPU (madsbi._core_cuda.log_ratio_sums): CUDA = float64 reference, clamping,
determinism, and the backend dispatch (which runs without a GPU)."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest

import madsbi
from madsbi import _backend
from madsbi.errors import BackendError, InputError
from madsbi.inference import gridscan as gridscan_module
from madsbi.inference import log_ratio_sums
from madsbi.theory import polynomial_features

from helpers.gridscan import random_scan

# -- helpers ---------------------------------------------------------------------------------


def term_scale(coef: np.ndarray, feat: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Σ_e |w_e log(c_me·φ_g)| (M, G), against which the sums are compared."""
    w = np.ones(coef.shape[1]) if weights is None else weights
    with np.errstate(all="ignore"):
        args = np.abs(np.log(np.abs(np.einsum("mnk,gk->mgn", coef, feat))))
    args[~np.isfinite(args)] = 1.0
    result: np.ndarray = args @ np.abs(w)
    return np.maximum(result, 1.0)


def dyadic_scan(
    rng: np.random.Generator, m: int, n: int, k: int, g: int, log1p: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients and features in multiples of 1/4 with small numerators: every dot product
    is exact in float64 (whatever the order), so arguments that are exactly 0 (−1 for log1p)
    or negative are clamped by every backend alike."""
    coef = rng.integers(-4, 5, size=(m, n, k)) / 4.0
    feat = rng.integers(-4, 5, size=(g, k)) / 4.0
    if log1p:
        coef[..., 0] = 1.0
        feat[:, 0] = 1.0
    weights = rng.uniform(0.5, 1.5, size=n)
    return coef, feat, weights


# -- CUDA vs the float64 reference (GPU only) ------------------------------------------------

SIZES = [  # (M, N, K, G): odd sizes that fill neither a block, a tile nor an event split
    (1, 1, 1, 1),
    (2, 7, 3, 5),
    (3, 1000, 10, 13),
    (1, 257, 6, 9),
    (2, 3001, 28, 7),
    (1, 100, 120, 6),
    (4, 517, 10, 1),
    (1, 4099, 3, 33),
    (2, 20_000, 10, 300),  # several event splits
    (1, 513, 4, 1000),  # generic K, several blocks of points
    (3, 2049, 15, 257),
]


@pytest.mark.gpu
@pytest.mark.parametrize(("m", "n", "k", "g"), SIZES)
@pytest.mark.parametrize("log1p", [False, True])
@pytest.mark.parametrize("weighted", [True, False])
def test_cuda_matches_reference(
    rng: np.random.Generator, m: int, n: int, k: int, g: int, log1p: bool, weighted: bool
) -> None:
    coef, feat, weights = random_scan(rng, m, n, k, g)
    w = weights if weighted else None
    gpu = log_ratio_sums(coef, feat, w, log1p=log1p, backend="cuda")
    ref = log_ratio_sums(coef, feat, w, log1p=log1p, backend="numpy")
    assert gpu.sums.shape == gpu.n_clamped.shape == (m, g)
    assert gpu.sums.dtype == np.float64
    assert gpu.n_clamped.dtype == np.int64
    np.testing.assert_array_equal(gpu.n_clamped, 0)
    rel = np.abs(gpu.sums - ref.sums) / term_scale(coef, feat, w)
    assert rel.max() < 1e-12, rel.max()


@pytest.mark.gpu
@pytest.mark.parametrize("log1p", [False, True])
@pytest.mark.parametrize(("m", "n", "k", "g"), [(2, 3000, 10, 50), (1, 999, 5, 17), (3, 64, 3, 8)])
def test_cuda_clamped_pairs_match_reference(
    rng: np.random.Generator, m: int, n: int, k: int, g: int, log1p: bool
) -> None:
    coef, feat, weights = dyadic_scan(rng, m, n, k, g, log1p)
    floor = 1e-20
    gpu = log_ratio_sums(coef, feat, weights, log1p=log1p, floor=floor, backend="cuda")
    ref = log_ratio_sums(coef, feat, weights, log1p=log1p, floor=floor, backend="numpy")
    core = log_ratio_sums(coef, feat, weights, log1p=log1p, floor=floor, backend="core")
    assert ref.n_clamped.sum() > 0  # the inputs do clamp: exact zeros and negatives
    assert (ref.n_clamped < n).any()  # and not everything
    np.testing.assert_array_equal(gpu.n_clamped, ref.n_clamped)
    np.testing.assert_array_equal(gpu.n_clamped, core.n_clamped)
    scale = np.abs(np.log(floor)) * np.abs(weights).sum()
    assert (np.abs(gpu.sums - ref.sums) / scale).max() < 1e-12


@pytest.mark.gpu
@pytest.mark.parametrize("floor", [gridscan_module.DEFAULT_LOG_FLOOR, 1e-10])
def test_cuda_clamped_edge_cases(floor: float) -> None:
    # The edge cases of test_gridscan.py: zero, negative and overflowing (inf) arguments.
    coef = np.array([[1.0, -0.25], [1.0, -1.0], [1.0, -0.75], [0.0, 0.0], [1e308, 1e308]])
    feat = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]])
    weights = np.array([1.0, 2.0, 3.0, 0.5, 0.25])
    gpu = log_ratio_sums(coef, feat, weights, floor=floor, backend="cuda")
    core = log_ratio_sums(coef, feat, weights, floor=floor, backend="core")
    np.testing.assert_array_equal(gpu.n_clamped, [1, 3, 4])
    np.testing.assert_allclose(gpu.sums, core.sums, rtol=1e-14)
    # log1p: u = −1 exactly, below −1, and overflowing.
    coef = np.array([[1.0, -0.5], [1.0, -1.0], [1.0, -1.5], [1.0, 1e300]])
    feat = np.array([[1.0, 1.0], [1.0, 1e10]])
    gpu = log_ratio_sums(coef, feat, weights[:4], log1p=True, floor=floor, backend="cuda")
    core = log_ratio_sums(coef, feat, weights[:4], log1p=True, floor=floor, backend="core")
    np.testing.assert_array_equal(gpu.n_clamped, [2, 4])
    np.testing.assert_allclose(gpu.sums, core.sums, rtol=1e-14)


@pytest.mark.gpu
def test_cuda_log1p_accurate_for_tiny_arguments(rng: np.random.Generator) -> None:
    n, k = 3000, 10
    coef = np.ones((2, n, k))
    coef[..., 1:] = rng.normal(size=(2, n, k - 1)) * 1e-12
    feat = np.ones((40, k))
    feat[:, 1:] = rng.uniform(-2.0, 2.0, size=(40, k - 1))
    weights = rng.uniform(0.5, 1.5, size=n)
    gpu = log_ratio_sums(coef, feat, weights, log1p=True, backend="cuda").sums
    core = log_ratio_sums(coef, feat, weights, log1p=True, backend="core").sums
    scale = np.abs(np.einsum("mnk,gk->mgn", coef[..., 1:], feat[:, 1:])) @ weights
    assert (np.abs(gpu - core) / scale).max() < 1e-13


@pytest.mark.gpu
def test_cuda_deterministic_and_device_split(rng: np.random.Generator) -> None:
    coef, feat, weights = random_scan(rng, 2, 5000, 10, 301)
    cuda = madsbi._backend.core_cuda()
    assert cuda is not None
    first = cuda.log_ratio_sums(coef, feat, weights, False, 1e-300, [])
    again = cuda.log_ratio_sums(coef, feat, weights, False, 1e-300, [])
    one_device = cuda.log_ratio_sums(coef, feat, weights, False, 1e-300, [0])
    for other in (again, one_device):  # bitwise: the order of the sums depends on shapes only
        np.testing.assert_array_equal(other[0], first[0])
        np.testing.assert_array_equal(other[1], first[1])
    with pytest.raises(ValueError, match="devices: device 9999"):
        cuda.log_ratio_sums(coef, feat, weights, False, 1e-300, [9999])


@pytest.mark.gpu
def test_cuda_two_dimensional_and_empty(rng: np.random.Generator) -> None:
    coef, feat, weights = random_scan(rng, 1, 200, 6, 8)
    single = log_ratio_sums(coef[0], feat, weights, backend="cuda")
    batched = log_ratio_sums(coef, feat, weights, backend="cuda")
    assert single.sums.shape == (8,)
    np.testing.assert_array_equal(single.sums, batched.sums[0])
    no_events = log_ratio_sums(np.zeros((2, 0, 3)), np.ones((4, 3)), backend="cuda")
    np.testing.assert_array_equal(no_events.sums, np.zeros((2, 4)))
    np.testing.assert_array_equal(no_events.n_clamped, np.zeros((2, 4)))
    no_points = log_ratio_sums(np.ones((2, 5, 3)), np.ones((0, 3)), backend="cuda")
    assert no_points.sums.shape == (2, 0)


@pytest.mark.gpu
@pytest.mark.slow
def test_cuda_q_within_1e3_at_acceptance_size(rng: np.random.Generator) -> None:
    """The issue's acceptance: q(θ) = 2 (max S − S(θ)) within 1e-3 of float64 for N = 2·10⁵,
    K = 10, G = 10⁵ (float64 reference: the C++ core on 2000 of the points and the best one)."""
    n_events, n_points = 200_000, 100_000
    coef = np.ones((n_events, 10))
    coef[:, 1:4] = rng.normal(0.0, 0.4, size=(n_events, 3))
    coef[:, 4:7] = rng.uniform(-0.05, 0.5, size=(n_events, 3))
    coef[:, 7:] = rng.normal(0.0, 0.1, size=(n_events, 3))
    thetas = rng.uniform(-1.0, 1.0, size=(n_points, 3))
    feat = polynomial_features(thetas, np.zeros(3))
    weights = rng.uniform(0.5, 1.5, size=n_events)
    for log1p in (False, True):
        gpu = log_ratio_sums(coef, feat, weights, log1p=log1p, backend="cuda").sums
        best = int(np.argmax(gpu))
        subset = np.unique(np.append(rng.choice(n_points, 2000, replace=False), best))
        ref = log_ratio_sums(coef, feat[subset], weights, log1p=log1p, backend="core").sums
        i_best = int(np.searchsorted(subset, best))
        q_gpu = 2.0 * (gpu[best] - gpu[subset])
        q_ref = 2.0 * (ref[i_best] - ref)
        assert np.abs(q_gpu - q_ref).max() < 1e-3


# -- dispatch (no GPU needed) ----------------------------------------------------------------


def fake_cuda(devices: int, result: Any = None, error: Exception | None = None) -> Any:
    """A stand-in for madsbi._core_cuda with ``devices`` GPUs whose log_ratio_sums returns
    ``result`` (or raises ``error``) and records its calls."""
    calls: list[tuple[Any, ...]] = []

    def scan(*args: Any) -> Any:
        calls.append(args)
        if error is not None:
            raise error
        return result

    module = types.SimpleNamespace(device_count=lambda: devices, log_ratio_sums=scan)
    module.calls = calls
    return module


def use_cuda_module(monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
    monkeypatch.setattr(_backend, "core_cuda", lambda: module)


def test_auto_falls_back_to_core_without_cuda(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_cuda_module(monkeypatch, None)
    assert not madsbi.has_cuda()
    coef, feat, weights = random_scan(rng, 2, 300, 4, 11)
    auto = log_ratio_sums(coef, feat, weights)
    core = log_ratio_sums(coef, feat, weights, backend="core")
    np.testing.assert_array_equal(auto.sums, core.sums)
    np.testing.assert_array_equal(auto.n_clamped, core.n_clamped)


def test_auto_falls_back_to_core_with_no_device(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = fake_cuda(devices=0)
    use_cuda_module(monkeypatch, module)
    coef, feat, weights = random_scan(rng, 1, 100, 3, 5)
    auto = log_ratio_sums(coef, feat, weights)
    np.testing.assert_array_equal(
        auto.sums, log_ratio_sums(coef, feat, weights, backend="core").sums
    )
    assert module.calls == []


def test_auto_uses_cuda_when_available(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    coef, feat, weights = random_scan(rng, 2, 50, 3, 4)
    sums, clamped = np.full((2, 4), 7.0), np.zeros((2, 4), dtype=np.int64)
    module = fake_cuda(devices=1, result=(sums, clamped))
    use_cuda_module(monkeypatch, module)
    result = log_ratio_sums(coef, feat, weights, log1p=True, floor=1e-5)
    np.testing.assert_array_equal(result.sums, sums)
    (args,) = module.calls
    np.testing.assert_array_equal(args[0], coef)
    np.testing.assert_array_equal(args[1], feat)
    np.testing.assert_array_equal(args[2], weights)
    assert args[3:] == (True, 1e-5)
    # (N, K) coefficients come back as (G,)
    module.calls.clear()
    single = log_ratio_sums(coef[0], feat, weights)
    assert single.sums.shape == (4,)


def test_explicit_cuda_without_cuda_raises_backend_error(
    rng: np.random.Generator,
) -> None:
    if madsbi.has_cuda():
        pytest.skip("a GPU is usable here")
    coef, feat, weights = random_scan(rng, 1, 10, 3, 2)
    with pytest.raises(BackendError, match=r"backend='cuda': .*(MADSBI_CUDA=ON|no CUDA device)"):
        log_ratio_sums(coef, feat, weights, backend="cuda")


def test_explicit_cuda_names_the_reason(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    coef, feat, weights = random_scan(rng, 1, 10, 3, 2)
    use_cuda_module(monkeypatch, None)
    with pytest.raises(BackendError, match="built without MADSBI_CUDA=ON"):
        log_ratio_sums(coef, feat, weights, backend="cuda")
    use_cuda_module(monkeypatch, fake_cuda(devices=0))
    with pytest.raises(BackendError, match="no CUDA device is visible"):
        log_ratio_sums(coef, feat, weights, backend="cuda")


def test_cuda_errors_are_mapped(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    coef, feat, weights = random_scan(rng, 1, 10, 3, 2)
    use_cuda_module(monkeypatch, fake_cuda(1, error=RuntimeError("CUDA error in cudaMalloc")))
    with pytest.raises(BackendError, match="cudaMalloc"):
        log_ratio_sums(coef, feat, weights, backend="cuda")
    use_cuda_module(monkeypatch, fake_cuda(1, error=ValueError("devices: device 3")))
    with pytest.raises(InputError, match="devices: device 3"):
        log_ratio_sums(coef, feat, weights, backend="cuda")


def test_cuda_checks_finiteness_before_the_gpu(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    coef, feat, weights = random_scan(rng, 1, 10, 3, 2)
    module = fake_cuda(devices=1, result=None)
    use_cuda_module(monkeypatch, module)
    coef[0, 3, 1] = np.inf
    with pytest.raises(InputError, match="coefficients"):
        log_ratio_sums(coef, feat, weights, backend="cuda")
    assert module.calls == []


def test_built_module_without_gpu_raises_runtime_error() -> None:
    cuda = _backend.core_cuda()
    if cuda is None or madsbi.has_cuda():
        pytest.skip("needs madsbi._core_cuda built and no GPU")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        cuda.log_ratio_sums(np.ones((1, 2, 1)), np.ones((1, 1)), None, False, 1e-300, [])
