"""The training loop with early stopping and the validation test against r ≡ 1.

Shared by the learned per-event variations (:mod:`madsbi.estimators.theory_ratio`,
:mod:`madsbi.estimators.nuisance_ratio`): minibatch epochs over the training rows in a seeded
order, the validation loss after every epoch, the epoch of the lowest one kept (patience),
and the gain of the kept network over the null ratio r ≡ 1 on the validation rows with its
standard error, and the record of it all that the saved ratio keeps
(:func:`training_record`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

BatchLoss = Callable[[np.ndarray[Any, Any], torch.Tensor], torch.Tensor]
"""(rows of a batch, scale = rows in the epoch / rows in the batch) → the batch's loss."""


@dataclass(frozen=True)
class Stopped:
    """The outcome of :func:`train_early_stopping`.

    Attributes
    ----------
    best_loss : float
        The lowest validation loss (``inf`` if no epoch ran).
    best_epoch : int
        Its epoch (0-based); the network holds that epoch's weights.
    history : list of (float, float)
        Per epoch: the mean training loss over the batches, the validation loss.
    """

    best_loss: float
    best_epoch: int
    history: list[tuple[float, float]]


def train_early_stopping(
    net: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    train: np.ndarray[Any, Any],
    batch_loss: BatchLoss,
    validation_loss: Callable[[], torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    patience: int,
    seed: int,
    min_improvement: float,
) -> Stopped:
    """Train ``net`` on the rows ``train`` and keep the epoch of the lowest validation loss.

    Each epoch visits the rows in an order drawn from a generator seeded with ``seed`` (one
    stream for the whole run), in batches of ``batch_size``; an epoch improves on the best if
    its validation loss is lower by more than ``min_improvement``; training stops after
    ``patience`` epochs without improvement. The best weights are loaded back and the network
    is left in eval mode.

    Parameters
    ----------
    net : torch.nn.Module
    optimiser : torch.optim.Optimizer
    train : (N,) int
        The training rows.
    batch_loss : callable
        (batch rows, scale) → the loss to minimise (``scale`` = rows / batch rows, a tensor).
    validation_loss : callable
        () → the validation loss (called in eval mode without gradients).
    epochs, batch_size, patience, seed : int
    min_improvement : float

    Returns
    -------
    Stopped
    """
    best, best_state, best_epoch, stale = math.inf, None, 0, 0
    history: list[tuple[float, float]] = []
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        order = train[torch.randperm(train.size, generator=generator).numpy()]
        running = 0.0
        for start in range(0, order.size, batch_size):
            rows = order[start : start + batch_size]
            # The batch's sum scaled to the whole set: an unbiased estimate of the loss.
            scale = torch.tensor(order.size / max(1, rows.size))
            loss = batch_loss(rows, scale)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            running += float(loss.detach()) * rows.size / order.size
        net.eval()
        with torch.no_grad():
            val_loss = float(validation_loss())
        history.append((running, val_loss))
        if val_loss < best - min_improvement:
            best, best_epoch, stale = val_loss, epoch, 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return Stopped(best, best_epoch, history)


def gain_over_null(
    rows: Callable[[], torch.Tensor], null_rows: Callable[[], torch.Tensor]
) -> tuple[float, float]:
    """The validation gain over r ≡ 1 and its standard error.

    ``rows`` and ``null_rows`` give the per-entry validation losses of the network and of
    r ≡ 1 (evaluated without gradients). The gain is −Σ d over the differences d = loss −
    null loss, the error the standard deviation of d times √n (inf for one entry).

    Returns
    -------
    (float, float)
        Gain and error.
    """
    with torch.no_grad():
        diff = (rows() - null_rows()).double()
    gain = float(-diff.sum())
    error = float(diff.std() * math.sqrt(diff.shape[0])) if diff.shape[0] > 1 else math.inf
    return gain, error


def training_record(
    config: Any, sizes: tuple[int, int, int], stopped: Stopped, gain: float, error: float
) -> dict[str, Any]:
    """What a learned variation's ``info`` keeps of its training.

    ``config`` (a dataclass with ``hidden`` and ``min_significance``) as given; ``sizes``:
    entries, training and validation rows; ``learned``: the gain over r ≡ 1 beyond
    ``min_significance`` standard errors.
    """
    n, n_train, n_validation = sizes
    return {
        **asdict(config),
        "hidden": list(config.hidden),
        "n_entries": int(n),
        "n_train": int(n_train),
        "n_validation": int(n_validation),
        "best_epoch": int(stopped.best_epoch),
        "validation_loss": float(stopped.best_loss),
        "validation_gain": gain,
        "validation_gain_error": error,
        "learned": bool(gain > config.min_significance * error),
        "history": [list(h) for h in stopped.history],
    }
