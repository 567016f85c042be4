"""The W±Z parton analysis end to end on a 1000-event MadGraph excerpt (tiny networks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.errors import ConfigError
from madsbi.events.convert import convert_lhe
from madsbi.studies.wz import run_wz_study
from madsbi.studies.wz_config import PAPER_BASIS, WZStudyConfig

from helpers.wz import TWO_EPOCH_TRAINING_TOML

TINY = (
    """
[analysis]
store = "{store}"
test_fraction = 0.3
points_1d = 9
points_2d = 5
limit_points = 201
rate_factor = 0.014
"""
    + TWO_EPOCH_TRAINING_TOML
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wz") / "wz_1k.h5"
    data = Path(__file__).parents[1] / "data" / "wz_parton_1k.lhe.gz"
    convert_lhe(data, out, parameters=["cHWB", "cW", "cHq3"])
    return out


def _config(store: Path, **analysis: Any) -> WZStudyConfig:
    import tomllib

    document = tomllib.loads(TINY.format(store=store))
    document["analysis"].update(analysis)
    return WZStudyConfig.from_dict(document)


@pytest.fixture(scope="module")
def summary(store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run")
    result = run_wz_study(_config(store), out, progress=False)
    result["_out"] = str(out)
    return result


def test_summary_holds_every_method_sample_and_scan(summary: dict[str, Any]) -> None:
    out = Path(summary["_out"])
    written = json.loads((out / "summary.json").read_text())
    assert written["n_train"] + written["n_test"] == 1000
    assert written["n_test"] == 300
    assert written["parameters"] == ["cHWB", "cW", "cHq3"]
    scans = {"1d_cHWB", "1d_cW", "1d_cHq3", "2d_cHWB_cW", "2d_cHWB_cHq3", "2d_cW_cHq3"}
    assert set(written["scans"]) == scans
    for name in ("derivative", "morphing_aware"):
        entry = written["methods"][name]
        assert entry["n_members"] == 2
        assert entry["train_seconds"] > 0
        for sample in ("sm", "bsm"):
            metrics = entry["samples"][sample]
            assert set(metrics) == scans | {"all"}
            for m in metrics.values():
                assert m["rms_error"] >= 0
                assert np.isfinite(m["rms_error"])
                assert m["max_abs_error"] >= m["rms_error"] - 1e-15
                assert 0.0 <= m["band_coverage"] <= 1.0
        assert entry["rms_error"] == entry["samples"]["sm"]["all"]["rms_error"]
    for figure in written["figures"]:
        assert (out / figure).stat().st_size > 0
    assert any("2d_cW_cHq3" in f for f in written["figures"])


def test_truth_is_the_exact_average_log_ratio(summary: dict[str, Any], store: Path) -> None:
    """Recompute the SM-sample truth on the cHWB line from the stored coefficients by hand."""
    from madsbi.events.store import EventStore

    with EventStore(store) as s:
        c = s.read("parton", ["coefficients"])["coefficients"]
    order = np.random.default_rng(1).permutation(c.shape[0])
    test = c[order[:300]]
    line = np.asarray(summary["scans"]["1d_cHWB"]["thetas"])
    truth = np.asarray(summary["truth_mean_log_r"]["sm"])[: line.shape[0]]
    for theta, value in zip(line, truth, strict=True):
        a, b, d = theta
        phi = np.array([1, a, b, d, a * a, b * b, d * d, a * b, a * d, b * d])
        r_test = test @ phi / test[:, 0]
        rho = np.mean(r_test)  # eq. 34 over the SM test sample
        assert value == pytest.approx(np.mean(np.log(r_test)) - np.log(rho), rel=1e-9, abs=1e-12)
    # ⟨log r⟩ vanishes at θ0 (the line's middle point).
    assert truth[line.shape[0] // 2] == pytest.approx(0.0, abs=1e-12)


def test_expected_limits_bracket_the_sm(summary: dict[str, Any]) -> None:
    limits = summary["expected_limits"]
    assert limits["expected_events0"] == pytest.approx(300 * 1000 * summary["sigma0_pb"] * 0.014)
    for parameter in ("cHWB", "cW", "cHq3"):
        entry = limits["parameters"][parameter]
        truth = entry["truth"]
        step = entry["theta"][1] - entry["theta"][0]
        # The Asimov sample's rate comes from its own sums: θ̂ = θ0 up to the refinement.
        assert truth["theta_hat"] == pytest.approx(0.0, abs=0.05 * step)
        (lo68, hi68), (lo95, hi95) = truth["interval_68"][0], truth["interval_95"][0]
        assert lo95 < lo68 < 0.0 < hi68 < hi95
        for method in ("derivative", "morphing_aware"):
            assert limits["parameters"][parameter][method]["interval_95"]


def test_rerun_resumes_from_checkpoints(store: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config = _config(store, methods=("derivative",))
    first = run_wz_study(config, tmp_path, progress=False, figures=False)
    second = run_wz_study(config, tmp_path, progress=False, figures=False)
    assert (
        second["methods"]["derivative"]["rms_error"] == first["methods"]["derivative"]["rms_error"]
    )


def test_cli_runs_and_prints_the_intervals(store: Path, tmp_path: Path) -> None:
    config = tmp_path / "wz.toml"
    config.write_text(TINY.format(store=store).replace("points_2d = 5", "points_2d = 3"))
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(config),
            "--out",
            str(tmp_path / "out"),
            "--threads",
            "1",
            "--quiet",
            "--no-figures",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "derivative" in result.output
    assert "cHq3" in result.output
    assert (tmp_path / "out" / "summary.json").is_file()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"analysis": {"bsm_point": [1.0, 0.1]}}, r"bsm_point: the store has 3 parameters"),
        ({"analysis": {"features": ["s", "eta"]}}, "features: expected names from"),
        ({"analysis": {"methods": ["single_network"]}}, "methods: expected some of"),
        ({"analysis": {"colour": 1}}, r"unknown key\(s\) \['colour'\]"),
        ({"morphing": {"basis": PAPER_BASIS[:5]}}, "need 9 points besides θ0, got 5"),
        ({"analysis": {"ranges": [[1.0, -1.0], [0, 1], [0, 1]]}}, "ranges: expected"),
        ({"analysis": {"projection": "psd"}}, "projection: expected one of"),
        ({"morphing": {"repulsion": -1.0}}, "repulsion: expected >= 0"),
    ],
)
def test_bad_configs_name_the_problem(
    store: Path, tmp_path: Path, table: dict[str, Any], message: str
) -> None:
    document: dict[str, Any] = {"analysis": {"store": str(store)}}
    for section, values in table.items():
        document.setdefault(section, {}).update(values)
    with pytest.raises(ConfigError, match=message):
        run_wz_study(WZStudyConfig.from_dict(document), tmp_path, progress=False)


def test_morphing_normalisation_is_the_training_samples_own(store: Path, tmp_path: Path) -> None:
    """σ_b/σ0 of the per-basis classifiers come from the training events, not the pooled σ.

    A rate store generated at a BSM point fills the tail, so the pooled MIS σ(θ_b)/σ(θ0)
    differs from the training sample's; the classifiers learn ratios normalised over the
    training sample, and mixing the two broke the morphed ratio (issue 11).
    """
    from madsbi.data import sample_path
    from madsbi.estimators.data import HypothesisSample
    from madsbi.studies.wz_data import pool_stores

    torch.set_num_threads(1)
    bsm = str(sample_path("wpz_parton_bsm"))
    config = _config(store, methods=["morphing_aware"], rate_stores=[bsm])
    run_wz_study(config, tmp_path, progress=False)
    description = json.loads(
        (tmp_path / "estimators" / "morphing_aware" / "final" / "estimator.json").read_text()
    )
    a = config.analysis
    pooled = pool_stores(
        [a.store], a.features, seed=a.seed, test_fraction=a.test_fraction, rate_only=[bsm]
    )
    train = pooled.parts["train"]
    sample = HypothesisSample.build(train.x, train.coefficients, train.weights)
    points = np.vstack([pooled.theta0, np.asarray(config.morphing.basis, float)])
    own = np.array([train.weights @ sample.unnormalised_ratio(p, pooled.theta0) for p in points])
    learned = np.asarray(description["sigma_basis"]) / description["sigma0"]
    np.testing.assert_allclose(learned, own / own[0], rtol=1e-10)
    pooled_ratio = pooled.sigma(points) / pooled.sigma(points[:1])
    assert np.max(np.abs(pooled_ratio / (own / own[0]) - 1)) > 1e-3  # the case that broke


def test_joint_derivative_trains_one_network(store: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config = _config(store, methods=["derivative"], joint_derivative=True)
    summary = run_wz_study(config, tmp_path, progress=False)
    description = json.loads(
        (tmp_path / "estimators" / "derivative" / "final" / "estimator.json").read_text()
    )
    assert description["joint"] is True
    assert np.isfinite(summary["methods"]["derivative"]["rms_error"])
