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


def test_smeared_store_is_refused() -> None:
    test = load_reco_sample("wz_reco_test")
    with pytest.raises(ConfigError, match="smeared"):
        rate_pool(test, [load_reco_sample("wz_reco_train")])


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
