"""The shared training loop with early stopping and the validation gain over r ≡ 1."""

from __future__ import annotations

import math

import numpy as np
import torch

from madsbi.estimators._early_stopping import gain_over_null, train_early_stopping

Problem = tuple[torch.nn.Module, torch.optim.Optimizer, torch.Tensor, torch.Tensor]


def _problem(lr: float) -> Problem:
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 64)[:, None]
    y = 3.0 * x + 0.5 + 0.3 * torch.sin(17 * x)
    net = torch.nn.Linear(1, 1)
    return net, torch.optim.SGD(net.parameters(), lr=lr), x, y


def test_the_best_epoch_is_kept_and_training_stops_after_patience() -> None:
    net, optimiser, x, y = _problem(lr=1.9)  # too large a step: the loss oscillates and grows
    train, val = np.arange(0, 64, 2), np.arange(1, 64, 2)

    def loss(rows: np.ndarray) -> torch.Tensor:
        return ((net(x[rows]) - y[rows]) ** 2).mean()

    seen: list[float] = []

    def batch_loss(rows: np.ndarray, scale: torch.Tensor) -> torch.Tensor:
        seen.append(float(scale))
        return loss(rows)

    stopped = train_early_stopping(
        net, optimiser, train, batch_loss, lambda: loss(val),
        epochs=50, batch_size=10, patience=3, seed=1, min_improvement=1e-9,
    )  # fmt: skip
    val_losses = [h[1] for h in stopped.history]
    assert stopped.best_epoch == int(np.argmin(val_losses))
    assert stopped.best_loss == min(val_losses)
    # stopped 3 epochs after the best, before the 50
    assert len(val_losses) == stopped.best_epoch + 4 < 50
    assert not net.training
    with torch.no_grad():
        assert float(loss(val)) == stopped.best_loss  # the best weights are back
    # 32 rows in batches of 10: scales 32/10 three times, then 32/2
    np.testing.assert_allclose(seen[:4], [3.2, 3.2, 3.2, 16.0], rtol=1e-6)


def test_the_run_is_reproducible_by_its_seed() -> None:
    runs = []
    for _ in range(2):
        net, optimiser, x, y = _problem(lr=0.1)
        rows = np.arange(64)

        def batch_loss(r: np.ndarray, scale: torch.Tensor, net=net, x=x, y=y) -> torch.Tensor:
            return ((net(x[r]) - y[r]) ** 2).mean()

        stopped = train_early_stopping(
            net, optimiser, rows, batch_loss, lambda net=net, x=x, y=y: ((net(x) - y) ** 2).mean(),
            epochs=5, batch_size=7, patience=10, seed=3, min_improvement=0.0,
        )  # fmt: skip
        runs.append(stopped.history)
    assert runs[0] == runs[1]
    assert len(runs[0]) == 5


def test_the_gain_over_the_null_ratio_and_its_error() -> None:
    rows = torch.tensor([0.1, 0.2, 0.4], dtype=torch.float32)
    null = torch.tensor([0.3, 0.3, 0.3], dtype=torch.float32)
    gain, error = gain_over_null(lambda: rows, lambda: null)
    diff = np.array([-0.2, -0.1, 0.1])
    assert math.isclose(gain, 0.2, rel_tol=1e-6)
    assert math.isclose(error, diff.std(ddof=1) * math.sqrt(3), rel_tol=1e-6)
    one = gain_over_null(lambda: rows[:1], lambda: null[:1])
    assert math.isclose(one[0], 0.2, rel_tol=1e-6)
    assert one[1] == math.inf
