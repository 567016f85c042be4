"""The W⁺Z reco analysis end to end on the shipped reco stores (tiny networks, tiny grids)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.config import read_toml
from madsbi.errors import ConfigError
from madsbi.simulate.reco import shipped_reco_path
from madsbi.studies.wz_reco import run_wz_reco_study
from madsbi.studies.wz_reco_config import WZRecoStudyConfig, is_reco_config

from helpers.toml import write_toml

EXAMPLES = Path(__file__).parents[2] / "examples"

TINY: dict[str, Any] = {
    "analysis": {
        "study": "wz_reco",
        "ranges": [[-0.6, 0.6], [-0.4, 0.4], [-0.1, 0.1]],
        "points_1d": 41,
        "points_2d": 7,
        "coverage_points": 5,
        "coverage_toys": 20,
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
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One run through ``madsbi run`` (closure on the SM test store itself, θ_BSM = θ0)."""
    tmp = tmp_path_factory.mktemp("wz_reco")
    bsm = str(shipped_reco_path("wz_reco_test"))
    # The pool is the test store alone (no train stores in it): the Asimov sample and the
    # closure data are then the same events, so every exact fit sits at θ0 exactly.
    document = _document(bsm_store=bsm, bsm_point=[0.0, 0.0, 0.0], rate_from_training=False)
    config = write_toml(tmp / "tiny.toml", document)
    out = tmp / "out"
    result = CliRunner().invoke(cli, ["run", str(config), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "W⁺Z reco analysis" in result.output
    return out, json.loads((out / "summary.json").read_text())


def _finite(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def test_summary_keys_finite(run: tuple[Path, dict[str, Any]]) -> None:
    out, summary = run
    for key in ("methods", "limits", "planes", "coverage", "closure", "analysis_dir", "notes"):
        assert key in summary
    assert set(summary["methods"]) == {"mlp", "lgatr"}
    assert summary["n_train_entries"] == 896
    assert summary["n_test_entries"] == 437
    assert summary["expected_events0"] > 0
    for key in ("limits", "planes", "coverage", "closure", "methods"):
        assert _finite(summary[key]), key
    methods = {"truth", "mlp", "lgatr", "rate_only", "mt_wz_histogram"}
    for entry in summary["limits"]["parameters"].values():
        assert set(entry["methods"]) == methods
        for result in entry["methods"].values():
            assert result["interval_68"], result
    for name in ("truth", "mlp", "lgatr"):
        c = summary["coverage"]["methods"][name]
        assert 0.0 <= c["c_68"] <= c["c_95"] <= 1.0
    for figure in summary["figures"]:
        assert (out / figure).is_file()
    assert {"q_1d_cW.png", "q_2d_cHWB_cW.png", "coverage.png"} <= {
        Path(f).name for f in summary["figures"]
    }


def test_asimov_q_curves_nest(run: tuple[Path, dict[str, Any]]) -> None:
    """Asimov: every exact curve is 0 at θ0; q_truth ≥ q_histogram ≥ q_rate pointwise.

    The ordering is Jensen's inequality (finer partitions of the same events, exact
    coefficients, all events binned): it holds at every θ, not only on average.
    """
    _, summary = run
    for entry in summary["limits"]["parameters"].values():
        theta = np.asarray(entry["theta"])
        zero = int(np.argmin(np.abs(theta)))
        m = entry["methods"]
        q = {k: np.asarray(m[k]["q"]) for k in ("truth", "mt_wz_histogram", "rate_only")}
        for name, values in q.items():
            assert (values >= 0).all()
            assert values[zero] == pytest.approx(0.0, abs=1e-6), name
        assert abs(m["truth"]["theta_hat"]) < theta[1] - theta[0]
        scale = 1e-8 * max(1.0, float(q["truth"].max()))
        assert (q["truth"] >= q["mt_wz_histogram"] - scale).all()
        assert (q["mt_wz_histogram"] >= q["rate_only"] - scale).all()
        assert m["truth"]["width_68"] <= m["mt_wz_histogram"]["width_68"] + 1e-12
        assert m["mt_wz_histogram"]["width_68"] <= m["rate_only"]["width_68"] + 1e-12
    for plane in summary["planes"].values():
        areas = plane["areas"]
        assert areas["truth"]["area_68"] <= areas["mt_wz_histogram"]["area_68"]
        assert areas["mt_wz_histogram"]["area_68"] <= areas["rate_only"]["area_68"]


def test_learned_asimov_fit_at_theta0(run: tuple[Path, dict[str, Any]]) -> None:
    """The kinematic factor is normalised by its own ρ̂: an Asimov SM fit stays at θ0."""
    _, summary = run
    for entry in summary["limits"]["parameters"].values():
        theta = np.asarray(entry["theta"])
        for name in ("mlp", "lgatr"):
            assert abs(entry["methods"][name]["theta_hat"]) <= theta[1] - theta[0]


def test_closure_on_the_sm_sample_itself(run: tuple[Path, dict[str, Any]]) -> None:
    _, summary = run
    closure = summary["closure"]
    assert closure["available"]
    truth = closure["methods"]["truth"]
    assert truth["q_at_bsm_point"] == pytest.approx(0.0, abs=1e-6)
    assert truth["inside_95"]


def test_analysis_directory_loads(run: tuple[Path, dict[str, Any]]) -> None:
    """The written analysis reproduces the study's learned coefficients on the test events."""
    import madsbi
    from madsbi.studies.wz_reco_data import load_reco_sample

    _, summary = run
    analysis = madsbi.load_analysis(summary["analysis_dir"])
    test = load_reco_sample("wz_reco_test")
    assert set(analysis.methods) == {"mlp", "lgatr"}
    c = analysis.event_coefficients(test.x, "mlp")
    assert c.shape == (2, 437, 10)
    assert np.isfinite(c).all()
    # The default [analysis] target_scale: every target scaled by its RMS in bins of m_T^WZ.
    scale = analysis.estimators["mlp"].target_scale
    assert scale is not None
    assert set(scale.log_scales) == set(range(1, 10))


def test_coverage_methods_default_follows_methods() -> None:
    config = WZRecoStudyConfig.from_dict(_document(methods=["mlp"]))
    assert config.analysis.coverage_methods == ()


def test_examples_parse() -> None:
    for name in ("wz_reco.toml", "wz_reco_paper.toml", "wz_reco_closure.toml"):
        document = read_toml(EXAMPLES / name)
        assert is_reco_config(document)
        config = WZRecoStudyConfig.from_dict(document, name)
        assert config.lgatr_network.kind == "lgatr"
        assert config.analysis.mt_wz_edges == (200.0, 400.0, 600.0, 800.0, 1000.0, 1500.0, 2500.0)
    closure = WZRecoStudyConfig.from_toml(EXAMPLES / "wz_reco_closure.toml").analysis
    assert closure.rate_stores
    assert closure.bsm_store not in closure.rate_stores


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"analysis": {"methods": ["bdt"]}}, "methods"),
        ({"analysis": {"study": "wz"}}, "study"),
        ({"analysis": {"coverage_points": 4}}, "coverage_points"),
        ({"analysis": {"rate_model": "fitted"}}, "rate_model"),
        ({"analysis": {"mt_wz_edges": [400.0, 200.0]}}, "mt_wz_edges"),
        ({"analysis": {"target_scale": "ht"}}, "target_scale"),
        ({"analysis": {"coverage_methods": ["truth", "lgatr"], "methods": ["mlp"]}}, "coverage"),
        ({"network": {"kind": "lgatr"}}, "[network] kind"),
        ({"lgatr_network": {"kind": "ensemble"}}, "[lgatr_network] kind"),
        ({"histogram": {}}, "histogram"),
    ],
)
def test_config_errors_named(change: dict[str, Any], message: str) -> None:
    document = copy.deepcopy(TINY)
    for section, table in change.items():
        document.setdefault(section, {}).update(table)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        WZRecoStudyConfig.from_dict(document, "tiny.toml")


def test_run_errors_named(tmp_path: Path) -> None:
    """Θ0 off the coverage grid, and a bsm_point of the wrong length, are ConfigErrors."""
    skewed = _document(methods=[], coverage_methods=["truth"], ranges=[[-1, 2], [-1, 1], [-1, 1]])
    with pytest.raises(ConfigError, match="coverage grid"):
        run_wz_reco_study(WZRecoStudyConfig.from_dict(skewed), tmp_path / "a", figures=False)
    short = _document(methods=[], coverage_methods=["truth"], bsm_point=[1.0])
    with pytest.raises(ConfigError, match="bsm_point"):
        run_wz_reco_study(WZRecoStudyConfig.from_dict(short), tmp_path / "b", figures=False)


def test_closure_box_holds_a_point_outside_the_ranges() -> None:
    from madsbi.studies.wz_reco_limits import closure_box

    ranges = ((-0.6, 0.6), (-0.4, 0.4), (-0.1, 0.1))
    lo, hi = closure_box(ranges, np.array([1.0, 0.1, 0.1]))
    np.testing.assert_allclose(lo, [-0.6, -0.4, -0.1])
    np.testing.assert_allclose(hi, [1.6, 0.5, 0.2])
    inside_lo, inside_hi = closure_box(ranges, np.zeros(3))
    np.testing.assert_allclose(inside_lo, [-0.6, -0.4, -0.1])
    np.testing.assert_allclose(inside_hi, [0.6, 0.4, 0.1])


def test_rate_stores_pool_the_sm_sample(tmp_path: Path) -> None:
    """With a BSM-generated rate store the pooled events are the SM sample: Asimov at θ0."""
    rate_store = str(shipped_reco_path("wz_reco_bsm_test"))
    document = _document(methods=["mlp"], rate_stores=[rate_store], coverage_toys=10)
    config = WZRecoStudyConfig.from_dict(document)
    summary = run_wz_reco_study(config, tmp_path / "out", progress=False, figures=False)
    # rate_from_training (default): the train store's 675 parents join, one copy each
    train_store = str(shipped_reco_path("wz_reco_train"))
    assert summary["rate_stores"] == [rate_store, train_store]
    assert summary["n_rate_entries"] == 437 + 427 + 675
    for entry in summary["limits"]["parameters"].values():
        theta = np.asarray(entry["theta"])
        zero = int(np.argmin(np.abs(theta)))
        m = entry["methods"]
        for name in ("truth", "mt_wz_histogram", "rate_only"):
            # θ0 is the exact maximum; the truth's is refined by the parabola through the
            # best grid point and its neighbours, slightly above it on an asymmetric curve
            q = np.asarray(m[name]["q"])
            assert q[zero] == pytest.approx(0.0, abs=1e-3), name
            assert int(np.argmin(q)) == zero, name
        assert abs(m["mlp"]["theta_hat"]) <= theta[1] - theta[0]
        q_truth, q_hist = np.asarray(m["truth"]["q"]), np.asarray(m["mt_wz_histogram"]["q"])
        assert (q_truth >= q_hist - 1e-8 * max(1.0, float(q_truth.max()))).all()
    manifest = json.loads((Path(summary["analysis_dir"]) / "analysis.json").read_text())
    assert manifest["split"]["rate_stores"] == [rate_store, train_store]
    with pytest.raises(ConfigError, match="closure store"):
        WZRecoStudyConfig.from_dict(_document(bsm_store=rate_store, rate_stores=[rate_store]))
