"""Weighted losses as pure functions of (prediction, target, weights).

Predictions carry a member axis: (M, B) or (M, B, D); targets have no member axis, (B,) /
(B, D); weights are (B,), or (M, B) when every member has its own (bootstrap) weights.
Every loss returns the weighted mean per member, shape (M,), so ensembles train all members
at once and the trainer sums over members. Weights may be fractional-smearing weights 1/n_e
(eq. 35); they are normalised by their sum in the batch.

References: bahl2025 eqs. 8, 11, 17, 29–30, 55.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _weighted_mean(per_event: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Weighted mean over the event axis 1 of (M, B, ...), summing trailing axes first.

    ``weights`` is (B,) for all members, or (M, B) with one weight set per member (the
    bootstrap weights of an ensemble, see :class:`~madsbi.estimators.trainer.TrainingConfig`).
    """
    values = per_event.reshape(per_event.shape[0], per_event.shape[1], -1).sum(-1)
    if weights is None:
        return values.mean(1)
    w = weights.to(values.dtype)
    return (values * w).sum(-1) / w.sum(-1)


def weighted_mse(
    prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Σ_e w_e (f(x_e) − y_e)² / Σ_e w_e per member: the regression loss of eqs. 17, 29–30, 35.

    Its minimum is the conditional mean E[y|x] (eq. 14), so with targets r(z|θ,θ0) it learns
    r(x|θ,θ0), with targets R_i(z), R_ij(z) the reco-level derivatives (eq. 30).
    """
    return _weighted_mean((prediction - target.unsqueeze(0)) ** 2, weights)


ratio_regression_loss = weighted_mse
"""Ratio regression, eq. 17: MSE between the joint ratio r(z|θ,θ0) and r̂(x|θ,θ0)."""

derivative_regression_loss = weighted_mse
"""Derivative regression, eqs. 29–30: MSE between R_i(z), R_ij(z) and the network."""


def carl_loss(
    log_ratio: torch.Tensor, label: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Binary cross-entropy of CARL (eq. 8) with the network output read as log r̂(x).

    ``label`` is 1 for events of the numerator hypothesis θ and 0 for the reference θ0.
    With s = sigmoid(log r̂) = r̂/(1 + r̂) the minimum of the balanced loss is
    s = p(x|θ)/(p(x|θ) + p(x|θ0)) (eq. 9), i.e. log r̂ = log r(x|θ,θ0). Give both classes
    equal total weight.
    """
    y = label.to(log_ratio.dtype).unsqueeze(0).expand_as(log_ratio)
    per_event = F.binary_cross_entropy_with_logits(log_ratio, y, reduction="none")
    return _weighted_mean(per_event, weights)


def alice_loss(
    log_ratio: torch.Tensor, joint_ratio: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """ALICE (eq. 11): CARL's cross-entropy with the soft label r(z)/(1 + r(z)).

    The parton-level joint ratio r(z|θ,θ0) replaces the class label for events of both
    hypotheses; the minimum is the same as CARL's, log r̂(x) = log r(x|θ,θ0), reached
    with less variance (Stoye et al., arXiv:1808.00973).
    """
    soft = (joint_ratio / (1.0 + joint_ratio)).to(log_ratio.dtype)
    y = soft.unsqueeze(0).expand_as(log_ratio)
    per_event = F.binary_cross_entropy_with_logits(log_ratio, y, reduction="none")
    return _weighted_mean(per_event, weights)


def symmetric_mse_loss(
    log_ratio: torch.Tensor,
    joint_ratio: torch.Tensor,
    label: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The MSE of eq. 55 for one basis point, with the network output read as log r̂(x).

    Reference events (label 0) contribute (r(z) − r̂(x))², numerator events (label 1)
    contribute (1/r(z) − 1/r̂(x))²; both terms have their minimum at r̂ = r(x|θ_i, θ0).
    """
    r_hat = log_ratio.exp()
    r = joint_ratio.to(log_ratio.dtype).unsqueeze(0)
    numerator = label.to(torch.bool).unsqueeze(0)
    per_event = torch.where(numerator, (1.0 / r - 1.0 / r_hat) ** 2, (r - r_hat) ** 2)
    return _weighted_mean(per_event, weights)


def score_mse_loss(
    score_hat: torch.Tensor,
    score: torch.Tensor,
    label: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The score term of ALICES/RASCAL (MadMiner's ``ratio_score_mse_num``), per member.

    Weighted mean over *all* events of [label_e = 1] Σ_i (t̂_i(x_e|θ_e) − t_i(z_e|θ_e))²:
    only numerator events (drawn at θ_e, label 1) carry the joint score t(z|θ) = ∂_θ log
    p(z|θ); reference events count in the mean with zero, as in MadMiner. ``score_hat`` is
    (M, B, n), ``score`` (B, n), ``label`` (B,).
    """
    mask = label.to(score_hat.dtype).reshape(1, -1, 1)
    per_event = mask * (score_hat - score.to(score_hat.dtype).unsqueeze(0)) ** 2
    return _weighted_mean(per_event, weights)


def multiclass_cross_entropy(
    logits: torch.Tensor, label: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Weighted cross-entropy of a C-class classifier, per member (M,).

    ``logits`` (M, B, C), ``label`` (B,) integer classes. With event weights whose class
    totals are the expected yields ν_c0, the minimum is softmax(logits)_c =
    ν_c0 p_c(x)/Σ_c' ν_c'0 p_c'(x): the share of class c at x (paper App. D, eq. 59's
    classifier for several classes).
    """
    log_p = torch.log_softmax(logits, dim=-1)
    index = label.to(torch.long).reshape(1, -1, 1).expand(log_p.shape[0], -1, 1)
    per_event = -torch.gather(log_p, -1, index)[..., 0]
    return _weighted_mean(per_event, weights)
