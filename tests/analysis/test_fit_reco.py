"""``madsbi fit`` with the reco-level analysis that ``madsbi run`` writes for the W⁺Z reco study.

One tiny reco study (the config of ``tests/studies/test_wz_reco_study.py``: 2 members,
2 epochs, a 41-point line) trains the MLP ensemble and L-GATr; fitting its unsmeared SM test
store as Asimov data must give the study's intervals, and the level and smearing checks must
refuse the wrong stores by name.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis.data import read_store
from madsbi.analysis.reco import read_reco_store
from madsbi.analysis.save import RateEvents, StoreRecord, write_analysis
from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.errors import InputError, StoreFormatError, StoreMismatchError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.trainer import TrainingConfig
from madsbi.inference.expected import LEVELS, level_key
from madsbi.nn.build import NetworkConfig
from madsbi.simulate.reco import shipped_reco_path
from madsbi.studies.wz_reco import run_wz_reco_study
from madsbi.studies.wz_reco_config import WZRecoStudyConfig


def _study_tiny() -> dict[str, Any]:
    """The tiny config of the reco study's own tests (its ``TINY`` document)."""
    path = Path(__file__).parents[1] / "studies" / "test_wz_reco_study.py"
    spec = importlib.util.spec_from_file_location("_wz_reco_study_tests", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    document: dict[str, Any] = copy.deepcopy(module.TINY)
    return document


TEST_STORE = shipped_reco_path("wz_reco_test")
TRAIN_STORE = shipped_reco_path("wz_reco_train")
TOLERANCE = 1e-10


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The reco study run once (no coverage toys, no figures): its output and summary."""
    torch.set_num_threads(1)
    document = _study_tiny()
    document["analysis"]["coverage_toys"] = 0
    # The rate pool is the test store alone: a fit of the test store is the study's Asimov fit.
    document["analysis"]["rate_from_training"] = False
    out = tmp_path_factory.mktemp("wz_reco_fit") / "out"
    summary = run_wz_reco_study(
        WZRecoStudyConfig.from_dict(document), out, progress=False, figures=False
    )
    return out, summary


def _assert_same_intervals(
    summary: dict[str, Any], intervals: dict[str, dict[str, Any]], method: str, study_name: str
) -> int:
    """Every 1D interval of ``method`` equals the study's ``study_name`` ones to 1e-10."""
    compared = 0
    for parameter, entry in summary["limits"]["parameters"].items():
        for level in LEVELS:
            expected = np.asarray(entry["methods"][study_name][level_key(level)], dtype=float)
            got = np.asarray(intervals[method][parameter][f"{level:g}"], dtype=float)
            assert got.shape == expected.shape, (method, parameter, level)
            np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
            compared += expected.size
    return compared


def test_manifest_records_reco_level_and_poisson_rate(study: tuple[Path, Any]) -> None:
    out, summary = study
    manifest = json.loads((out / "analysis" / "analysis.json").read_text())
    assert manifest["level"] == "reco"
    assert manifest["rate_model"]["poisson"] == summary["config"]["analysis"]["rate_model"]
    analysis = madsbi.load_analysis(out / "analysis")
    assert analysis.level == "reco"
    assert analysis.features == manifest["features"]


@pytest.mark.filterwarnings("ignore::madsbi.errors.BoxEdgeWarning")  # tiny networks
def test_python_asimov_fit_reproduces_the_study_intervals(study: tuple[Path, Any]) -> None:
    out, summary = study
    analysis = madsbi.load_analysis(out / "analysis")
    result = analysis.fit(TEST_STORE)
    assert set(result.methods) == {"mlp", "lgatr", "exact"}
    intervals = {m: f.intervals for m, f in result.methods.items()}
    compared = sum(
        _assert_same_intervals(summary, intervals, m, s)
        for m, s in (("mlp", "mlp"), ("lgatr", "lgatr"), ("exact", "truth"))
    )
    assert compared > 0
    assert result.data["level"] == "reco"
    assert result.data["n_events"] == summary["n_test_entries"]
    assert result.methods["mlp"].expected_events0 == pytest.approx(
        summary["expected_events0"], rel=1e-12
    )


def test_cli_fit_of_the_reco_test_store(study: tuple[Path, Any], tmp_path: Path) -> None:
    out, summary = study
    result = CliRunner().invoke(
        cli,
        ["fit", str(out / "analysis"), str(TEST_STORE), "--out", str(tmp_path), "--no-figures",
         "--profile", "fixed"],  # the study's limits fix the other parameters at θ0
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "fit.json").read_text())
    for method in ("mlp", "lgatr"):
        assert _assert_same_intervals(summary, document["intervals"], method, method) > 0


@pytest.mark.filterwarnings("ignore::madsbi.errors.BoxEdgeWarning")  # tiny networks
def test_counts_mode_counts_each_passed_entry_once(study: tuple[Path, Any]) -> None:
    out, _ = study
    analysis = madsbi.load_analysis(out / "analysis")
    events = read_reco_store(TEST_STORE, analysis.features)
    assert not events.smeared
    result = analysis.fit(TEST_STORE, data_mode="counts", methods=["mlp"])
    assert result.data["n_events"] == events.n_events
    assert result.data["sum_weights"] == pytest.approx(events.n_events, rel=1e-12)
    assert all(np.isfinite(v) for v in result.best_fit.values())


@pytest.mark.filterwarnings("ignore::madsbi.errors.BoxEdgeWarning")  # tiny networks
def test_selection_on_a_reco_observable_applies_to_data_and_rate(
    study: tuple[Path, Any],
) -> None:
    out, _ = study
    analysis = madsbi.load_analysis(out / "analysis")
    events = read_reco_store(TEST_STORE, analysis.features)
    mt_wz = events.observables["mt_wz"]
    cut = float(np.median(mt_wz))
    result = analysis.fit(TEST_STORE, methods=["mlp"], select=[f"mt_wz=0,{cut}"])
    assert result.data["n_events"] == int(np.sum(mt_wz < cut))
    _, sigma_all = analysis.rate_model("mlp", central=True)
    expected_sel = sigma_all * float(np.sum(events.weights[mt_wz < cut]) / np.sum(events.weights))
    nu = result.methods["mlp"].expected_events0
    scale = analysis.defaults["luminosity_fb"] * 1000.0 * analysis.defaults["rate_factor"]
    assert nu == pytest.approx(scale * expected_sel, rel=1e-9)
    with pytest.raises(InputError, match="m_wz"):
        analysis.fit(TEST_STORE, methods=["mlp"], select=["m_wz=0,500"])


def test_smeared_training_store_is_refused_as_data(study: tuple[Path, Any]) -> None:
    out, _ = study
    analysis = madsbi.load_analysis(out / "analysis")
    assert read_reco_store(TRAIN_STORE, analysis.features).smeared
    with pytest.raises(InputError, match="smeared") as counted:
        analysis.fit(TRAIN_STORE, data_mode="counts")
    assert str(TRAIN_STORE) in str(counted.value)
    with pytest.raises(InputError, match="trained on this store"):
        analysis.fit(TRAIN_STORE, data_mode="asimov")


def test_parton_store_is_refused_by_a_reco_analysis(study: tuple[Path, Any]) -> None:
    out, _ = study
    analysis = madsbi.load_analysis(out / "analysis")
    parton = sample_path("wz_parton")
    with pytest.raises(StoreFormatError, match="/reco") as error:
        analysis.fit(parton)
    assert str(parton) in str(error.value)


def test_reco_store_is_refused_by_a_parton_analysis(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    features = ["log_s", "log_minus_t", "charge"]
    store = sample_path("wz_parton")
    events = read_store(store, features, need_coefficients=True)
    assert events.coefficients is not None
    x = events.features(features)[:400]
    c = events.coefficients[:400]
    sample = HypothesisSample.build(x, c, np.ones(x.shape[0]))
    network = NetworkConfig(kind="ensemble", hidden=(4,), members=2, repulsion=1.0)
    estimator = DerivativeEstimator(events.theta0, x.shape[1], network, targets=[1, 2])
    estimator.fit(sample, TrainingConfig(epochs=1, batch_size=200, patience=0, seed=1))
    path = write_analysis(
        tmp_path / "analysis",
        estimators={"derivative": estimator},
        parameters=list(events.parameters),
        theta0=events.theta0,
        features=features,
        projection="keep_reference",
        stores=[
            StoreRecord(
                str(store), events.sha256, events.process, 400, (0, 0, 0), 1.0, np.arange(10)
            )
        ],
        rate_events=RateEvents(
            {f: x[:, i] for i, f in enumerate(features)}, c, np.full(400, 1.0 / 400)
        ),
        split={"seed": 1},
        defaults={
            "luminosity_fb": 300.0,
            "rate_factor": 1.0,
            "ranges": [[-1, 1]] * 3,
            "limit_points": 11,
        },
        config={},
    )
    analysis = madsbi.load_analysis(path)
    assert analysis.level == "parton"
    with pytest.raises(StoreMismatchError, match="reco-level") as error:
        analysis.fit(TEST_STORE)
    assert error.value.field == "/reco"
