"""The reco study's rate pool: test store + rate stores by multiple importance weighting."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import ConfigError
from madsbi.inference.likelihood import RateModel, exact_event_coefficients
from madsbi.inference.rate import GeneratedSample, cross_section
from madsbi.studies.wz_reco_data import load_reco_sample, rate_pool
from madsbi.theory.polynomial import polynomial_features

BSM = np.array([1.0, 0.1, 0.1])


def _generated(sample) -> GeneratedSample:  # type: ignore[no-untyped-def]
    return GeneratedSample(
        sample.coefficients, sample.weights, sample.theta_gen, sample.sigma_gen,
        n_generated=sample.n_parents, weight_total=sample.sigma_gen,
    )  # fmt: skip


def test_test_store_alone_keeps_its_fiducial_weights() -> None:
    test = load_reco_sample("wz_reco_test")
    pool = rate_pool(test, [])
    np.testing.assert_array_equal(pool.weights, test.weights)
    assert pool.n_test == test.x.shape[0]
    assert pool.stores == ()


def test_pooled_rate_agrees_with_the_bsm_generated_store() -> None:
    """σ̂_fid(θ_BSM) of the pool lies within its MC error of the BSM store's own σ_fid."""
    test = load_reco_sample("wz_reco_test")
    bsm = load_reco_sample("wz_reco_bsm_test")
    pool = rate_pool(test, [bsm])
    assert pool.x.shape[0] == test.x.shape[0] + bsm.x.shape[0]
    np.testing.assert_array_equal(pool.x[: pool.n_test], test.x)
    phi = polynomial_features(np.stack([test.theta0, BSM]), test.theta0)
    truth = exact_event_coefficients(pool.coefficients)[0]
    sigma = pool.weights @ (truth @ phi.T)
    points = np.stack([test.theta0, BSM])
    estimate = cross_section([_generated(test), _generated(bsm)], test.theta0, points)
    np.testing.assert_allclose(sigma, estimate.sigma, rtol=1e-12)
    # Σ v_e is σ̂_fid(θ0); the BSM store's own weights sum to σ_fid(θ_BSM).
    assert abs(sigma[1] - bsm.sigma_fid) < 3 * estimate.sigma_error[1] + 0.02 * bsm.sigma_fid
    assert abs(sigma[0] - test.sigma_fid) < 3 * estimate.sigma_error[0] + 0.02 * test.sigma_fid
    rate = RateModel.from_event_coefficients(truth, pool.weights)
    assert rate.ratio(phi)[0][0] == pytest.approx(1.0, abs=1e-12)


def test_smeared_store_enters_once_per_parent_with_its_parents_mis_weight() -> None:
    """A smeared (train) store: one copy per parent, carrying the parent's summed-copy weight.

    The exact σ̂(θ) of the pool equals the estimate over every copy (copies share their
    parent's coefficients), which is cross_section's over the parents.
    """
    from madsbi.studies.wz_reco_train import parent_sample

    test = load_reco_sample("wz_reco_test")
    train = load_reco_sample("wz_reco_train")
    generated, inverse = parent_sample(train)
    assert generated.coefficients.shape[0] < train.x.shape[0]  # several copies per parent
    pool = rate_pool(test, [train], seed=3)
    n = pool.n_test
    assert n == test.x.shape[0]
    np.testing.assert_array_equal(pool.x[:n], test.x)
    rows = pool.x.shape[0] - n
    assert rows == generated.coefficients.shape[0]
    # each pooled train entry is one of the store's copies, of a distinct parent, in row order
    match = [np.flatnonzero((train.x == row).all(1)) for row in pool.x[n:]]
    picked = np.array([m[0] for m in match])
    assert np.all(np.diff(picked) > 0)
    assert np.unique(inverse[picked]).shape[0] == rows
    np.testing.assert_array_equal(pool.coefficients[n:], train.coefficients[picked])
    points = np.stack([test.theta0, BSM, -BSM])
    phi = polynomial_features(points, test.theta0)
    truth = exact_event_coefficients(pool.coefficients)[0]
    sigma = pool.weights @ (truth @ phi.T)
    estimate = cross_section([parent_sample(test)[0], generated], test.theta0, points)
    np.testing.assert_allclose(sigma, estimate.sigma, rtol=1e-10)
    # unbiased: the SM test store alone agrees within the MC errors
    alone = cross_section([_generated(test)], test.theta0, points)
    bound = 3 * np.hypot(alone.sigma_error, estimate.sigma_error)
    assert (np.abs(sigma - alone.sigma) < bound).all(), (sigma, alone.sigma, bound)
    # another seed draws other copies, the same parents and weights
    other = rate_pool(test, [train], seed=4)
    np.testing.assert_allclose(np.sort(other.weights), np.sort(pool.weights), rtol=1e-12)
    assert not np.array_equal(other.x, pool.x)


def test_one_copy_per_parent_is_drawn_in_proportion_to_the_copies_weights() -> None:
    from dataclasses import replace

    from madsbi.studies.wz_reco_data import _one_copy_per_parent

    train = load_reco_sample("wz_reco_train")
    parents = np.array([0, 0, 1, 1, 1, 2])
    sample = replace(train, weights=np.array([1.0, 3.0, 1.0, 1.0, 0.0, 2.0]), parents=parents)
    rng = np.random.default_rng(0)
    inverse = parents.copy()
    counts = np.zeros(6)
    draws = 4000
    for _ in range(draws):
        rows = _one_copy_per_parent(sample, np.zeros(3), inverse, rng)
        assert rows.tolist() == sorted(rows.tolist())
        assert inverse[rows].tolist() == [0, 1, 2]
        counts[rows] += 1
    np.testing.assert_allclose(counts / draws, [0.25, 0.75, 0.5, 0.5, 0.0, 1.0], atol=0.03)


def test_recentred_bsm_smeared_store_pools_without_bias() -> None:
    """A smeared store generated at a BSM point (recentred to θ0) and the unsmeared one agree."""
    from dataclasses import replace

    from madsbi.studies.wz_reco_train import parent_sample

    test = load_reco_sample("wz_reco_test")
    bsm = load_reco_sample("wz_reco_bsm_test")
    # Two copies of every BSM parent, each with half its weight: a smeared store at θ_BSM.
    smeared = replace(
        bsm,
        x=np.repeat(bsm.x, 2, axis=0) * np.tile([1.0, 1.01], bsm.x.shape[0])[:, None],
        coefficients=np.repeat(bsm.coefficients, 2, axis=0),
        weights=np.repeat(bsm.weights / 2, 2),
        parents=np.repeat(np.asarray(bsm.parents), 2),
    )
    assert np.allclose(smeared.theta_gen, BSM)
    assert np.allclose(smeared.theta0, 0.0)
    plain = rate_pool(test, [bsm])
    pooled = rate_pool(test, [smeared], seed=1)
    np.testing.assert_allclose(pooled.weights, plain.weights, rtol=1e-12)
    np.testing.assert_array_equal(pooled.coefficients, plain.coefficients)
    assert pooled.x.shape == plain.x.shape
    np.testing.assert_allclose(
        parent_sample(smeared)[0].weights, parent_sample(bsm)[0].weights, rtol=1e-12
    )


def test_other_process_or_parameters_are_refused() -> None:
    from dataclasses import replace

    test = load_reco_sample("wz_reco_test")
    bsm = load_reco_sample("wz_reco_bsm_test")
    wmz = replace(bsm, process=bsm.process.replace("w+", "w-"))
    with pytest.raises(ConfigError, match="differ from the test store"):
        rate_pool(test, [wmz])
    with pytest.raises(ConfigError, match="differ from the test store"):
        rate_pool(test, [replace(bsm, parameters=["cHWB", "cW", "cHl3"])])


def test_rate_error_report_is_the_mis_cross_section_error() -> None:
    """The report's errors are cross_section's over the pool, ρ's error vanishes at θ0."""
    from madsbi.studies.wz_reco_rate import AXIS_POINTS, rate_error_report

    test = load_reco_sample("wz_reco_test")
    bsm = load_reco_sample("wz_reco_bsm_test")
    ranges = [(-1.0, 1.0), (-0.4, 0.4), (-0.2, 0.2)]
    report = rate_error_report([test, bsm], test.theta0, test.parameters, ranges, {"bsm": BSM})
    points = report["points"]
    assert points["names"] == ["theta0", "bsm"]
    estimate = cross_section(
        [_generated(test), _generated(bsm)], test.theta0, np.stack([test.theta0, BSM])
    )
    np.testing.assert_allclose(points["total"]["sigma_pb"], estimate.sigma, rtol=1e-12)
    np.testing.assert_allclose(
        points["total"]["sigma_relative_error"], estimate.sigma_error / estimate.sigma, rtol=1e-12
    )
    assert points["total"]["ratio_relative_error"][0] == pytest.approx(0.0, abs=1e-12)
    assert 0 < points["total"]["ratio_relative_error"][1] < 0.5
    for i, name in enumerate(test.parameters):
        axis = np.asarray(report["axes"][name]["theta"])
        assert axis.shape == (AXIS_POINTS, 3)
        np.testing.assert_allclose(axis[[0, -1], i], ranges[i])
        assert np.all(np.asarray(report["axes"][name]["total"]["sigma_relative_error"]) > 0)


def test_rate_error_report_counts_a_smeared_stores_parents() -> None:
    """Copies of one parent are one event: the errors are cross_section's over the parents."""
    from madsbi.studies.wz_reco_rate import rate_error_report
    from madsbi.studies.wz_reco_train import parent_sample

    test = load_reco_sample("wz_reco_test")
    train = load_reco_sample("wz_reco_train")
    ranges = [(-1.0, 1.0), (-0.4, 0.4), (-0.2, 0.2)]
    report = rate_error_report([test, train], test.theta0, test.parameters, ranges, {"bsm": BSM})
    points = np.stack([test.theta0, BSM])
    estimate = cross_section([parent_sample(test)[0], parent_sample(train)[0]], test.theta0, points)
    total = report["points"]["total"]
    np.testing.assert_allclose(total["sigma_pb"], estimate.sigma, rtol=1e-10)
    np.testing.assert_allclose(
        total["ratio_relative_error"], estimate.ratio_error / estimate.ratio, rtol=1e-10
    )


def test_rate_from_training_is_the_default_and_refuses_a_train_store_as_rate_store() -> None:
    from madsbi.studies.wz_reco_config import RecoAnalysisSettings

    assert RecoAnalysisSettings().rate_from_training
    with pytest.raises(ConfigError, match="count twice"):
        RecoAnalysisSettings(rate_stores=("wz_reco_train",))
    settings = RecoAnalysisSettings(rate_stores=("wz_reco_train",), rate_from_training=False)
    assert settings.rate_stores == ("wz_reco_train",)
