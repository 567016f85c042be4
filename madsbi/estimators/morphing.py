"""Morphing-aware estimators (paper Sec. 2.1, eq. 25): ratios r_b(x) at the basis points.

Both estimators end in the same per-event form as derivative learning (docs/design.md):

    R̂(x|θ, θ0) = Σ_b a_b(θ) σ(θ_b)/σ(θ0) · r̂_b(x) = C_e · a(θ),   C_eb = σ_b r̂_b(x_e)/σ0,

with a(θ) = W⁻ᵀ φ(θ − θ0) the morphing weights.

- :class:`MorphingAwareEstimator` (this paper): one network per basis point, each trained
  independently as a classifier between the events at θ_b and at θ0 (ALICE, eq. 11; CARL,
  eq. 8; or the MSE of eq. 55).
- :class:`~madsbi.estimators.single_network.SingleNetworkMorphingEstimator` (the MadMiner
  baseline of Fig. 3, in its own module): the component ratios combined by morphing inside
  one loss, trained jointly with θ drawn from a prior.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError
from madsbi.estimators.data import HypothesisSample, as_tensor, input_tensor
from madsbi.estimators.io import load_estimator, save_estimator
from madsbi.estimators.losses import alice_loss, carl_loss, symmetric_mse_loss
from madsbi.estimators.network import StandardisedNetwork, pool_members, seeded_network
from madsbi.estimators.trainer import TrainingConfig, TrainingHistory, fit_runs
from madsbi.nn.build import NetworkConfig
from madsbi.theory.morphing import MorphingBasis

LOSSES = ("alice", "carl", "mse")


class _MorphingBase:
    """What both morphing estimators share: basis, cross-sections, the C·a(θ) form."""

    kind = ""
    log1p = False

    def __init__(
        self,
        basis: MorphingBasis,
        sigma_basis: Any,
        sigma0: float,
        n_inputs: int,
        network: NetworkConfig,
        seed: int,
    ) -> None:
        self.basis = basis
        self.sigma_basis = as_float_array(sigma_basis, "sigma_basis", (basis.n_points,))
        if not (np.all(self.sigma_basis > 0) and sigma0 > 0):
            raise InputError(
                f"cross-sections must be > 0, got sigma_basis={self.sigma_basis.tolist()}, "
                f"sigma0={sigma0}"
            )
        self.sigma0 = float(sigma0)
        self.n_inputs = int(n_inputs)
        self.config = network
        self.seed = int(seed)
        self.networks: dict[str, StandardisedNetwork] = {}

    @property
    def n_members(self) -> int:
        """Members M of the combined estimate."""
        return next(iter(self.networks.values())).n_members

    def grid_features(self, thetas: Any) -> FloatArray:
        """Φ(θ) = a(θ), the morphing weights, (G, K)."""
        a, _ = self.basis.weights(thetas)
        return a

    def cross_section(self, thetas: Any) -> FloatArray:
        """σ(θ) = Σ_b a_b(θ) σ(θ_b) from the basis cross-sections, (G,)."""
        _, sigma = self.basis.weights(thetas, self.sigma_basis)
        if sigma is None:  # pragma: no cover - sigma_basis given
            raise InputError("sigma_basis missing")
        return sigma

    def basis_ratios(self, x: Any) -> torch.Tensor:
        """Combined ensemble of r̂_b(x) for every basis point, (M, N, K)."""
        raise NotImplementedError

    def event_coefficients(self, x: Any) -> FloatArray:
        """Per-event coefficients C_eb = σ_b r̂_b(x_e)/σ0, (M, N, K)."""
        scale = torch.as_tensor(self.sigma_basis / self.sigma0)
        result: FloatArray = (self.basis_ratios(x) * scale).numpy()
        return result

    def _describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "basis_points": self.basis.points.tolist(),
            "theta0": self.basis.theta0.tolist(),
            "sigma_basis": self.sigma_basis.tolist(),
            "sigma0": self.sigma0,
            "n_inputs": self.n_inputs,
            "network": asdict(self.config),
            "seed": self.seed,
        }

    def save(self, path: Path) -> Path:
        """Write the estimator to the directory ``path``."""
        return save_estimator(path, self._describe(), dict(self.networks))

    extra_keys: tuple[str, ...] = ()
    """Constructor keywords beyond the shared ones, stored in the description."""

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read an estimator written by :meth:`save` (weights-only)."""
        description, states = load_estimator(path, cls.kind)
        basis = MorphingBasis.from_points(description["basis_points"], description["theta0"])
        estimator = cls(
            basis,
            description["sigma_basis"],
            description["sigma0"],
            description["n_inputs"],
            _network_config(description),
            seed=description["seed"],
            **{key: description[key] for key in cls.extra_keys},
        )
        for name, network in estimator.networks.items():
            network.load_state_dict(states[name])
            network.eval()
        return estimator


def _network_config(description: dict[str, Any]) -> NetworkConfig:
    net = description["network"]
    return NetworkConfig(**{**net, "hidden": tuple(net["hidden"])})


class MorphingAwareEstimator(_MorphingBase):
    """One independently trained network per basis point θ_b ≠ θ0, output log r̂_b(x).

    Parameters
    ----------
    basis : MorphingBasis
    sigma_basis : array_like (K,)
        σ(θ_b) at the basis points (same units as ``sigma0``).
    sigma0 : float
        σ(θ0).
    n_inputs : int
    network : NetworkConfig
    loss : {"alice", "carl", "mse"}
        ALICE (eq. 11), CARL (eq. 8) or the symmetric MSE of eq. 55.
    seed : int
    """

    kind = "morphing_aware"
    extra_keys = ("loss",)

    def __init__(
        self,
        basis: MorphingBasis,
        sigma_basis: Any,
        sigma0: float,
        n_inputs: int,
        network: NetworkConfig,
        *,
        loss: str = "alice",
        seed: int = 0,
    ) -> None:
        super().__init__(basis, sigma_basis, sigma0, n_inputs, network, seed)
        if loss not in LOSSES:
            raise InputError(f"loss: expected one of {LOSSES}, got {loss!r}")
        self.loss = loss
        offsets = np.abs(basis.points - basis.theta0).max(axis=1)
        self.reference_index = int(np.argmin(offsets)) if offsets.min() == 0 else -1
        self.networks = {
            f"b{b}": seeded_network(network, self.n_inputs, 1, self.seed * 1009 + b)
            for b in range(basis.n_points)
            if b != self.reference_index
        }

    def fit(
        self,
        samples: Sequence[HypothesisSample | None],
        reference: HypothesisSample,
        training: TrainingConfig,
        *,
        out_dir: Path | None = None,
        progress: bool = True,
    ) -> dict[str, TrainingHistory]:
        """Train the network of every basis point b on ``samples[b]`` against ``reference``.

        ``samples[b]`` holds events simulated at θ_b (ignored for the point equal to θ0);
        ``reference`` holds events at θ0. Joint ratios come from the parton coefficients,
        r(z|θ_b, θ0) = R(z|θ_b, θ0)·σ0/σ_b. With ``training.runs`` > 1 every network is
        trained once per run seed and the runs' members are pooled (see
        :func:`~madsbi.estimators.trainer.fit_runs`); call once per estimator.
        """
        if len(samples) != self.basis.n_points:
            raise InputError(
                f"samples: expected one per basis point ({self.basis.n_points}), got {len(samples)}"
            )
        histories = {}
        for b in range(self.basis.n_points):
            if b == self.reference_index:
                continue
            sample = samples[b]
            if sample is None:
                raise InputError(
                    f"samples[{b}]: the basis point {self.basis.points[b]} has no events"
                )
            name = f"b{b}"
            data = self._classification_data(b, sample, reference)
            net = self.networks[name]
            net.inputs.fit(data["x"])
            self.networks[name], per_run = fit_runs(
                net,
                lambda _: self._loss,
                data,
                training,
                network_config=self.config,
                pool=partial(pool_members, config=self.config, n_in=self.n_inputs, n_out=1),
                checkpoint_dir=None if out_dir is None else Path(out_dir) / name,
                fingerprint=f"{self.kind}:{name}:{self.loss}:{asdict(self.config)}",
                progress=progress,
                label=f"morphing {name}",
            )
            histories.update({name + suffix: h for suffix, h in per_run.items()})
        self.config = replace(self.config, members=self.config.members * training.runs)
        return histories

    def _classification_data(
        self, b: int, numerator: HypothesisSample, reference: HypothesisSample
    ) -> dict[str, torch.Tensor]:
        theta_b, theta0 = self.basis.points[b], self.basis.theta0
        norm = self.sigma0 / self.sigma_basis[b]
        joint = np.concatenate(
            [
                numerator.unnormalised_ratio(theta_b, theta0) * norm,
                reference.unnormalised_ratio(theta_b, theta0) * norm,
            ]
        )
        # Both hypotheses carry equal total weight (balanced classes); mean weight 1.
        n_total = numerator.n_events + reference.n_events
        weights = np.concatenate(
            [
                numerator.weights / numerator.weights.sum(),
                reference.weights / reference.weights.sum(),
            ]
        ) * (n_total / 2)
        label = np.concatenate([np.ones(numerator.n_events), np.zeros(reference.n_events)])
        return {
            "x": as_tensor(np.concatenate([numerator.x, reference.x])),
            "joint": as_tensor(joint),
            "label": as_tensor(label),
            "weight": as_tensor(weights),
        }

    def _loss(self, predictions: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        log_r = predictions[..., 0]
        if self.loss == "alice":
            return alice_loss(log_r, batch["joint"], batch["weight"])
        if self.loss == "carl":
            return carl_loss(log_r, batch["label"], batch["weight"])
        return symmetric_mse_loss(log_r, batch["joint"], batch["label"], batch["weight"])

    def basis_ratios(self, x: Any) -> torch.Tensor:
        """Combined ensemble of r̂_b(x), (M, N, K); 1 at the basis point equal to θ0."""
        xt = input_tensor(x, self.n_inputs)
        m = self.n_members
        out = torch.ones(m, xt.shape[0], self.basis.n_points, dtype=torch.float64)
        generator = torch.Generator().manual_seed(self.seed)
        for b in range(self.basis.n_points):
            if b == self.reference_index:
                continue
            log_r = self.networks[f"b{b}"].predict(xt)[..., 0]
            out[..., b] = log_r[torch.randperm(m, generator=generator)].exp()
        return out

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "loss": self.loss}
