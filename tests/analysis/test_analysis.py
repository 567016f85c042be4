"""A trained analysis: written by ``madsbi run``, loaded, fitted (Python and ``madsbi fit``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis import names as names_module
from madsbi.analysis.data import read_store
from madsbi.analysis.save import RateEvents, StoreRecord, write_analysis
from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.errors import MissingFileError, StoreFormatError, StoreMismatchError, WeightError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.morphing import MorphingAwareEstimator
from madsbi.estimators.trainer import TrainingConfig
from madsbi.events.convert import convert_lhe
from madsbi.events.digest import META_ATTRIBUTE, _meta_items
from madsbi.inference.likelihood import NonNegativeRatio, RateModel
from madsbi.nn.build import NetworkConfig
from madsbi.studies.wz import run_wz_study
from madsbi.studies.wz_config import WZStudyConfig
from madsbi.theory.morphing import MorphingBasis

from helpers.wz import TWO_EPOCH_TRAINING_TOML, convert_wz_1k

DATA = Path(__file__).parents[1] / "data"
PARAMETERS = ["cHWB", "cW", "cHq3"]
FEATURES = ["log_s", "log_minus_t", "charge"]
TINY = (
    """
[analysis]
store = "{store}"
test_fraction = 0.3
points_1d = 5
points_2d = 3
limit_points = 201
rate_factor = 0.014
"""
    + TWO_EPOCH_TRAINING_TOML
)


def _reseal(f: h5py.File) -> None:
    """Re-digest /meta after an in-place edit, as a writer of data would (fit verifies it)."""
    if "checksums" in f:
        f["checksums"].attrs[META_ATTRIBUTE] = json.dumps(_meta_items(f["meta"]), sort_keys=True)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_wz_1k(tmp_path_factory.mktemp("wz"))


@pytest.fixture(scope="module")
def run(store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run")
    toml = out.parent / "tiny.toml"
    toml.write_text(TINY.format(store=store))
    config = WZStudyConfig.from_toml(toml)
    summary = run_wz_study(config, out, progress=False, figures=False)
    return summary, out / "analysis"


def _copy_store(store: Path, target: Path, **edits: Any) -> Path:
    """A copy of ``store`` with datasets or /meta attributes overwritten (test inputs only)."""
    shutil.copy(store, target)
    with h5py.File(target, "r+") as f:
        for key, value in edits.items():
            if key == "process":
                f["meta"].attrs["process"] = value
                _reseal(f)
            else:
                f["parton"][key][...] = value
    return target


# -- the directory ---------------------------------------------------------------------------
def test_run_writes_a_self_describing_directory(run: tuple[dict[str, Any], Path]) -> None:
    summary, path = run
    manifest = json.loads((path / "analysis.json").read_text())
    assert manifest["format"] == "madsbi-analysis"
    assert manifest["parameters"] == PARAMETERS
    assert manifest["features"] == list(summary["config"]["analysis"]["features"])
    assert manifest["projection"] == {"kind": "NonNegativeRatio", "keep_reference": True}
    assert set(manifest["estimators"]) == {"derivative", "morphing_aware"}
    for name, entry in manifest["estimators"].items():
        assert json.loads((path / entry["path"] / "estimator.json").read_text())["kind"] == name
        inputs = next(iter(entry["standardisation"].values()))["inputs"]
        assert len(inputs["mean"]) == len(manifest["features"])
    (record,) = manifest["split"]["stores"]
    assert record["n_test"] == summary["n_test"]
    assert record["n_train"] == summary["n_train"]
    assert manifest["rate_model"]["sigma0_pb"] == pytest.approx(summary["sigma0_pb"], rel=1e-12)
    assert manifest["config"]["analysis"]["seed"] == summary["config"]["analysis"]["seed"]
    # The training support of the features: the training part's range, the charge's values.
    assert manifest["support"]["source"] == "training events"
    assert set(manifest["support"]["features"]) == set(manifest["features"])
    assert manifest["support"]["features"]["charge"]["values"] == [1.0]  # W⁺Z only
    with np.load(path / "split.npz", allow_pickle=False) as z:
        order = np.random.default_rng(1).permutation(1000)
        np.testing.assert_array_equal(z["test_0"], order[: summary["n_test"]])


def test_save_load_round_trip_gives_identical_log_ratio(store: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    events = read_store(store, FEATURES, need_coefficients=True, optional=["m_wz"])
    assert events.coefficients is not None
    x = events.features(FEATURES)
    theta0 = events.theta0
    sample = HypothesisSample.build(x, events.coefficients, events.weights / events.weights.mean())
    network = NetworkConfig(kind="ensemble", hidden=(8,), members=2, repulsion=1.0)
    training = TrainingConfig(epochs=1, batch_size=256, patience=0, seed=1)
    derivative = DerivativeEstimator(theta0, x.shape[1], network, targets=[1, 2, 4])
    derivative.fit(sample, training, progress=False)
    points = np.vstack([theta0, np.eye(3), -np.eye(3), [[1, 1, 0], [1, 0, 1], [0, 1, 1]]])
    basis = MorphingBasis.from_points(points * 0.2, theta0)
    morphing = MorphingAwareEstimator(basis, np.linspace(1.0, 2.0, 10), 1.0, x.shape[1], network)
    for net in morphing.networks.values():
        net.inputs.fit(torch.as_tensor(x))
    v = events.weights / events.weights.sum() * 16.0
    record = StoreRecord(
        str(store), events.sha256, events.process, 1000, (0, 0, 0), 16.0, np.arange(10)
    )
    path = write_analysis(
        tmp_path / "analysis",
        estimators={"derivative": derivative, "morphing_aware": morphing},
        parameters=PARAMETERS,
        theta0=theta0,
        features=FEATURES,
        projection="keep_reference",
        stores=[record],
        rate_events=RateEvents(events.observables, events.coefficients, v),
        split={"seed": 0},
        defaults={
            "luminosity_fb": 1.0,
            "rate_factor": 1.0,
            "ranges": [[-1, 1]] * 3,
            "limit_points": 11,
        },
        config={},
    )
    loaded = madsbi.load_analysis(path)
    thetas = np.array([[0.0, 0.0, 0.0], [0.5, -0.1, 0.05], [-1.0, 0.2, 0.2]])
    for name, estimator in (("derivative", derivative), ("morphing_aware", morphing)):
        model = NonNegativeRatio.wrap(estimator, keep_reference=True)
        c = model.event_coefficients(x[:50])
        phi = model.grid_features(thetas)
        rate = RateModel.from_event_coefficients(model.event_coefficients(x), v)
        expected = np.log(np.einsum("mnk,gk->mng", c, phi)) - np.log(rate.ratio(phi))[:, None]
        got = loaded.log_ratio(x[:50], thetas, name)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
        w = events.weights[:50]
        mean = loaded.mean_log_ratio(x[:50], thetas, name, weights=w)
        np.testing.assert_allclose(mean, (expected * w[:, None]).sum(1) / w.sum(), atol=1e-10)
        assert isinstance(loaded.estimators[name], type(estimator))


# -- fits ------------------------------------------------------------------------------------
def test_fit_reproduces_the_expected_intervals_of_run(
    run: tuple[dict[str, Any], Path], store: Path, tmp_path: Path
) -> None:
    summary, path = run
    result = CliRunner().invoke(
        cli,
        [
            "fit",
            str(path),
            str(store),
            "--out",
            str(tmp_path),
            "--luminosity",
            "300",
            "--rate-factor",
            "0.014",
            "--at",
            "cHWB=1,cW=0.1,cHq3=0.1",
            "--points-2d",
            "5",
            "--profile",
            "fixed",
            "--no-figures",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "fit.json").read_text())
    assert {"best_fit", "intervals", "points"} <= set(document)
    assert "test split" in document["data"]["events_used"]
    worst = 0.0
    for parameter, entry in summary["expected_limits"]["parameters"].items():
        for method in ("truth", "derivative", "morphing_aware"):
            fitted = document["intervals"]["exact" if method == "truth" else method][parameter]
            for level in ("68", "95"):
                ours = np.asarray(fitted[f"0.{level}"])
                theirs = np.asarray(entry[method][f"interval_{level}"])
                assert ours.shape == theirs.shape
                worst = max(worst, float(np.abs(ours - theirs).max()))
    assert worst < 1e-10
    point = document["points"]["cHWB=1,cW=0.1,cHq3=0.1"]
    for method in ("derivative", "morphing_aware", "exact"):
        assert point["q"][method] > 0
        assert 0.0 <= point["p_value"][method] <= 1.0


@pytest.mark.filterwarnings("ignore::madsbi.errors.TrainingSupportWarning")  # 1k events
def test_fit_from_python_in_five_lines(run: tuple[dict[str, Any], Path], store: Path) -> None:
    summary, path = run
    # -- the user's code: five lines --
    import madsbi

    analysis = madsbi.load_analysis(path)
    result = analysis.fit(store, luminosity=300.0, rate_factor=0.014, methods=["derivative"])
    intervals = result.intervals
    # -- checks --
    expected = summary["expected_limits"]["parameters"]["cW"]["derivative"]["interval_68"]
    np.testing.assert_allclose(intervals["cW"]["0.68"], expected, rtol=0, atol=1e-10)
    assert set(result.best_fit) == set(PARAMETERS)


@pytest.mark.filterwarnings("ignore::madsbi.errors.TrainingSupportWarning")  # 1k events
@pytest.mark.filterwarnings("ignore::madsbi.errors.BoxEdgeWarning")  # tiny networks
def test_profiled_intervals_contain_the_fixed_ones_and_selections_apply(
    run: tuple[dict[str, Any], Path], store: Path
) -> None:
    _, path = run
    analysis = madsbi.load_analysis(path)
    common = {"luminosity": 300.0, "rate_factor": 0.014, "methods": ["exact"], "points_2d": 5}
    fixed = analysis.fit(store, **common)
    profiled = analysis.fit(store, profile="profiled", points_profile=21, **common)
    for parameter in PARAMETERS:
        (lo_f, hi_f), (lo_p, hi_p) = (
            fixed.intervals[parameter]["0.68"][0],
            profiled.intervals[parameter]["0.68"][0],
        )
        # Profiling can only lower q: the profiled interval contains the fixed one (up to
        # the interpolation between grid points, 5 % of the width here).
        slack = 0.05 * (hi_f - lo_f)
        assert lo_p <= lo_f + slack
        assert hi_f - slack <= hi_p
        # The profiled line was zoomed onto the region: finer than the interval itself.
        theta = profiled.methods["exact"].lines[parameter]["theta"]
        assert theta[1] - theta[0] < 0.25 * (hi_p - lo_p)
    # Every event of the W+Z store has charge +1: selecting it changes nothing.
    charged = analysis.fit(store, select=["charge=1"], **common)
    for parameter in PARAMETERS:
        np.testing.assert_allclose(
            charged.intervals[parameter]["0.68"], fixed.intervals[parameter]["0.68"], atol=1e-12
        )
    window = analysis.fit(store, select=["m_wz=300,1000"], **common)
    assert window.data["n_events"] < fixed.data["n_events"]
    counts = analysis.fit(store, data_mode="counts", **common)
    assert counts.data["sum_weights"] == counts.data["n_events"] == fixed.data["n_events"]


# -- bad data --------------------------------------------------------------------------------
def test_bad_data_stores_raise_typed_errors(
    run: tuple[dict[str, Any], Path], store: Path, tmp_path: Path
) -> None:
    _, path = run
    analysis = madsbi.load_analysis(path)
    with pytest.raises(StoreFormatError, match="observable 'log_minus_t'"):
        analysis.fit(sample_path("drell_yan"))
    swapped = tmp_path / "swapped.h5"
    convert_lhe(DATA / "wz_parton_1k.lhe.gz", swapped, parameters=["cW", "cHWB", "cHq3"])
    with pytest.raises(StoreMismatchError, match="parameter_names") as info:
        analysis.fit(swapped)
    assert info.value.field == "/meta/parameter_names"
    other = _copy_store(store, tmp_path / "other.h5", process="generate p p > w+ w-")
    with pytest.raises(StoreMismatchError, match="process") as info:
        analysis.fit(other)
    assert info.value.field == "/meta/process"
    with h5py.File(store) as f:
        weights = f["parton"]["weight"][...]
    for bad in (np.nan, -1.0):
        changed = weights.copy()
        changed[7] = bad
        broken = _copy_store(store, tmp_path / f"bad_{bad}.h5", weight=changed)
        with pytest.raises(
            WeightError, match=r"1 NaN, infinite or negative values \(first at event 7\)"
        ):
            analysis.fit(broken)
    result = CliRunner().invoke(cli, ["fit", str(path), str(broken), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "WeightError" in result.output


# -- shipped analyses ------------------------------------------------------------------------
def test_named_analysis_resolves_like_a_shipped_store(
    run: tuple[dict[str, Any], Path], store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = run
    shipped = tmp_path / "analyses"
    shutil.copytree(path, shipped / "tiny_wz")
    monkeypatch.setattr(names_module, "shipped_analyses_dir", lambda: shipped)
    assert names_module.shipped_analyses() == ("tiny_wz",)
    loaded = madsbi.load_analysis("tiny_wz")
    assert loaded.path == shipped / "tiny_wz"
    result = CliRunner().invoke(
        cli,
        [
            "fit",
            "tiny_wz",
            str(store),
            "--out",
            str(tmp_path / "fit"),
            "--points-2d",
            "5",
            "--method",
            "derivative",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fit" / "q_cW.png").stat().st_size > 0
    assert (tmp_path / "fit" / "q_cW_cHq3.png").stat().st_size > 0
    assert json.loads((tmp_path / "fit" / "fit.json").read_text())["best_fit"]["derivative"]
    with pytest.raises(MissingFileError, match="shipped: \\['tiny_wz'\\]"):
        madsbi.load_analysis("no_such_analysis")
