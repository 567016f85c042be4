"""``madsbi coverage`` on tiny analyses: copies of the shipped wz_reco_paper with a declared
luminosity nuisance and with background components (madsbi.analysis.coverage)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis.components import load_components, method_models
from madsbi.analysis.coverage import (
    CoverageOptions,
    analysis_coverage,
    build_pool,
    coverage_grid,
    draw_centres,
    draw_counts,
    model_coverage,
    oracle_model,
)
from madsbi.analysis.coverage_toys import reference_q
from madsbi.analysis.names import analysis_path
from madsbi.analysis.shape_nuisances import fit_modifiers
from madsbi.cli.main import cli
from madsbi.errors import InputError
from madsbi.inference.rate import RateModel
from madsbi.simulate.reco import shipped_reco_path

from helpers.analyses import with_background_scale

pytestmark = pytest.mark.filterwarnings(
    "ignore::madsbi.errors.TrainingSupportWarning", "ignore::madsbi.errors.BoxEdgeWarning"
)
LUMI = "10"  # fb⁻¹: about 160 events per toy


@pytest.fixture(scope="module")
def with_lumi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped wz_reco_paper with a 10 % luminosity nuisance declared."""
    out = tmp_path_factory.mktemp("analysis") / "wz_lumi"
    shutil.copytree(analysis_path("wz_reco_paper"), out)
    path = out / "analysis.json"
    manifest = json.loads(path.read_text())
    manifest["nuisances"] = [{"name": "lumi", "kind": "normalisation", "size": 0.1}]
    path.write_text(json.dumps(manifest))
    return out


def test_the_command_writes_coverage_of_every_method(with_lumi: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "cov"
    result = CliRunner().invoke(
        cli,
        [
            "coverage", str(with_lumi), "--toys", "12", "--grid-points", "5", "--method", "mlp",
            "--truth", "--luminosity", LUMI, "--seed", "3", "--threads", "1", "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "mlp profiled: c_0.68 = " in result.output
    assert (out / "coverage.png").stat().st_size > 1000
    document = json.loads((out / "coverage.json").read_text())
    assert document["nuisances"] == ["lumi"]
    assert np.shape(document["global_observables"]) == (12, 1)
    assert set(document["methods"]) == {"mlp", "exact"}
    [signal] = document["processes"]
    sigma0 = madsbi.load_analysis(with_lumi).sigma0_pb
    assert signal["expected_events"] == pytest.approx(10e3 * sigma0, rel=1e-12)
    for entry in document["methods"].values():
        for form in ("stat_only", "profiled"):
            r = entry[form]
            assert r["n_toys"] == 12
            assert len(r["q_true"]) == 12
            assert r["dof"] == 3
            assert 0.0 <= r["c_68"] <= r["c_95"] <= 1.0
            assert r["c_68_error"] > 0
        assert entry["profiled"]["certified_toys"] == 12
    # the same toys, plainly: every grid point of every toy's own model, profiled
    analysis = madsbi.load_analysis(with_lumi)
    pool = build_pool(analysis, luminosity=float(LUMI))
    counts = draw_counts(pool, 12, 3)
    centres = draw_centres(3, 12, ["lumi"])
    thetas, index, _ = coverage_grid(analysis.defaults["ranges"], 5, analysis.theta0)
    model = method_models(analysis, pool.data, "mlp")[0][0]
    stat = reference_q(model, counts, thetas, index)
    np.testing.assert_allclose(document["methods"]["mlp"]["stat_only"]["q_true"], stat, atol=1e-9)
    specs = [s for s in _specs(analysis)]
    profiled = replace(model, modifiers=fit_modifiers(specs, analysis, pool.data))
    full = reference_q(profiled, counts, thetas, index, centres)
    np.testing.assert_allclose(document["methods"]["mlp"]["profiled"]["q_true"], full, atol=1e-8)


def _specs(analysis: madsbi.Analysis) -> list:
    from madsbi.analysis.nuisances import parse_declared

    return parse_declared(analysis.manifest["nuisances"])


def test_stat_only_drops_the_nuisances_and_bad_methods_are_refused(with_lumi: Path) -> None:
    analysis = madsbi.load_analysis(with_lumi)
    options = CoverageOptions(n_toys=4, grid_points=3, luminosity=1.0, stat_only=True, threads=1)
    document = analysis_coverage(analysis, methods=["mlp"], options=options)
    assert document["nuisances"] == []
    assert document["global_observables"] is None
    assert set(document["methods"]["mlp"]) == {"stat_only", "seconds"}
    with pytest.raises(InputError, match="nope"):
        analysis_coverage(analysis, methods=["nope"], options=options)


def test_the_oracle_of_a_signal_only_analysis_is_its_exact_method(with_lumi: Path) -> None:
    analysis = madsbi.load_analysis(with_lumi)
    options = CoverageOptions(n_toys=5, grid_points=5, luminosity=30.0, stat_only=True, threads=1)
    document = analysis_coverage(analysis, methods=["exact", "oracle"], options=options)
    np.testing.assert_allclose(
        document["methods"]["oracle"]["stat_only"]["q_true"],
        document["methods"]["exact"]["stat_only"]["q_true"],
        atol=1e-9,
    )


def test_toys_can_come_from_stores(with_lumi: Path) -> None:
    analysis = madsbi.load_analysis(with_lumi)
    store = shipped_reco_path("wz_reco_test")
    pool = build_pool(analysis, [store], luminosity=300.0)
    [signal] = pool.processes
    assert signal.probabilities.size == pool.data.features.shape[0]
    assert signal.probabilities.sum() == pytest.approx(1.0)
    # W⁺Z only, in its channel's selection: fewer expected events than the W±Z rate model
    assert 0 < signal.expected_events < 300e3 * analysis.sigma0_pb
    assert pool.data.coefficients is not None
    assert pool.source.startswith("stores: ")


@pytest.fixture(scope="module")
def with_backgrounds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """wz_reco_paper with a θ-dependent background (the shipped BSM store as a stand-in)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("analysis") / "wz_bkg"
    result = CliRunner().invoke(
        cli,
        [
            "analysis-backgrounds", "wz_reco_paper", str(out),
            "--background", f"bkg_a={shipped_reco_path('wz_reco_bsm_test')}",
            "--signal", str(shipped_reco_path("wz_reco_test")),
            "--classifier-epochs", "2", "--ratio-epochs", "2", "--hidden", "8", "--seed", "3",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def _features(analysis: madsbi.Analysis, thetas: np.ndarray) -> np.ndarray:
    from madsbi.theory.polynomial import polynomial_features

    return polynomial_features(thetas, analysis.theta0)


def test_backgrounds_at_zero_give_the_signal_only_coverage(
    with_backgrounds: Path, tmp_path: Path
) -> None:
    options = CoverageOptions(n_toys=10, grid_points=5, luminosity=30.0, seed=4, threads=1)
    off = madsbi.load_analysis(with_background_scale(with_backgrounds, tmp_path / "off", 0.0))
    signal_only = madsbi.load_analysis("wz_reco_paper")
    a = analysis_coverage(off, methods=["mlp"], options=options)
    assert [p["name"] for p in a["processes"]] == ["signal", "bkg_a"]
    assert a["processes"][1]["expected_events"] == 0.0
    qa = np.array(a["methods"]["mlp"]["stat_only"]["q_true"])
    # the signal-only likelihood of the same pool and toys (its network on the same batch)
    pool = build_pool(off, luminosity=30.0)
    counts = draw_counts(pool, 10, 4)
    thetas, index, shape = coverage_grid(off.defaults["ranges"], 5, off.theta0)
    model = method_models(signal_only, pool.data, "mlp")[0][0]
    assert len(model.components) == 1
    same = model_coverage(model, counts, thetas, index, shape, None)["stat_only"]["q_true"]
    assert qa.max() > 0.1
    np.testing.assert_allclose(qa, same, rtol=0, atol=1e-9)
    # the signal-only analysis's own coverage draws the same signal toys; its network sees a
    # batch without the background's events, whose float32 rounding (≈1e-9 relative in C_e)
    # is all that differs
    b = analysis_coverage(signal_only, methods=["mlp"], options=options)
    qb = np.array(b["methods"]["mlp"]["stat_only"]["q_true"])
    np.testing.assert_allclose(qa, qb, rtol=1e-7, atol=1e-9)


def test_toys_with_backgrounds_draw_every_process_and_fit_the_mixture(
    with_backgrounds: Path,
) -> None:
    analysis = madsbi.load_analysis(with_backgrounds)
    pool = build_pool(analysis, luminosity=30.0)
    _, bkg = pool.processes
    assert bkg.expected_events > 0
    counts = draw_counts(pool, 6, 5)
    assert (counts[:, bkg.start :].sum(axis=1) > 0).all()
    thetas, index, _ = coverage_grid(analysis.defaults["ranges"], 5, analysis.theta0)
    model = method_models(analysis, pool.data, "mlp")[0][0]
    assert len(model.components) == 2
    # the oracle: each event's own exact ratio, the processes' exact rates weighted by ν_c0
    oracle = oracle_model(analysis, pool)
    background = load_components(analysis).backgrounds[0]
    rho_s = analysis.exact_rate_model()[0].ratio(_features(analysis, thetas))[0]
    exact_b = RateModel.from_event_coefficients(background.ratios, background.weights)
    rho_b = exact_b.ratio(_features(analysis, thetas))[0]
    nu = [p.expected_events for p in pool.processes]
    rho = oracle.components[0].rate.ratio(_features(analysis, thetas))[0]
    np.testing.assert_allclose(rho, (nu[0] * rho_s + nu[1] * rho_b) / sum(nu), rtol=1e-12)
    options = CoverageOptions(n_toys=6, grid_points=5, luminosity=30.0, seed=5, threads=1)
    document = analysis_coverage(analysis, methods=["mlp"], options=options)
    np.testing.assert_allclose(
        document["methods"]["mlp"]["stat_only"]["q_true"],
        reference_q(model, counts, thetas, index),
        atol=1e-9,
    )


def test_exact_is_refused_for_an_analysis_with_components(with_backgrounds: Path) -> None:
    analysis = madsbi.load_analysis(with_backgrounds)
    options = CoverageOptions(n_toys=2, grid_points=3, luminosity=1.0, stat_only=True, threads=1)
    with pytest.raises(InputError, match="oracle"):
        analysis_coverage(analysis, methods=["exact"], options=options)
