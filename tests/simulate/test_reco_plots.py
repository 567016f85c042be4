"""Reco figures (Fig. 4 for W±Z, distributions) and the χ²/ndf of two weighted histograms."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.plotting.reco import chi2_per_ndf, plot_distributions, plot_smearing_targets

pytest.importorskip("matplotlib")


def test_chi2_is_about_one_for_independent_samples_of_one_distribution(rng):
    values = [
        chi2_per_ndf(
            (rng.normal(size=2000), np.ones(2000)),
            (rng.normal(size=3000), np.full(3000, 0.3)),
            np.linspace(-3, 3, 16),
        )[0]
        for _ in range(40)
    ]
    assert 0.8 < np.mean(values) < 1.2


def test_chi2_of_weighted_copies_agrees_with_unit_weights(rng):
    n = 20_000
    x = rng.normal(size=n)
    # every event split into 4 copies of weight 1/4 with extra small noise
    copies = np.repeat(x, 4) + rng.normal(scale=0.01, size=4 * n)
    edges = np.linspace(-3, 3, 21)
    same, ndf = chi2_per_ndf((x, np.ones(n)), (copies, np.full(4 * n, 0.25)), edges)
    assert ndf == 19
    assert same < 0.5  # shared parents: far below 1
    other = rng.normal(loc=0.2, size=n)
    shifted, _ = chi2_per_ndf((x, np.ones(n)), (other, np.ones(n)), edges)
    assert shifted > 5


def test_chi2_needs_weight_in_the_bins():
    with pytest.raises(InputError, match="no weight"):
        chi2_per_ndf(([10.0], [1.0]), ([0.5], [1.0]), [0, 1, 2])
    with pytest.raises(InputError, match="enough expected"):
        chi2_per_ndf(([0.5, 1.5], [1.0, 1.0]), ([0.5], [1.0]), [0, 1, 2])


def test_figures_are_written(tmp_path, rng):
    y = rng.standard_cauchy(size=(200, 4))
    counts = rng.integers(1, 5, size=200)
    out = plot_smearing_targets(y, counts, ["a", "b", "c", "d"], tmp_path / "fig4.png")
    assert out.stat().st_size > 0
    with pytest.raises(InputError, match="names"):
        plot_smearing_targets(y, counts, ["a"], tmp_path / "bad.png")
    dist = plot_distributions(
        {"a": (y[:, 0], np.ones(200)), "b": (y[:, 1], counts)}, tmp_path / "d.png", xlabel="x"
    )
    assert dist.stat().st_size > 0
