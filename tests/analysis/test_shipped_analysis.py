"""The shipped paper-scale W±Z analysis: resolved by name, fits a sample no training saw.

``wz_parton_paper`` was trained by ``examples/wz_parton_paper.toml`` (benchmarks/RESULTS.md,
"W±Z parton at the paper's scale"); the shipped ``wpz_parton_bsm`` excerpt is job 0 of the
W⁺Z production generated at (cHWB, cW, cHq3) = (1, 0.1, 0.1), one of the closure jobs that no
training or tuning used.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis.names import shipped_analyses
from madsbi.cli.main import cli
from madsbi.inference.limits import chi2_quantile

BSM = "cHWB=1,cW=0.1,cHq3=0.1"
SM = "cHWB=0,cW=0,cHq3=0"


def test_shipped_by_name() -> None:
    assert "wz_parton_paper" in shipped_analyses()
    analysis = madsbi.load_analysis("wz_parton_paper")
    assert analysis.parameters == ["cHWB", "cW", "cHq3"]
    assert "charge" in analysis.features
    assert "derivative" in analysis.methods


def test_fit_by_name_finds_the_generation_point(tmp_path: Path) -> None:
    from madsbi.analysis.data import read_store
    from madsbi.data import sample_path

    torch.set_num_threads(1)
    store = sample_path("wpz_parton_bsm")
    # Counts: the luminosity at which the sample's size is the expected count.
    events = read_store(store, ["s"])
    luminosity = events.n_events / (1000.0 * 0.014 * events.sigma_gen)
    result = CliRunner().invoke(
        cli,
        [
            "fit",
            "wz_parton_paper",
            str(store),
            "--out",
            str(tmp_path / "fit"),
            "--data-mode",
            "counts",
            "--luminosity",
            repr(luminosity),
            "--select",
            "charge=1",
            "--at",
            BSM,
            "--at",
            SM,
            "--profile",
            "fixed",
        ],
    )
    assert result.exit_code == 0, result.output
    fit = json.loads((tmp_path / "fit" / "fit.json").read_text())
    points = fit["points"]
    # 20k W⁺Z events generated at the BSM point, fitted as observed counts: the generation
    # point inside the 99 % region (3 dof), the SM far outside it.
    for method in ("derivative", "exact"):
        assert points[BSM]["q"][method] <= chi2_quantile(0.99, 3)
        assert points[SM]["q"][method] > 10 * chi2_quantile(0.99, 3)


@pytest.mark.parametrize("method", ["derivative"])
def test_learned_ratio_is_finite_on_the_shipped_store(method: str) -> None:
    from madsbi.data import sample_path

    analysis = madsbi.load_analysis("wz_parton_paper")
    values = analysis.log_ratio(sample_path("wpz_parton_bsm"), [[1.0, 0.1, 0.1]], method=method)
    assert values.size > 0
    assert bool((values == values).all())
