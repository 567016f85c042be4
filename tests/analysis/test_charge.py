"""W± plumbing: a W⁺Z and a W⁻Z store pooled per channel, the charge feature, charge selections.

The W⁻Z store here is SYNTHETIC and for plumbing only: the shipped-format W⁺Z excerpt with
every W's PDG id negated and the process renamed. Its kinematics and coefficients are W⁺Z
physics; no physics result may be drawn from it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch

import madsbi
from madsbi.analysis.data import check_compatible, read_store
from madsbi.cards import channel_names, process_key
from madsbi.events.convert import convert_lhe
from madsbi.events.digest import META_ATTRIBUTE, _meta_items
from madsbi.studies.wz import run_wz_study
from madsbi.studies.wz_config import WZStudyConfig
from madsbi.studies.wz_data import pool_stores

from helpers.wz import TINY_TRAINING_TOML

DATA = Path(__file__).parents[1] / "data"
FEATURES = ("log_s", "log_minus_t", "charge")
TINY = (
    """
[analysis]
store = "{plus}"
stores = ["{minus}"]
methods = ["derivative"]
test_fraction = 0.3
validation_fraction = 0.1
points_1d = 5
points_2d = 3
limit_points = 101
rate_factor = 0.014
"""
    + TINY_TRAINING_TOML
)


def _reseal(f: h5py.File) -> None:
    """Re-digest /meta after an in-place edit, as a writer of data would (fit verifies it)."""
    if "checksums" in f:
        f["checksums"].attrs[META_ATTRIBUTE] = json.dumps(_meta_items(f["meta"]), sort_keys=True)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("wpm")
    plus = folder / "wpz_1k.h5"
    convert_lhe(DATA / "wz_parton_1k.lhe.gz", plus, parameters=["cHWB", "cW", "cHq3"])
    minus = folder / "synthetic_wmz_1k.h5"
    shutil.copy(plus, minus)
    with h5py.File(minus, "r+") as f:
        pdg = f["parton"]["pdg_id"][...]
        f["parton"]["pdg_id"][...] = np.where(pdg == 24, -24, pdg)
        process = str(f["meta"].attrs["process"])
        f["meta"].attrs["process"] = process.replace("w+ z", "w- z")
        _reseal(f)
    return plus, minus


def test_charge_feature_of_a_mixed_pool(stores: tuple[Path, Path]) -> None:
    plus, minus = stores
    assert np.all(read_store(minus, ["charge"]).observables["charge"] == -1.0)
    pooled = pool_stores(
        [str(plus), str(minus)], FEATURES, seed=1, test_fraction=0.3, validation_fraction=0.1
    )
    assert len(pooled.processes) == 2
    for part in ("train", "validation", "test"):
        charge = pooled.parts[part].x[:, FEATURES.index("charge")]
        assert set(np.unique(charge)) == {-1.0, 1.0}
        # Two channels of equal σ: each carries half of σ̂(θ0) = Σ v_e.
        v = pooled.parts[part].weights
        assert v[charge > 0].sum() == pytest.approx(v[charge < 0].sum(), rel=1e-12)
    sigma_plus = read_store(plus, ["charge"]).sigma_gen
    assert pooled.parts["test"].weights.sum() == pytest.approx(2 * sigma_plus, rel=1e-12)
    counts = {k: p.n_events for k, p in pooled.parts.items()}
    assert counts == {"test": 600, "validation": 200, "train": 1200}


@pytest.mark.filterwarnings("ignore::madsbi.errors.TrainingSupportWarning")  # 1k events
@pytest.mark.filterwarnings("ignore::madsbi.errors.BoxEdgeWarning")  # tiny networks
def test_wpm_study_writes_an_analysis_that_fits_each_charge(
    stores: tuple[Path, Path], tmp_path: Path
) -> None:
    torch.set_num_threads(1)
    plus, minus = stores
    toml = tmp_path / "wpm.toml"
    toml.write_text(TINY.format(plus=plus, minus=minus))
    config = WZStudyConfig.from_toml(toml)
    summary: dict[str, Any] = run_wz_study(config, tmp_path, progress=False, figures=False)
    assert summary["n_test"] == 600
    manifest = json.loads((tmp_path / "analysis" / "analysis.json").read_text())
    assert len(manifest["processes"]) == 2
    assert [s["n_validation"] for s in manifest["split"]["stores"]] == [100, 100]
    analysis = madsbi.load_analysis(tmp_path / "analysis")
    common: dict[str, Any] = {"methods": ["exact"], "luminosity": 300.0, "points_2d": 3}
    minus_fit = analysis.fit(minus, select=["charge=-1"], **common)
    both_rate = analysis.fit(minus, **common)
    # The W⁻ selection halves the expected count of the rate model (equal channels here).
    nu_minus = minus_fit.methods["exact"].expected_events0
    nu_both = both_rate.methods["exact"].expected_events0
    assert nu_minus == pytest.approx(nu_both / 2, rel=1e-12)
    assert "test split" in minus_fit.data["events_used"]
    plus_only = analysis.fit(plus, select=["charge=1"], **common)
    assert plus_only.data["n_events"] == minus_fit.data["n_events"] == 300


def test_rate_only_stores_join_the_test_part_whole(stores: tuple[Path, Path]) -> None:
    plus, minus = stores
    pooled = pool_stores(
        [str(plus)],
        FEATURES,
        seed=1,
        test_fraction=0.3,
        validation_fraction=0.1,
        rate_only=[str(minus)],
    )
    counts = {k: p.n_events for k, p in pooled.parts.items()}
    assert counts == {"test": 300 + 1000, "validation": 100, "train": 600}
    train_charge = pooled.parts["train"].x[:, FEATURES.index("charge")]
    assert np.all(train_charge == 1.0)
    assert pooled.records[1].test_indices.shape == (1000,)


def test_rate_report_pools_the_test_parts(stores: tuple[Path, Path]) -> None:
    from madsbi.inference.rate import GeneratedSample, cross_section
    from madsbi.studies.wz_data import rate_report

    plus, minus = stores
    pooled = pool_stores([str(plus), str(minus)], FEATURES, seed=1, test_fraction=0.3)
    thetas = np.array([[0.0, 0.0, 0.0], [1.0, 0.1, 0.1]])
    report = rate_report(pooled, thetas)
    assert report["n_events"] == [300, 300]
    # Two channels: σ̂ = σ̂(W⁺) + σ̂(W⁻); the first store alone is eq. 34 of the W⁺ channel.
    single = np.asarray(report["eq34"]["sigma_pb"])
    e, record = pooled.events[1], pooled.records[1]
    assert e.coefficients is not None
    minus_channel = GeneratedSample(
        e.coefficients[record.test_indices],
        e.weights[record.test_indices],
        e.theta_gen,
        e.sigma_gen,
        e.process,
    )
    minus_sigma = cross_section([minus_channel], pooled.theta0, thetas).sigma
    np.testing.assert_allclose(report["sigma_pb"], single + minus_sigma, rtol=1e-12)
    assert report["ratio"][0] == pytest.approx(1.0, abs=1e-12)
    assert all(e > 0 for e in report["sigma_error_pb"])


def test_process_key_ignores_define_lines_and_spacing() -> None:
    wpz = (
        "import model SMEFTsim; define p = g u c d s u~ c~ d~ s~; define l+ = e+ mu+; "
        "generate p p > w+ z NP<=1"
    )
    other_defines = (
        "import model SMEFTsim\ndefine p = g d u s c d~ u~ s~ c~\ngenerate  p p >  W+ z NP<=1"
    )
    assert process_key(wpz) == process_key(other_defines) == "generate p p > w+ z np<=1"
    assert process_key(wpz) != process_key(wpz.replace("w+", "w-"))
    assert process_key("generate p p > w+ z; add process p p > w- z") == (
        "generate p p > w+ z; add process p p > w- z"
    )
    assert process_key("") == ""
    assert process_key("  Real  Data ") == "real data"


def test_channel_names_keep_the_first_text_of_each_process() -> None:
    texts = [
        "define p = g u d\ngenerate p p > w+ z",
        "generate p p > w- z",
        "define p = g d u\ngenerate  p p > W+ z",
    ]
    assert channel_names(texts) == {
        "generate p p > w+ z": texts[0],
        "generate p p > w- z": texts[1],
    }
    assert channel_names([]) == {}


def test_productions_differing_in_define_lines_are_one_channel(
    stores: tuple[Path, Path], tmp_path: Path
) -> None:
    """Two W⁺Z stores whose process texts differ only in `define` lines: one channel, whose
    σ̂(θ0) is σ_W⁺Z (not twice it, as two channels would add), and data of either fit."""
    plus, _ = stores
    redefined = tmp_path / "wpz_1k_redefined.h5"
    shutil.copy(plus, redefined)
    with h5py.File(redefined, "r+") as f:
        process = str(f["meta"].attrs["process"])
        f["meta"].attrs["process"] = process.replace("define p = ", "define p = b b~ ")
        _reseal(f)
    assert read_store(redefined, ["s"]).process != read_store(plus, ["s"]).process
    pooled = pool_stores(
        [str(plus), str(redefined)], FEATURES, seed=1, test_fraction=0.3, validation_fraction=0.1
    )
    # Named by the first store's text, as trim.channels names the channel.
    assert pooled.processes == [read_store(plus, ["s"]).process]
    sigma_plus = read_store(plus, ["charge"]).sigma_gen
    assert pooled.parts["test"].weights.sum() == pytest.approx(sigma_plus, rel=1e-12)
    check_compatible(read_store(redefined, ["s"]), ["cHWB", "cW", "cHq3"], pooled.processes)
