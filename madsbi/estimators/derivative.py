"""Derivative learning (paper Sec. 2.2): networks for R_i(x) and R_ij(x) trained at θ0.

Each network regresses one coefficient ratio t_k(z) = c_k(z)/c_0(z) of the θ-polynomial,
k = 1 … K−1, with the weighted MSE (eqs. 29–30); by eq. 14 it converges to the reco-level
ĉ_k(x)/ĉ_0(x). In the package convention (docs/design.md) these are R_i for the linear terms,
R_ii/2 for the squares and R_ij for the mixed terms, so that

    R̂(x|θ, θ0) = (1, t̂_1(x), …, t̂_{K−1}(x)) · φ(θ − θ0).

Every network is an ensemble (or a Bayesian MLP); member m of the combined estimate takes
a randomly permuted member of every network (App. A, second method). A joint estimator
(the default for L-GATr, whose global token gives all outputs at once, Sec. 2.4) trains
one network with one output per coefficient; its members are already joint estimates.

With ``scale_column`` every target is divided by a smooth function g_k of one positive input
(an energy) before training and the prediction multiplied back
(:class:`~madsbi.estimators.target_scale.TargetScale`): the minimiser E[t_k|x] is unchanged,
but energy-growing targets are learned to the same relative precision in the bulk as in the
tail instead of being fitted to their few largest entries (issue 25).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError
from madsbi.estimators.data import HypothesisSample, as_tensor, input_tensor
from madsbi.estimators.io import load_estimator, save_estimator
from madsbi.estimators.losses import derivative_regression_loss
from madsbi.estimators.network import pool_members, seeded_network
from madsbi.estimators.target_scale import TargetScale
from madsbi.estimators.trainer import TrainingConfig, TrainingHistory, fit_runs
from madsbi.nn.build import NetworkConfig
from madsbi.nn.standardise import Standardiser
from madsbi.theory.polynomial import n_coefficients, polynomial_features, square_index

KIND = "derivative"
JOINT = "t"
"""Name of the one network of a joint estimator."""


class DerivativeEstimator:
    """Learned coefficient ratios t̂_k(x) = ĉ_k(x)/ĉ_0(x) at the reference point θ0.

    Parameters
    ----------
    theta0 : array_like, shape (n,)
    n_inputs : int
        Dimension d of the network inputs x.
    network : NetworkConfig
    targets : sequence of int, optional
        Which coefficients k ∈ 1 … K−1 get a network (default all); the others are zero.
    combination_seed : int
        Seeds the networks' initialisation and the random member permutations that combine
        them.
    positive_squares : bool
        Keep the coefficients of θ_i² non-negative (softplus output): they are |M_i|²-like
        and ≥ 0 for every event, so their reco-level means are too. Without this, small
        regression errors where the truth is ≈ 0 make R̂(x|θ) negative at large θ.
    joint : bool, optional
        One network for all targets (outputs t̂_k side by side, loss summed over them)
        instead of one network per target. Default: joint for ``network.kind = "lgatr"``.
    scale_column : int, optional
        An input column u > 0 (an energy such as m_T^WZ): :meth:`fit` divides each target by
        g_k(u), its weighted RMS in bins of log u interpolated in log u
        (:class:`~madsbi.estimators.target_scale.TargetScale`), and the prediction is
        g_k(u) · net_k(x). None (default): the targets as they are.
    """

    def __init__(
        self,
        theta0: Any,
        n_inputs: int,
        network: NetworkConfig,
        *,
        targets: Sequence[int] | None = None,
        combination_seed: int = 0,
        positive_squares: bool = True,
        joint: bool | None = None,
        scale_column: int | None = None,
    ) -> None:
        self.theta0 = as_float_array(theta0, "theta0", (None,))
        self.n_coefficients = n_coefficients(self.theta0.shape[0])
        chosen = list(range(1, self.n_coefficients)) if targets is None else list(targets)
        if not chosen or any(not 1 <= k < self.n_coefficients for k in chosen):
            raise InputError(
                f"targets: expected coefficient indices in [1, {self.n_coefficients}), got {chosen}"
            )
        self.targets = tuple(sorted(set(chosen)))
        self.n_inputs = int(n_inputs)
        self.config = network
        self.combination_seed = int(combination_seed)
        self.positive_squares = bool(positive_squares)
        if scale_column is not None and not 0 <= int(scale_column) < int(n_inputs):
            raise InputError(
                f"scale_column: expected an input column in [0, {int(n_inputs)}), "
                f"got {scale_column}"
            )
        self.scale_column = None if scale_column is None else int(scale_column)
        self.target_scale: TargetScale | None = None
        n = self.theta0.shape[0]
        squares = {square_index(i, n) for i in range(n)} if positive_squares else set()
        self.positive = {k: k in squares for k in self.targets}
        self.joint = network.kind == "lgatr" if joint is None else bool(joint)
        if self.joint:
            self.networks = {
                JOINT: seeded_network(
                    network,
                    self.n_inputs,
                    len(self.targets),
                    self.combination_seed * 1009,
                    positive=[self.positive[k] for k in self.targets],
                )
            }
            return
        self.networks = {
            f"t{k}": seeded_network(
                network,
                self.n_inputs,
                1,
                self.combination_seed * 1009 + k,
                positive=self.positive[k],
            )
            for k in self.targets
        }

    @property
    def n_members(self) -> int:
        """Members M of the combined estimate."""
        return next(iter(self.networks.values())).n_members

    # -- training ------------------------------------------------------------------------
    def fit(
        self,
        sample: HypothesisSample,
        training: TrainingConfig,
        *,
        out_dir: Path | None = None,
        progress: bool = True,
        loss_weights: Any | None = None,
    ) -> dict[str, TrainingHistory]:
        """Train the networks (one per target, or the joint one) on ``sample`` (events at θ0).

        ``loss_weights`` (N,), optional, multiply the event weights in the loss only (not in
        the standardisation): factors that depend on x alone move the network's capacity (for
        example towards a sparse tail) without moving the minimiser E[t(z)|x].

        With ``training.runs`` > 1 every network is trained once per run seed (checkpoints in
        ``out_dir/seed_<s>/``) and the runs' members are pooled (see
        :func:`~madsbi.estimators.trainer.fit_runs`): the estimator then has
        ``network.members × runs`` members. Call once per estimator.

        Returns the training history of every network, keyed ``t<k>`` (``t`` when joint), and
        ``"t<k> (seed <s>)"`` per run when runs are pooled.
        """
        if sample.x.shape[1] != self.n_inputs:
            raise InputError(f"sample.x: expected {self.n_inputs} columns, got {sample.x.shape[1]}")
        if sample.coefficients.shape[1] != self.n_coefficients:
            raise InputError(
                f"sample.coefficients: expected K = {self.n_coefficients} columns, "
                f"got {sample.coefficients.shape[1]}"
            )
        ratios = sample.coefficients / sample.coefficients[:, :1]
        x = as_tensor(sample.x)
        w = as_tensor(sample.weights, torch.float64)
        w_loss = w
        if loss_weights is not None:
            # as_float_array refuses non-finite values itself.
            factors = as_float_array(loss_weights, "loss_weights", (sample.n_events,))
            if not (factors > 0).all():
                row = int(np.argmax(factors <= 0))
                raise InputError(
                    f"loss_weights: expected values > 0, event {row} has {factors[row]}"
                )
            w_loss = w * as_tensor(factors, torch.float64)
        for k in self.targets:
            if self.positive[k] and (ratios[:, k] < 0).any():
                raise InputError(
                    f"coefficients[:, {k}]: the coefficient of a square must be >= 0 for every "
                    "event; pass positive_squares=False if your model allows otherwise"
                )
        if self.scale_column is not None:
            keys = list(self.targets)
            self.target_scale = TargetScale.fit(
                sample.x, ratios[:, keys], sample.weights, keys, self.scale_column
            )
            ratios = ratios.copy()
            for k in keys:
                ratios[:, k] = ratios[:, k] / self.target_scale(sample.x, k)
        groups = (
            [(JOINT, list(self.targets))] if self.joint else [(f"t{k}", [k]) for k in self.targets]
        )
        histories = {}
        for name, ks in groups:
            net = self.networks[name]
            target = torch.as_tensor(ratios[:, ks], dtype=torch.float64)
            net.inputs.fit(x, w)
            net.targets.fit(target, w)
            positive = [j for j, k in enumerate(ks) if self.positive[k]]
            if positive:  # only scaled, so that the softplus output stays >= 0
                scaled = Standardiser(len(ks)).fit(target, w, center=False)
                net.targets.mean[positive] = 0.0
                net.targets.scale[positive] = scaled.scale[positive]
            data = {
                "x": x,
                "target": net.targets(target).to(torch.float32),
                "weight": (w_loss / w_loss.mean()).to(torch.float32),
            }
            self.networks[name], per_run = fit_runs(
                net,
                lambda _: _regression_loss,
                data,
                training,
                network_config=self.config,
                pool=partial(
                    pool_members,
                    config=self.config,
                    n_in=self.n_inputs,
                    n_out=len(ks),
                    positive=net.positive,
                ),
                checkpoint_dir=None if out_dir is None else Path(out_dir) / name,
                fingerprint=f"{KIND}:{name}:{asdict(self.config)}",
                progress=progress,
                label=f"derivative {name}",
            )
            histories.update({name + suffix: h for suffix, h in per_run.items()})
        self.config = replace(self.config, members=self.config.members * training.runs)
        return histories

    # -- prediction ----------------------------------------------------------------------
    def predict_ratios(self, x: Any) -> torch.Tensor:
        """Combined ensemble of (1, t̂_1(x), …, t̂_{K−1}(x)), shape (M, N, K), float64."""
        xt = input_tensor(x, self.n_inputs)
        m = self.n_members
        out = torch.zeros(m, xt.shape[0], self.n_coefficients, dtype=torch.float64)
        out[..., 0] = 1.0
        if self.joint:
            pred = self.networks[JOINT].predict(xt)
            for j, k in enumerate(self.targets):
                out[..., k] = pred[..., j]
        else:
            generator = torch.Generator().manual_seed(self.combination_seed)
            for k in self.targets:
                pred = self.networks[f"t{k}"].predict(xt)[..., 0]
                out[..., k] = pred[torch.randperm(m, generator=generator)]
        if self.target_scale is not None:
            inputs = xt.detach().to(torch.float64).cpu().numpy()
            for k in self.targets:
                out[..., k] *= torch.as_tensor(self.target_scale(inputs, k), dtype=torch.float64)
        return out

    def event_coefficients(self, x: Any) -> FloatArray:
        """Per-event coefficients C_e (M, N, K) with R̂(x_e|θ) = C_e·φ(θ − θ0)."""
        result: FloatArray = self.predict_ratios(x).numpy()
        return result

    def grid_features(self, thetas: Any) -> FloatArray:
        """Φ(θ) = φ(θ − θ0) for G points, (G, K)."""
        return polynomial_features(thetas, self.theta0)

    log1p = True
    """C_e0 = 1 and φ_0 = 1: the grid scan may use log1p."""

    def second_derivative(self, x: Any, i: int = 0) -> FloatArray:
        """R̂_ii(x) = 2 t̂_ii(x) for every member, (M, N)."""
        k = square_index(i, self.theta0.shape[0])
        result: FloatArray = 2.0 * self.predict_ratios(x)[..., k].numpy()
        return result

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: Path) -> Path:
        """Write the estimator to the directory ``path``."""
        description = {
            "kind": KIND,
            "theta0": self.theta0.tolist(),
            "n_inputs": self.n_inputs,
            "targets": list(self.targets),
            "network": asdict(self.config),
            "combination_seed": self.combination_seed,
            "positive_squares": self.positive_squares,
            "joint": self.joint,
            "scale_column": self.scale_column,
            "target_scale": None if self.target_scale is None else self.target_scale.to_dict(),
        }
        return save_estimator(path, description, dict(self.networks))

    @classmethod
    def load(cls, path: Path) -> DerivativeEstimator:
        """Read an estimator written by :meth:`save`."""
        description, states = load_estimator(path, KIND)
        net = description["network"]
        config = NetworkConfig(**{**net, "hidden": tuple(net["hidden"])})
        estimator = cls(
            np.asarray(description["theta0"]),
            description["n_inputs"],
            config,
            targets=description["targets"],
            combination_seed=description["combination_seed"],
            positive_squares=description["positive_squares"],
            joint=bool(description.get("joint", False)),
            scale_column=description.get("scale_column"),
        )
        if description.get("target_scale") is not None:
            estimator.target_scale = TargetScale.from_dict(description["target_scale"])
        for name, network in estimator.networks.items():
            network.load_state_dict(states[name])
            network.eval()
        return estimator


def _regression_loss(predictions: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return derivative_regression_loss(predictions, batch["target"], batch["weight"])
