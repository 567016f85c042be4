"""Per-target output scales of derivative learning (issue 25): fit, evaluation, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from madsbi.errors import InputError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.target_scale import TargetScale
from madsbi.estimators.trainer import TrainingConfig
from madsbi.nn.build import NetworkConfig


def _energy_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """u lognormal (an 'energy'), t = u⁴ times a mean-one noise: E[t|u] = u⁴."""
    rng = np.random.default_rng(seed)
    u = np.exp(rng.normal(0.0, 0.5, n))
    noise = rng.exponential(1.0, n)
    x = np.stack([u, rng.normal(size=n)], axis=1)
    return x, u**4 * noise, np.ones(n)


def test_scales_follow_the_binned_rms_and_interpolate_in_log_u() -> None:
    x, t, w = _energy_sample(20_000, 1)
    scale = TargetScale.fit(x, t[:, None], w, [3], column=0, n_bins=8, min_entries=200)
    assert np.all(np.diff(scale.knots) > 0)
    # RMS of u⁴·Exp(1) is √2 u⁴: log g grows as 4 log u (within the bins' width).
    slope = np.polyfit(scale.knots, scale.log_scales[3], 1)[0]
    assert slope == pytest.approx(4.0, rel=0.1)
    # At a knot g is the bin's RMS; beyond the outer knots it is constant.
    inner = np.exp(scale.knots[[2, 3]])
    values = scale(np.stack([inner, np.zeros(2)], axis=1), 3)
    np.testing.assert_allclose(np.log(values), scale.log_scales[3][[2, 3]], rtol=1e-12)
    far = scale(np.array([[1e-6, 0.0], [1e6, 0.0]]), 3)
    np.testing.assert_allclose(np.log(far), scale.log_scales[3][[0, -1]], rtol=1e-12)
    # Every bin holds at least min_entries entries after merging.
    edges = (scale.knots[1:] + scale.knots[:-1]) / 2
    counts = np.bincount(np.searchsorted(edges, np.log(x[:, 0])), minlength=scale.knots.size)
    assert counts.min() > 0
    again = TargetScale.from_dict(scale.to_dict())
    np.testing.assert_array_equal(again(x[:100], 3), scale(x[:100], 3))


def test_sparse_bins_are_merged() -> None:
    x, t, w = _energy_sample(600, 2)
    scale = TargetScale.fit(x, t[:, None], w, [1], column=0, n_bins=12, min_entries=100)
    assert scale.knots.size <= 6


def test_bad_inputs_are_named() -> None:
    x, t, w = _energy_sample(500, 3)
    with pytest.raises(InputError, match="column"):
        TargetScale.fit(x, t[:, None], w, [1], column=5)
    x[17, 0] = -1.0
    with pytest.raises(InputError, match="event 17"):
        TargetScale.fit(x, t[:, None], w, [1], column=0)
    with pytest.raises(InputError, match="scale_column"):
        DerivativeEstimator([0.0], 2, NetworkConfig(hidden=(4,), members=2), scale_column=2)


def _bulk_bias(estimator: DerivativeEstimator, x: np.ndarray) -> float:
    """Relative bias of t̂ against E[t|u] = u⁴ in the bulk (u between its 20 and 80 %)."""
    u = x[:, 0]
    bulk = (u > np.quantile(u, 0.2)) & (u < np.quantile(u, 0.8))
    predicted = estimator.predict_ratios(x[bulk])[..., 2].mean(0).numpy()
    return float(abs(predicted.mean() / np.mean(u[bulk] ** 4) - 1.0))


def test_scaled_targets_learn_the_bulk_of_an_energy_growing_target(tmp_path: Path) -> None:
    """t = u⁴·noise: the bulk is ≈ 1 % of the tail; scaled targets learn it, and save/load."""
    torch.manual_seed(0)
    x, t, w = _energy_sample(6000, 4)
    coefficients = np.stack([np.ones_like(t), np.zeros_like(t), t], axis=1)  # t: a square
    sample = HypothesisSample.build(x, coefficients, w)
    training = TrainingConfig(
        epochs=15, batch_size=256, learning_rate=3e-3, patience=0, device="cpu", seed=1
    )
    network = NetworkConfig(hidden=(32, 32), members=2)
    plain = DerivativeEstimator([0.0], 2, network, targets=[2])
    plain.fit(sample, training, progress=False)
    scaled = DerivativeEstimator([0.0], 2, network, targets=[2], scale_column=0)
    scaled.fit(sample, training, progress=False)
    assert scaled.target_scale is not None
    assert _bulk_bias(scaled, x) < 0.1
    assert _bulk_bias(scaled, x) < _bulk_bias(plain, x)
    loaded = DerivativeEstimator.load(scaled.save(tmp_path / "scaled"))
    torch.testing.assert_close(loaded.predict_ratios(x[:50]), scaled.predict_ratios(x[:50]))
