"""A network between two standardisers, and prediction in batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import nn

from madsbi.errors import InputError
from madsbi.nn.build import NetworkConfig, build_network
from madsbi.nn.standardise import Standardiser


class StandardisedNetwork(nn.Module):
    """Inputs → standardised inputs → network → outputs in standardised target units.

    Training compares the raw output with standardised targets; :meth:`predict` maps back.
    Classifiers (output log r̂) keep the identity target map. With ``positive=True`` the
    output passes through a softplus and the target map only scales (fit it with
    ``center=False``): for targets that are ≥ 0 by physics, such as the coefficient of θ_i²
    (|M_i|²), whose conditional mean the network then cannot push below zero. A sequence of
    ``n_out`` flags does this for the flagged outputs only (a network with several targets).
    """

    def __init__(
        self,
        config: NetworkConfig,
        n_in: int,
        n_out: int,
        *,
        positive: bool | Sequence[bool] = False,
    ):
        super().__init__()
        self.positive = positive
        flags = [bool(positive)] * n_out if isinstance(positive, bool) else list(positive)
        if len(flags) != n_out:
            raise InputError(f"positive: expected {n_out} flags, got {len(flags)}")
        self.positive_outputs = tuple(flags)
        self.inputs = input_standardiser(config, n_in)
        self.targets = Standardiser(n_out)
        self.core = build_network(config, n_in, n_out)
        self.n_members = int(self.core.n_members)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions (M, B, n_out) in standardised target units for inputs (B, n_in)."""
        out: torch.Tensor = self.core(self.inputs(x))
        if all(self.positive_outputs):
            return torch.nn.functional.softplus(out)
        if any(self.positive_outputs):
            mask = torch.tensor(self.positive_outputs, device=out.device)
            return torch.where(mask, torch.nn.functional.softplus(out), out)
        return out

    def regulariser(self, predictions: torch.Tensor, n_train: int) -> torch.Tensor:
        """The core network's repulsion or KL term."""
        out: torch.Tensor = self.core.regulariser(predictions, n_train)  # type: ignore[operator]
        return out

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 65_536) -> torch.Tensor:
        """Predictions (M, N, n_out) in target units, float64, evaluated in eval mode."""
        self.eval()
        device = next(self.parameters()).device
        parts = []
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device=device, dtype=torch.float32)
            parts.append(self.targets.inverse(self(xb).to(torch.float64)).cpu())
        return torch.cat(parts, dim=1)


def input_standardiser(config: NetworkConfig, n_in: int) -> Standardiser:
    """The input map of ``config``'s network: per-column, or Lorentz-covariant for L-GATr."""
    if config.kind == "lgatr" and config.lgatr is not None:
        from madsbi.nn.lgatr import LorentzStandardiser
        from madsbi.nn.lgatr_config import resolve_layout

        momenta = resolve_layout(config.lgatr, n_in).momentum_columns
        return LorentzStandardiser(n_in, momenta)
    return Standardiser(n_in)


def seeded_network(
    config: NetworkConfig,
    n_in: int,
    n_out: int,
    seed: int,
    *,
    positive: bool | Sequence[bool] = False,
) -> StandardisedNetwork:
    """A :class:`StandardisedNetwork` initialised from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return StandardisedNetwork(config, n_in, n_out, positive=positive)


POOLABLE_KINDS = ("ensemble", "lgatr")
"""Network kinds whose members :func:`pool_members` pools."""


def pool_members(
    parts: Sequence[StandardisedNetwork],
    config: NetworkConfig,
    n_in: int,
    n_out: int,
    *,
    positive: bool | Sequence[bool] = False,
) -> StandardisedNetwork:
    """One network whose members are those of ``parts`` in order (M × len(parts) members).

    The parts are ensembles of ``config`` (``kind = "ensemble"`` or ``"lgatr"``), trained
    separately with the same standardisers (fitted on the same sample).

    Raises
    ------
    InputError
        If ``config`` is not an ensemble kind, or the parts' standardisers differ.
    """
    if config.kind not in POOLABLE_KINDS:
        raise InputError(
            f"network.kind = {config.kind!r}: only {POOLABLE_KINDS} ensembles pool the members "
            "of several runs"
        )
    m = config.members
    pooled = StandardisedNetwork(
        replace(config, members=m * len(parts)), n_in, n_out, positive=positive
    )
    states = [part.state_dict() for part in parts]
    merged = {}
    for key in pooled.state_dict():
        if not key.startswith("core."):
            for state in states[1:]:
                if not torch.equal(state[key], states[0][key]):
                    raise InputError(f"{key}: differs between the runs to pool")
            merged[key] = states[0][key]
        elif key.startswith("core.members."):  # L-GATr: one module per member
            index, rest = key.removeprefix("core.members.").split(".", 1)
            run, member = divmod(int(index), m)
            merged[key] = states[run][f"core.members.{member}.{rest}"]
        else:  # EnsembleMLP: members stacked along dimension 0
            merged[key] = torch.cat([state[key] for state in states])
    pooled.load_state_dict(merged)
    return pooled
