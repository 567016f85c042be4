"""The trainer: learns, keeps the best weights, resumes exactly, refuses foreign checkpoints."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from madsbi._device import resolve_device
from madsbi.errors import ConfigError, InputError
from madsbi.estimators.losses import weighted_mse
from madsbi.estimators.network import seeded_network
from madsbi.estimators.trainer import (
    CHECKPOINT_NAME,
    HISTORY_NAME,
    TrainingConfig,
    TrainingHistory,
    fit,
)
from madsbi.nn.build import NetworkConfig


class Interrupted(Exception):
    """Raised by a loss function to simulate a killed training."""


def linear_data(
    rng: np.random.Generator, n: int = 600, noise: float = 0.05
) -> dict[str, torch.Tensor]:
    x = rng.uniform(-1.0, 1.0, size=(n, 1))
    y = 0.5 + 1.5 * x + noise * rng.normal(size=(n, 1))
    return {
        "x": torch.tensor(x, dtype=torch.float32),
        "y": torch.tensor(y, dtype=torch.float32),
        "weight": torch.tensor(rng.uniform(0.5, 1.5, n), dtype=torch.float32),
    }


def mse(predictions: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return weighted_mse(predictions, batch["y"], batch["weight"])


def network(kind: str = "ensemble", seed: int = 3) -> torch.nn.Module:
    members = 1 if kind == "mlp" else 3
    # λ = 1: on 480 training events the default λ = 100 (repulsion λ/N = 0.2 per event) would
    # dominate the fit; these tests are about the trainer, not about the repulsion.
    config = NetworkConfig(kind=kind, hidden=(8,), members=members, repulsion=1.0)
    return seeded_network(config, 1, 1, seed)


def states_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def same_history(a: TrainingHistory, b: TrainingHistory) -> None:
    assert a.train_loss == b.train_loss
    assert a.validation_loss == b.validation_loss
    assert a.best_epoch == b.best_epoch
    assert a.stopped_early == b.stopped_early
    assert a.finished == b.finished


def test_fit_learns_linear_regression(rng: np.random.Generator) -> None:
    data = linear_data(rng)
    net = network("ensemble")
    # No early stopping here (patience 0): this test checks learning over all 25 epochs.
    config = TrainingConfig(epochs=25, batch_size=64, learning_rate=3e-2, patience=0, device="cpu")
    history = fit(net, mse, data, config, progress=False)
    assert len(history.train_loss) == len(history.validation_loss) == 25
    assert history.finished
    assert not history.stopped_early
    assert history.train_loss[-1] < 0.05 * history.train_loss[0]
    assert min(history.validation_loss) < 0.01
    assert not net.training  # returned in evaluation mode
    x = torch.linspace(-0.9, 0.9, 19)[:, None]
    with torch.no_grad():
        pred = net(x)
    assert pred.shape == (3, 19, 1)
    np.testing.assert_allclose(pred.numpy(), (0.5 + 1.5 * x).expand(3, 19, 1).numpy(), atol=0.1)


def scripted_validation(
    net: torch.nn.Module, values: list[float], snapshots: list[dict[str, torch.Tensor]]
) -> Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]:
    """A loss that trains normally but reports ``values[epoch]`` as the validation loss."""

    def loss(predictions: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if torch.is_grad_enabled():
            return mse(predictions, batch)
        # The validation pass (one batch per epoch here): remember the weights it saw.
        snapshots.append({k: v.clone() for k, v in net.state_dict().items()})
        return torch.full((predictions.shape[0],), values[len(snapshots) - 1])

    return loss


def test_network_holds_best_validation_weights(rng: np.random.Generator) -> None:
    data = linear_data(rng, n=400)
    net = network()
    snapshots: list[dict[str, torch.Tensor]] = []
    values = [3.0, 2.0, 0.5, 1.0, 4.0, 0.75]
    config = TrainingConfig(epochs=6, batch_size=32, learning_rate=1e-2, patience=0)
    history = fit(net, scripted_validation(net, values, snapshots), data, config, progress=False)
    assert history.validation_loss == values
    assert history.best_epoch == 2
    assert len(snapshots) == 6
    assert not states_equal(snapshots[2], snapshots[5])  # training went on after epoch 2
    assert states_equal(net.state_dict(), snapshots[2])


def test_early_stopping(rng: np.random.Generator) -> None:
    data = linear_data(rng, n=400)
    net = network()
    snapshots: list[dict[str, torch.Tensor]] = []
    values = [3.0, 2.0, 1.0, 1.5, 1.0, 0.1, 0.1, 0.1]  # epochs 3 and 4 are no better than 2
    config = TrainingConfig(epochs=8, batch_size=32, patience=2)
    history = fit(net, scripted_validation(net, values, snapshots), data, config, progress=False)
    assert history.stopped_early
    assert history.finished
    assert history.validation_loss == values[:5]
    assert history.best_epoch == 2
    assert states_equal(net.state_dict(), snapshots[2])


def test_resume_after_interruption_is_exact(rng: np.random.Generator, tmp_path: Path) -> None:
    data = linear_data(rng, n=500)
    config = TrainingConfig(epochs=5, batch_size=64, learning_rate=5e-3, seed=7, device="cpu")
    steps_per_epoch = -(-400 // 64)  # 100 validation events

    reference_net = network()
    reference = fit(reference_net, mse, data, config, progress=False)

    calls = {"train": 0}

    def failing(predictions: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if torch.is_grad_enabled():
            if calls["train"] == 2 * steps_per_epoch:  # the first batch of the 3rd epoch
                raise Interrupted
            calls["train"] += 1
        return mse(predictions, batch)

    net = network()
    with pytest.raises(Interrupted):
        fit(net, failing, data, config, checkpoint_dir=tmp_path, progress=False)
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert len(saved["history"]["train_loss"]) == 2
    assert not saved["history"]["finished"]
    assert (
        json.loads((tmp_path / HISTORY_NAME).read_text())["train_loss"]
        == (saved["history"]["train_loss"])
    )
    # Resume in a fresh network object, as a new process would.
    resumed_net = network(seed=99)
    resumed = fit(resumed_net, mse, data, config, checkpoint_dir=tmp_path, progress=False)
    same_history(resumed, reference)
    assert states_equal(resumed_net.state_dict(), reference_net.state_dict())
    assert resumed.seconds >= saved["history"]["seconds"]


def test_finished_checkpoint_returns_at_once(rng: np.random.Generator, tmp_path: Path) -> None:
    data = linear_data(rng, n=300)
    config = TrainingConfig(epochs=3, batch_size=64, seed=1)
    net = network()
    first = fit(net, mse, data, config, checkpoint_dir=tmp_path, progress=False)
    assert first.finished
    calls = {"n": 0}

    def counting(predictions: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        calls["n"] += 1
        return mse(predictions, batch)

    again_net = network(seed=5)
    again = fit(again_net, counting, data, config, checkpoint_dir=tmp_path, progress=False)
    assert calls["n"] == 0
    same_history(again, first)
    assert again.seconds == first.seconds
    assert states_equal(again_net.state_dict(), net.state_dict())
    assert not again_net.training


def test_checkpoint_of_another_config_is_refused(rng: np.random.Generator, tmp_path: Path) -> None:
    data = linear_data(rng, n=200)
    config = TrainingConfig(epochs=1, batch_size=64)
    fit(network(), mse, data, config, checkpoint_dir=tmp_path, fingerprint="a", progress=False)
    for other_config, fingerprint, other_data in (
        (TrainingConfig(epochs=1, batch_size=32), "a", data),
        (config, "b", data),
        (config, "a", {k: v[:150] for k, v in data.items()}),
        (config, "a", {**data, "y": data["y"] + 0.5}),  # same shapes, other values
    ):
        with pytest.raises(ConfigError, match="another configuration"):
            fit(
                network(),
                mse,
                other_data,
                other_config,
                checkpoint_dir=tmp_path,
                fingerprint=fingerprint,
                progress=False,
            )


def test_checkpoint_is_plain_tensors(rng: np.random.Generator, tmp_path: Path) -> None:
    data = linear_data(rng, n=200)
    net = network()
    history = fit(net, mse, data, TrainingConfig(epochs=2), checkpoint_dir=tmp_path, progress=False)
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert set(saved) >= {"key", "network", "optimizer", "best_state", "history"}
    assert saved["history"]["train_loss"] == history.train_loss
    assert states_equal(saved["best_state"], net.state_dict())
    assert not (tmp_path / (CHECKPOINT_NAME + ".tmp")).exists()
    assert json.loads((tmp_path / HISTORY_NAME).read_text()) == history.to_dict()


def test_bad_data(rng: np.random.Generator) -> None:
    data = linear_data(rng, n=100)
    config = TrainingConfig(epochs=1)
    bad = dict(data)
    bad["y"] = data["y"].clone()
    bad["y"][37, 0] = float("nan")
    with pytest.raises(InputError, match=r"data\['y'\]: non-finite value in row 37"):
        fit(network(), mse, bad, config, progress=False)
    bad["y"] = data["y"].clone()
    bad["weight"] = data["weight"].clone()
    bad["weight"][5] = float("inf")
    with pytest.raises(InputError, match=r"data\['weight'\]: non-finite value in row 5"):
        fit(network(), mse, bad, config, progress=False)
    with pytest.raises(InputError, match=r"data\['y'\]: expected 100 rows, got 99"):
        fit(network(), mse, {**data, "y": data["y"][:99]}, config, progress=False)
    with pytest.raises(InputError, match="missing the input tensor 'x'"):
        fit(network(), mse, {"y": data["y"]}, config, progress=False)
    with pytest.raises(InputError, match="too few"):
        fit(network(), mse, {k: v[:1] for k, v in data.items()}, config, progress=False)


def test_diverging_loss_is_an_error(rng: np.random.Generator) -> None:
    data = linear_data(rng, n=100)

    def exploding(predictions: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return mse(predictions, batch) * float("inf")

    with pytest.raises(InputError, match="training loss became"):
        fit(network("mlp"), exploding, data, TrainingConfig(epochs=1), progress=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "training.epochs"),
        ({"batch_size": 0}, "training.batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"final_learning_rate": -1e-4}, "final_learning_rate"),
        ({"validation_fraction": 0.0}, "validation_fraction"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"patience": -1}, "training.patience"),
    ],
)
def test_training_config_validation(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrainingConfig(**kwargs)  # type: ignore[arg-type]


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match=r"training\.device"):
        resolve_device("abacus")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_bayesian_training_is_reproducible_from_the_seed(rng: np.random.Generator) -> None:
    data = linear_data(rng, n=200)
    config = TrainingConfig(epochs=2, batch_size=64, seed=2)
    nets = []
    for _ in range(2):
        net = network("bayesian")
        fit(net, mse, data, config, progress=False)
        nets.append(net)
    assert states_equal(nets[0].state_dict(), nets[1].state_dict())


def test_bootstrap(rng: np.random.Generator) -> None:
    data = linear_data(rng, n=300)
    data["row"] = torch.arange(300, dtype=torch.float32)
    plain = TrainingConfig(epochs=3, batch_size=64, seed=3)
    boot = TrainingConfig(epochs=3, batch_size=64, seed=3, bootstrap=True)
    counts = torch.full((3, 300), -1.0)

    def recording(predictions: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if torch.is_grad_enabled():
            rows = batch["row"].long()
            assert batch["weight"].shape == (3, rows.shape[0])
            ratio = batch["weight"] / data["weight"][rows]
            seen = counts[:, rows]
            # The same multiplicities in every epoch.
            assert bool(((seen < 0) | (seen == ratio.round())).all())
            counts[:, rows] = ratio.round()
        return mse(predictions, batch)

    net_plain, net_boot = network(), network()
    fit(net_plain, mse, data, plain, progress=False)
    fit(net_boot, recording, data, boot, progress=False)
    # Every member gets its own Poisson(1) multiple of the event weights in training.
    trained = counts[0] >= 0
    assert int(trained.sum()) == 240  # the training split
    k = counts[:, trained]
    assert bool((k == k.round()).all())
    assert abs(float(k.mean()) - 1.0) < 5 / math.sqrt(k.numel())
    assert float((k == 0).float().mean()) == pytest.approx(
        math.exp(-1), abs=5 * 0.48 / math.sqrt(k.numel())
    )
    assert not torch.equal(k[0], k[1])
    assert not states_equal(net_plain.state_dict(), net_boot.state_dict())
    # Deterministic from the seed.
    again = network()
    fit(again, mse, data, boot, progress=False)
    assert states_equal(again.state_dict(), net_boot.state_dict())
    # One member: nothing to bootstrap.
    a, b = network("mlp"), network("mlp")
    fit(a, mse, data, plain, progress=False)
    fit(b, mse, data, boot, progress=False)
    assert states_equal(a.state_dict(), b.state_dict())
    with pytest.raises(InputError, match="bootstrap"):
        fit(network(), mse, {k: v for k, v in data.items() if k != "weight"}, boot, progress=False)
