"""The shipped reco stores: readable, consistent bookkeeping, the selection holds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.events import open_store, schema
from madsbi.processes import wz
from madsbi.simulate.reco import SHIPPED_RECO, shipped_reco_path
from madsbi.simulate.smearing import regroup_survivors


@pytest.mark.parametrize("name", SHIPPED_RECO)
def test_shipped_reco_store_is_consistent(name):
    with open_store(shipped_reco_path(name)) as store:
        assert store.column_names(schema.RECO, "x") == list(wz.OBSERVABLES)
        reco = store.read(schema.RECO)
        parton_weight = store.read(schema.PARTON, ["weight"])["weight"]
        summary = json.loads(store.meta.shards[0].report)
        config = json.loads(str(store.meta.attributes["reco_config"]))
    assert reco.n_events == summary["passed"] > 100
    assert reco["cuts"].all()
    np.testing.assert_array_equal(
        reco["weight"], parton_weight[reco["parent"]] * reco["smearing_weight"]
    )
    x = {n: reco["x"][:, k] for k, n in enumerate(wz.OBSERVABLES)}
    assert ((x["m_ll_z"] > 81.2) & (x["m_ll_z"] < 101.2)).all()
    assert (x["met"] > 45).all()
    assert (x["mt_w"] > 30).all()
    assert (x["n_jets"] == 0).all()
    assert set(np.abs(x["sum_charge"]).tolist()) == {1.0}
    groups = regroup_survivors(reco["parent"], parton_weight.size, reco["smearing_weight"])
    assert (groups.weight_sum <= 1 + 1e-12).all()
    if not config["smear"]:
        np.testing.assert_array_equal(reco["smearing_weight"], 1.0)


def test_unknown_shipped_reco_store():
    with pytest.raises(InputError, match="wz_reco_train"):
        shipped_reco_path("nope")


def test_shipped_bsm_reco_store() -> None:
    """``wz_reco_bsm_test``: unsmeared, generated at (1, 0.1, 0.1), re-centred at the SM."""
    with open_store(shipped_reco_path("wz_reco_bsm_test")) as store:
        meta = store.meta
        reco = store.read(schema.RECO)
        n_parents = store.n_events(schema.PARTON)
        config = json.loads(str(meta.attributes["reco_config"]))
    assert meta.space.names == ("cHWB", "cW", "cHq3")
    assert meta.theta_gen == (1.0, 0.1, 0.1)
    assert meta.space.theta0 == (0.0, 0.0, 0.0)
    assert n_parents == 10000
    assert not config["smear"]
    np.testing.assert_array_equal(reco["smearing_weight"], 1.0)
    assert np.unique(reco["parent"]).size == reco.n_events > 100
