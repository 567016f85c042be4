"""The two truths of a background fit on labelled pseudo-data, and the component figures (issue 26).

An analysis with components is built as in ``test_backgrounds.py`` (tiny networks): the
θ-dependent background ``bkg_a`` is the shipped W⁺Z BSM closure store, ``flat`` a copy of the
W⁺Z test store with zeroed coefficients beyond c_0. Pseudo-data mix the three stores with
``--names``, so ``/truth/mix`` maps each event to its component. The oracle and the
label-blind truth are checked against eq. 49 written out with NumPy from the same pieces.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from madsbi import load_analysis
from madsbi.analysis.component_report import EDGES_GEV, StackInputs, bin_index, reliability
from madsbi.analysis.components import fit_shares, load_components
from madsbi.analysis.oracles import data_truth
from madsbi.analysis.oracles import fit_models as method_models
from madsbi.analysis.prepare import prepare_data
from madsbi.cli.main import cli
from madsbi.errors import InputError
from madsbi.events.mix import mix_stores
from madsbi.events.mix_truth import read_truth
from madsbi.simulate.reco import shipped_reco_path
from madsbi.theory.polynomial import polynomial_features

BSM = shipped_reco_path("wz_reco_bsm_test")
SM = shipped_reco_path("wz_reco_test")
LUMI = 15.0
GRID = np.array([[0.0, 0.0, 0.0], [1.0, 0.1, 0.1], [-0.5, 0.2, -0.05], [0.3, -0.1, 0.08]])

pytestmark = pytest.mark.filterwarnings(
    "ignore::madsbi.errors.TrainingSupportWarning", "ignore::madsbi.errors.BoxEdgeWarning"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(analysis with components, labelled pseudo-data, the flat store)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("oracles")
    flat = root / "flat.h5"
    shutil.copy(SM, flat)
    with h5py.File(flat, "r+") as f:
        c = f["parton/coefficients"][:]
        c[:, 1:] = 0.0
        f["parton/coefficients"][...] = c
    out = root / "wz_bkg"
    result = CliRunner().invoke(
        cli,
        [
            "analysis-backgrounds", "wz_reco_paper", str(out), "--background", f"bkg_a={BSM}",
            "--background", f"flat={flat}", "--signal", str(SM),
            "--classifier-epochs", "2", "--ratio-epochs", "2", "--hidden", "8", "--seed", "3",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = root / "mix.h5"
    mix_stores(data, [SM, BSM, flat], luminosity=LUMI, seed=4, names=["signal", "bkg_a", "flat"])
    return out, data, flat


def _direct(analysis, data, loaded, coefficients):  # type: ignore[no-untyped-def]
    """Eq. 49 of a mixture whose rates are exact: Σ_e log C_e·φ − Σ_c ν_c0 (ρ_c − 1)."""
    phi = polynomial_features(GRID, analysis.theta0)
    c, v = analysis.exact_rate_events()
    nus = [LUMI * 1000 * v.sum() * data.rate_factor]
    rhos = [(v @ c @ phi.T) / v.sum()]
    for b in loaded.backgrounds:
        nus.append(LUMI * 1000 * b.weights.sum() * b.scale)
        rhos.append((b.weights @ b.ratios @ phi.T) / b.weights.sum())
    poisson = sum(nu * (rho - 1.0) for nu, rho in zip(nus, rhos, strict=True))
    return np.log(coefficients @ phi.T).sum(axis=0) - poisson


def _own(analysis, data_path, n):  # type: ignore[no-untyped-def]
    truth = read_truth(data_path)
    labels = truth.process.copy()  # the names are in the components' order
    c = truth.coefficients
    assert np.allclose([r["theta0"] for r in truth.inputs], 0.0)
    return labels, c / c[:, :1]


def test_the_oracle_is_the_labelled_likelihood_written_out(built: tuple[Path, Path, Path]) -> None:
    path, data_path, _ = built
    analysis = load_analysis(path)
    loaded = load_components(analysis)
    data = prepare_data(analysis, data_path, data_mode="counts", luminosity=LUMI)
    labels, own = _own(analysis, data_path, data.features.shape[0])
    assert np.bincount(labels).min() > 50
    models, nu0, mixture = method_models(analysis, data, "oracle")
    assert len(models) == 1  # no ensemble members
    got = models[0].log_likelihood(GRID)[0]
    np.testing.assert_allclose(got, _direct(analysis, data, loaded, own), rtol=1e-9, atol=1e-8)
    assert mixture.shares == pytest.approx(np.bincount(labels) / labels.size)
    assert nu0 == pytest.approx(mixture.expected_events0[0])


def test_the_label_blind_truth_uses_own_exact_and_others_learned(
    built: tuple[Path, Path, Path],
) -> None:
    path, data_path, _ = built
    analysis = load_analysis(path)
    loaded = load_components(analysis)
    data = prepare_data(analysis, data_path, data_mode="counts", luminosity=LUMI)
    labels, own = _own(analysis, data_path, data.features.shape[0])
    f = fit_shares(analysis, data, loaded)
    signal = analysis.models[analysis.methods[0]].event_coefficients(data.features).mean(0)
    bkg = loaded.backgrounds[0]
    learned_a = bkg.estimator.event_coefficients(bkg.clipped(data.features, analysis.features))
    flat = np.zeros_like(own)
    flat[:, 0] = 1.0
    per_process = [signal, np.asarray(learned_a).mean(0), flat]
    combined = np.zeros_like(own)
    for c, learned in enumerate(per_process):
        mine = (labels == c)[:, None]
        combined += f[:, c : c + 1] * np.where(mine, own, learned)
    models, _, _ = method_models(analysis, data, "truth_learned_d")
    got = models[0].log_likelihood(GRID)[0]
    want = _direct(analysis, data, loaded, combined)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-8)


def test_fit_json_and_figures_of_a_components_fit(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    path, data_path, _ = built
    out = tmp_path / "fit"
    result = CliRunner().invoke(
        cli,
        [
            "fit", str(path), str(data_path), "--out", str(out), "--luminosity", str(LUMI),
            "--method", "mlp", "--method", "oracle", "--method", "truth_learned_d",
            "--profile", "fixed", "--points-2d", "3", "--at", "cHWB=1,cW=0.1,cHq3=0.1",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads((out / "fit.json").read_text())
    assert set(document["best_fit"]) == {"mlp", "oracle", "truth_learned_d"}
    for method, entry in document["components"].items():
        stack = entry["stack"]
        for name, counts in stack["sm"].items():
            assert sum(counts) == pytest.approx(entry["yields_sm"][name], rel=1e-9), method
        for name, counts in stack["best_fit"].items():
            assert sum(counts) == pytest.approx(entry["yields_best_fit"][name], rel=1e-9)
        assert sum(stack["data"]) == document["data"]["n_events"]
        curve = entry["reliability"]
        assert set(curve["processes"]) == {"signal", "bkg_a", "flat"}
        assert curve["held_out"] is False  # the mix drew from the classifier's own stores
    for name in ("stack_mlp.png", "stack_oracle.png", "reliability.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_oracles_need_truth_components_and_mapped_inputs(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    path, data_path, flat = built
    analysis = load_analysis(path)
    bare = tmp_path / "bare.h5"
    shutil.copy(data_path, bare)
    with h5py.File(bare, "r+") as f:
        del f["truth"]
    data = prepare_data(analysis, bare, data_mode="counts", luminosity=LUMI)
    with pytest.raises(InputError, match="madsbi store mix"):
        method_models(analysis, data, "oracle")
    assert "reliability" not in method_models(analysis, data, "mlp")[2].report(
        np.zeros(3), analysis.parameters
    )  # a learned fit without truth has no reliability curve, and no error
    unnamed = tmp_path / "unnamed.h5"
    mix_stores(unnamed, [SM, flat], luminosity=LUMI, seed=4)  # one process text for all
    data = prepare_data(analysis, unnamed, data_mode="counts", luminosity=LUMI)
    with pytest.raises(InputError, match="--names"):
        data_truth(analysis, data)
    signal_only = load_analysis("wz_reco_paper")
    data = prepare_data(signal_only, data_path, data_mode="counts", luminosity=LUMI)
    with pytest.raises(InputError, match="background components"):
        method_models(signal_only, data, "truth_learned_d")


def test_reliability_counts_weighted_fractions_per_bin() -> None:
    shares = np.array([[0.95, 0.05], [0.92, 0.08], [0.15, 0.85], [0.12, 0.88]])
    labels = np.array([0, 1, 1, 1])
    out = reliability(shares, labels, np.array([3.0, 1.0, 1.0, 1.0]), ["s", "b"], bins=10)
    s = out["processes"]["s"]
    assert s["observed"] == pytest.approx([0.0, 0.75])  # bins of 0.1… and 0.9…
    assert s["predicted"] == pytest.approx([0.135, (3 * 0.95 + 0.92) / 4])
    assert s["events"] == [2, 2]
    n_eff = 16 / 10
    assert s["error"][1] == pytest.approx(np.sqrt(0.75 * 0.25 / n_eff))
    with pytest.raises(InputError, match="labels outside"):
        reliability(shares, np.array([0, 1, 2, 0]), np.ones(4), ["s", "b"])


def test_stack_counts_are_the_exact_yields_per_bin() -> None:
    assert bin_index(np.array([10.0, 150.0, 200.0, 9999.0]), EDGES_GEV).tolist() == [0, 0, 1, 8]
    c = np.array([[1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]] * 2)

    def phi(grid: np.ndarray) -> np.ndarray:
        return polynomial_features(grid, np.zeros(3))

    stack = StackInputs(
        ("signal",), (np.array([0, 3]),), (np.array([2.0, 4.0]),), (c,), phi,
        np.array([0, 0, 3]), np.ones(3),
    )  # fmt: skip
    report = stack.report(np.array([2.0, 0.0, 0.0]))
    assert report["best_fit"]["signal"][0] == pytest.approx(2.0 * 2.0)  # 1 + 0.5·2
    assert report["best_fit"]["signal"][3] == pytest.approx(4.0 * 2.0)
    assert report["sm"]["signal"][3] == pytest.approx(4.0)
    assert report["data"][:4] == [2.0, 0.0, 0.0, 1.0]


def test_data_built_in_memory_has_no_hidden_truth() -> None:
    """FitData that is not read from a store (the coverage pool) fits without a truth."""
    from madsbi.analysis.coverage import build_pool

    analysis = load_analysis("wz_reco_bkg")
    pool = build_pool(analysis, luminosity=LUMI)
    assert not Path(pool.data.description["store"]).exists()
    assert data_truth(analysis, pool.data) is None
    models, nu0, mixture = method_models(analysis, pool.data, "mlp")
    assert mixture is not None
    assert mixture.reliability is None
    assert nu0 > 0
    assert [c.name for c in models[0].components] == ["signal", "zz_4l"]
