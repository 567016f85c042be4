"""The paired classifier of a detector variation (issue 27): the ratio of a scaled Gaussian,
the acceptance factor from the cut flags, saving, and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import norm

from madsbi.errors import InputError
from madsbi.estimators.nuisance_ratio import (
    PairedSample,
    RatioTraining,
    VariationRatio,
    acceptance_factor,
    train_variation_ratio,
)

DELTA = 0.1
CUT = 1.5
N = 16000


def _paired(x: np.ndarray, sign: float) -> PairedSample:
    """x' = x (1 ± δ), the same parents; the selection x < CUT on both."""
    varied = x * (1.0 + sign * DELTA)
    return PairedSample(x, varied, x[:, 0] < CUT, varied[:, 0] < CUT, np.ones(x.shape[0]))


def _true_log_ratio(x: np.ndarray, sign: float) -> np.ndarray:
    """log p(x|±1)/p(x|0) of the selected events, each density normalised inside x < CUT."""
    s = 1.0 + sign * DELTA
    shape = -np.log(s) - 0.5 * x**2 * (1.0 / s**2 - 1.0)
    return shape + np.log(norm.cdf(CUT) / norm.cdf(CUT / s))


@pytest.fixture(scope="module")
def trained() -> VariationRatio:
    torch.set_num_threads(1)
    x = np.random.default_rng(5).normal(size=(N, 1))
    config = RatioTraining(hidden=(32, 32), epochs=30, seed=2)
    return train_variation_ratio("toy", ["x"], _paired(x, 1.0), _paired(x, -1.0), config)


def test_learns_the_analytic_ratio_of_a_scaled_gaussian(trained: VariationRatio) -> None:
    grid = np.linspace(-2.0, 1.4, 18)
    learned = trained.log_ratios(grid[:, None])
    assert learned.shape == (18, 2)
    for column, sign in ((0, 1.0), (1, -1.0)):
        truth = _true_log_ratio(grid, sign)
        # The truth spans ±0.4 here; the classifier of 12k pairs is within 0.04 everywhere.
        np.testing.assert_allclose(learned[:, column], truth, atol=0.04)
        assert np.corrcoef(learned[:, column], truth)[0, 1] > 0.98
    # Rows that pass neither selection do not enter the classifier.
    selected = int((np.random.default_rng(5).normal(size=N) * (1.0 - DELTA) < CUT).sum())
    assert trained.info["n_train"] + trained.info["n_validation"] == selected
    assert trained.info["validation_loss"] < 4 * np.log(2)  # better than log r = 0


def test_acceptance_factor_closes_on_the_cut_flags(trained: VariationRatio) -> None:
    for rate, sign in ((trained.rate_up, 1.0), (trained.rate_down, -1.0)):
        s = 1.0 + sign * DELTA
        expected = norm.cdf(CUT / s) / norm.cdf(CUT)
        # Binomial error of the events that change their status, about 0.001 here.
        changed = abs(norm.cdf(CUT / s) - norm.cdf(CUT))
        assert rate == pytest.approx(expected, abs=4 * np.sqrt(changed / N))
    flags = PairedSample(
        np.zeros((4, 1)), np.zeros((4, 1)), [1, 1, 0, 1], [1, 0, 1, 1], [1.0, 2.0, 3.0, 4.0]
    )
    assert acceptance_factor(flags) == pytest.approx((1 + 3 + 4) / (1 + 2 + 4))


def test_save_and_load_give_the_same_ratio(trained: VariationRatio, tmp_path: Path) -> None:
    trained.save(tmp_path / "toy")
    loaded = VariationRatio.load(tmp_path / "toy")
    x = np.linspace(-3, 3, 7)[:, None]
    np.testing.assert_array_equal(loaded.log_ratios(x), trained.log_ratios(x))
    assert (loaded.rate_up, loaded.rate_down) == (trained.rate_up, trained.rate_down)
    assert loaded.features == ["x"]


def test_refusals() -> None:
    x = np.random.default_rng(1).normal(size=(50, 1))
    with pytest.raises(InputError, match="one shape"):
        PairedSample(x, x[:10], x[:, 0] > 0, x[:, 0] > 0, np.ones(50))
    with pytest.raises(InputError, match="weights"):
        PairedSample(x, x, x[:, 0] > 0, x[:, 0] > 0, -np.ones(50))
    with pytest.raises(InputError, match="passed_varied"):
        PairedSample(x, x, x[:, 0] > 0, np.ones(3, dtype=bool), np.ones(50))
    nothing = PairedSample(x, x, np.zeros(50, dtype=bool), np.zeros(50, dtype=bool), np.ones(50))
    with pytest.raises(InputError, match="no weight passes"):
        acceptance_factor(nothing)
    with pytest.raises(InputError, match="at least 10"):
        train_variation_ratio("a", ["x"], nothing, nothing)
    other = _paired(x + 1.0, -1.0)
    with pytest.raises(InputError, match="share their nominal rows"):
        train_variation_ratio("a", ["x"], _paired(x, 1.0), other)
    with pytest.raises(InputError, match="1 input columns, 2 features"):
        train_variation_ratio("a", ["x", "y"], _paired(x, 1.0), _paired(x, -1.0))
    with pytest.raises(InputError, match="validation_fraction"):
        RatioTraining(validation_fraction=1.0)
    with pytest.raises(InputError, match="epochs"):
        RatioTraining(epochs=0)


def test_an_unresolvable_variation_keeps_r_equal_to_one() -> None:
    """Varied = nominal (no shape change; the selection changes a little): the classifier
    cannot beat r ≡ 1 on held-out pairs, so the factors are 1 and η stays."""
    torch.set_num_threads(1)
    x = np.random.default_rng(8).normal(size=(4000, 2))
    flip = np.random.default_rng(9).random(4000) < 0.02
    same = PairedSample(x, x.copy(), x[:, 0] < CUT, (x[:, 0] < CUT) ^ flip, np.ones(4000))
    config = RatioTraining(hidden=(16,), epochs=8, seed=1)
    ratio = train_variation_ratio("none", ["a", "b"], same, same, config)
    assert not ratio.learned
    assert ratio.info["validation_gain"] < 2 * ratio.info["validation_gain_error"]
    np.testing.assert_array_equal(ratio.log_ratios(x[:10]), 0.0)
    assert ratio.rate_up == acceptance_factor(same)


def test_a_resolved_variation_is_kept(trained: VariationRatio) -> None:
    assert trained.learned
    assert trained.info["validation_gain"] > 2 * trained.info["validation_gain_error"] > 0
