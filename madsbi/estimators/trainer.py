"""One trainer for every estimator: seeds, CPU or GPU, early stopping, resumable checkpoints.

A checkpoint (``checkpoint.pt``, written atomically after every epoch) holds the network,
optimiser and schedule states, the loss history and the best weights so far, all as tensors
and plain containers: it is read back with ``torch.load(weights_only=True)``, never by
unpickling arbitrary objects (``madsbi._checkpoint``; a truncated, corrupt or foreign
file is a :class:`~madsbi.errors.CheckpointError` naming it, never silently replaced).
Running :func:`fit` again with the same checkpoint path resumes an interrupted training, or
returns at once with the best weights if it had finished.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from madsbi import _checkpoint as checkpoint
from madsbi._device import resolve_device
from madsbi._progress import progress_bar
from madsbi.errors import CheckpointError, ConfigError, InputError
from madsbi.estimators.network import POOLABLE_KINDS
from madsbi.nn.build import NetworkConfig

LossFunction = Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]
"""(predictions (M, B, D), batch) → per-member loss (M,)."""

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_KEYS = (
    "key",
    "network",
    "optimizer",
    "best_state",
    "best_loss",
    "bad_epochs",
    "history",
)
HISTORY_NAME = "history.json"
NetworkT = TypeVar("NetworkT", bound=nn.Module)


@dataclass(frozen=True)
class TrainingConfig:
    """How to train.

    Attributes
    ----------
    epochs : int
        Maximum number of passes over the training split.
    batch_size : int
    learning_rate, final_learning_rate : float
        Adam's step size, annealed along a cosine to the final value.
    validation_fraction : float
        Share of the events held out for early stopping.
    patience : int
        Stop after this many epochs without a better validation loss (0: never stop early).
        The best weights are restored at the end either way.
    seed : int
        Seeds initialisation, the validation split and the batch order.
    device : str
        ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda[:i]"``.
    bootstrap : bool
        Give every ensemble member its own Poisson(1) weight per training event (bagging), so
        that the spread of the members also reflects the fluctuations of the finite
        training sample, which all members otherwise share. Multiplies ``data["weight"]``.
    runs : int
        Independent trainings of the whole ensemble, with training seeds ``seed``,
        ``seed + 1``, …, whose members are pooled (M × runs members; an ensemble of
        ensembles): each run has its own early-stopping split and batch order, and resumes
        from its own checkpoint, so runs can also train on separate machines. The
        estimators that pool runs (derivative learning, per-basis morphing, the single
        network) train through :func:`fit_runs`.
    """

    epochs: int = 40
    batch_size: int = 1024
    learning_rate: float = 2e-3
    final_learning_rate: float = 1e-4
    validation_fraction: float = 0.2
    patience: int = 10
    seed: int = 0
    device: str = "auto"
    bootstrap: bool = False
    runs: int = 1

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"training.epochs: expected >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"training.batch_size: expected >= 1, got {self.batch_size}")
        if not (self.learning_rate > 0 and self.final_learning_rate > 0):
            raise ConfigError(
                "training.learning_rate / final_learning_rate: expected > 0, got "
                f"{self.learning_rate} / {self.final_learning_rate}"
            )
        if not 0.0 < self.validation_fraction < 1.0:
            raise ConfigError(
                f"training.validation_fraction: expected in (0, 1), got {self.validation_fraction}"
            )
        if self.patience < 0:
            raise ConfigError(f"training.patience: expected >= 0, got {self.patience}")
        if self.runs < 1:
            raise ConfigError(f"training.runs: expected >= 1, got {self.runs}")

    def run_seeds(self) -> list[int]:
        """The training seed of every run: ``seed``, ``seed + 1`` and so on."""
        return [self.seed + r for r in range(self.runs)]


@dataclass
class TrainingHistory:
    """Loss per epoch (mean over members), the best epoch and the time spent."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    stopped_early: bool = False
    finished: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return asdict(self)


def _split(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator)
    n_val = max(1, round(n * fraction))
    if n - n_val < 1:
        raise InputError(f"training data: {n} events are too few to hold out a validation split")
    return order[n_val:], order[:n_val]


def _learning_rate(config: TrainingConfig, step: int, total: int) -> float:
    progress = min(step / max(total, 1), 1.0)
    lo, hi = math.log(config.final_learning_rate), math.log(config.learning_rate)
    return math.exp(lo + 0.5 * (hi - lo) * (1.0 + math.cos(math.pi * progress)))


def fit(
    network: nn.Module,
    loss: LossFunction,
    data: dict[str, torch.Tensor],
    config: TrainingConfig,
    *,
    input_key: str = "x",
    checkpoint_dir: Path | None = None,
    fingerprint: str = "",
    progress: bool = True,
    label: str = "training",
) -> TrainingHistory:
    """Train ``network`` on ``data`` by minimising ``loss`` summed over members + regulariser.

    Parameters
    ----------
    network : nn.Module
        Maps ``data[input_key]`` (B, d) to predictions (M, B, D) and has
        ``regulariser(predictions, n_train)`` (repulsion, KL or zero).
    loss : callable
        (predictions, batch) → loss per member (M,); ``batch`` holds the rows of every
        tensor in ``data``.
    data : dict of str to Tensor
        Per-event tensors with the same first dimension N.
    config : TrainingConfig
    checkpoint_dir : Path, optional
        Where ``checkpoint.pt`` and ``history.json`` live; resumes from them if present.
    fingerprint : str
        Describes data and network; a checkpoint made with another fingerprint is refused.

    Returns
    -------
    TrainingHistory
        The network holds the best weights (lowest validation loss) on return.

    Raises
    ------
    InputError
        If the tensors in ``data`` disagree in length or contain non-finite values.
    ConfigError
        If the checkpoint belongs to another configuration.
    CheckpointError
        If the checkpoint is truncated, corrupt or holds more than tensors and plain
        containers.
    """
    if config.runs != 1:
        raise ConfigError(
            f"training.runs = {config.runs}: {label} trains one network; estimators pool runs "
            "through fit_runs"
        )
    if input_key not in data:
        raise InputError(f"data: missing the input tensor {input_key!r}")
    n = int(data[input_key].shape[0])
    for key, tensor in data.items():
        if tensor.shape[0] != n:
            raise InputError(f"data[{key!r}]: expected {n} rows, got {tensor.shape[0]}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).nonzero()[0, 0])
            raise InputError(f"data[{key!r}]: non-finite value in row {bad}")
    device = resolve_device(config.device)
    network.to(device)
    on_device = {k: v.to(device) for k, v in data.items()}
    train_idx, val_idx = _split(n, config.validation_fraction, config.seed)
    train_idx, val_idx = train_idx.to(device), val_idx.to(device)
    n_train = int(train_idx.shape[0])
    steps_per_epoch = -(-n_train // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    history = TrainingHistory()
    best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
    best_loss = math.inf
    bad_epochs = 0
    # The key ties a checkpoint to the configuration and to the data (shapes and sums).
    data_sums = {k: [list(v.shape), float(v.double().sum())] for k, v in sorted(data.items())}
    # Without ``runs`` (always 1 here): a run's checkpoint is the same as a single training's.
    training = {k: v for k, v in asdict(config).items() if k != "runs"}
    key = json.dumps({"config": training, "fingerprint": fingerprint, "n": n, "data": data_sums})
    path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
    if path is not None and path.exists():
        saved = checkpoint.load(path, CHECKPOINT_KEYS, map_location=device)
        if saved["key"] != key:
            raise ConfigError(
                f"{path}: this checkpoint was made with another configuration or other data; "
                "remove it (or choose another output directory) to train afresh"
            )
        try:
            network.load_state_dict(saved["network"])
            optimizer.load_state_dict(saved["optimizer"])
            best_state = saved["best_state"]
            best_loss = float(saved["best_loss"])
            bad_epochs = int(saved["bad_epochs"])
            history = TrainingHistory(**saved["history"])
        except (TypeError, ValueError, RuntimeError, KeyError) as exc:
            raise CheckpointError(f"{path}: not a valid checkpoint: {exc}") from None
    start_epoch = len(history.train_loss)
    started = time.perf_counter() - history.seconds

    def save() -> None:
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.save(
            {
                "key": key,
                "network": network.state_dict(),
                "optimizer": optimizer.state_dict(),
                "best_state": best_state,
                "best_loss": best_loss,
                "bad_epochs": bad_epochs,
                "history": history.to_dict(),
            },
            path,
        )
        (path.parent / HISTORY_NAME).write_text(json.dumps(history.to_dict(), indent=1))

    members = int(getattr(network, "n_members", 1))
    bootstrap = None
    if config.bootstrap and members > 1:
        if "weight" not in on_device:
            raise InputError("training.bootstrap: the data have no 'weight' tensor to multiply")
        generator = torch.Generator().manual_seed(config.seed * 7919 + 17)
        counts = torch.poisson(torch.ones(members, n), generator=generator)
        bootstrap = counts.to(device=device, dtype=on_device["weight"].dtype)

    def batch_losses(
        rows: torch.Tensor, training: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = {k: v[rows] for k, v in on_device.items()}
        if training and bootstrap is not None:
            batch["weight"] = batch["weight"].unsqueeze(0) * bootstrap[:, rows]
        predictions = network(batch[input_key])
        per_member = loss(predictions, batch)
        return per_member, predictions

    regulariser: Callable[[torch.Tensor, int], torch.Tensor] = network.regulariser  # type: ignore[assignment]
    with progress_bar(config.epochs, label, unit="epoch", enabled=progress) as bar:
        bar.update(start_epoch)
        for epoch in range(start_epoch, config.epochs):
            if history.finished:
                break
            network.train()
            # Seed the global stream per epoch as well: stochastic layers (Bayesian weights)
            # draw from it, and an interrupted run must resume to the same result.
            torch.manual_seed(config.seed * 100_003 + epoch)
            generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
            order = train_idx[torch.randperm(n_train, generator=generator).to(device)]
            total, count = 0.0, 0
            for step in range(steps_per_epoch):
                rows = order[step * config.batch_size : (step + 1) * config.batch_size]
                for group in optimizer.param_groups:
                    group["lr"] = _learning_rate(
                        config, epoch * steps_per_epoch + step, total_steps
                    )
                per_member, predictions = batch_losses(rows, training=True)
                objective = per_member.sum() + regulariser(predictions, n_train)
                optimizer.zero_grad(set_to_none=True)
                objective.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                total += float(per_member.detach().mean()) * rows.shape[0]
                count += rows.shape[0]
            with torch.no_grad():
                val_total = 0.0
                for start in range(0, val_idx.shape[0], 8 * config.batch_size):
                    rows = val_idx[start : start + 8 * config.batch_size]
                    per_member, _ = batch_losses(rows)
                    val_total += float(per_member.mean()) * rows.shape[0]
            train_loss, val_loss = total / count, val_total / int(val_idx.shape[0])
            if not math.isfinite(train_loss):
                raise InputError(
                    f"{label}: the training loss became {train_loss} in epoch {epoch}; "
                    "lower the learning rate or check the targets for extreme values"
                )
            history.train_loss.append(train_loss)
            history.validation_loss.append(val_loss)
            if val_loss < best_loss:
                best_loss, bad_epochs = val_loss, 0
                history.best_epoch = epoch
                best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
            else:
                bad_epochs += 1
            history.seconds = time.perf_counter() - started
            if config.patience and bad_epochs >= config.patience:
                history.stopped_early = True
                history.finished = True
            if epoch == config.epochs - 1:
                history.finished = True
            save()
            bar.update(1)
    network.load_state_dict(best_state)
    network.eval()
    return history


def fit_runs(
    network: NetworkT,
    loss_of: Callable[[NetworkT], LossFunction],
    data: dict[str, torch.Tensor],
    config: TrainingConfig,
    *,
    network_config: NetworkConfig,
    pool: Callable[[list[NetworkT]], NetworkT],
    checkpoint_dir: Path | None = None,
    fingerprint: str = "",
    progress: bool = True,
    label: str = "training",
) -> tuple[NetworkT, dict[str, TrainingHistory]]:
    """:func:`fit` once per run seed of ``config`` (``training.runs``), the members pooled.

    ``network`` (of ``network_config``, standardisers fitted) is trained in place when there
    is one run; otherwise every run trains a copy of it as it is now (same initial weights),
    with its own training seed (early-stopping split and batch order) and checkpoint
    (``checkpoint_dir.parent / "seed_<s>" / checkpoint_dir.name``), and ``pool`` joins the
    trained copies into one network with ``network_config.members × runs`` members.

    ``loss_of`` gives the loss of the network being trained (a loss may read its parameters,
    as the single network's σ ratios; most ignore the argument).

    Returns the trained network and the histories, keyed ``""`` for one run and
    ``" (seed <s>)"`` per run (suffixes for the caller's network name).

    Raises
    ------
    ConfigError
        For more than one run of a network that is not an ensemble.
    """
    seeds = config.run_seeds()
    if len(seeds) == 1:
        history = fit(
            network,
            loss_of(network),
            data,
            config,
            checkpoint_dir=checkpoint_dir,
            fingerprint=fingerprint,
            progress=progress,
            label=label,
        )
        return network, {"": history}
    if network_config.kind not in POOLABLE_KINDS:
        raise ConfigError(
            f"training.runs = {len(seeds)}: pooling runs needs an ensemble network "
            f"(network.kind in {POOLABLE_KINDS}), got {network_config.kind!r}"
        )
    parts, histories = [], {}
    for seed in seeds:
        part = copy.deepcopy(network)
        directory = None
        if checkpoint_dir is not None:
            directory = checkpoint_dir.parent / f"seed_{seed}" / checkpoint_dir.name
        suffix = f" (seed {seed})"
        histories[suffix] = fit(
            part,
            loss_of(part),
            data,
            replace(config, seed=seed, runs=1),
            checkpoint_dir=directory,
            fingerprint=fingerprint,
            progress=progress,
            label=label + suffix,
        )
        parts.append(part)
    return pool(parts), histories
