"""The W±Z reco analysis with both charges: W⁺Z and W⁻Z stores as channels.

The W⁻Z stores are simulated here from the shipped W⁻Z → ℓνℓℓ parent sample
(``wmz_leptonic``, MadGraph at the SM) with Pythia's fast setting: a few hundred parents
each, so the W⁻Z channel is small (tens of entries) and only the plumbing and the exact
relations between channels are tested (tiny networks, tiny grids).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import madsbi
from madsbi.analysis.data import Selection
from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.errors import ConfigError
from madsbi.events.digest import META_ATTRIBUTE, _meta_items
from madsbi.simulate.reco import RecoConfig, shipped_reco_path, simulate_reco
from madsbi.studies.wz_reco import run_wz_reco_study
from madsbi.studies.wz_reco_config import WZRecoStudyConfig, check_channel_feature
from madsbi.studies.wz_reco_data import (
    OBSERVABLES,
    channel_selections,
    load_reco_sample,
    rate_pool,
)

from helpers.toml import write_toml

LUMINOSITY_FB = 300.0
TINY: dict[str, Any] = {
    "analysis": {
        "study": "wz_reco",
        "ranges": [[-0.6, 0.6], [-0.4, 0.4], [-0.1, 0.1]],
        "points_1d": 21,
        "points_2d": 5,
        "coverage_points": 5,
        "coverage_toys": 10,
        "luminosity_fb": LUMINOSITY_FB,
        "seed": 2,
    },
    "network": {"kind": "ensemble", "hidden": [8, 8], "members": 2},
    "training": {"epochs": 2, "batch_size": 256, "patience": 0, "seed": 3},
    "lgatr_network": {
        "kind": "lgatr",
        "members": 2,
        "lgatr": {"blocks": 1, "vector_channels": 4, "scalar_channels": 8, "heads": 2},
    },
    "lgatr_training": {"epochs": 2, "batch_size": 256, "patience": 0, "seed": 3},
}


def _document(**analysis: Any) -> dict[str, Any]:
    document = copy.deepcopy(TINY)
    document["analysis"].update(analysis)
    return document


@pytest.fixture(scope="module")
def wmz(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """W⁻Z reco stores: smeared train (parents 0–599), unsmeared test (parents 600–1599)."""
    folder = tmp_path_factory.mktemp("wmz_reco")
    parents = sample_path("wmz_leptonic")
    train, test = folder / "wmz_reco_train.h5", folder / "wmz_reco_test.h5"
    smeared = RecoConfig(seed=11, smear=True, threshold=0.5, max_copies=3, shower="fast")
    simulate_reco(parents, train, smeared, stop=600, chunk_size=600, passed_only=True)
    unsmeared = RecoConfig(seed=12, smear=False, shower="fast")
    simulate_reco(parents, test, unsmeared, start=600, stop=1600, chunk_size=1000, passed_only=True)
    return {"train": train, "test": test}


@pytest.fixture(scope="module")
def run(
    wmz: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """``madsbi run`` of both charges; closure on the two SM test stores (θ_BSM = θ0)."""
    plus_train, plus_test = (str(shipped_reco_path(n)) for n in ("wz_reco_train", "wz_reco_test"))
    document = _document(
        train_store=[plus_train, str(wmz["train"])],
        test_store=[plus_test, str(wmz["test"])],
        bsm_store=[plus_test, str(wmz["test"])],
        bsm_point=[0.0, 0.0, 0.0],
        # the pool is the test stores alone: the closure data are the Asimov events
        rate_from_training=False,
    )
    tmp = tmp_path_factory.mktemp("wpm_reco")
    config = write_toml(tmp / "wpm_reco.toml", document)
    out = tmp / "out"
    args = ["run", str(config), "--out", str(out), "--quiet", "--no-figures", "--threads", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "W±Z reco analysis" in result.output
    assert "channel ν0" in result.output
    assert "generate p p > w- z" in result.output
    return out, json.loads((out / "summary.json").read_text())


def test_rate_pool_adds_the_channels(wmz: dict[str, Path]) -> None:
    plus, minus = load_reco_sample("wz_reco_test"), load_reco_sample(str(wmz["test"]))
    assert np.all(minus.column("sum_charge") == -1.0)
    pool = rate_pool([plus, minus], [])
    assert pool.channels == (plus.process, minus.process)
    assert pool.n_test == plus.x.shape[0] + minus.x.shape[0]
    # One store per channel: MIS keeps each store's fiducial weights, and the channels add.
    np.testing.assert_allclose(pool.sigma(), [plus.sigma_fid, minus.sigma_fid], rtol=1e-12)
    np.testing.assert_allclose(pool.weights[pool.mask(1)], minus.weights, rtol=1e-12)
    assert pool.weights.sum() == pytest.approx(plus.sigma_fid + minus.sigma_fid, rel=1e-12)
    assert channel_selections(pool) == {
        plus.process: ["sum_charge=1"],
        minus.process: ["sum_charge=-1"],
    }
    assert channel_selections(rate_pool(plus, [])) == {}


def test_two_charge_summary_has_both_channels(
    wmz: dict[str, Path], run: tuple[Path, dict[str, Any]]
) -> None:
    _, summary = run
    plus, minus = load_reco_sample("wz_reco_test"), load_reco_sample(str(wmz["test"]))
    train_minus = load_reco_sample(str(wmz["train"]))
    assert summary["processes"] == [plus.process, minus.process]
    channels = summary["channels"]
    assert channels[minus.process]["n_train_entries"] == train_minus.x.shape[0]
    assert channels[minus.process]["n_test_entries"] == minus.x.shape[0]
    assert summary["n_train_entries"] == 896 + train_minus.x.shape[0]
    assert summary["n_test_entries"] == 437 + minus.x.shape[0]
    for sample in (plus, minus):
        entry = channels[sample.process]
        assert entry["sigma_fid_pb"] == pytest.approx(sample.sigma_fid, rel=1e-12)
        nu = LUMINOSITY_FB * 1000.0 * sample.sigma_fid
        assert entry["expected_events0"] == pytest.approx(nu, rel=1e-12)
    total = sum(c["sigma_fid_pb"] for c in channels.values())
    assert summary["sigma_fid_pb"] == pytest.approx(total, rel=1e-12)
    # The Asimov data are both channels at θ0: the truth and the binned baselines sit there
    # (up to the parabola through the grid maximum and its neighbours).
    for entry in summary["limits"]["parameters"].values():
        zero = int(np.argmin(np.abs(np.asarray(entry["theta"]))))
        for name in ("truth", "mt_wz_histogram", "rate_only"):
            q = np.asarray(entry["methods"][name]["q"])
            assert int(np.argmin(q)) == zero, name
            assert q[zero] < 1e-3, name


def test_closure_reports_the_joint_fit_and_each_charge(
    wmz: dict[str, Path], run: tuple[Path, dict[str, Any]]
) -> None:
    _, summary = run
    closure = summary["closure"]
    plus, minus = load_reco_sample("wz_reco_test"), load_reco_sample(str(wmz["test"]))
    assert closure["stores"] == [str(plus.path), str(minus.path)]
    assert set(closure["methods"]) == {"truth", "mlp", "lgatr"}
    assert closure["methods"]["truth"]["q_at_bsm_point"] == pytest.approx(0.0, abs=1e-6)
    assert set(closure["channels"]) == {plus.process, minus.process}
    total = 0.0
    for sample in (plus, minus):
        entry = closure["channels"][sample.process]
        assert set(entry["methods"]) == {"truth", "mlp", "lgatr"}
        # The closure data are the channel's SM test store: ν(θ_BSM = θ0) is its ν0.
        assert entry["expected_events"] == pytest.approx(entry["expected_events0"], rel=1e-12)
        assert entry["methods"]["truth"]["q_at_bsm_point"] == pytest.approx(0.0, abs=1e-6)
        assert entry["methods"]["truth"]["inside_95"]
        total += entry["expected_events"]
        # Equal weights within a store: the weight per entry is ν/N; q/w is the MC-aware q.
        w = entry["expected_events"] / entry["n_entries"]
        assert entry["weight_per_entry"] == pytest.approx(w, rel=1e-9)
        for method in entry["methods"].values():
            scaled = method["q_at_bsm_point"] / max(w, 1.0)
            assert method["q_per_entry_weight"] == pytest.approx(scaled, rel=1e-9, abs=1e-12)
        # Counts: each generated parent one expected event, so ν0 = N and the data are the
        # pool's own events: the truth sits at θ0 again.
        counts = entry["counts"]
        assert counts["luminosity_fb"] == pytest.approx(
            sample.n_parents / sample.sigma_gen / 1000.0, rel=1e-12
        )
        assert counts["n_events"] == entry["n_entries"]
        assert counts["methods"]["truth"]["q_at_bsm_point"] == pytest.approx(0.0, abs=1e-6)
    assert closure["expected_events"] == pytest.approx(total, rel=1e-12)
    # Jointly: the smallest equivalent luminosity, the other store's first parents only.
    lumi = min(s.n_parents / s.sigma_gen for s in (plus, minus)) / 1000.0
    assert closure["counts"]["luminosity_fb"] == pytest.approx(lumi, rel=1e-12)
    kept = sum(
        int((np.asarray(s.parents) < round(lumi * 1000.0 * s.sigma_gen)).sum())
        for s in (plus, minus)
    )
    assert closure["counts"]["n_events"] == kept


@pytest.mark.filterwarnings("ignore:.*on the edge of the fit box")  # tiny networks
def test_saved_analysis_fits_each_charge_against_its_channel(
    wmz: dict[str, Path], run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    _, summary = run
    plus, minus = load_reco_sample("wz_reco_test"), load_reco_sample(str(wmz["test"]))
    analysis = madsbi.load_analysis(summary["analysis_dir"])
    assert sorted(analysis.processes) == sorted([plus.process, minus.process])
    assert analysis.defaults["channels"] == {
        plus.process: ["sum_charge=1"],
        minus.process: ["sum_charge=-1"],
    }
    # The rate model holds both channels: σ̂_fid(θ0) is their sum, each selected by its charge.
    _, sigma = analysis.exact_rate_model()
    assert sigma == pytest.approx(plus.sigma_fid + minus.sigma_fid, rel=1e-12)
    _, sigma_minus = analysis.exact_rate_model([Selection("sum_charge", -1.0)])
    assert sigma_minus == pytest.approx(minus.sigma_fid, rel=1e-12)
    common: dict[str, Any] = {"data_mode": "asimov", "points_2d": 3}
    for sample, charge in ((minus, -1), (plus, 1)):
        result = analysis.fit(sample.path, **common)
        assert set(result.methods) == {"mlp", "lgatr", "exact"}
        assert result.data["channel_selections"] == [f"sum_charge={charge}"]
        nu = LUMINOSITY_FB * 1000.0 * sample.sigma_fid
        for fitted in result.methods.values():
            assert fitted.expected_events0 == pytest.approx(nu, rel=1e-12)
        # Asimov data of the channel at θ0 against its exact rate: the best fit is θ0.
        np.testing.assert_allclose(result.methods["exact"].best_fit, 0.0, atol=1e-2)
    # Data without a process (as real data) are fitted against every channel's rate.
    anonymous = tmp_path / "no_process.h5"
    shutil.copy(minus.path, anonymous)
    with h5py.File(anonymous, "r+") as f:
        f["meta"].attrs["process"] = ""
        # Re-seal /meta (its digests cover the process string), as a writer of data would.
        f["checksums"].attrs[META_ATTRIBUTE] = json.dumps(_meta_items(f["meta"]), sort_keys=True)
    result = analysis.fit(anonymous, methods=["exact"], **common)
    assert result.data["channel_selections"] == []
    nu_all = LUMINOSITY_FB * 1000.0 * (plus.sigma_fid + minus.sigma_fid)
    assert result.methods["exact"].expected_events0 == pytest.approx(nu_all, rel=1e-12)
    # An explicit selection of the charge sum wins over the channel's.
    explicit = analysis.fit(minus.path, methods=["exact"], select=["sum_charge=-1"], **common)
    assert explicit.data["channel_selections"] == []
    assert explicit.methods["exact"].expected_events0 == pytest.approx(
        LUMINOSITY_FB * 1000.0 * minus.sigma_fid, rel=1e-12
    )


def test_store_lists_parse_and_a_single_name_stays_a_name() -> None:
    config = WZRecoStudyConfig.from_dict(
        _document(train_store=["a.h5", "b.h5"], test_store="c.h5", bsm_store=["d.h5"])
    )
    a = config.analysis
    assert a.train_stores == ("a.h5", "b.h5")
    assert a.test_store == "c.h5"
    assert a.test_stores == ("c.h5",)
    assert a.bsm_stores == ("d.h5",)
    assert WZRecoStudyConfig.from_dict(_document()).analysis.bsm_stores == ()


@pytest.mark.parametrize(
    ("analysis", "message"),
    [
        ({"train_store": 3}, r"train_store: expected a string, got 3 \(int\); or expected an arr"),
        ({"train_store": []}, r"\[analysis\] train_store: expected a store name"),
        ({"test_store": ["a.h5", ""]}, r"\[analysis\] test_store"),
        ({"test_store": ["a.h5", "a.h5"]}, r"test_store: a store is listed twice"),
        ({"bsm_store": ["b.h5"], "rate_stores": ["b.h5"]}, "closure store"),
    ],
)
def test_store_list_errors_name_the_key(analysis: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WZRecoStudyConfig.from_dict(_document(**analysis), "tiny.toml")


def test_two_processes_need_the_charge_sum_as_an_input(
    wmz: dict[str, Path], tmp_path: Path
) -> None:
    """An explicit L-GATr layout without ``sum_charge`` cannot tell W⁺Z from W⁻Z."""
    from madsbi.nn.lgatr_config import wz_reco_columns

    columns = wz_reco_columns(OBSERVABLES)
    column = OBSERVABLES.index("sum_charge")
    columns["global_scalars"] = [c for c in columns["global_scalars"] if c != column]
    stores = {
        "train_store": [str(shipped_reco_path("wz_reco_train")), str(wmz["train"])],
        "test_store": [str(shipped_reco_path("wz_reco_test")), str(wmz["test"])],
    }
    document = _document(methods=["lgatr"], **stores)
    document["lgatr_network"]["lgatr"].update(columns)
    config = WZRecoStudyConfig.from_dict(document)
    with pytest.raises(ConfigError, match=r"\[lgatr_network\.lgatr\] global_scalars.*sum_charge"):
        run_wz_reco_study(config, tmp_path / "a", progress=False, figures=False)
    # One process: the layout is the user's choice; the MLP reads every observable.
    check_channel_feature(config, ["generate p p > w+ z"])
    mlp = WZRecoStudyConfig.from_dict(_document(methods=["mlp"], **stores))
    check_channel_feature(mlp, ["generate p p > w+ z", "generate p p > w- z"])


def test_stores_of_one_role_must_match(wmz: dict[str, Path], tmp_path: Path) -> None:
    plus_train = str(shipped_reco_path("wz_reco_train"))
    twice = _document(methods=[], coverage_methods=["truth"], train_store=[plus_train, plus_train])
    with pytest.raises(ConfigError, match="listed twice"):
        WZRecoStudyConfig.from_dict(twice)
    copy_path = tmp_path / "wz_reco_train_copy.h5"
    shutil.copy(plus_train, copy_path)
    same_process = _document(
        methods=[], coverage_methods=["truth"], train_store=[plus_train, str(copy_path)]
    )
    with pytest.raises(ConfigError, match=r"\[analysis\] train_store: two stores of one process"):
        run_wz_reco_study(WZRecoStudyConfig.from_dict(same_process), tmp_path / "a", figures=False)
    missing_channel = _document(
        methods=[], coverage_methods=["truth"], train_store=[plus_train, str(wmz["train"])]
    )
    with pytest.raises(ConfigError, match=r"\[analysis\] test_store: processes"):
        run_wz_reco_study(
            WZRecoStudyConfig.from_dict(missing_channel), tmp_path / "b", figures=False
        )
