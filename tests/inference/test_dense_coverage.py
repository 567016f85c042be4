"""Coverage as dense algebra: counts × log R agrees with the per-toy grid scans (the reference)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from madsbi.errors import DtypeError, InputError, ShapeError
from madsbi.inference.coverage import dense_coverage, run_coverage
from madsbi.inference.dense import (
    CoreGather,
    NumpyDense,
    draw_toys,
    toy_counts,
    toy_log_likelihoods,
    toy_statistics,
)
from madsbi.inference.likelihood import RateModel, scan
from madsbi.theory.polynomial import polynomial_features

from helpers.likelihood import quadratic_events


def cube(n_params: int, per_axis: int, half_width: float = 1.0) -> np.ndarray:
    axis = np.linspace(-half_width, half_width, per_axis)
    return np.stack(np.meshgrid(*[axis] * n_params, indexing="ij"), -1).reshape(-1, n_params)


def reference_log_likelihoods(
    picks: list[np.ndarray],
    c: np.ndarray,
    phi: np.ndarray,
    rate: RateModel,
    nu0: float,
    log1p: bool,
) -> np.ndarray:
    """Log r_full of each toy by the per-toy grid scan (C++ core)."""
    grid = np.zeros((phi.shape[0], 1))
    return np.stack(
        [scan(c[p], phi, rate, thetas=grid, log1p=log1p).log_full_ratio(nu0)[0] for p in picks]
    )


def assert_close_ll(dense: np.ndarray, ref: np.ndarray) -> None:
    scale = np.max(np.abs(ref), axis=1, keepdims=True)
    np.testing.assert_allclose(dense, ref, rtol=1e-9, atol=1e-12 * float(scale.max()))
    q_dense = -2.0 * (dense - dense.max(1, keepdims=True))
    q_ref = -2.0 * (ref - ref.max(1, keepdims=True))
    np.testing.assert_allclose(q_dense, q_ref, rtol=1e-9, atol=1e-11 * float(scale.max()))


BACKENDS = {
    "blas": NumpyDense(block_elements=5000, sparse=False),
    "numpy-gather": NumpyDense(block_elements=5000, sparse=True),
    "core-gather": CoreGather(n_threads=1),
    "core-gather-3-threads": CoreGather(n_threads=3),
}


@pytest.mark.parametrize("log1p", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
def test_dense_equals_per_toy_scans(log1p: bool, backend: str) -> None:
    rng = np.random.default_rng(11)
    c = quadratic_events(rng, 400, 3)
    phi = polynomial_features(cube(3, 5), np.zeros(3))
    rate = RateModel.from_event_coefficients(c)
    counts = toy_counts(np.random.default_rng(3), c.shape[0], 150.0, 7)
    picks = list(draw_toys(np.random.default_rng(3), c.shape[0], 150.0, 7))
    assert counts.dtype == np.uint16
    np.testing.assert_array_equal(counts.sum(1), [p.size for p in picks])
    ll = toy_log_likelihoods(
        counts,
        c,
        phi,
        rate,
        expected_events0=140.0,
        log1p=log1p,
        backend=BACKENDS[backend],
    )
    ref = reference_log_likelihoods(picks, c, phi, rate, 140.0, log1p=log1p)
    assert ll.shape == (7, 125)
    assert_close_ll(ll, ref)


def test_clamped_pairs_match_the_scan() -> None:
    # Ratios that turn negative somewhere on the grid are clamped to log(floor) by both.
    rng = np.random.default_rng(5)
    c = quadratic_events(rng, 200, 2)
    c[::7, 3:] *= -1.0  # some negative squares
    phi = polynomial_features(cube(2, 9), np.zeros(2))
    rate = RateModel.build([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    counts = toy_counts(np.random.default_rng(8), c.shape[0], 80.0, 4)
    picks = list(draw_toys(np.random.default_rng(8), c.shape[0], 80.0, 4))
    stats = toy_statistics(
        counts, c, phi, rate, true_index=40, expected_events0=80.0, log1p=True, grid_chunk=10
    )
    assert stats.clamped_pairs > 0
    ref = reference_log_likelihoods(picks, c, phi, rate, 80.0, log1p=True)
    assert np.any(ref < -700.0)  # the clamped pairs are in there
    blas = NumpyDense().bind(counts, c, log1p=True, floor=1e-300)
    blas(phi)
    for backend in BACKENDS.values():
        sums = backend.bind(counts, c, log1p=True, floor=1e-300)
        sums(phi)
        assert sums.clamped_pairs == blas.clamped_pairs > 0
        ll = toy_log_likelihoods(
            counts, c, phi, rate, expected_events0=80.0, log1p=True, backend=backend
        )
        assert_close_ll(ll, ref)


def test_streaming_statistics_equal_the_full_array() -> None:
    rng = np.random.default_rng(2)
    c = quadratic_events(rng, 300, 3)
    phi = polynomial_features(cube(3, 6), np.zeros(3))
    rate = RateModel.from_event_coefficients(c)
    counts = toy_counts(rng, c.shape[0], 5.0, 9)  # few events per toy: unused ones dropped
    assert np.count_nonzero(counts.any(0)) < 0.9 * c.shape[0]
    full = toy_log_likelihoods(counts, c, phi, rate, expected_events0=5.0, log1p=True)
    stats = toy_statistics(
        counts,
        c,
        phi,
        rate,
        true_index=100,
        expected_events0=5.0,
        log1p=True,
        grid_chunk=17,
        backend=NumpyDense(block_elements=200),
    )
    np.testing.assert_allclose(stats.log_likelihood_true, full[:, 100], rtol=1e-12)
    np.testing.assert_allclose(stats.log_likelihood_max, full.max(1), rtol=1e-12)
    np.testing.assert_array_equal(stats.best_index, full.argmax(1))
    q = stats.q_true
    np.testing.assert_allclose(q, np.maximum(-2.0 * (full[:, 100] - full.max(1)), 0.0))
    assert np.all(q >= 0.0)
    # Gathering each toy's events from L agrees with the dense product.
    gathered = toy_statistics(
        counts,
        c,
        phi,
        rate,
        true_index=100,
        expected_events0=5.0,
        log1p=True,
        grid_chunk=50,
        backend=NumpyDense(block_elements=700, sparse=True),
    )
    np.testing.assert_allclose(gathered.log_likelihood_max, stats.log_likelihood_max, rtol=1e-12)
    np.testing.assert_array_equal(gathered.best_index, stats.best_index)


@pytest.mark.parametrize("n_params", [1, 3])
def test_run_coverage_methods_agree(n_params: int) -> None:
    rng = np.random.default_rng(4)
    c = quadratic_events(rng, 2000, n_params)
    grid = cube(n_params, 21 if n_params == 1 else 7, half_width=0.3)
    true_index = int(np.argmin(np.abs(grid).sum(1)))  # θ_true = θ0 = 0
    phi = polynomial_features(grid, np.zeros(n_params))
    rate = RateModel.from_event_coefficients(c)
    kwargs: dict[str, Any] = {
        "thetas": grid,
        "true_index": true_index,
        "expected_events0": 300.0,
        "expected_events_true": 300.0,
        "n_toys": 12,
        "gammas": (0.3, 0.68, 0.95),
        "log1p": True,
        "progress": False,
    }
    dense = run_coverage(c, phi, rate, rng=np.random.default_rng(9), **kwargs)
    per_toy = run_coverage(
        c,
        phi,
        rate,
        rng=np.random.default_rng(9),
        method="per_toy",
        **kwargs,
    )
    also = dense_coverage(c, phi, rate, rng=np.random.default_rng(9), **kwargs)
    assert dense.dof == per_toy.dof == n_params
    scale = max(1.0, float(np.max(per_toy.q_true)))
    np.testing.assert_allclose(dense.q_true, per_toy.q_true, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_array_equal(dense.fractions, per_toy.fractions)
    np.testing.assert_array_equal(also.q_true, dense.q_true)
    assert np.ptp(dense.q_true) > 0  # the toys differ


def test_toy_counts_follow_the_draws() -> None:
    counts = toy_counts(np.random.default_rng(1), 50, 2000.0, 30)
    picks = list(draw_toys(np.random.default_rng(1), 50, 2000.0, 30))
    for row, picked in zip(counts, picks, strict=True):
        np.testing.assert_array_equal(row, np.bincount(picked, minlength=50))
    # n ~ Pois(ν): the mean of 30 toys within 5 σ of ν.
    assert abs(counts.sum(1).mean() - 2000.0) < 5 * np.sqrt(2000.0 / 30)
    # At least one event per toy even for ν → 0.
    assert np.all(toy_counts(np.random.default_rng(1), 5, 1e-9, 20).sum(1) == 1)


def test_weighted_draws_follow_the_probabilities() -> None:
    """Toys of weighted events: draws ∝ probabilities; the per-toy and dense paths agree."""
    p = np.zeros(50)
    p[[3, 7]] = [0.25, 0.75]
    counts = toy_counts(np.random.default_rng(2), 50, 4000.0, 20, p)
    assert set(np.flatnonzero(counts.sum(0))) == {3, 7}
    share = counts[:, 7].sum() / counts.sum()
    assert abs(share - 0.75) < 5 * np.sqrt(0.75 * 0.25 / counts.sum())
    picks = list(draw_toys(np.random.default_rng(2), 50, 4000.0, 20, p))
    for row, picked in zip(counts, picks, strict=True):
        np.testing.assert_array_equal(row, np.bincount(picked, minlength=50))
    rng = np.random.default_rng(5)
    c = quadratic_events(rng, 500, 2)
    weights = rng.uniform(0.5, 2.0, 500)
    grid = cube(2, 9, half_width=0.3)
    phi = polynomial_features(grid, np.zeros(2))
    kwargs: dict[str, Any] = {
        "thetas": grid,
        "true_index": int(np.argmin(np.abs(grid).sum(1))),
        "expected_events0": 200.0,
        "expected_events_true": 200.0,
        "n_toys": 8,
        "log1p": True,
        "progress": False,
        "probabilities": weights / weights.sum(),
    }
    rate = RateModel.from_event_coefficients(c, weights)
    dense = run_coverage(c, phi, rate, rng=np.random.default_rng(3), **kwargs)
    per_toy = run_coverage(c, phi, rate, rng=np.random.default_rng(3), method="per_toy", **kwargs)
    scale = max(1.0, float(np.max(per_toy.q_true)))
    np.testing.assert_allclose(dense.q_true, per_toy.q_true, rtol=1e-9, atol=1e-9 * scale)
    with pytest.raises(InputError, match="probabilities"):
        toy_counts(np.random.default_rng(1), 5, 10.0, 2, np.full(5, 0.3))
    with pytest.raises(InputError, match="probabilities"):
        toy_counts(np.random.default_rng(1), 5, 10.0, 2, np.full(4, 0.25))


def test_dense_errors() -> None:
    c = np.ones((4, 3))
    phi = polynomial_features(np.linspace(-1, 1, 5)[:, None], [0.0])
    rate = RateModel.build([1.0, 0.0, 1.0])
    counts = np.ones((2, 4), dtype=np.int64)
    kw: dict[str, Any] = {"expected_events0": 4.0}
    with pytest.raises(InputError, match="counts: expected counts >= 0"):
        toy_log_likelihoods(-counts, c, phi, rate, **kw)
    with pytest.raises(DtypeError, match="counts: expected an integer array"):
        toy_log_likelihoods(counts.astype(float), c, phi, rate, **kw)
    with pytest.raises(ShapeError, match="coefficients"):
        toy_log_likelihoods(counts, c[:3], phi, rate, **kw)
    with pytest.raises(ShapeError, match="features"):
        toy_log_likelihoods(counts, c, phi[:, :2], rate, **kw)
    with pytest.raises(InputError, match="log1p=True"):
        toy_log_likelihoods(counts, 2 * c, phi, rate, log1p=True, **kw)
    with pytest.raises(InputError, match="rate: expected one member"):
        toy_log_likelihoods(counts, c, phi, RateModel.build(np.ones((2, 3))), **kw)
    with pytest.raises(InputError, match=r"rate: .* not positive"):
        toy_log_likelihoods(counts, c, phi, RateModel.build([-1.0, 0.0, 0.0]), **kw)
    with pytest.raises(InputError, match="grid_chunk"):
        toy_log_likelihoods(counts, c, phi, rate, grid_chunk=0, **kw)
    with pytest.raises(InputError, match="floor"):
        toy_log_likelihoods(counts, c, phi, rate, floor=0.0, **kw)
    with pytest.raises(InputError, match=r"true_index: expected in \[0, 5\), got 5"):
        toy_statistics(counts, c, phi, rate, true_index=5, **kw)
    with pytest.raises(InputError, match="method: expected 'dense' or 'per_toy'"):
        run_coverage(
            c,
            phi,
            rate,
            thetas=np.linspace(-1, 1, 5),
            true_index=2,
            expected_events0=4.0,
            expected_events_true=4.0,
            n_toys=2,
            rng=np.random.default_rng(0),
            method="fast",
        )


def torch_inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray, RateModel]:
    rng = np.random.default_rng(6)
    c = quadratic_events(rng, 500, 3)
    c[::11, 4:] *= -1.0  # some clamped pairs too
    phi = polynomial_features(cube(3, 5), np.zeros(3))
    counts = toy_counts(rng, c.shape[0], 200.0, 5)
    return counts, c, phi, RateModel.from_event_coefficients(np.abs(c))


def check_torch_backend(device: str) -> None:
    from madsbi.nn.dense_sums import TorchDense

    counts, c, phi, rate = torch_inputs()
    ref = toy_statistics(counts, c, phi, rate, true_index=62, expected_events0=200.0, log1p=True)
    got = toy_statistics(
        counts,
        c,
        phi,
        rate,
        true_index=62,
        expected_events0=200.0,
        log1p=True,
        grid_chunk=32,
        backend=TorchDense(device, block_elements=3000),
    )
    assert got.clamped_pairs == ref.clamped_pairs > 0
    np.testing.assert_allclose(got.log_likelihood_true, ref.log_likelihood_true, rtol=1e-11)
    np.testing.assert_allclose(got.log_likelihood_max, ref.log_likelihood_max, rtol=1e-11)
    np.testing.assert_allclose(got.q_true, ref.q_true, rtol=1e-9, atol=1e-9)


def test_torch_backend_on_cpu_equals_numpy() -> None:
    check_torch_backend("cpu")


@pytest.mark.gpu
def test_torch_backend_on_cuda_equals_numpy() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    check_torch_backend("cuda")
