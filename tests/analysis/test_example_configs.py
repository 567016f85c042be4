"""The shipped W±Z example configs parse, and the paper one uses the paper's split."""

from __future__ import annotations

from pathlib import Path

import pytest

from madsbi.studies.wz_config import WZStudyConfig

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_quick_default_is_one_shipped_store() -> None:
    config = WZStudyConfig.from_toml(EXAMPLES / "wz_parton.toml")
    assert config.analysis.store == "wz_parton"
    assert config.analysis.stores == ()
    assert config.analysis.bsm_stores == ()


def test_paper_config_has_both_charges_and_the_paper_split() -> None:
    config = WZStudyConfig.from_toml(EXAMPLES / "wz_parton_paper.toml")
    a = config.analysis
    assert "wpz" in a.store
    assert any("wmz" in s for s in a.stores)
    assert len(a.bsm_stores) == 2
    assert "charge" in a.features
    # The paper's split of 500k SM events per charge: 300k train, 100k validation, 100k test.
    assert 1 - a.test_fraction - a.validation_fraction == pytest.approx(0.6)
    assert a.validation_fraction == pytest.approx(0.2)
    assert all("sm_500k" in s for s in (a.store, *a.stores) if "_sm_" in s)
    # The BSM-generated training stores are trained on (MIS), the closure stores never.
    assert sum("bsm_train" in s for s in a.stores) == 2
    assert all("closure" in s for s in a.bsm_stores)
    assert not set(a.stores) & set(a.bsm_stores)
    # BSM-generated rate stores (other jobs) sharpen σ(θ) away from the SM; never a closure store.
    assert len(a.rate_stores) == 2
    assert not set(a.rate_stores) & (set(a.stores) | set(a.bsm_stores))
