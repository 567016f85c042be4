"""``madsbi fit`` with nuisance parameters (issue 27): declared, added, fixed, reported.

A tiny W⁺Z parton analysis whose rate events are the shipped SM store itself, fitted with the
exact ratio on that store as Asimov data: the best fit is θ0 and every pull 0 by construction,
so the profiled intervals differ from the stat-only ones by the nuisances alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis.data import read_store
from madsbi.analysis.nuisances import envelope, parse_declared, resolve
from madsbi.analysis.save import RateEvents, StoreRecord, write_analysis
from madsbi.analysis.support import TRAINING, training_support
from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.errors import InputError, StoreFormatError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.trainer import TrainingConfig
from madsbi.inference.rate import GeneratedSample, mis_weights
from madsbi.nn.build import NetworkConfig

FEATURES = ["log_s", "log_minus_t", "charge"]
SM = sample_path("wz_parton")
RANGES = [[-2.0, 2.0], [-0.3, 0.3], [-0.3, 0.3]]
NETWORK = NetworkConfig(kind="ensemble", hidden=(4,), members=2, repulsion=1.0)
LUMI = [{"name": "lumi", "kind": "normalisation", "size": 0.05}]

pytestmark = pytest.mark.filterwarnings("ignore::madsbi.errors.TrainingSupportWarning")


def _analysis(root: Path, nuisances: Any = None) -> Path:
    torch.set_num_threads(1)
    events = read_store(SM, FEATURES, need_coefficients=True)
    assert events.coefficients is not None
    x, c = events.features(FEATURES)[:400], events.coefficients[:400]
    estimator = DerivativeEstimator(events.theta0, x.shape[1], NETWORK, targets=[1, 2])
    sample = HypothesisSample.build(x, c, np.ones(x.shape[0]))
    estimator.fit(sample, TrainingConfig(epochs=1, batch_size=200, patience=0, seed=1))
    generated = GeneratedSample(
        events.coefficients, events.weights, events.theta_gen, events.sigma_gen
    )
    (v,) = mis_weights([generated], events.theta0)
    record = StoreRecord(
        "elsewhere.h5", "0" * 64, events.process, 400, (0.0, 0.0, 0.0), 1.0, np.arange(10)
    )
    path = write_analysis(
        root / "analysis",
        estimators={"mlp": estimator},
        parameters=list(events.parameters),
        theta0=events.theta0,
        features=FEATURES,
        projection="keep_reference",
        stores=[record],
        rate_events=RateEvents(events.observables, events.coefficients, v),
        split={"seed": 1},
        defaults={"luminosity_fb": 300.0, "rate_factor": 0.014, "ranges": RANGES,
                  "limit_points": 201},
        config={},
        support=training_support(
            dict(zip(FEATURES, x.T, strict=True)), FEATURES, ["charge"], TRAINING
        ),
    )  # fmt: skip
    if nuisances is not None:
        manifest = json.loads((path / "analysis.json").read_text())
        manifest["nuisances"] = nuisances
        (path / "analysis.json").write_text(json.dumps(manifest))
    return path


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _analysis(tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="module")
def lumi_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _analysis(tmp_path_factory.mktemp("lumi"), LUMI)


@pytest.fixture(scope="module")
def plain_fit(plain_dir: Path) -> dict[str, Any]:
    fit = madsbi.load_analysis(plain_dir).fit(SM, methods=["exact"], points_2d=5)
    return fit.to_dict()


@pytest.fixture(scope="module")
def lumi_fit(lumi_dir: Path) -> dict[str, Any]:
    fit = madsbi.load_analysis(lumi_dir).fit(SM, methods=["exact"], points_2d=5)
    return fit.to_dict()


def test_without_nuisances_the_fit_is_unchanged(plain_fit: dict[str, Any], lumi_dir: Path) -> None:
    for key in ("nuisances", "impacts", "intervals_stat_only", "best_fit_stat_only"):
        assert key not in plain_fit
    assert "nuisances" not in plain_fit["settings"]
    stat = madsbi.load_analysis(lumi_dir).fit(SM, methods=["exact"], points_2d=5, stat_only=True)
    document = stat.to_dict()
    assert document["settings"]["stat_only"] is True
    assert [n["name"] for n in document["settings"]["nuisances"]] == ["lumi"]  # not applied
    assert document["best_fit"] == plain_fit["best_fit"]
    assert document["intervals"] == plain_fit["intervals"]
    assert document["methods"]["exact"]["planes"] == plain_fit["methods"]["exact"]["planes"]


def test_declared_lumi_is_profiled_with_pulls_impacts_and_stat_only(
    plain_fit: dict[str, Any], lumi_fit: dict[str, Any]
) -> None:
    settings = lumi_fit["settings"]
    assert settings["nuisances"] == [
        {"name": "lumi", "kind": "normalisation", "size": 0.05, "components": [],
         "source": "analysis"}
    ]  # fmt: skip
    assert settings["stat_only"] is False
    # Asimov data equal to the rate events: θ̂ = θ0 and α̂ = 0 (the Poisson term balances).
    np.testing.assert_allclose(list(lumi_fit["best_fit"]["exact"].values()), 0.0, atol=1e-3)
    pull = lumi_fit["nuisances"]["exact"]["lumi"]
    assert pull["pull"] == pytest.approx(0.0, abs=1e-3)
    assert 0.0 < pull["constraint"] <= 1.0
    assert pull["fixed"] is False
    # Stat-only intervals are those of the analysis without nuisances; full ones contain them.
    assert lumi_fit["intervals_stat_only"] == plain_fit["intervals"]
    for p in lumi_fit["parameters"]:
        for level in ("0.68", "0.95"):
            full = envelope(lumi_fit["intervals"]["exact"][p][level])
            stat = envelope(plain_fit["intervals"]["exact"][p][level])
            assert full is not None
            assert stat is not None
            assert full[0] <= stat[0] + 1e-12
            assert full[1] >= stat[1] - 1e-12
        impact = lumi_fit["impacts"]["exact"]["parameters"][p]["lumi"]
        assert set(impact) == {"up", "down"}
        assert np.isfinite(impact["up"]["best_fit"])
        assert len(impact["down"]["interval_68"]) == 2
    assert lumi_fit["impacts"]["exact"]["level"] == 0.68


def test_cli_adds_fixes_and_refuses_nuisances(plain_dir: Path, tmp_path: Path) -> None:
    run = CliRunner().invoke(
        cli,
        ["fit", str(plain_dir), str(SM), "--out", str(tmp_path / "a"), "--method", "exact",
         "--no-figures", "--points-2d", "3", "--profile", "fixed", "--nuisance", "lumi=0.02",
         "--nuisance", "xsec_signal=0.1", "--fix", "xsec_signal=0.5"],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    document = json.loads((tmp_path / "a" / "fit.json").read_text())
    assert [n["name"] for n in document["settings"]["nuisances"]] == ["lumi", "xsec_signal"]
    assert document["settings"]["fixed_nuisances"] == {"xsec_signal": 0.5}
    fixed = document["nuisances"]["exact"]["xsec_signal"]
    assert fixed == {"pull": 0.5, "constraint": 0.0, "fixed": True}
    assert "nuisances lumi = " in run.output
    for args, match in (
        (["--fix", "nope=1"], "not a nuisance of this fit"),
        (["--nuisance", "lumi=0.02", "--stat-only", "--fix", "lumi=1"], "--stat-only"),
        (["--nuisance", "lumi=-1"], "size must be a finite number > 0"),
        (["--nuisance", "lumi"], "expected NAME=VALUE"),
        (["--nuisance", "lumi=0.02", "--fix", "lumi=1", "--fix", "alpha_lumi=2"], "more than once"),
    ):
        bad = CliRunner().invoke(
            cli, ["fit", str(plain_dir), str(SM), "--out", str(tmp_path / "b"), *args]
        )
        assert bad.exit_code == 1, bad.output
        assert match in bad.output


def test_bad_declarations(tmp_path: Path) -> None:
    for entries, match in (
        ({"name": "lumi"}, "expected a list"),
        ([{"name": "lumi", "size": 0.02, "shape": 1}], "unknown keys"),
        ([{"name": "1x", "size": 0.02}], "name must be"),
        ([{"name": "lumi", "size": 0.0}], "size must be a finite number > 0"),
        ([{"name": "lumi", "size": True}], "size must be a number"),
        ([{"name": "lumi", "kind": "histogram", "size": 0.1}], "kind must be one of"),
        ([{"name": "lumi", "kind": "shape", "size": 0.1}], "needs a path"),
        ([{"name": "a", "size": 0.1}, {"name": "a", "size": 0.2}], "more than once"),
        ([{"name": "a", "size": 0.1, "components": "signal"}], "list of names"),
    ):
        with pytest.raises(InputError, match=match):
            parse_declared(entries)
    specs = parse_declared([{"name": "xsec_bkg", "size": 0.3, "components": ["background"]}])
    with pytest.raises(InputError, match=r"components \['background'\] are not in"):
        resolve(specs)
    chosen, fixed = resolve(parse_declared(LUMI), ["lumi=0.1"], {"alpha_lumi": 0.5})
    assert chosen[0].size == 0.1
    assert chosen[0].source == "option"
    assert fixed == {"lumi": 0.5}
    assert resolve(parse_declared(LUMI), stat_only=True) == ([], {})


def test_a_bad_manifest_entry_is_a_store_format_error(plain_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "analysis"
    shutil.copytree(plain_dir, copy)
    manifest = json.loads((copy / "analysis.json").read_text())
    manifest["nuisances"] = [{"name": "lumi", "size": "big"}]
    (copy / "analysis.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreFormatError, match=r"analysis.json: nuisances\[0\]"):
        madsbi.load_analysis(copy).fit(SM, methods=["exact"])
