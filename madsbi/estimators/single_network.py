"""The jointly trained morphing baseline of MadMiner (Brehmer et al.), paper Sec. 2.1 and Fig. 3.

One small network per morphing basis point θ_b learns R̂_b(x) ≈ dσ(x|θ_b)/dσ(x|θ0), learnable
numbers S_b ≈ σ(θ_b)/σ(θ0) learn the cross-section ratios, and the morphing weights
a(θ) = W⁻ᵀ φ(θ − θ0) combine them *inside one loss* into

    r̂(x|θ, θ0) = [a(θ)·R̂(x) / a(θ)·S] · [a(θ0)·S / a(θ0)·R̂(x)],

MadMiner's ``DenseMorphingAwareRatioModel`` (``madminer/utils/ml/models/ratio.py``) except
that the last factor pins r̂(x|θ0, θ0) = 1 exactly (MadMiner's is only learned to be 1). Where
θ0 is a basis point b0, R̂_b0 = S_b0 = 1 and no network is built for b0.

Training pairs (x_e, θ_e) follow MadMiner's ``sample_train_ratio``: θ_e from a prior, half of
the events drawn at θ_e (numerator, label 1 here), half at θ0 (reference, label 0). From
samples at the basis points (:meth:`SingleNetworkMorphingEstimator.fit`) every event is
assigned a class at random and reweighted exactly to its class density with the parton
coefficients; :meth:`~SingleNetworkMorphingEstimator.fit_pairs` takes ready-made arrays
(MadMiner's format), so both implementations can be trained on identical data. Losses:

- ``alice`` (eq. 11), ``carl`` (eq. 8) on log r̂; ``alices``: ALICE + MadMiner's score term,
  the mean of [numerator] (∂_θ log r̂ − t(z|θ))², t(z|θ) = ∂_θ log p(z|θ) the joint score;
- ``mse``: the regression of eqs. 14–17 in the form that converges to r(x|θ, θ0):
  reference events regress r(z|θ, θ0), numerator events 1/r(z|θ, θ0) (MadMiner's ROLR; eq. 17
  with events drawn at θ would converge to E[r(z|θ, θ0)|x, θ] ≠ r(x|θ, θ0) instead).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError
from madsbi.estimators.data import HypothesisSample, as_tensor, input_tensor
from madsbi.estimators.losses import alice_loss, carl_loss, score_mse_loss, symmetric_mse_loss
from madsbi.estimators.morphing import _MorphingBase
from madsbi.estimators.network import StandardisedNetwork, pool_members, seeded_network
from madsbi.estimators.trainer import TrainingConfig, TrainingHistory, fit_runs
from madsbi.nn.build import NetworkConfig
from madsbi.theory.morphing import MorphingBasis

SINGLE_NETWORK_LOSSES = ("alice", "alices", "carl", "mse")
PRIORS = ("gauss", "uniform")
_FLOOR = 1e-6
"""Smallest a(θ)·R̂ and a(θ)·S (signed weights can push them below 0; MadMiner clamps at e⁻⁵)."""


class JointMorphingNetwork(nn.Module):
    """The component networks and the learnable log S_b; forward gives log R̂_b(x), (M, B, K).

    The column of the basis point equal to θ0 (if any) is identically 0, and so is its log S.
    """

    def __init__(
        self, config: NetworkConfig, n_in: int, n_points: int, reference_index: int, seed: int
    ) -> None:
        super().__init__()
        self.n_points = int(n_points)
        self.reference_index = int(reference_index)
        self.components = nn.ModuleDict(
            {
                f"b{b}": seeded_network(config, n_in, 1, seed * 1009 + b)
                for b in range(n_points)
                if b != reference_index
            }
        )
        self.n_members = int(self._nets()[0].n_members)
        self.log_sigma = nn.Parameter(torch.zeros(self.n_members, self.n_points))
        mask = torch.ones(self.n_points)
        if reference_index >= 0:
            mask[reference_index] = 0.0
        self.mask: torch.Tensor
        self.register_buffer("mask", mask)

    @classmethod
    def pool(
        cls, parts: list[JointMorphingNetwork], config: NetworkConfig, n_in: int
    ) -> JointMorphingNetwork:
        """The parts' members side by side (components and log S_b), M × len(parts)."""
        first = parts[0]
        pooled = cls(
            replace(config, members=config.members * len(parts)),
            n_in,
            first.n_points,
            first.reference_index,
            seed=0,
        )
        for i, name in enumerate(pooled.components):
            pooled.components[name] = pool_members(
                [part._nets()[i] for part in parts], config, n_in, 1
            )
        with torch.no_grad():
            pooled.log_sigma.copy_(torch.cat([part.log_sigma for part in parts]))
        return pooled

    @property
    def core(self) -> nn.ModuleList:
        """The component cores (for counting weights), not registered twice."""
        return nn.ModuleList([net.core for net in self._nets()])

    def _nets(self) -> list[StandardisedNetwork]:
        return [self.components[name] for name in self.components]  # type: ignore[misc]

    def fit_inputs(self, x: torch.Tensor) -> None:
        """Fit every component's input standardiser on ``x``."""
        for net in self._nets():
            net.inputs.fit(x)

    def _columns(self, outputs: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        zeros = torch.zeros_like(like)
        return torch.cat([outputs.get(f"b{b}", zeros) for b in range(self.n_points)], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The log R̂_b(x) for inputs (B, d): (M, B, K), 0 in the reference column."""
        outputs = {name: net(x) for name, net in zip(self.components, self._nets(), strict=True)}
        return self._columns(outputs, next(iter(outputs.values())))

    def log_sigma_ratios(self) -> torch.Tensor:
        """The log S_b per member, (M, K), 0 for the reference point."""
        out: torch.Tensor = self.log_sigma * self.mask
        return out

    def regulariser(self, predictions: torch.Tensor, n_train: int) -> torch.Tensor:
        """Sum of the component networks' repulsion (or KL) terms on their own columns."""
        total = predictions.new_zeros(())
        for name, net in zip(self.components, self._nets(), strict=True):
            b = int(name[1:])
            total = total + net.regulariser(predictions[..., b : b + 1], n_train)
        return total

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The log R̂_b(x), (M, N, K), float64, in eval mode."""
        self.eval()
        nets = zip(self.components, self._nets(), strict=True)
        outputs = {name: net.predict(x) for name, net in nets}
        return self._columns(outputs, next(iter(outputs.values())))


def morphed_log_ratio(
    log_components: torch.Tensor,
    log_sigma: torch.Tensor,
    morph: torch.Tensor,
    morph0: torch.Tensor,
) -> torch.Tensor:
    """The log r̂(x|θ, θ0) = log[a(θ)·R̂ / a(θ)·S] − log[a(θ0)·R̂ / a(θ0)·S], (M, B).

    Parameters
    ----------
    log_components : Tensor (M, B, K)
        log R̂_b(x_e).
    log_sigma : Tensor (M, K)
        log S_b.
    morph : Tensor (B, K)
        a(θ_e) for every event's θ.
    morph0 : Tensor (K,)
        a(θ0).
    """
    r = log_components.exp()
    s = log_sigma.exp()
    numerator = (r * morph.unsqueeze(0)).sum(-1).clamp_min(_FLOOR)
    denominator = (s @ morph.T.to(s.dtype)).clamp_min(_FLOOR)  # (M, B)
    numerator0 = (r * morph0).sum(-1).clamp_min(_FLOOR)
    denominator0 = (s * morph0.to(s.dtype)).sum(-1, keepdim=True).clamp_min(_FLOOR)
    return numerator.log() - denominator.log() - numerator0.log() + denominator0.log()


def morphed_score(
    log_components: torch.Tensor,
    log_sigma: torch.Tensor,
    morph: torch.Tensor,
    dmorph: torch.Tensor,
) -> torch.Tensor:
    """∂_θ log r̂(x|θ, θ0) = a'·R̂/(a·R̂) − a'·S/(a·S), (M, B, n), with a' = ∂a/∂θ (B, n, K)."""
    r = log_components.exp()
    s = log_sigma.exp()
    numerator = (r * morph.unsqueeze(0)).sum(-1).clamp_min(_FLOOR)
    denominator = (s @ morph.T.to(s.dtype)).clamp_min(_FLOOR)
    d_numerator = torch.einsum("mbk,bik->mbi", r, dmorph.to(r.dtype))
    d_denominator = torch.einsum("mk,bik->mbi", s, dmorph.to(s.dtype))
    out: torch.Tensor = d_numerator / numerator.unsqueeze(-1) - d_denominator / (
        denominator.unsqueeze(-1)
    )
    return out


class SingleNetworkMorphingEstimator(_MorphingBase):
    """MadMiner's jointly trained morphing-aware estimator, with r̂(x|θ0, θ0) = 1 exactly.

    Parameters
    ----------
    basis : MorphingBasis
    sigma_basis : array_like (K,)
        σ(θ_b) at the basis points (exact; used to weight the training events).
    sigma0 : float
        σ(θ0).
    n_inputs : int
    network : NetworkConfig
        Shape of *each* component network.
    loss : {"alice", "alices", "carl", "mse"}
    prior : {"gauss", "uniform"}
        θ prior of the training pairs: N(θ0, prior_std²) per component, or uniform over
        θ0 ± prior_std.
    prior_std : float
    score_weight : float
        Weight of the score term of ``alices`` (MadMiner's ``alpha``, default 1).
    seed : int
    """

    kind = "single_network_morphing"
    extra_keys = ("loss", "prior", "prior_std", "score_weight")

    def __init__(
        self,
        basis: MorphingBasis,
        sigma_basis: Any,
        sigma0: float,
        n_inputs: int,
        network: NetworkConfig,
        *,
        loss: str = "alice",
        prior: str = "gauss",
        prior_std: float = 1.0,
        score_weight: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__(basis, sigma_basis, sigma0, n_inputs, network, seed)
        if loss not in SINGLE_NETWORK_LOSSES:
            raise InputError(f"loss: expected one of {SINGLE_NETWORK_LOSSES}, got {loss!r}")
        if prior not in PRIORS:
            raise InputError(f"prior: expected one of {PRIORS}, got {prior!r}")
        if not prior_std > 0:
            raise InputError(f"prior_std: expected > 0, got {prior_std}")
        if not score_weight >= 0:
            raise InputError(f"score_weight: expected >= 0, got {score_weight}")
        self.loss, self.prior = loss, prior
        self.prior_std, self.score_weight = float(prior_std), float(score_weight)
        offsets = np.abs(basis.points - basis.theta0).max(axis=1)
        self.reference_index = int(np.argmin(offsets)) if offsets.min() == 0 else -1
        self.network = JointMorphingNetwork(
            network, self.n_inputs, basis.n_points, self.reference_index, self.seed
        )
        self.networks = {"all": self.network}  # type: ignore[dict-item]
        a0, _ = basis.weights(basis.theta0[None, :], backend="numpy")
        self.morph0 = torch.as_tensor(a0[0], dtype=torch.float32)

    # -- training data ----------------------------------------------------------------------
    def draw_thetas(self, n: int, rng: np.random.Generator) -> FloatArray:
        """θ from the prior, (n, n_parameters)."""
        theta0 = self.basis.theta0
        if self.prior == "gauss":
            noise = rng.standard_normal((n, theta0.shape[0]))
        else:
            noise = rng.uniform(-1.0, 1.0, (n, theta0.shape[0]))
        result: FloatArray = theta0 + self.prior_std * noise
        return result

    def morphing_derivative(self, thetas: Any, step: float = 1e-3) -> FloatArray:
        """∂a/∂θ_i at every θ, (G, n, K): central differences, exact for the quadratic a(θ)."""
        t = as_float_array(thetas, "thetas", (None, self.basis.n_parameters))
        parts = []
        for i in range(t.shape[1]):
            shift = np.zeros(t.shape[1])
            shift[i] = step
            up, _ = self.basis.weights(t + shift, backend="numpy")
            down, _ = self.basis.weights(t - shift, backend="numpy")
            parts.append((up - down) / (2 * step))
        return np.stack(parts, axis=1)

    def pairs_from_samples(
        self, samples: Sequence[HypothesisSample], rng: np.random.Generator
    ) -> dict[str, FloatArray]:
        """Training pairs from samples at the basis points, reweighted exactly.

        The samples are pooled with equal total weight each, so the pool follows
        m(z) = (1/K) Σ_b p(z|θ_b). Every event gets θ_e from the prior and a class (numerator
        or reference, probability 1/2 each); its weight is p(z|θ_e)/m(z) as a numerator,
        p(z|θ0)/m(z) as a reference event. Returns ``x``, ``theta``, ``numerator`` (bool),
        ``joint`` = r(z|θ_e, θ0), ``score`` = t(z|θ_e) and ``weight`` (mean 1).
        """
        coefficients = np.concatenate([s.coefficients for s in samples])
        x = np.concatenate([s.x for s in samples])
        own = np.concatenate([s.weights / s.weights.sum() * len(samples) for s in samples])
        n = x.shape[0]
        thetas = self.draw_thetas(n, rng)
        numerator = rng.random(n) < 0.5
        a, sigma = self.basis.weights(thetas, self.sigma_basis, backend="numpy")
        if sigma is None:  # pragma: no cover - sigma_basis given
            raise InputError("sigma_basis missing")
        phi_basis = self.basis.matrix  # (K, K): rows φ(θ_b − θ0)
        mixture = ((coefficients @ phi_basis.T) / self.sigma_basis).mean(axis=1)
        # dσ(z|θ) = Σ_b a_b(θ) dσ(z|θ_b) and dσ(z|θ_b) = c·φ(θ_b − θ0).
        dsigma_basis = coefficients @ phi_basis.T
        dsigma = np.einsum("ek,ek->e", dsigma_basis, a)
        p_theta = dsigma / sigma
        p_theta0 = coefficients[:, 0] / self.sigma0
        da = self.morphing_derivative(thetas)
        ddsigma = np.einsum("ek,eik->ei", dsigma_basis, da)
        dsig = np.einsum("k,eik->ei", self.sigma_basis, da)
        weight = own * np.where(numerator, p_theta, p_theta0) / mixture
        return {
            "x": x,
            "theta": thetas,
            "numerator": numerator,
            "joint": p_theta / p_theta0,
            "score": ddsigma / dsigma[:, None] - dsig / sigma[:, None],
            "weight": weight / weight.mean(),
        }

    def _batch_data(
        self,
        x: Any,
        thetas: Any,
        numerator: Any,
        joint: Any,
        score: Any,
        weight: Any | None,
    ) -> dict[str, torch.Tensor]:
        xa = as_float_array(x, "x")
        xa = xa[:, None] if xa.ndim == 1 else xa
        n = xa.shape[0]
        t = as_float_array(thetas, "thetas", (n, self.basis.n_parameters))
        r = as_float_array(joint, "joint", (n,))
        if not (r > 0).all():
            raise InputError(f"joint: expected ratios > 0, event {int(np.argmax(r <= 0))}")
        s = as_float_array(score, "score", (n, self.basis.n_parameters))
        w = np.ones(n) if weight is None else as_float_array(weight, "weight", (n,))
        label = np.asarray(numerator, dtype=bool)
        if label.shape != (n,):
            raise InputError(f"numerator: expected shape ({n},), got {label.shape}")
        a, _ = self.basis.weights(t, backend="numpy")
        return {
            "x": as_tensor(xa),
            "morph": as_tensor(a),
            "dmorph": as_tensor(self.morphing_derivative(t)),
            "label": as_tensor(label.astype(float)),
            "joint": as_tensor(r),
            "score": as_tensor(s),
            "weight": as_tensor(w),
        }

    # -- training ---------------------------------------------------------------------------
    def fit(
        self,
        samples: Sequence[HypothesisSample],
        training: TrainingConfig,
        *,
        out_dir: Path | None = None,
        progress: bool = True,
    ) -> dict[str, TrainingHistory]:
        """Train on the samples at the basis points (``samples[b]`` at θ_b)."""
        if len(samples) != self.basis.n_points:
            raise InputError(
                f"samples: expected one per basis point ({self.basis.n_points}), got {len(samples)}"
            )
        pairs = self.pairs_from_samples(samples, np.random.default_rng(self.seed))
        return self.fit_pairs(
            pairs["x"],
            pairs["theta"],
            pairs["numerator"],
            pairs["joint"],
            pairs["score"],
            training,
            weight=pairs["weight"],
            out_dir=out_dir,
            progress=progress,
        )

    def fit_pairs(
        self,
        x: Any,
        thetas: Any,
        numerator: Any,
        joint: Any,
        score: Any,
        training: TrainingConfig,
        *,
        weight: Any | None = None,
        out_dir: Path | None = None,
        progress: bool = True,
    ) -> dict[str, TrainingHistory]:
        """Train on ready-made pairs (MadMiner's ``sample_train_ratio`` arrays).

        ``numerator[e]`` is True for events drawn at ``thetas[e]`` (MadMiner's y = 0), False
        for events drawn at θ0; ``joint`` = r(z|θ_e, θ0), ``score`` = ∂_θ log p(z|θ_e).
        """
        data = self._batch_data(x, thetas, numerator, joint, score, weight)
        self.network.fit_inputs(data["x"])
        self.network, histories = fit_runs(
            self.network,
            self._loss_of,
            data,
            training,
            network_config=self.config,
            pool=partial(JointMorphingNetwork.pool, config=self.config, n_in=self.n_inputs),
            checkpoint_dir=None if out_dir is None else Path(out_dir) / "all",
            fingerprint=f"{self.kind}:{self.loss}:{self.prior}:{self.prior_std}:"
            f"{self.score_weight}:{asdict(self.config)}",
            progress=progress,
            label=f"single-network morphing ({self.loss})",
        )
        self.networks = {"all": self.network}  # type: ignore[dict-item]
        self.config = replace(self.config, members=self.config.members * training.runs)
        return {"all" + suffix: h for suffix, h in histories.items()}

    def _loss_of(
        self, network: JointMorphingNetwork
    ) -> Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]:
        """The loss of ``network`` (its own σ ratios: each pooled run trains a copy)."""
        return partial(self._loss, network=network)

    def _loss(
        self,
        predictions: torch.Tensor,
        batch: dict[str, torch.Tensor],
        network: JointMorphingNetwork | None = None,
    ) -> torch.Tensor:
        log_sigma = (self.network if network is None else network).log_sigma_ratios()
        morph0 = self.morph0.to(predictions.device)
        log_r = morphed_log_ratio(predictions, log_sigma, batch["morph"], morph0)
        if self.loss == "carl":
            return carl_loss(log_r, batch["label"], batch["weight"])
        if self.loss == "mse":
            return symmetric_mse_loss(log_r, batch["joint"], batch["label"], batch["weight"])
        loss = alice_loss(log_r, batch["joint"], batch["weight"])
        if self.loss == "alices" and self.score_weight > 0:
            t_hat = morphed_score(predictions, log_sigma, batch["morph"], batch["dmorph"])
            loss = loss + self.score_weight * score_mse_loss(
                t_hat, batch["score"], batch["label"], batch["weight"]
            )
        return loss

    # -- evaluation -------------------------------------------------------------------------
    def log_ratio(self, x: Any, thetas: Any) -> FloatArray:
        """The jointly trained log r̂(x|θ, θ0) for every (θ, x) pair: (M, G, N)."""
        xt = input_tensor(x, self.n_inputs)
        t = as_float_array(thetas, "thetas")
        t = t.reshape(-1, self.basis.n_parameters)
        a, _ = self.basis.weights(t, backend="numpy")
        log_components = self.network.predict(xt)
        log_sigma = self.network.log_sigma_ratios().detach().double()
        morph0 = self.morph0.double()
        rows = []
        for g in range(t.shape[0]):
            morph = torch.as_tensor(np.repeat(a[g : g + 1], xt.shape[0], axis=0))
            rows.append(morphed_log_ratio(log_components, log_sigma, morph, morph0))
        result: FloatArray = torch.stack(rows, dim=1).numpy()
        return result

    def mean_log_ratio(self, x: Any, thetas: Any) -> FloatArray:
        """Mean over the events x of log r̂(x|θ, θ0) for every θ, per member: (M, G)."""
        result: FloatArray = self.log_ratio(x, thetas).mean(axis=-1)
        return result

    def event_coefficients(self, x: Any) -> FloatArray:
        """Per-event coefficients C_eb = S_b r̂(x_e|θ_b, θ0), (M, N, K), with the *learned* S_b.

        With the rate ρ(θ) = a(θ)·S (:meth:`learned_sigma_ratios` as rate coefficients),
        log(C_e·a(θ)) − log ρ(θ) is exactly the jointly trained :meth:`log_ratio`.
        """
        scale = torch.as_tensor(self.learned_sigma_ratios())[:, None, :]
        result: FloatArray = (self.basis_ratios(x) * scale).numpy()
        return result

    def learned_sigma_ratios(self) -> FloatArray:
        """S_b = σ̂(θ_b)/σ(θ0) per member, (M, K)."""
        result: FloatArray = self.network.log_sigma_ratios().detach().double().exp().numpy()
        return result

    def basis_ratios(self, x: Any) -> torch.Tensor:
        """r̂(x|θ_b, θ0) of the trained model at every basis point, (M, N, K).

        Equal to R̂_b(x)/S_b normalised at θ0, so morphing them with the *learned* σ ratios,
        Σ_b a_b(θ) S_b r̂_b / (a(θ)·S), reproduces :meth:`log_ratio` exactly.
        """
        xt = input_tensor(x, self.n_inputs)
        log_components = self.network.predict(xt)
        log_sigma = self.network.log_sigma_ratios().detach().double()
        morph0 = self.morph0.double()
        r = log_components.exp()
        s = log_sigma.exp()
        norm0 = (r * morph0).sum(-1, keepdim=True) / (s * morph0).sum(-1)[:, None, None]
        out: torch.Tensor = r / s[:, None, :] / norm0
        return out

    def _describe(self) -> dict[str, Any]:
        return {
            **super()._describe(),
            "loss": self.loss,
            "prior": self.prior,
            "prior_std": self.prior_std,
            "score_weight": self.score_weight,
        }
