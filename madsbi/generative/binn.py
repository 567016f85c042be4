"""Training the (B)INN: maximum likelihood (eq. 8) or the ELBO of eq. 16, checkpoints.

Per event the loss is

    L / N = −⟨log p_X(x_m | θ)⟩_batch + KL(q_φ(θ) ‖ p(θ)) / N                     (eq. 16)

with N the size of the training set: the KL term is scaled to the data set, so a smaller
sample leaves the weight posterior wider (Sec. 3.4). One weight sample per event through
the local reparametrisation of :class:`madsbi.nn.bayesian.BayesianLinear` (S = 1). For the
deterministic INN the KL term is absent and the loss is the ML loss of eq. 8.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from madsbi import _checkpoint as checkpoint
from madsbi._device import resolve_device
from madsbi._progress import progress_bar
from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import CheckpointError, ConfigError, InputError
from madsbi.generative._kernels import FlatParameters
from madsbi.generative.inn import INN, INNConfig
from madsbi.nn.bayesian import set_mode


@dataclass(frozen=True)
class BINNTraining:
    """How to train a (B)INN.

    Attributes
    ----------
    n_updates : int
        Weight updates (mini-batches). Fixed rather than epochs so that the training-size
        study gives every sample size the same number of updates (Fig. 7).
    batch_size : int
        Paper: 512.
    learning_rate, final_learning_rate : float
        Adam step size (paper: 10⁻³), annealed along a cosine to the final value.
    kl_weight : float
        Multiplies KL/N (1: the ELBO of eq. 16).
    max_grad_norm : float
        Gradient-norm clipping (0: none).
    seed : int
        Seeds initialisation, batch order and the weight noise.
    device : str
        ``"cpu"``, ``"cuda[:i]"`` or ``"auto"`` (CUDA when available).
    """

    n_updates: int = 6000
    batch_size: int = 512
    learning_rate: float = 1e-3
    final_learning_rate: float = 2e-5
    kl_weight: float = 1.0
    max_grad_norm: float = 10.0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.n_updates < 1 or self.batch_size < 1:
            raise ConfigError(
                f"[training] n_updates and batch_size: expected >= 1, got {self.n_updates}, "
                f"{self.batch_size}"
            )
        if not (self.learning_rate > 0 and self.final_learning_rate > 0):
            raise ConfigError(
                "[training] learning_rate / final_learning_rate: expected > 0, got "
                f"{self.learning_rate} / {self.final_learning_rate}"
            )
        if self.kl_weight < 0 or self.max_grad_norm < 0:
            raise ConfigError(
                f"[training] kl_weight and max_grad_norm: expected >= 0, got {self.kl_weight}, "
                f"{self.max_grad_norm}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary."""
        return asdict(self)


@dataclass
class BINNHistory:
    """Mean loss terms per logging interval, wall time and the data-set size used for KL/N."""

    step: list[int] = field(default_factory=list)
    nll: list[float] = field(default_factory=list)
    kl_per_event: list[float] = field(default_factory=list)
    seconds: float = 0.0
    n_train: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return asdict(self)


def validate_events(
    x: Any,
    name: str,
    dim: int | None = None,
    support: tuple[tuple[float, float], ...] | None = None,
) -> FloatArray:
    """Training events as a finite (N, dim) float64 array inside the declared support.

    Parameters
    ----------
    x : array_like, shape (N, dim)
    name : str
        Names the input in error messages.
    dim : int, optional
        Required number of columns.
    support : tuple of (low, high) per column, optional
        Closed box the events must lie in (±inf for an open side).

    Raises
    ------
    InputError
        For non-finite values, too few events or events outside the support (the first one
        is named with its index and coordinate).
    ShapeError, DtypeError
        For a wrong shape or dtype.
    """
    array = as_float_array(x, name, (None, dim))
    if array.shape[0] < 2:
        raise InputError(f"{name}: expected at least 2 events, got {array.shape[0]}")
    if support is not None:
        if len(support) != array.shape[1]:
            raise InputError(
                f"support: expected {array.shape[1]} (low, high) pairs, got {len(support)}"
            )
        for column, (low, high) in enumerate(support):
            outside = (array[:, column] < low) | (array[:, column] > high)
            if np.any(outside):
                index = int(np.argmax(outside))
                raise InputError(
                    f"{name}: event {index} has coordinate {column} = "
                    f"{array[index, column]:.6g} outside the declared support [{low}, {high}] "
                    f"({int(outside.sum())} events outside)"
                )
    return array


def _learning_rate(settings: BINNTraining, step: int) -> float:
    progress = min(step / max(settings.n_updates, 1), 1.0)
    lo, hi = math.log(settings.final_learning_rate), math.log(settings.learning_rate)
    return math.exp(lo + 0.5 * (hi - lo) * (1.0 + math.cos(math.pi * progress)))


def build_inn(x: FloatArray, config: INNConfig, seed: int) -> INN:
    """A fresh (B)INN for events ``x`` (N, dim), standardised to the events' mean and std."""
    x = validate_events(x, "training events")
    torch.manual_seed(seed)
    model = INN(x.shape[1], config).double()
    mean = torch.as_tensor(x.mean(0))
    std = torch.as_tensor(x.std(0))
    if not bool(torch.all(std > 0)):
        raise InputError("training events: a coordinate has zero spread")
    model.set_standardisation(mean, std)
    return model


def train_inn(
    model: INN,
    x: Any,
    settings: BINNTraining,
    *,
    support: tuple[tuple[float, float], ...] | None = None,
    name: str = "training events",
    progress: bool = False,
    checkpoint: Path | None = None,
    fingerprint: dict[str, Any] | None = None,
    checkpoint_every: int = 2000,
) -> BINNHistory:
    """Train ``model`` on events ``x`` (N, dim) with the ELBO of eq. 16 (ML for an INN).

    The network is trained in float32 on ``settings.device`` and left there in float64
    (densities are evaluated in double precision).

    With ``checkpoint``, the training state (weights, Adam, batch order, random states,
    loss history) is written there every ``checkpoint_every`` updates, and a training
    started with a checkpoint of the same ``fingerprint`` (and ``model`` built as before)
    continues from it: the result is the same as without the interruption. The file is
    removed when the training completes.

    Raises
    ------
    InputError
        If ``x`` is non-finite, too small or outside ``support``.
    """
    data = validate_events(x, name, model.dim, support)
    if checkpoint_every < 1:
        raise InputError(f"checkpoint_every: expected >= 1, got {checkpoint_every}")
    every = checkpoint_every
    device = resolve_device(settings.device)
    n = data.shape[0]
    model.float().to(device)
    model.train()
    set_mode(model, "local")
    events = torch.as_tensor(data, dtype=torch.float32, device=device)
    # All parameters as views into one tensor: Adam (elementwise), the global gradient norm
    # and the KL term each run on one tensor; fused Adam where PyTorch has it (same rule).
    flat = FlatParameters(model)
    fused = device.type in ("cpu", "cuda")
    optimizer = torch.optim.Adam(
        [flat.flat], lr=settings.learning_rate, fused=fused, foreach=None if fused else True
    )
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    history = BINNHistory(n_train=n)
    batch = min(settings.batch_size, n)
    order = torch.randperm(n, generator=generator)
    cursor = 0
    interval = max(1, settings.n_updates // 100)
    sums = [0.0, 0.0]
    first = 0
    elapsed = 0.0
    resumed = _load_partial(checkpoint, fingerprint) if checkpoint is not None else None
    if resumed is not None:
        with torch.no_grad():
            flat.flat.copy_(resumed["flat"].to(device))
        optimizer.load_state_dict(resumed["optimizer"])
        generator.set_state(resumed["generator"])
        _set_noise_state(device, resumed["noise"])
        order, cursor, first = resumed["order"], int(resumed["cursor"]), int(resumed["step"])
        history = BINNHistory(**resumed["history"])
        sums, elapsed = list(resumed["sums"]), float(history.seconds)
    start = time.perf_counter() - elapsed
    try:
        with progress_bar(settings.n_updates, "BINN training", enabled=progress) as bar:
            bar.update(first)
            for step in range(first, settings.n_updates):
                if cursor + batch > n:
                    order = torch.randperm(n, generator=generator)
                    cursor = 0
                index = order[cursor : cursor + batch].to(device)
                cursor += batch
                for group in optimizer.param_groups:
                    group["lr"] = _learning_rate(settings, step)
                nll = -model.log_prob(events[index]).mean()
                # KL/N has a closed-form gradient: its value is logged and checked, its
                # gradient added after the backward pass of the NLL (the same total gradient).
                kl = flat.kl_value() / n
                loss = nll.detach() + settings.kl_weight * kl
                if not bool(torch.isfinite(loss)):
                    raise InputError(
                        f"{name}: the loss became non-finite at update {step}; lower "
                        "[training] learning_rate or check the data scale"
                    )
                flat.zero_grad()
                nll.backward()  # type: ignore[no-untyped-call]
                flat.add_kl_gradient(settings.kl_weight / n)
                if settings.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(flat.flat, settings.max_grad_norm)
                optimizer.step()
                sums[0] += float(nll.detach())
                sums[1] += float(kl.detach())
                if (step + 1) % interval == 0 or step + 1 == settings.n_updates:
                    count = (step % interval) + 1
                    history.step.append(step + 1)
                    history.nll.append(sums[0] / count)
                    history.kl_per_event.append(sums[1] / count)
                    sums = [0.0, 0.0]
                bar.update()
                done = step + 1
                if checkpoint is not None and done % every == 0 and done < settings.n_updates:
                    history.seconds = time.perf_counter() - start
                    state = {
                        "fingerprint": fingerprint or {},
                        "step": done,
                        "flat": flat.flat.detach().cpu(),
                        "optimizer": optimizer.state_dict(),
                        "generator": generator.get_state(),
                        "noise": _noise_state(device),
                        "order": order,
                        "cursor": cursor,
                        "history": history.to_dict(),
                        "sums": sums,
                    }
                    checkpoint.parent.mkdir(parents=True, exist_ok=True)
                    _checkpoint_save(state, checkpoint)
    finally:
        flat.release()
    history.seconds = time.perf_counter() - start
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    # Densities are evaluated in double precision, on the training device.
    model.double()
    model.eval()
    return history


_PARTIAL_KEYS = (
    "fingerprint",
    "step",
    "flat",
    "optimizer",
    "generator",
    "noise",
    "order",
    "cursor",
    "history",
    "sums",
)


def _checkpoint_save(state: dict[str, Any], path: Path) -> None:
    checkpoint.save(state, path)


def _load_partial(path: Path, fingerprint: dict[str, Any] | None) -> dict[str, Any] | None:
    """The training state at ``path`` if it belongs to ``fingerprint``, else None."""
    if not path.is_file():
        return None
    state = checkpoint.load(path, keys=_PARTIAL_KEYS)
    if state["fingerprint"] != (fingerprint or {}):
        return None
    return state


def _noise_state(device: torch.device) -> torch.Tensor:
    """State of the generator the Bayesian layers draw their noise from."""
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    return torch.get_rng_state()


def _set_noise_state(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


def save_model(model: INN, path: Path, fingerprint: dict[str, Any], history: BINNHistory) -> None:
    """Write the weights, the architecture and what they were trained on (atomically).

    Only tensors and plain containers are written, so :func:`load_model` reads the file
    weights-only (``madsbi._checkpoint``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.save(
        {
            "state": model.state_dict(),
            "dim": model.dim,
            "config": model.config.to_dict(),
            "fingerprint": fingerprint,
            "history": history.to_dict(),
        },
        path,
    )


def load_model(path: Path, fingerprint: dict[str, Any]) -> tuple[INN, BINNHistory] | None:
    """The model saved at ``path`` if it was trained with exactly ``fingerprint``, else None.

    Raises
    ------
    CheckpointError
        If the file is truncated or corrupt, or holds anything but tensors and plain
        containers (a file that would run code when unpickled is refused, never executed).
    """
    if not path.is_file():
        return None
    saved = checkpoint.load(path, keys=("state", "dim", "config", "fingerprint", "history"))
    if saved["fingerprint"] != fingerprint:
        return None
    try:
        model = INN(int(saved["dim"]), INNConfig(**saved["config"])).double()
        model.load_state_dict(saved["state"])
        history = BINNHistory(**saved["history"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{path}: not a valid saved (B)INN: {exc}") from None
    model.eval()
    return model, history
