"""``madsbi fit`` robustness (issue 25): the θ box, its edges, and the training support.

A tiny parton-level analysis (features log ŝ, log(−t̂), the W charge) trained on 400 W⁺Z SM
events, with the trained range [−0.5, 0.5]³; the exact ratio of the shipped W⁺Z BSM store
(generated at (1, 0.1, 0.1)) gives deterministic best fits and intervals. W⁻Z events (charge
−1) without a process string, as real data have, are refused by name.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis.box import EDGE_FRACTION, fit_box, parse_ranges
from madsbi.analysis.data import StoreEvents, read_store
from madsbi.analysis.reco import read_reco_store
from madsbi.analysis.save import RateEvents, StoreRecord, write_analysis
from madsbi.analysis.support import (
    FAR_FRACTION,
    RATE_EVENTS,
    TRAINING,
    analysis_support,
    training_support,
)
from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.errors import (
    BoxEdgeWarning,
    InputError,
    TrainingSupportError,
    TrainingSupportWarning,
)
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.trainer import TrainingConfig
from madsbi.inference.rate import GeneratedSample, mis_weights
from madsbi.nn.build import NetworkConfig
from madsbi.simulate.reco import shipped_reco_path

from helpers.stores import copy_without_process

FEATURES = ["log_s", "log_minus_t", "charge"]
RANGES = [[-0.5, 0.5]] * 3
BSM = sample_path("wpz_parton_bsm")
BSM_POINT = "cHWB=1,cW=0.1,cHq3=0.1"
NETWORK = NetworkConfig(kind="ensemble", hidden=(4,), members=2, repulsion=1.0)

# The BSM tail reaches beyond the 400 SM training events: the tests of the box ignore that
# warning, those of the support catch it (pytest.warns and the CLI record it regardless).
pytestmark = pytest.mark.filterwarnings("ignore::madsbi.errors.TrainingSupportWarning")


def _train(x: np.ndarray, c: np.ndarray, theta0: np.ndarray) -> DerivativeEstimator:
    torch.set_num_threads(1)
    sample = HypothesisSample.build(x, c, np.ones(x.shape[0]))
    estimator = DerivativeEstimator(theta0, x.shape[1], NETWORK, targets=[1, 2])
    estimator.fit(sample, TrainingConfig(epochs=1, batch_size=200, patience=0, seed=1))
    return estimator


def _record(events: StoreEvents, n: int) -> StoreRecord:
    return StoreRecord(
        str(events.path),
        events.sha256,
        events.process,
        n,
        tuple(events.theta_gen.tolist()),
        events.sigma_gen,
        np.arange(10),
    )


@pytest.fixture(scope="module")
def analysis_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The W⁺Z parton analysis: support of its 400 training events, rate from the BSM store.

    The rate events are the BSM store's, weighted to θ0 (MIS): the exact ratio of the same
    store as Asimov data then closes on (1, 0.1, 0.1).
    """
    events = read_store(sample_path("wz_parton"), FEATURES, need_coefficients=True)
    bsm = read_store(BSM, FEATURES, need_coefficients=True)
    assert events.coefficients is not None
    assert bsm.coefficients is not None
    x, c = events.features(FEATURES)[:400], events.coefficients[:400]
    sample = GeneratedSample(bsm.coefficients, bsm.weights, bsm.theta_gen, bsm.sigma_gen)
    (v,) = mis_weights([sample], bsm.theta0)
    return write_analysis(
        tmp_path_factory.mktemp("robust") / "analysis",
        estimators={"mlp": _train(x, c, events.theta0)},
        parameters=list(events.parameters),
        theta0=events.theta0,
        features=FEATURES,
        projection="keep_reference",
        stores=[_record(events, 400)],
        rate_events=RateEvents(bsm.observables, bsm.coefficients, v),
        split={"seed": 1},
        defaults={
            "luminosity_fb": 300.0,
            "rate_factor": 0.014,
            "ranges": RANGES,
            "limit_points": 41,
        },
        config={},
        support=training_support(
            dict(zip(FEATURES, x.T, strict=True)), FEATURES, ["charge"], TRAINING
        ),
    )


@pytest.fixture(scope="module")
def analysis(analysis_dir: Path) -> madsbi.analysis.load.Analysis:
    return madsbi.load_analysis(analysis_dir)


@pytest.fixture(scope="module")
def wmz_without_process(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped W⁻Z parton store with an empty /meta/process (as real data have)."""
    return copy_without_process(
        sample_path("wmz_parton"), tmp_path_factory.mktemp("wmz") / "wmz_no_process.h5"
    )


def _fit_cli(args: list[str]) -> tuple[int, str]:
    run = CliRunner().invoke(cli, ["fit", *args, "--no-figures"])
    return run.exit_code, run.output


# -- the box ---------------------------------------------------------------------------------


def test_parse_ranges_and_its_errors() -> None:
    names = ["cHWB", "cW", "cHq3"]
    assert parse_ranges(["cHWB=-2,2", "cW=-0.1,0.3"], names) == {
        "cHWB": (-2.0, 2.0),
        "cW": (-0.1, 0.3),
    }
    for text, match in (
        ("cX=0,1", r"--range 'cX=0,1': expected NAME=LOW,HIGH with NAME one of"),
        ("cHWB=1,-1", r"--range 'cHWB=1,-1': expected LOW,HIGH with finite LOW < HIGH"),
        ("cHWB=1", r"--range 'cHWB=1'"),
        ("cHWB=a,b", r"--range 'cHWB=a,b': LOW and HIGH must be numbers"),
        ("cHWB", r"--range 'cHWB'"),
    ):
        with pytest.raises(InputError, match=match):
            parse_ranges([text], names)
    with pytest.raises(InputError, match="given twice"):
        parse_ranges(["cW=0,1", "cW=0,2"], names)


def test_fit_box_widens_only_for_points_outside_or_near_the_edge() -> None:
    names = ["a", "b"]
    default = [[-1.0, 1.0], [-0.5, 0.5]]
    inside = fit_box(names, default, None, [np.array([0.7, -0.3])])
    np.testing.assert_array_equal(inside.ranges, default)
    assert inside.widened == []
    # Within NEAR_EDGE of half the range from a side (0.9 > 1 − 0.25): that side widens, so a
    # best fit near the point is not cut by the edge.
    near = fit_box(names, default, None, [np.array([0.9, 0.5])])
    np.testing.assert_allclose(near.ranges, [[-1.0, 1.9], [-0.5, 1.0]])
    assert near.widened == ["a", "b"]
    # a = 3 > 1: the high side moves to 3 + half the range (1); b = −2 < −0.5: to −2 − 0.5.
    box = fit_box(names, default, None, [np.array([3.0, 0.0]), np.array([0.0, -2.0])])
    np.testing.assert_array_equal(box.ranges, [[-1.0, 4.0], [-2.5, 0.5]])
    assert box.widened == ["a", "b"]
    # A mapping sets its parameters exactly; the others default (widened).
    mixed = fit_box(names, default, {"a": (-0.2, 0.2)}, [np.array([3.0, 2.0])])
    np.testing.assert_array_equal(mixed.ranges, [[-0.2, 0.2], [-0.5, 2.5]])
    assert mixed.given == ["a"]
    exact = fit_box(names, default, [[0, 1], [0, 2]], [np.array([3.0, 3.0])])
    np.testing.assert_array_equal(exact.ranges, [[0, 1], [0, 2]])
    with pytest.raises(InputError, match=r"ranges: 'c' is not a parameter"):
        fit_box(names, default, {"c": (0, 1)}, [])
    with pytest.raises(InputError, match=r"ranges\['a'\]: expected \(low, high\)"):
        fit_box(names, default, {"a": (1, 0)}, [])
    with pytest.raises(InputError, match="ranges: expected 2 \\[low, high\\] pairs"):
        fit_box(names, default, [[0, 1]], [])


def test_default_box_holds_every_at_point(analysis: madsbi.analysis.load.Analysis) -> None:
    # θ_BSM = (1, 0.1, 0.1) lies outside the trained cHWB range [−0.5, 0.5]. (The fixed
    # line of cHWB, at cW = cHq3 = 0, peaks beyond the box: its intervals warn.)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BoxEdgeWarning)
        result = analysis.fit(BSM, methods=["exact"], at=[BSM_POINT, "cHWB=0,cW=0,cHq3=0"])
    assert not any("best fit" in str(w.message) for w in caught)
    assert result.settings["ranges"] == [[-0.5, 1.5], [-0.5, 0.5], [-0.5, 0.5]]
    assert result.settings["box"]["widened_for_at"] == ["cHWB"]
    exact = result.methods["exact"]
    np.testing.assert_allclose(exact.best_fit, [1.0, 0.1, 0.1], atol=0.02)
    assert exact.points[0]["q"] < 0.1  # the truth of Asimov data
    assert exact.points[1]["q"] > 100.0
    assert exact.at_box_edge["best_fit"] == []
    assert {e["parameter"] for e in exact.at_box_edge["intervals"]} <= {"cHWB"}
    # The trained range alone (as before): the best fit is cut at the edge, q(θ_BSM) at 0.
    with pytest.warns(BoxEdgeWarning) as caught:
        cut = analysis.fit(BSM, methods=["exact"], at=[BSM_POINT], ranges=RANGES)
    messages = " ".join(str(w.message) for w in caught)
    assert "lies outside the box in ['cHWB']" in messages
    assert "the best fit of cHWB (0.5, high edge)" in messages
    assert cut.methods["exact"].best_fit[0] == pytest.approx(0.5)
    assert cut.methods["exact"].points[0]["q"] == 0.0


def test_a_range_mapping_sets_its_parameters_only(
    analysis: madsbi.analysis.load.Analysis,
) -> None:
    result = analysis.fit(BSM, methods=["exact"], at=["cHWB=0.2"], ranges={"cHWB": (-2, 2)})
    assert result.settings["ranges"] == [[-2.0, 2.0], [-0.5, 0.5], [-0.5, 0.5]]
    assert result.settings["box"] == {"widened_for_at": [], "given": ["cHWB"]}
    np.testing.assert_allclose(result.methods["exact"].best_fit, [1.0, 0.1, 0.1], atol=0.02)


def test_edge_warning_names_the_parameter(analysis: madsbi.analysis.load.Analysis) -> None:
    with pytest.warns(BoxEdgeWarning, match=r"exact: the best fit of cHWB \(0\.1, high edge\)"):
        result = analysis.fit(BSM, methods=["exact"], ranges={"cHWB": (-0.1, 0.1)})
    report = result.to_dict()["at_box_edge"]["exact"]
    assert [(e["parameter"], e["side"]) for e in report["best_fit"]] == [("cHWB", "high")]
    assert report["best_fit"][0]["value"] == pytest.approx(0.1, abs=1e-9)
    # The fixed line of cHWB (cW = cHq3 = 0) rises towards the edge: its intervals end there.
    assert {(e["parameter"], e["side"]) for e in report["intervals"]} == {("cHWB", "high")}
    assert EDGE_FRACTION < 0.5


def test_cli_range_edge_warning_and_fit_json(analysis_dir: Path, tmp_path: Path) -> None:
    code, output = _fit_cli(
        [str(analysis_dir), str(BSM), "--out", str(tmp_path), "--method", "exact",
         "--range", "cHWB=-0.1,0.1", "--range", "cW=-1,1", "--at", BSM_POINT]
    )  # fmt: skip
    assert code == 0, output
    document = json.loads((tmp_path / "fit.json").read_text())
    assert document["settings"]["ranges"] == [[-0.1, 0.1], [-1.0, 1.0], [-0.5, 0.5]]
    assert document["at_box_edge"]["exact"]["best_fit"][0]["parameter"] == "cHWB"
    assert "BoxEdgeWarning: exact: the best fit of cHWB" in output
    assert "BoxEdgeWarning: the point cHWB=1,cW=0.1,cHq3=0.1 lies outside the box" in output
    # Without --range, the --at point widens the box and nothing is on its edge.
    code, output = _fit_cli(
        [str(analysis_dir), str(BSM), "--out", str(tmp_path / "wide"), "--method", "exact",
         "--at", BSM_POINT]
    )  # fmt: skip
    assert code == 0, output
    assert "the best fit of" not in output
    assert "box widened to hold the --at points: cHWB [-0.5, 1.5]" in output
    document = json.loads((tmp_path / "wide" / "fit.json").read_text())
    assert document["settings"]["ranges"][0] == [-0.5, 1.5]
    assert document["at_box_edge"]["exact"]["best_fit"] == []


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ("cX=0,1", "--range 'cX=0,1': expected NAME=LOW,HIGH with NAME one of"),
        ("cHWB=1,-1", "--range 'cHWB=1,-1': expected LOW,HIGH with finite LOW < HIGH"),
    ],
)
def test_cli_range_errors(analysis_dir: Path, tmp_path: Path, option: str, match: str) -> None:
    code, output = _fit_cli(
        [str(analysis_dir), str(BSM), "--out", str(tmp_path), "--range", option]
    )
    assert code == 1
    assert match in output


# -- the training support --------------------------------------------------------------------


def test_manifest_records_the_support(analysis_dir: Path) -> None:
    manifest = json.loads((analysis_dir / "analysis.json").read_text())
    support = manifest["support"]
    assert support["source"] == TRAINING
    assert support["features"]["charge"]["values"] == [1.0]
    assert "values" not in support["features"]["log_s"]
    events = read_store(sample_path("wz_parton"), FEATURES)
    assert support["features"]["log_s"]["max"] == events.observables["log_s"][:400].max()
    assert "simulation" not in manifest  # a parton-level analysis


def test_support_of_an_analysis_saved_before_is_derived_from_its_rate_events() -> None:
    shipped = madsbi.load_analysis("wz_parton_paper")
    assert "support" not in shipped.manifest
    support = analysis_support(shipped)
    assert support.source == RATE_EVENTS
    assert support.features["charge"].values == (-1.0, 1.0)
    assert support.features["s"].values is None
    assert support.features["s"].maximum > support.features["s"].minimum > 0


def test_unseen_charge_is_an_error(
    analysis: madsbi.analysis.load.Analysis, wmz_without_process: Path, tmp_path: Path
) -> None:
    with pytest.raises(TrainingSupportError, match=r"'charge' has values \[-1\.0\]") as error:
        analysis.fit(wmz_without_process, methods=["exact"])
    assert error.value.feature == "charge"
    assert error.value.values == [-1.0]
    assert str(wmz_without_process) in str(error.value)
    code, output = _fit_cli([str(analysis.path), str(wmz_without_process), "--out", str(tmp_path)])
    assert code == 1
    assert "TrainingSupportError" in output
    assert "'charge' has values [-1.0]" in output


@pytest.mark.filterwarnings("ignore::madsbi.errors.BoxEdgeWarning")
def test_far_continuous_values_warn_with_their_count(
    analysis: madsbi.analysis.load.Analysis,
) -> None:
    data = read_store(BSM, FEATURES, need_coefficients=True)
    support = analysis_support(analysis).features["log_s"]
    margin = FAR_FRACTION * (support.maximum - support.minimum)
    log_s = data.observables["log_s"].copy()
    log_s[:3] = support.maximum + 2.0 * margin
    far = int(np.sum((log_s < support.minimum - margin) | (log_s > support.maximum + margin)))
    assert far >= 3
    moved = replace(data, observables={**data.observables, "log_s": log_s}, sha256="edited")
    with pytest.warns(TrainingSupportWarning, match=rf"log_s \({far} events\)"):
        result = analysis.fit(moved, methods=["exact"], at=[BSM_POINT])
    assert result.data["outside_training_range"]["log_s"] == far


def test_cli_prints_the_support_warning(
    analysis: madsbi.analysis.load.Analysis, tmp_path: Path
) -> None:
    # The BSM store's tail reaches beyond the 400 SM training events' log ŝ.
    data = read_store(BSM, FEATURES)
    support = analysis_support(analysis).features["log_s"]
    margin = FAR_FRACTION * (support.maximum - support.minimum)
    far = int(np.sum(data.observables["log_s"] > support.maximum + margin))
    assert far > 0
    code, output = _fit_cli(
        [str(analysis.path), str(BSM), "--out", str(tmp_path), "--method", "exact",
         "--at", BSM_POINT]
    )  # fmt: skip
    assert code == 0, output
    assert f"TrainingSupportWarning: {BSM}" in output
    assert f"log_s ({far} events)" in output
    document = json.loads((tmp_path / "fit.json").read_text())
    assert document["data"]["outside_training_range"]["log_s"] == far


def test_unseen_charge_sum_at_reco_level(tmp_path: Path) -> None:
    """A W⁺Z reco analysis refuses events with a lepton-charge sum of −1 by name."""
    features = ["mt_wz", "sum_charge"]
    events = read_reco_store(shipped_reco_path("wz_reco_test"), features, need_coefficients=True)
    assert events.coefficients is not None
    assert set(np.unique(events.observables["sum_charge"])) == {1.0}
    x, c = events.features(features), events.coefficients
    path = write_analysis(
        tmp_path / "analysis",
        estimators={"mlp": _train(x, c, events.theta0)},
        parameters=list(events.parameters),
        theta0=events.theta0,
        features=features,
        projection="keep_reference",
        stores=[_record(events, events.n_events)],
        rate_events=RateEvents(dict(zip(features, x.T, strict=True)), c, events.weights),
        split={"seed": 1, "level": "reco"},
        defaults={"luminosity_fb": 300.0, "rate_factor": 1.0, "ranges": RANGES, "limit_points": 5},
        config={},
        level="reco",
    )
    manifest = json.loads((path / "analysis.json").read_text())
    assert manifest["support"]["features"]["sum_charge"]["values"] == [1.0]
    assert manifest["simulation"]["selection"] == "wz"  # read from the store's reco_config
    assert manifest["simulation"]["shower"] == "fast"
    data = read_reco_store(shipped_reco_path("wz_reco_bsm_test"), features)
    flipped = replace(
        data,
        observables={**data.observables, "sum_charge": -data.observables["sum_charge"]},
        process="",
    )
    with pytest.raises(TrainingSupportError, match=r"'sum_charge' has values \[-1\.0\]"):
        madsbi.load_analysis(path).fit(flipped, data_mode="counts")


def test_simulate_like_a_parton_analysis_is_an_error(analysis_dir: Path, tmp_path: Path) -> None:
    run = CliRunner().invoke(
        cli,
        ["simulate", "reco", str(BSM), str(tmp_path / "out.h5"), "--like", str(analysis_dir)],
    )
    assert run.exit_code == 1
    assert "a parton-level analysis" in run.output
    assert not (tmp_path / "out.h5").exists()
