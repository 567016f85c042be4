"""Losses: shapes, minimisers over a constant prediction (eqs. 8, 11, 14, 17, 55), weights."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from madsbi.estimators.losses import (
    alice_loss,
    carl_loss,
    derivative_regression_loss,
    ratio_regression_loss,
    symmetric_mse_loss,
    weighted_mse,
)

Loss = Callable[[torch.Tensor], torch.Tensor]


def t64(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float64)


def minimise_constant(
    loss: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...]
) -> np.ndarray:
    """Minimise ``loss(c)`` over a constant c (one value per member and output) with L-BFGS."""
    c = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [c], lr=1.0, max_iter=200, tolerance_grad=1e-14, tolerance_change=1e-16,
        line_search_fn="strong_wolfe",
    )  # fmt: skip

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        value = loss(c).sum()
        value.backward()
        return value

    optimizer.step(closure)
    return c.detach().numpy()


def logit(p: np.ndarray | float) -> np.ndarray:
    return np.log(np.asarray(p) / (1.0 - np.asarray(p)))


def events(rng: np.random.Generator, n: int = 40) -> dict[str, np.ndarray]:
    return {
        "target": rng.normal(1.0, 2.0, size=(n, 2)),
        "label": (rng.random(n) < 0.3).astype(float),
        "joint": rng.lognormal(0.0, 1.0, n),
        "weight": rng.uniform(0.1, 3.0, n),
    }


# -- shapes ----------------------------------------------------------------------------------


def test_losses_return_one_value_per_member(rng: np.random.Generator) -> None:
    ev = events(rng)
    m, n = 3, 40
    pred2 = t64(rng.normal(size=(m, n)))
    pred3 = t64(rng.normal(size=(m, n, 2)))
    w = t64(ev["weight"])
    for weights in (None, w):
        assert weighted_mse(pred3, t64(ev["target"]), weights).shape == (m,)
        assert weighted_mse(pred2, t64(ev["target"][:, 0]), weights).shape == (m,)
        assert carl_loss(pred2, t64(ev["label"]), weights).shape == (m,)
        assert alice_loss(pred2, t64(ev["joint"]), weights).shape == (m,)
        assert symmetric_mse_loss(pred2, t64(ev["joint"]), t64(ev["label"]), weights).shape == (m,)
    # The regression losses of eqs. 17 and 29–30 are the weighted MSE.
    assert ratio_regression_loss is weighted_mse
    assert derivative_regression_loss is weighted_mse


def test_members_are_separate(rng: np.random.Generator) -> None:
    ev = events(rng)
    pred = t64(rng.normal(size=(2, 40)))
    both = alice_loss(pred, t64(ev["joint"]), t64(ev["weight"]))
    one = alice_loss(pred[1:], t64(ev["joint"]), t64(ev["weight"]))
    torch.testing.assert_close(both[1:], one, rtol=0, atol=0)


def test_weighted_mse_by_hand(rng: np.random.Generator) -> None:
    ev = events(rng)
    pred = rng.normal(size=(2, 40, 2))
    value = weighted_mse(t64(pred), t64(ev["target"]), t64(ev["weight"])).numpy()
    w = ev["weight"]
    expected = (w * ((pred - ev["target"]) ** 2).sum(-1)).sum(1) / w.sum()
    np.testing.assert_allclose(value, expected, rtol=1e-13)


def test_carl_and_alice_by_hand(rng: np.random.Generator) -> None:
    ev = events(rng)
    log_r = rng.normal(size=(1, 40))
    s = 1.0 / (1.0 + np.exp(-log_r))
    w = ev["weight"]
    for loss, label in (
        (carl_loss, ev["label"]),
        (alice_loss, ev["joint"] / (1.0 + ev["joint"])),
    ):
        given = ev["label"] if loss is carl_loss else ev["joint"]
        value = loss(t64(log_r), t64(given), t64(w)).numpy()
        bce = -(label * np.log(s) + (1 - label) * np.log(1 - s))
        np.testing.assert_allclose(value, (w * bce).sum(1) / w.sum(), rtol=1e-12)


# -- minimisers ------------------------------------------------------------------------------


def test_weighted_mse_minimum_is_weighted_mean(rng: np.random.Generator) -> None:
    ev = events(rng)
    y, w = ev["target"], ev["weight"]
    n = y.shape[0]

    def loss(c: torch.Tensor) -> torch.Tensor:
        return weighted_mse(c.expand(3, n, 2), t64(y), t64(w))

    best = minimise_constant(loss, (3, 1, 2))
    expected = (w[:, None] * y).sum(0) / w.sum()
    for member in best:
        np.testing.assert_allclose(member[0], expected, rtol=0, atol=1e-8)


def test_carl_minimum_is_logit_of_label_fraction(rng: np.random.Generator) -> None:
    ev = events(rng)
    label, w = ev["label"], ev["weight"]
    n = label.shape[0]
    best = minimise_constant(lambda c: carl_loss(c.expand(1, n), t64(label), t64(w)), (1, 1))
    fraction = (w * label).sum() / w.sum()
    assert best[0, 0] == pytest.approx(float(logit(fraction)), abs=1e-7)
    # Balanced classes (equal total weight): the minimum is log r̂ = 0.
    balanced = np.where(label == 1, 0.5 / (w * label).sum(), 0.5 / (w * (1 - label)).sum()) * w
    best = minimise_constant(lambda c: carl_loss(c.expand(1, n), t64(label), t64(balanced)), (1, 1))
    assert best[0, 0] == pytest.approx(0.0, abs=1e-7)


def test_alice_minimum_is_logit_of_soft_label(rng: np.random.Generator) -> None:
    ev = events(rng)
    r, w = ev["joint"], ev["weight"]
    n = r.shape[0]
    best = minimise_constant(lambda c: alice_loss(c.expand(2, n), t64(r), t64(w)), (2, 1))
    soft = (w * r / (1.0 + r)).sum() / w.sum()
    np.testing.assert_allclose(best[:, 0], logit(soft), rtol=0, atol=1e-7)
    # When every joint ratio is r, the minimum is log r̂ = log r exactly (eq. 11).
    best = minimise_constant(
        lambda c: alice_loss(c.expand(1, n), t64(np.full(n, 2.5)), t64(w)), (1, 1)
    )
    assert best[0, 0] == pytest.approx(math.log(2.5), abs=1e-7)


def test_symmetric_mse_minimum(rng: np.random.Generator) -> None:
    ev = events(rng)
    n = ev["joint"].shape[0]
    label, w = ev["label"], ev["weight"]
    # Gradient zero at r̂ = r when every joint ratio equals r, for any mix of the two terms.
    for r in (0.3, 1.0, 4.0):
        log_r = torch.full((1, n), math.log(r), dtype=torch.float64, requires_grad=True)
        value = symmetric_mse_loss(log_r, t64(np.full(n, r)), t64(label), t64(w))
        (grad,) = torch.autograd.grad(value.sum(), log_r)
        assert float(value.detach()) == pytest.approx(0.0, abs=1e-15)
        assert float(grad.abs().max()) < 1e-13
    # Reference events alone (label 0): the minimum is r̂ = weighted mean of r(z) (eq. 17).
    r = ev["joint"]
    zeros, ones = t64(np.zeros(n)), t64(np.ones(n))
    best = minimise_constant(
        lambda c: symmetric_mse_loss(c.expand(1, n), t64(r), zeros, t64(w)), (1, 1)
    )
    assert math.exp(best[0, 0]) == pytest.approx((w * r).sum() / w.sum(), rel=1e-7)
    # Numerator events alone (label 1): 1/r̂ = weighted mean of 1/r(z) (eq. 55, second term).
    best = minimise_constant(
        lambda c: symmetric_mse_loss(c.expand(1, n), t64(r), ones, t64(w)), (1, 1)
    )
    assert math.exp(-best[0, 0]) == pytest.approx((w / r).sum() / w.sum(), rel=1e-7)


def test_symmetric_mse_by_hand(rng: np.random.Generator) -> None:
    ev = events(rng)
    log_r = rng.normal(size=(2, 40))
    r, label, w = ev["joint"], ev["label"], ev["weight"]
    value = symmetric_mse_loss(t64(log_r), t64(r), t64(label), t64(w)).numpy()
    r_hat = np.exp(log_r)
    per_event = np.where(label == 1, (1 / r - 1 / r_hat) ** 2, (r - r_hat) ** 2)
    np.testing.assert_allclose(value, (w * per_event).sum(1) / w.sum(), rtol=1e-12)


# -- weights ---------------------------------------------------------------------------------


def all_losses(ev: dict[str, np.ndarray]) -> dict[str, Callable[..., torch.Tensor]]:
    return {
        "mse": lambda p, w, rows: weighted_mse(p, t64(ev["target"][rows, 0]), w),
        "carl": lambda p, w, rows: carl_loss(p, t64(ev["label"][rows]), w),
        "alice": lambda p, w, rows: alice_loss(p, t64(ev["joint"][rows]), w),
        "symmetric": lambda p, w, rows: symmetric_mse_loss(
            p, t64(ev["joint"][rows]), t64(ev["label"][rows]), w
        ),
    }


def test_weights_enter_as_expected(rng: np.random.Generator) -> None:
    ev = events(rng)
    n = 40
    pred = rng.normal(size=(2, n))
    w = ev["weight"]
    every = np.arange(n)
    dropped = np.array([3, 17, 18, 30])
    kept = np.setdiff1d(every, dropped)
    w_zero = w.copy()
    w_zero[dropped] = 0.0
    for name, loss in all_losses(ev).items():
        base = loss(t64(pred), t64(w), every)
        # Only relative weights matter.
        torch.testing.assert_close(loss(t64(pred), t64(2 * w), every), base, rtol=1e-14, atol=0)
        torch.testing.assert_close(loss(t64(pred), t64(w / 7), every), base, rtol=1e-14, atol=0)
        # Weight 0 removes the event.
        removed = loss(t64(pred[:, kept]), t64(w[kept]), kept)
        torch.testing.assert_close(loss(t64(pred), t64(w_zero), every), removed, rtol=1e-14, atol=0)
        # No weights = unit weights; integer weights = repeated events.
        torch.testing.assert_close(
            loss(t64(pred), None, every),
            loss(t64(pred), t64(np.ones(n)), every),
            rtol=1e-14,
            atol=0,
        )
        counts = rng.integers(1, 4, n)
        rep = np.repeat(every, counts)
        torch.testing.assert_close(
            loss(t64(pred), t64(counts.astype(float)), every),
            loss(t64(pred[:, rep]), None, rep),
            rtol=1e-13,
            atol=0,
            msg=name,
        )


def test_float32_predictions_with_float64_targets(rng: np.random.Generator) -> None:
    ev = events(rng)
    pred = torch.tensor(rng.normal(size=(2, 40)), dtype=torch.float32)
    for value in (
        alice_loss(pred, t64(ev["joint"]), t64(ev["weight"])),
        carl_loss(pred, t64(ev["label"]), t64(ev["weight"])),
        symmetric_mse_loss(pred, t64(ev["joint"]), t64(ev["label"]), t64(ev["weight"])),
    ):
        assert value.dtype == torch.float32
        assert bool(torch.isfinite(value).all())


def test_per_member_weights(rng: np.random.Generator) -> None:
    # (M, B) weights (bootstrap): every member sees its own weights, as if trained alone.
    ev = events(rng)
    m, n = 3, 40
    pred = rng.normal(size=(m, n))
    w = rng.poisson(1.0, size=(m, n)).astype(float)
    for loss in all_losses(ev).values():
        together = loss(t64(pred), t64(w), np.arange(n))
        assert together.shape == (m,)
        for member in range(m):
            alone = loss(t64(pred[member : member + 1]), t64(w[member]), np.arange(n))
            torch.testing.assert_close(together[member : member + 1], alone, rtol=1e-14, atol=0)
