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
    # 500k per charge: 100k test, 100k validation, 300k train (paper Sec. 4.1).
    assert a.test_fraction * 500_000 == pytest.approx(100_000)
    assert a.validation_fraction * 500_000 == pytest.approx(100_000)
