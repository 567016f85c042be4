"""Joint derivative estimators: one network whose outputs are all t̂_k (as L-GATr's global token)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from madsbi.errors import InputError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.trainer import TrainingConfig
from madsbi.nn.build import NetworkConfig
from madsbi.simulate.toy import ToyModel

ALPHA = 1.5
MODEL = ToyModel(ALPHA)
THETA0 = 0.5


def sample(n: int, rng: np.random.Generator) -> HypothesisSample:
    z = MODEL.sample_parton(n, THETA0, rng)
    return HypothesisSample.build(MODEL.smear(z, rng), MODEL.parton_coefficients(z, THETA0))


def test_joint_estimator_learns_saves_and_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    data = sample(3000, rng)
    network = NetworkConfig(hidden=(16, 16), members=3)
    estimator = DerivativeEstimator([THETA0], 1, network, joint=True, combination_seed=2)
    assert set(estimator.networks) == {"t"}
    assert estimator.networks["t"].positive_outputs == (False, True)
    training = TrainingConfig(epochs=10, batch_size=256, learning_rate=1e-2, device="cpu")
    histories = estimator.fit(data, training, progress=False)
    assert set(histories) == {"t"}
    assert histories["t"].train_loss[-1] < histories["t"].train_loss[0]
    # Targets are standardised jointly per output: the square's only scaled (mean 0).
    targets = estimator.networks["t"].targets
    assert float(targets.mean[1]) == 0.0
    assert float(targets.mean[0]) != 0.0
    assert float(estimator.predict_ratios(np.linspace(-30.0, 30.0, 601))[..., 2].min()) >= 0.0
    # Both outputs follow the exact reco derivatives where the data are (1 %–99 % of x).
    x = np.linspace(-2.5, 3.0, 201)
    ratios = estimator.predict_ratios(x)
    assert ratios.shape == (3, 201, 3)
    truth = MODEL.reco_derivatives(x, THETA0)
    for k, exact in ((1, truth[0]), (2, truth[1] / 2)):
        mean = ratios[..., k].mean(0).numpy()
        assert np.corrcoef(mean, exact)[0, 1] > 0.9
    path = estimator.save(tmp_path / "joint")
    loaded = DerivativeEstimator.load(path)
    assert loaded.joint
    torch.testing.assert_close(loaded.predict_ratios(x), ratios, rtol=0, atol=0)


def test_per_target_stays_the_default_for_mlps() -> None:
    estimator = DerivativeEstimator([THETA0], 1, NetworkConfig(hidden=(4,), members=2))
    assert not estimator.joint
    assert set(estimator.networks) == {"t1", "t2"}


def test_loss_weights_reach_the_loss_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    data = sample(1500, rng)
    network = NetworkConfig(hidden=(8,), members=2)
    training = TrainingConfig(epochs=3, batch_size=256, learning_rate=1e-2, device="cpu")

    def fitted(loss_weights: np.ndarray | None) -> DerivativeEstimator:
        estimator = DerivativeEstimator([THETA0], 1, network, targets=[2], combination_seed=3)
        estimator.fit(data, training, progress=False, loss_weights=loss_weights)
        return estimator

    x = np.linspace(-2.0, 3.0, 51)
    plain = fitted(None).predict_ratios(x)
    # Constant factors: the trainer normalises the weights by their mean, nothing changes.
    torch.testing.assert_close(fitted(np.full(1500, 7.0)).predict_ratios(x), plain)
    # Factors that vary move the fit; the standardisation (sample weights only) stays.
    tail = np.where(data.x[:, 0] > 1.0, 50.0, 1.0)
    moved = fitted(tail)
    assert not torch.allclose(moved.predict_ratios(x), plain)
    torch.testing.assert_close(
        moved.networks["t2"].targets.scale, fitted(None).networks["t2"].targets.scale
    )


def test_bad_loss_weights_are_named() -> None:
    data = sample(200, np.random.default_rng(1))
    estimator = DerivativeEstimator([THETA0], 1, NetworkConfig(hidden=(4,), members=2))
    training = TrainingConfig(epochs=1, batch_size=64, device="cpu")
    bad = np.ones(200)
    bad[17] = -1.0
    with pytest.raises(InputError, match=r"loss_weights: .*event 17"):
        estimator.fit(data, training, progress=False, loss_weights=bad)
    with pytest.raises(InputError, match="loss_weights"):
        estimator.fit(data, training, progress=False, loss_weights=np.ones(199))
