"""The shipped W±Z reco analysis ``wz_reco_paper``: resolved by name, closes on a shipped sample.

``wz_reco_paper`` was trained by ``examples/wz_reco_paper.toml`` (benchmarks/RESULTS.md,
"W±Z reco analysis at scale"); the shipped ``reco/wz_reco_bsm_test`` store is W⁺Z → ℓνℓℓ job
0 of the production generated at (cHWB, cW, cHq3) = (1, 0.1, 0.1), simulated the same way
(fast shower, ATLAS-like card, unsmeared): a closure job that no training, tuning or rate
pooling used. As counts at the luminosity where each generated parent is one expected event,
θ_gen must lie inside the 95 % region of every method, and the sample's charge channel is
taken from its process.
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
from madsbi.simulate.reco import shipped_reco_path
from madsbi.studies.wz_reco_data import load_reco_sample

BSM = "cHWB=1,cW=0.1,cHq3=0.1"


def test_shipped_by_name() -> None:
    assert "wz_reco_paper" in shipped_analyses()
    analysis = madsbi.load_analysis("wz_reco_paper")
    assert analysis.parameters == ["cHWB", "cW", "cHq3"]
    assert set(analysis.methods) >= {"mlp", "lgatr"}


@pytest.mark.filterwarnings("ignore::madsbi.errors.TrainingSupportWarning")
def test_fit_of_the_shipped_bsm_sample_covers_its_generation_point(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    store = shipped_reco_path("wz_reco_bsm_test")
    sample = load_reco_sample(str(store))
    luminosity = sample.n_parents / sample.sigma_gen / 1000.0  # fb⁻¹: ν(θ_gen) = N
    result = CliRunner().invoke(
        cli,
        [
            "fit", "wz_reco_paper", str(store), "--out", str(tmp_path / "fit"),
            "--data-mode", "counts", "--luminosity", repr(luminosity), "--at", BSM,
            "--range", "cHWB=-1,3", "--range", "cW=-0.5,0.5", "--range", "cHq3=-0.3,0.3",
            "--profile", "fixed", "--points-2d", "5", "--no-figures",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "fit" / "fit.json").read_text())
    # The W⁺Z sample is fitted against the W⁺Z channel's rate (its process names it).
    assert document["data"]["channel_selections"] == ["sum_charge=1"]
    q = document["points"][BSM]["q"]
    assert set(q) == {"mlp", "lgatr", "exact"}
    for method, value in q.items():
        assert 0.0 <= value <= chi2_quantile(0.95, 3), (method, value)
