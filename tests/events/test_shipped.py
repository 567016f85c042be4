"""The event stores shipped in madsbi.data: exact closure and the published cross-sections."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from madsbi.data import SAMPLES, sample_path
from madsbi.errors import InputError
from madsbi.events.store import EventStore
from madsbi.theory.polynomial import polynomial_features_reference

from helpers.wz import THETAS

#: σ in pb at each point, parton and leptonic, as published in the samples' README.
README_SIGMA = {
    "p00_sm": (16.3333, 0.228733),
    "p01_cHWB_p1": (17.4258, 0.251408),
    "p02_cHWB_m1": (15.3161, 0.212059),
    "p03_cW_p1": (17.8739, 0.260399),
    "p04_cW_m1": (18.4696, 0.268126),
    "p05_cHq3_p1": (24.8442, 0.352766),
    "p06_cHq3_m1": (12.5250, 0.178548),
    "p07_cHWB_cW_p1": (18.8695, 0.282002),
    "p08_cHWB_cHq3_p1": (26.2982, 0.381546),
    "p09_cW_cHq3_p1": (25.7138, 0.376280),
    "p10_holdout": (21.7395, 0.311799),
}
WZ = {"wz_parton": 0, "wz_leptonic": 1}
#: Excerpts of the paper-scale samples (examples/wz/README.md): first shard(s) of each
#: `madsbi produce` plan, generation point θ_gen, process line, shard seeds.
PAPER_EXCERPTS = {
    "wmz_parton": ((0.0, 0.0, 0.0), "generate p p > w- z NP<=1", (200001,)),
    "wpz_parton_bsm": ((1.0, 0.1, 0.1), "generate p p > w+ z NP<=1", (300001,)),
    "wmz_parton_bsm": ((1.0, 0.1, 0.1), "generate p p > w- z NP<=1", (400001,)),
    "wmz_leptonic": ((0.0, 0.0, 0.0), "generate p p > w- z, w- > l- vl~", (600001, 600002)),
}


def _closure(name: str) -> dict[str, Any]:
    with EventStore(sample_path(name)) as store:
        ids = store.column_names("parton", "rwgt")
        parton = store.read(fields=["coefficients", "rwgt", "weight"])
        assert store.meta.space.names == ("cHWB", "cW", "cHq3")
        theta = np.array(THETAS["p10_holdout"])
        phi = polynomial_features_reference(theta[None, :], store.meta.space.theta0_array)[0]
        sigma = float(store.cross_section(theta)[0])
    actual = parton["rwgt"][:, ids.index("p10_holdout")]
    predicted = parton["coefficients"] @ phi
    largest = np.maximum(np.abs(parton["rwgt"]).max(axis=1), np.abs(parton["weight"]))
    return {
        "n": len(actual),
        "rel": np.abs(predicted - actual) / np.abs(actual),
        "rel_to_largest": np.abs(predicted - actual) / largest,
        "sigma_rel": abs(predicted.sum() - actual.sum()) / abs(actual.sum()),
        "sigma_store_rel": abs(sigma - actual.mean()) / actual.mean(),
    }


def test_all_samples_exist() -> None:
    assert ("wz_parton", "wz_leptonic", "drell_yan", *PAPER_EXCERPTS) == SAMPLES
    for name in SAMPLES:
        assert sample_path(name).is_file()
    with pytest.raises(InputError, match="unknown shipped sample 'ttbar'"):
        sample_path("ttbar")


def test_wz_parton_holdout_closes() -> None:
    result = _closure("wz_parton")
    assert result["n"] == 20000
    assert result["rel"].max() <= 2e-7
    assert result["sigma_rel"] <= 1e-8
    assert result["sigma_store_rel"] <= 1e-8


def test_wz_leptonic_holdout_closes() -> None:
    result = _closure("wz_leptonic")
    assert result["n"] == 20000
    assert result["rel_to_largest"].max() <= 2e-7
    assert result["sigma_rel"] <= 1e-8
    assert result["sigma_store_rel"] <= 1e-8


@pytest.mark.parametrize("name", list(WZ))
def test_wz_cross_sections_match_the_readme(name: str) -> None:
    column = WZ[name]
    with EventStore(sample_path(name)) as store:
        meta = store.meta
        assert meta.mg5_version == "3.5.7"
        assert [(p.block, p.code) for p in meta.space.parameters] == [
            ("SMEFT", 9),
            ("SMEFT", 2),
            ("SMEFT", 25),
        ]
        assert meta.space.theta0 == (0.0, 0.0, 0.0)
        np.testing.assert_array_equal(meta.basis_points, [THETAS[b] for b in meta.basis_ids])
        expected = [README_SIGMA[b][column] for b in meta.basis_ids]
        np.testing.assert_allclose(meta.basis_cross_sections, expected, rtol=5e-6)
        # σ(θ_b) is the mean of that point's weights
        ids = store.column_names("parton", "rwgt")
        rwgt = store.read(fields=["rwgt"])["rwgt"]
        means = [rwgt[:, ids.index(b)].mean() for b in meta.basis_ids]
        np.testing.assert_allclose(meta.basis_cross_sections, means, rtol=1e-12)
        thetas = np.array(list(THETAS.values()))
        sigma = store.cross_section(thetas)
    np.testing.assert_allclose(sigma, [v[column] for v in README_SIGMA.values()], rtol=5e-6)


def test_drell_yan() -> None:
    with EventStore(sample_path("drell_yan")) as store:
        assert store.n_events() == 50000
        assert store.meta.n_coefficients == 1
        assert store.meta.space.names == ()
        parton = store.read(fields=["weight", "coefficients", "pdg_id"])
        sigma = store.meta.basis_cross_sections
        sigma_theta0 = store.cross_section(np.zeros((1, 0)))
    assert sigma == pytest.approx([843.23], rel=1e-6)
    assert sigma_theta0 == pytest.approx([843.23], rel=1e-6)
    np.testing.assert_array_equal(parton["coefficients"][:, 0], parton["weight"])
    # every event has an e+ e- pair
    assert np.all((parton["pdg_id"] == 11).sum(axis=1) == 1)
    assert np.all((parton["pdg_id"] == -11).sum(axis=1) == 1)


@pytest.mark.parametrize("name", list(PAPER_EXCERPTS))
def test_paper_scale_excerpts(name: str) -> None:
    """θ0 = SM for all (the BSM ones recentred), θ_gen kept; closure in double precision."""
    theta_gen, process, seeds = PAPER_EXCERPTS[name]
    result = _closure(name)
    assert result["n"] == 20000
    # the plugin writes the <rwgt> weights in full double precision
    assert result["rel"].max() <= 1e-12
    assert result["sigma_store_rel"] <= 1e-12
    with EventStore(sample_path(name)) as store:
        meta = store.meta
        parton = store.read(fields=["coefficients", "weight"])
        assert meta.mg5_version == "3.5.7"
        assert meta.space.theta0 == (0.0, 0.0, 0.0)
        assert meta.theta_gen == theta_gen
        assert process in meta.process
        assert [s.seed for s in meta.shards] == list(seeds)
        np.testing.assert_array_equal(meta.basis_points, [THETAS[b] for b in meta.basis_ids])
    # the event weight is the weight at the generation point
    phi = polynomial_features_reference(np.array([theta_gen]), np.zeros(3))[0]
    np.testing.assert_allclose(parton["coefficients"] @ phi, parton["weight"], rtol=1e-12)
