"""The analytic mixture toy: its closed forms against Monte Carlo, and mean_log_ratio by hand."""

from __future__ import annotations

import itertools

import numpy as np

from madsbi.studies.toy_mixture import default_toy, mean_log_ratio
from madsbi.theory.polynomial import polynomial_features

TOY = default_toy()


def test_reco_coefficients_are_the_conditional_means_of_the_joint_targets() -> None:
    (signal, zz, _) = TOY.draw(400_000, seed=1)
    for index, p in ((0, signal), (1, zz)):
        x, t = p.x[:, 0], p.ratios()
        edges = np.quantile(x, [0.1, 0.3, 0.5, 0.7, 0.9])
        for lo, hi in itertools.pairwise(edges):
            rows = (x > lo) & (x < hi)
            mc = t[rows].mean(0)
            centre = TOY.reco_coefficients(x[rows])[index].mean(0)
            np.testing.assert_allclose(mc, centre, rtol=0.03, atol=0.01)


def test_rates_and_densities_match_the_samples() -> None:
    samples = TOY.draw(400_000, seed=2)
    for p, proc, s in zip(samples, TOY.processes, TOY.rates(), strict=True):
        np.testing.assert_allclose(p.rate().coefficients[0], s, rtol=0.02, atol=0.01)
        hist, edges = np.histogram(p.x[:, 0], bins=20, range=(-1.0, 2.0))
        centre = 0.5 * (edges[:-1] + edges[1:])
        density = hist / p.n_events / (edges[1] - edges[0]) * proc.sigma0
        np.testing.assert_allclose(density, proc.density0(centre, TOY.smearing), rtol=0.05)
    x = np.linspace(-3.0, 6.0, 50)
    np.testing.assert_allclose(TOY.shares(x).sum(1), 1.0)
    assert np.all(TOY.shares(np.array([-1.6]))[:, 2] == 0.0)  # below the fakes' support


def test_mean_log_ratio_by_hand() -> None:
    c = np.array([[1.0, 0.2, 0.1], [1.0, -0.5, 0.3]])
    rate = np.array([1.0, 0.1, 0.2])
    phi = polynomial_features(np.array([[0.5], [-1.0]]), np.zeros(1))
    w = np.array([[1.0, 3.0], [2.0, 2.0]])
    by_hand = [
        (w[g] * (np.log(c @ phi[g]) - np.log(rate @ phi[g]))).sum() / w[g].sum() for g in range(2)
    ]
    np.testing.assert_allclose(mean_log_ratio(c, rate, phi, w), by_hand, rtol=1e-14)


def test_learned_factorised_and_pooled_recover_the_mixture_information() -> None:
    """End to end: classifier + derivative networks (factorised) and one pooled network.

    At θ = ±t the sum ⟨log r⟩(t) + ⟨log r⟩(−t) ≈ t² F is the x-level information of the
    mixture; the odd terms (a learned share's first-order error, which leaves r̂ not exactly
    normalised) cancel in it. The rate alone gives 0 for every θ, the truth the maximum.
    Measured in this configuration on four seeds (0–3): both methods captured 94.6–97.0 %
    of it, the single-θ values deviated by up to 22 % (with 5k events per process on three
    seeds: 95–96 %, up to 12 % pooled and 38 % factorised). Tolerances: the sum within 15 %,
    each θ within 50 %.
    """
    from madsbi.estimators.trainer import TrainingConfig
    from madsbi.nn.build import NetworkConfig
    from madsbi.studies.toy_mixture_compare import compare

    result = compare(
        3000,
        10_000,
        seed=0,
        network=NetworkConfig(kind="ensemble", hidden=(32, 32), members=2),
        training=TrainingConfig(epochs=15, batch_size=256, patience=5, device="cpu"),
        thetas=np.array([-0.25, 0.25]),
    )
    methods = result["methods"]
    truth = np.array(methods["truth (x, analytic)"]["all"]["mean"])
    assert np.all(truth > 0)
    oracle = np.array(methods["oracle: labels + exact"]["all"]["mean"])
    assert np.all(oracle > truth)  # p(z, c|θ) holds more information than p(x|θ)
    for name in ("factorised", "pooled"):
        learned = np.array(methods[name]["all"]["mean"])
        assert abs(learned.sum() / truth.sum() - 1.0) < 0.15, (name, learned, truth)
        np.testing.assert_allclose(learned, truth, rtol=0.5, err_msg=name)
