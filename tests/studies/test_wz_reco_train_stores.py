"""Several train stores per process of the reco study, pooled by MIS into weights at θ0.

The smeared stores of several points are synthetic: the shipped unsmeared SM and BSM reco
stores with every entry copied ``COPIES`` times (jittered x, the parent's coefficients) and
a θ-independent smearing kernel that keeps all copies of a low-m_T^WZ parent and all but
one of a high-m_T^WZ one, each kept copy weighing the parent's weight / ``COPIES`` (eq. 35).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from madsbi.errors import ConfigError
from madsbi.inference.rate import cross_section
from madsbi.studies.wz_reco import RecoAnalysis
from madsbi.studies.wz_reco_config import RecoAnalysisSettings, WZRecoStudyConfig
from madsbi.studies.wz_reco_data import RecoSample, StoreSet, load_reco_sample
from madsbi.studies.wz_reco_train import (
    check_train_stores,
    parent_sample,
    train_stores_report,
    train_weights,
)
from madsbi.theory.polynomial import polynomial_features

BSM = np.array([1.0, 0.1, 0.1])
COPIES = 3
MT_CUT_GEV = 400.0
WMZ = (
    "import model SMEFTsim_U35_MwScheme_UFO-madsbi_WZ; generate p p > w- z, w- > l- vl~, "
    "z > l+ l- @1 NP<=1"
)


def _smeared(sample: RecoSample, seed: int) -> RecoSample:
    """``COPIES`` copies per entry; high-m_T^WZ parents lose their last copy."""
    rng = np.random.default_rng(seed)
    keep = np.where(sample.column("mt_wz") < MT_CUT_GEV, COPIES, COPIES - 1)
    rows = np.repeat(np.arange(sample.x.shape[0]), keep)
    x = sample.x[rows] * (1 + 0.01 * rng.standard_normal(sample.x[rows].shape))
    return replace(
        sample,
        path=Path(f"{sample.path.stem}_smeared.h5"),
        x=x,
        coefficients=sample.coefficients[rows],
        weights=sample.weights[rows] / COPIES,
        parents=np.asarray(sample.parents)[rows],
    )


def _alone(sample: RecoSample, thetas: np.ndarray) -> np.ndarray:
    """Σ w_e R_e(θ; θ_gen) of one store: its own estimate of the smeared σ_fid(θ)."""
    c = sample.coefficients
    phi = polynomial_features(thetas, sample.theta0)
    own = c @ polynomial_features(sample.theta_gen[None], sample.theta0)[0]
    result: np.ndarray = sample.weights @ ((c @ phi.T) / own[:, None])
    return result


def test_one_store_per_channel_keeps_todays_weights() -> None:
    """Bit for bit the weights the study trained on before (fiducial weights / their mean)."""
    train = StoreSet.read(["wz_reco_train"], "train_store")
    before = train.weights / train.weights.mean()
    v = train_weights(train)
    np.testing.assert_array_equal(v / v.mean(), before)
    # Two channels, one store each (a W⁻Z stand-in): still the concatenated fiducial weights.
    plus = train.first
    minus = replace(plus, path=Path("wmz_train.h5"), process=WMZ)
    both = StoreSet.of([plus, minus], "train_store")
    np.testing.assert_array_equal(train_weights(both), both.weights)
    # The study itself (no methods: nothing is trained).
    settings = RecoAnalysisSettings(methods=(), coverage_methods=("truth",))
    study = RecoAnalysis(WZRecoStudyConfig(analysis=settings), Path("unused"), False)
    np.testing.assert_array_equal(study.train_weights / study.train_weights.mean(), before)


def test_two_stores_of_one_channel_pool_by_the_balance_heuristic() -> None:
    sm = _smeared(load_reco_sample("wz_reco_test"), seed=1)
    bsm = _smeared(load_reco_sample("wz_reco_bsm_test"), seed=2)
    assert np.allclose(bsm.theta_gen, BSM)
    assert np.allclose(bsm.theta0, sm.theta0)
    train = StoreSet.of([sm, bsm], "train_store")
    v = train_weights(train)
    assert v.shape == (train.x.shape[0],)
    assert (v > 0).all()
    # The explicit balance heuristic per entry: v_e = w_e n_k c_e0 / (σ_k Σ_j n_j c_e·φ_j/σ_j).
    theta0 = sm.theta0
    phis = [polynomial_features(s.theta_gen[None], theta0)[0] for s in (sm, bsm)]
    c = train.coefficients
    mixture = sum(
        s.n_parents * (c @ phi) / s.sigma_gen for s, phi in zip((sm, bsm), phis, strict=True)
    )
    store = np.repeat([0, 1], [sm.x.shape[0], bsm.x.shape[0]])
    n_k = np.array([sm.n_parents, bsm.n_parents])[store]
    sigma_k = np.array([sm.sigma_gen, bsm.sigma_gen])[store]
    explicit = train.weights * n_k * c[:, 0] / (sigma_k * mixture)
    np.testing.assert_allclose(v, explicit, rtol=1e-12)
    # Copies of one parent share its density ratio: v_e / w_e is the same for all of them.
    ratio = v[: sm.x.shape[0]] / sm.weights
    for parent in np.unique(sm.parents)[:20]:
        np.testing.assert_allclose(ratio[sm.parents == parent], ratio[sm.parents == parent][0])
    # Σ v_e R_e(θ) estimates the smeared σ_fid(θ) as each store alone does, within MC errors
    # (the parents are the independent events: errors from the per-parent samples).
    thetas = np.stack([theta0, BSM, 2 * BSM, -BSM])
    pooled = v @ ((c @ polynomial_features(thetas, theta0).T) / c[:, :1])
    generated = [parent_sample(s)[0] for s in (sm, bsm)]
    pooled_error = cross_section(generated, theta0, thetas).sigma_error
    for s, g in zip((sm, bsm), generated, strict=True):
        alone = _alone(s, thetas)
        estimate = cross_section([g], theta0, thetas)
        np.testing.assert_allclose(estimate.sigma, alone, rtol=1e-10)
        bound = 3 * np.hypot(pooled_error, estimate.sigma_error) + 1e-3 * alone
        assert (np.abs(pooled - alone) < bound).all(), (pooled, alone, bound)
    # At the BSM point the BSM store's own smeared σ_fid is its weight sum.
    assert _alone(bsm, BSM[None])[0] == pytest.approx(bsm.sigma_fid, rel=1e-12)
    # The report: per channel both stores with their generation points.
    report = train_stores_report(train)
    (stores,) = report.values()
    assert [s["theta_gen"] for s in stores] == [theta0.tolist(), BSM.tolist()]
    assert [s["n_entries"] for s in stores] == [sm.x.shape[0], bsm.x.shape[0]]


def test_one_bsm_store_is_reweighted_to_theta0() -> None:
    bsm = _smeared(load_reco_sample("wz_reco_bsm_test"), seed=3)
    v = train_weights(StoreSet.of([bsm], "train_store"))
    c = bsm.coefficients
    own = c @ polynomial_features(BSM[None], bsm.theta0)[0]
    np.testing.assert_allclose(v, bsm.weights * c[:, 0] / own, rtol=1e-12)


def test_shards_of_one_point_are_refused() -> None:
    sm = load_reco_sample("wz_reco_train")
    shard = replace(sm, path=Path("shard.h5"))
    with pytest.raises(ConfigError, match=r"train_store: two stores of one process.*shard\.h5"):
        check_train_stores(StoreSet.of([sm, shard], "train_store"))


def test_a_closure_store_cannot_train() -> None:
    with pytest.raises(ConfigError, match=r"train_store: 'wz_reco_bsm_test' is a closure store"):
        RecoAnalysisSettings(
            train_store=("wz_reco_train", "wz_reco_bsm_test"), bsm_store="wz_reco_bsm_test"
        )
    with pytest.raises(ConfigError, match=r"train_store: '\./bsm\.h5' is a closure store"):
        RecoAnalysisSettings(train_store=("wz_reco_train", "./bsm.h5"), bsm_store=("bsm.h5",))
    RecoAnalysisSettings(train_store=("wz_reco_train", "bsm.h5"), bsm_store="wz_reco_bsm_test")
