"""The pooled mixture as a method of an analysis with backgrounds (madsbi.analysis.pooled).

``madsbi analysis-backgrounds --pooled --overlay`` on the shipped wz_reco_paper with tiny
stand-in stores (as tests/analysis/test_backgrounds.py): the θ-dependent background is the
shipped W⁺Z BSM closure store, the signal's classifier store the W⁺Z test store. Networks are
trained for 2 epochs: the tests check the bookkeeping (saving, loading, ν0 and rates of the
one component, the fit, the refusals), not the networks' quality.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis.backgrounds import BackgroundTraining, add_backgrounds
from madsbi.analysis.components import background_yields, load_components, method_models
from madsbi.analysis.coverage import CoverageOptions, analysis_coverage
from madsbi.analysis.fit import choose_methods
from madsbi.analysis.oracles import _trained_digests
from madsbi.analysis.pooled import POOLED, pooled_models, target_scale_column
from madsbi.analysis.prepare import prepare_data
from madsbi.analysis.schema import validate_manifest
from madsbi.cli.main import cli
from madsbi.errors import InputError, MadSBIWarning, StoreFormatError
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.inference.likelihood import NonNegativeRatio
from madsbi.inference.rate import RateModel
from madsbi.simulate.reco import shipped_reco_path
from madsbi.theory.polynomial import polynomial_features

BSM = shipped_reco_path("wz_reco_bsm_test")
SM = shipped_reco_path("wz_reco_test")
POINT = "cHWB=1,cW=0.1,cHq3=0.1"
GRID = np.array([[0.0, 0.0, 0.0], [1.0, 0.1, 0.1], [-0.5, 0.2, -0.05], [0.3, -0.3, 0.08]])

pytestmark = pytest.mark.filterwarnings(
    "ignore::madsbi.errors.TrainingSupportWarning", "ignore::madsbi.errors.BoxEdgeWarning"
)


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("pooled") / "wz_pooled"
    result = CliRunner().invoke(
        cli,
        [
            "analysis-backgrounds", "wz_reco_paper", str(out), "--background", f"bkg_a={BSM}",
            "--signal", str(SM), "--classifier-epochs", "2", "--ratio-epochs", "2",
            "--hidden", "8", "--seed", "3", "--overlay", "--pooled", "--pooled-epochs", "2",
            "--pooled-hidden", "8,8",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pooled: 864 events" in result.output
    return out


def _with(source: Path, destination: Path, **changes: object) -> Path:
    """A copy of the overlay ``source`` with ``scale``, ``nuisances`` or ``pooled`` changed."""
    shutil.copytree(source, destination)
    path = destination / "analysis.json"
    manifest = json.loads(path.read_text())
    if "scale" in changes:
        for entry in manifest["components"]["backgrounds"]:
            entry["scale"] = changes["scale"]
    if "nuisances" in changes:
        manifest["nuisances"] = changes["nuisances"]
    if "pooled" in changes:
        manifest["components"]["pooled"] = changes["pooled"]
    path.write_text(json.dumps(manifest))
    return destination


def test_the_ensemble_is_saved_in_the_overlay_and_recorded(pooled: Path) -> None:
    manifest = json.loads((pooled / "analysis.json").read_text())
    entry = manifest["components"]["pooled"]
    assert entry["ratio"] == "components/pooled"
    assert entry["scales"] == {"bkg_a": 1.0}
    assert entry["n_events"] == {"signal": 437, "bkg_a": 427}
    training = entry["training"]
    assert training["hidden"] == [8, 8]
    assert training["epochs"] == 2
    assert training["validation_fraction"] > 0  # early stopping on a held-out split
    # targets scaled as the analysis's signal network's ("auto")
    mlp = madsbi.load_analysis("wz_reco_paper").estimators["mlp"]
    assert training["scale_column"] == mlp.scale_column
    assert (
        DerivativeEstimator.load(pooled / "components" / "pooled").scale_column == mlp.scale_column
    )
    assert set(training["best_epoch"]) == {f"t{k}" for k in training["targets"]}
    # an overlay: only what was added, the base named
    assert manifest["base"]["analysis"] == "wz_reco_paper"
    assert (pooled / "components" / "pooled" / "estimator.json").is_file()
    assert not (pooled / "estimators").exists()
    assert manifest["estimators"] == madsbi.load_analysis("wz_reco_paper").manifest["estimators"]


def test_the_ensemble_reloads_as_saved(pooled: Path, tmp_path: Path) -> None:
    moved = shutil.copytree(pooled, tmp_path / "moved")  # relative paths: a copy loads too
    analysis = madsbi.load_analysis(moved)
    loaded = load_components(analysis)
    assert loaded is not None
    assert loaded.pooled is not None
    fresh = NonNegativeRatio.wrap(
        DerivativeEstimator.load(pooled / "components" / "pooled"), keep_reference=True
    )
    x = analysis.rate_event_features()[0][:40]
    np.testing.assert_array_equal(loaded.pooled.event_coefficients(x), fresh.event_coefficients(x))
    assert np.asarray(fresh.event_coefficients(x)).shape == (2, 40, 10)


def test_a_target_scale_feature_is_checked_before_training(tmp_path: Path) -> None:
    settings = BackgroundTraining(pooled_target_scale="nope")
    with pytest.raises(InputError, match=r"pooled_target_scale: 'nope' is not among"):
        add_backgrounds(
            "wz_reco_paper", tmp_path / "out", {"b": [BSM]}, [SM], training=settings, pooled=True
        )
    assert not (tmp_path / "out").exists()
    manifest = madsbi.load_analysis("wz_reco_paper").manifest
    root = madsbi.load_analysis("wz_reco_paper").path
    assert target_scale_column(root, manifest, "none") is None
    assert target_scale_column(root, manifest, "met") == manifest["features"].index("met")


def test_the_pooled_signal_may_come_from_other_stores(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    settings = BackgroundTraining(
        hidden=(8,), classifier_epochs=1, ratio_epochs=1, pooled_epochs=1, seed=1
    )
    out, entry = add_backgrounds(
        "wz_reco_paper", tmp_path / "a", {"bkg_a": [SM]}, [SM], training=settings, overlay=True,
        pooled=True, pooled_signal=[BSM],
    )  # fmt: skip
    assert entry["signal"]["n_events"] == 437  # the classifier's signal: --signal
    assert entry["pooled"]["n_events"] == {"signal": 427, "bkg_a": 437}
    (record,) = entry["pooled"]["signal_stores"]
    assert record["path"] == str(BSM.resolve())
    analysis = madsbi.load_analysis(out)
    assert record["sha256"] in _trained_digests(analysis)  # not held out for the truths


def test_the_manifest_entry_is_checked(pooled: Path) -> None:
    manifest = json.loads((pooled / "analysis.json").read_text())
    bad = json.loads(json.dumps(manifest))
    bad["components"]["pooled"]["ratio"] = "../elsewhere"
    with pytest.raises(StoreFormatError, match=r"components.pooled.ratio"):
        validate_manifest(bad, pooled)
    bad = json.loads(json.dumps(manifest))
    bad["components"]["pooled"]["scales"] = {"other": 1.0}
    with pytest.raises(StoreFormatError, match=r"pooled.scales: expected a scale for each.*bkg_a"):
        validate_manifest(bad, pooled)
    bad["components"]["pooled"]["scales"] = {"bkg_a": -1.0}
    with pytest.raises(StoreFormatError, match=r"pooled.scales.bkg_a: expected a finite number"):
        validate_manifest(bad, pooled)


def _rate(estimator: object, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    c = np.asarray(estimator.event_coefficients(x)).mean(0)  # type: ignore[attr-defined]
    return np.asarray(RateModel.from_event_coefficients(c, v).coefficients[0])


def test_nu0_and_rates_are_the_sums_over_the_processes(pooled: Path) -> None:
    analysis = madsbi.load_analysis(pooled)
    loaded = load_components(analysis)
    assert loaded is not None
    assert loaded.pooled is not None
    data = prepare_data(analysis, BSM, data_mode="counts", luminosity=900.0)
    models, nu_signal, mixture = pooled_models(analysis, data)
    signal_only = method_models(analysis, data, "mlp")[1]
    assert nu_signal == pytest.approx(signal_only, rel=1e-12)  # the signal's ν_sel(θ0)
    assert len(models) == 3  # central + two members
    central = models[0].components[0]
    assert len(models[0].components) == 1
    assert central.name == POOLED
    nus = dict(zip(mixture.names, mixture.expected_events0, strict=True))
    assert nus["signal"] == nu_signal
    keep, v_b, nu_b = background_yields(data, loaded.backgrounds[0])
    assert nus["bkg_a"] == nu_b > 0
    assert central.expected_events0 == pytest.approx(nus["signal"] + nus["bkg_a"], rel=1e-12)
    # C_e: the members' mean on the data; each member one row
    c = np.asarray(loaded.pooled.event_coefficients(data.features))
    np.testing.assert_allclose(central.coefficients[0], c.mean(0), rtol=1e-12)
    np.testing.assert_allclose(models[2].components[0].coefficients[0], c[1], rtol=1e-12)
    # ρ̂ = Σ_c (ν_c0/ν0) ⟨R̂⟩_c over each process's own events
    x_s, v_s = analysis.rate_event_features(data.selections)
    x_b = loaded.backgrounds[0].inputs(analysis.features, keep)
    expected = (nus["signal"] * _rate(loaded.pooled, x_s, v_s) + nu_b * _rate(
        loaded.pooled, x_b, v_b
    )) / (nus["signal"] + nu_b)  # fmt: skip
    np.testing.assert_allclose(central.rate.coefficients[0], expected, rtol=1e-10)
    # exact Poisson rate (poisson: exact): ν0 ρ_P(θ) = Σ_c ν_c(θ) of fit.json's yields
    assert analysis.poisson_rate == "exact"
    assert central.poisson_rate is not None
    phi = polynomial_features(GRID, analysis.theta0)
    total = central.expected_events0 * central.poisson_rate.ratio(phi)[0]
    yields = [sum(mixture.yields(theta).values()) for theta in GRID]
    np.testing.assert_allclose(total, yields, rtol=1e-10)
    assert np.all(models[0].log_likelihood(GRID[:1]) == pytest.approx(0.0, abs=1e-9))


def test_switched_off_backgrounds_leave_the_signal_events_alone(
    pooled: Path, tmp_path: Path
) -> None:
    off = madsbi.load_analysis(_with(pooled, tmp_path / "off", scale=0.0))
    data = prepare_data(off, BSM, data_mode="counts", luminosity=900.0)
    with pytest.warns(MadSBIWarning, match=r"learned the shares of the background scales"):
        models, nu_signal, mixture = pooled_models(off, data)
    loaded = load_components(off)
    assert loaded is not None
    central = models[0].components[0]
    assert central.expected_events0 == nu_signal
    assert mixture.yields(GRID[1])["bkg_a"] == 0.0
    # ρ̂ = ⟨R̂⟩ over the signal's rate events, ρ_P its exact rate
    x_s, v_s = off.rate_event_features(data.selections)
    np.testing.assert_allclose(
        central.rate.coefficients[0], _rate(loaded.pooled, x_s, v_s), rtol=1e-10
    )
    exact, _ = off.exact_rate_model(data.selections)
    assert central.poisson_rate is not None
    np.testing.assert_allclose(central.poisson_rate.coefficients, exact.coefficients, rtol=1e-12)


def test_fit_json_lists_the_pooled_method_by_default(pooled: Path, tmp_path: Path) -> None:
    analysis = madsbi.load_analysis(pooled)
    assert choose_methods(analysis, None, True) == [*analysis.methods, POOLED]
    result = CliRunner().invoke(
        cli,
        [
            "fit", str(pooled), str(BSM), "--out", str(tmp_path / "fit"), "--data-mode",
            "counts", "--luminosity", "900", "--at", POINT, "--method", "pooled", "--profile",
            "fixed", "--points-2d", "3", "--no-figures",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "fit" / "fit.json").read_text())
    entry = document["components"][POOLED]
    assert entry["names"] == ["signal", "bkg_a"]
    for name in entry["names"]:  # θ0 is the SM: ν_c(SM) = ν_c0
        assert entry["yields_sm"][name] == pytest.approx(entry["expected_events0"][name], rel=1e-12)
    assert np.isfinite(document["points"][POINT]["q"][POOLED])
    assert len(document["methods"][POOLED]["members"]["best_fit"]) == 2


def test_pooled_is_refused_without_its_ensemble(pooled: Path, tmp_path: Path) -> None:
    signal_only = madsbi.load_analysis("wz_reco_paper")
    assert POOLED not in choose_methods(signal_only, None, True)
    with pytest.raises(InputError, match=r"wz_reco_paper has no pooled ensemble.*--pooled"):
        choose_methods(signal_only, ["mlp", POOLED], True)
    factorised = madsbi.load_analysis(_with(pooled, tmp_path / "factorised", pooled=None))
    assert POOLED not in choose_methods(factorised, None, False)
    with pytest.raises(InputError, match=r"factorised has no pooled .*madsbi analysis-backgrounds"):
        choose_methods(factorised, [POOLED], False)
    data = prepare_data(signal_only, BSM, data_mode="counts", luminosity=900.0)
    with pytest.raises(InputError, match=r"no pooled ensemble"):
        pooled_models(signal_only, data)
    with pytest.raises(InputError, match=r"no pooled ensemble"):
        analysis_coverage(factorised, methods=[POOLED], options=CoverageOptions(n_toys=2))


def test_nuisances_on_named_components_refuse_or_drop_pooled(pooled: Path, tmp_path: Path) -> None:
    from madsbi.analysis.components import component_names
    from madsbi.analysis.nuisances import parse_declared, resolve
    from madsbi.analysis.pooled import drop_if_nuisances
    from madsbi.errors import MadSBIWarning

    declared = [{"name": "xsec_zz", "kind": "normalisation", "size": 0.1, "components": ["bkg_a"]}]
    analysis = madsbi.load_analysis(_with(pooled, tmp_path / "nuis", nuisances=declared))
    specs, _ = resolve(parse_declared(declared), components=component_names(analysis))
    with pytest.raises(InputError, match=r"xsec_zz.*one component for the whole mixture"):
        drop_if_nuisances(["mlp", POOLED], specs, explicit=True)
    with pytest.warns(MadSBIWarning, match="left out of the default methods"):
        assert drop_if_nuisances(["mlp", POOLED], specs, explicit=False) == ["mlp"]
    lumi = resolve(parse_declared([{"name": "lumi", "size": 0.02}]))[0]
    assert drop_if_nuisances(["mlp", POOLED], lumi, explicit=True) == ["mlp", POOLED]
    # a shape on all components (declared without components) acts on the pooled model too
    from dataclasses import replace

    everywhere = [replace(lumi[0], kind="shape")]
    assert drop_if_nuisances(["mlp", POOLED], everywhere, explicit=True) == ["mlp", POOLED]
    on_signal = [replace(lumi[0], kind="shape", components=("signal",))]
    with pytest.raises(InputError, match="single components"):
        drop_if_nuisances(["mlp", POOLED], on_signal, explicit=True)
    assert drop_if_nuisances(["mlp", POOLED], [], explicit=True) == ["mlp", POOLED]
    # the fit: pooled asked for explicitly with such a nuisance is refused before any work
    with pytest.raises(InputError, match=r"xsec_zz.*--stat-only"):
        analysis.fit(BSM, methods=[POOLED], data_mode="counts", luminosity=900.0)


def test_coverage_accepts_the_pooled_method(pooled: Path) -> None:
    analysis = madsbi.load_analysis(pooled)
    options = CoverageOptions(n_toys=4, grid_points=3, luminosity=1.0, stat_only=True, threads=1)
    document = analysis_coverage(analysis, methods=[POOLED], options=options)
    result = document["methods"][POOLED]["stat_only"]
    assert 0.0 <= result["c_68"] <= 1.0
    assert len(result["q_true"]) == 4
