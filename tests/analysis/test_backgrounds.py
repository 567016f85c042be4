"""Background components of a reco analysis (issue 26 items 3-4): ``madsbi analysis-backgrounds``
attaches a process classifier, a ratio per θ-dependent background and each process's events to a
copy of the shipped wz_reco_paper; ``madsbi fit`` fits the factorised mixture.

The stores are tiny stand-ins: the θ-dependent background is the shipped W⁺Z BSM closure store,
the θ-independent one a copy of the shipped W⁺Z test store whose coefficients beyond c_0 are
zeroed (θ-independent by construction). The 24-event ZZ store checks the parameter-space error.
"""

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
from madsbi.analysis.backgrounds import add_backgrounds, read_process_store
from madsbi.analysis.components import load_components, method_models
from madsbi.analysis.prepare import prepare_data
from madsbi.analysis.schema import validate_manifest
from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.errors import InputError, StoreFormatError
from madsbi.estimators.classifier import ProcessClassifier
from madsbi.simulate.reco import shipped_reco_path

from helpers.analyses import with_background_scale

DATA = Path(__file__).parents[1] / "data"
BSM = shipped_reco_path("wz_reco_bsm_test")
SM = shipped_reco_path("wz_reco_test")
POINT = "cHWB=1,cW=0.1,cHq3=0.1"
FIT = {"methods": ["mlp"], "at": [POINT], "points_1d": 11, "points_2d": 3, "profile": "fixed"}

pytestmark = pytest.mark.filterwarnings(
    "ignore::madsbi.errors.TrainingSupportWarning", "ignore::madsbi.errors.BoxEdgeWarning"
)


@pytest.fixture(scope="module")
def flat_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped W⁺Z test store with c_k = 0 for k ≥ 1: a θ-independent process."""
    out = tmp_path_factory.mktemp("flat") / "flat.h5"
    shutil.copy(SM, out)
    with h5py.File(out, "r+") as f:
        c = f["parton/coefficients"][:]
        c[:, 1:] = 0.0
        f["parton/coefficients"][...] = c
    return out


@pytest.fixture(scope="module")
def with_backgrounds(flat_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("analysis") / "wz_bkg"
    result = CliRunner().invoke(
        cli,
        [
            "analysis-backgrounds", "wz_reco_paper", str(out), "--background", f"bkg_a={BSM}",
            "--background", f"flat={flat_store}", "--signal", str(SM),
            "--classifier-epochs", "2", "--ratio-epochs", "2", "--hidden", "8", "--seed", "3",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "bkg_a: 427 events" in result.output
    assert "(θ-independent)" in result.output
    return out


def test_manifest_records_the_components(with_backgrounds: Path, flat_store: Path) -> None:
    manifest = json.loads((with_backgrounds / "analysis.json").read_text())
    entry = manifest["components"]
    assert entry["kind"] == "factorised"
    assert entry["classifier"] == "components/classifier"
    by_name = {b["name"]: b for b in entry["backgrounds"]}
    assert list(by_name) == ["bkg_a", "flat"]
    assert by_name["bkg_a"]["theta_dependent"]
    assert by_name["bkg_a"]["ratio"] == "components/bkg_a/ratio"
    assert by_name["flat"]["ratio"] is None
    assert not by_name["flat"]["theta_dependent"]
    assert by_name["flat"]["stores"][0]["path"] == str(flat_store.resolve())
    assert entry["simulation"]["card"] == "atlas_like"
    # the class totals are the processes' σ(θ0) of the selection (MIS to θ0 for the BSM store)
    sm = read_process_store(
        "flat", flat_store, ["cHWB", "cW", "cHq3"], np.zeros(3), manifest["features"], "wz"
    )
    assert by_name["flat"]["sigma_train_pb"] == pytest.approx(sm.weights.sum(), rel=1e-12)
    assert entry["signal"]["sigma_train_pb"] == pytest.approx(sm.weights.sum(), rel=1e-12)
    # the signal's own networks and rate model are untouched
    original = madsbi.load_analysis("wz_reco_paper").manifest
    assert manifest["estimators"] == original["estimators"]
    assert manifest["rate_model"] == original["rate_model"]


def test_components_round_trip_through_save_and_load(with_backgrounds: Path) -> None:
    analysis = madsbi.load_analysis(with_backgrounds)
    loaded = load_components(analysis)
    assert loaded is not None
    assert load_components(analysis) is loaded  # loaded once per analysis
    assert loaded.spec.names == ["signal", "bkg_a", "flat"]
    fresh = ProcessClassifier.load(with_backgrounds / "components" / "classifier")
    x = analysis.rate_event_features()[0][:50]
    np.testing.assert_array_equal(loaded.classifier.event_fractions(x), fresh.event_fractions(x))
    flat = loaded.backgrounds[1]
    assert flat.estimator is None
    assert np.all(flat.ratios[:, 1:] == 0)
    assert np.all(flat.ratios[:, 0] == 1)
    bkg = loaded.backgrounds[0]
    arrays = np.load(with_backgrounds / "components" / "bkg_a" / "events.npz")
    np.testing.assert_array_equal(bkg.weights, arrays["weights"])
    np.testing.assert_array_equal(bkg.ratios, arrays["coefficients"])
    assert bkg.estimator is not None
    assert np.asarray(bkg.estimator.event_coefficients(x)).shape[1:] == (50, 10)


def test_switched_off_backgrounds_fit_exactly_like_the_signal_only_analysis(
    with_backgrounds: Path, tmp_path: Path
) -> None:
    off = madsbi.load_analysis(with_background_scale(with_backgrounds, tmp_path / "off", 0.0))
    signal_only = madsbi.load_analysis("wz_reco_paper")
    a = off.fit(BSM, data_mode="counts", luminosity=900.0, **FIT)
    b = signal_only.fit(BSM, data_mode="counts", luminosity=900.0, **FIT)
    assert abs(a.methods["mlp"].points[0]["q"] - b.methods["mlp"].points[0]["q"]) <= 1e-9
    np.testing.assert_allclose(a.methods["mlp"].best_fit, b.methods["mlp"].best_fit, atol=1e-12)
    yields = a.to_dict()["components"]["mlp"]
    assert yields["yields_best_fit"]["bkg_a"] == 0.0
    assert yields["yields_sm"]["flat"] == 0.0
    assert "components" not in b.to_dict()


def test_the_mixture_path_with_vanishing_backgrounds_is_the_signal_only_likelihood(
    with_backgrounds: Path, tmp_path: Path
) -> None:
    # tiny but non-zero backgrounds keep every component: NumPy mixture vs the compiled scan
    tiny = madsbi.load_analysis(with_background_scale(with_backgrounds, tmp_path / "tiny", 1e-15))
    signal_only = madsbi.load_analysis("wz_reco_paper")
    data = prepare_data(tiny, BSM, data_mode="counts", luminosity=900.0)
    mixed, nu0, mixture = method_models(tiny, data, "mlp")
    single, nu0_single, none = method_models(signal_only, data, "mlp")
    assert mixture is not None
    assert none is None
    assert nu0 == nu0_single
    assert len(mixed[0].components) == 3
    assert len(single[0].components) == 1
    grid = np.array([[0.0, 0.0, 0.0], [1.0, 0.1, 0.1], [-0.5, 0.2, -0.05]])
    for m, s in zip(mixed[:2], single[:2], strict=True):
        np.testing.assert_allclose(m.log_likelihood(grid), s.log_likelihood(grid), atol=1e-9)


def test_fit_json_lists_every_components_yield(with_backgrounds: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "fit", str(with_backgrounds), str(BSM), "--out", str(tmp_path / "fit"),
            "--data-mode", "counts", "--luminosity", "900", "--at", POINT, "--method", "mlp",
            "--profile", "fixed", "--points-2d", "3", "--no-figures",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "fit" / "fit.json").read_text())
    entry: dict[str, Any] = document["components"]["mlp"]
    assert entry["names"] == ["signal", "bkg_a", "flat"]
    nu0 = entry["expected_events0"]
    assert all(v > 0 for v in nu0.values())
    # θ0 is the SM here: ν_c(SM) = ν_c0; a θ-independent process has the same yield everywhere
    for name in entry["names"]:
        assert entry["yields_sm"][name] == pytest.approx(nu0[name], rel=1e-12)
    assert entry["yields_best_fit"]["flat"] == pytest.approx(nu0["flat"], rel=1e-12)
    assert entry["yields_best_fit"]["bkg_a"] != pytest.approx(nu0["bkg_a"], rel=1e-6)
    assert sum(entry["data_share"].values()) == pytest.approx(1.0, abs=1e-9)
    assert np.isfinite(document["points"][POINT]["q"]["mlp"])


def test_a_store_of_other_parameters_is_refused_naming_the_process(tmp_path: Path) -> None:
    wider = tmp_path / "zz_4par.h5"
    result = CliRunner().invoke(
        cli,
        [
            "store", "embed", str(DATA / "zz_4l_sm_24.h5"), str(wider), "--parameters",
            "cHWB,cW,cHq3,cHl3:SMEFT:29", "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with pytest.raises(InputError, match=r"zz_4l: .*zz_4par.h5.*cHl3.*madsbi store embed"):
        add_backgrounds("wz_reco_paper", tmp_path / "out", {"zz_4l": [wider]}, [SM])
    fewer = sample_path("drell_yan")
    with pytest.raises(InputError, match=r"dy: .*embed it first: madsbi store embed"):
        add_backgrounds("wz_reco_paper", tmp_path / "out", {"dy": [fewer]}, [SM])
    assert not (tmp_path / "out").exists()  # nothing written before the stores are read


def test_the_manifest_entry_is_checked(with_backgrounds: Path) -> None:
    manifest = json.loads((with_backgrounds / "analysis.json").read_text())
    bad = json.loads(json.dumps(manifest))
    bad["components"]["backgrounds"][0]["events"] = "../outside.npz"
    with pytest.raises(StoreFormatError, match=r"components.backgrounds.bkg_a.events"):
        validate_manifest(bad, with_backgrounds)
    bad = json.loads(json.dumps(manifest))
    bad["components"]["backgrounds"][1]["scale"] = -1
    with pytest.raises(StoreFormatError, match=r"scale: expected a finite number >= 0"):
        validate_manifest(bad, with_backgrounds)
    bad = json.loads(json.dumps(manifest))
    bad["components"]["backgrounds"][1]["name"] = "signal"
    with pytest.raises(StoreFormatError, match=r"'signal' is the signal's or repeated"):
        validate_manifest(bad, with_backgrounds)


def test_a_background_ratio_sees_data_clipped_to_its_events_range(with_backgrounds: Path) -> None:
    analysis = madsbi.load_analysis(with_backgrounds)
    loaded = load_components(analysis)
    assert loaded is not None
    bkg = loaded.backgrounds[0]
    x = bkg.inputs(analysis.features, slice(0, 3)).copy()
    np.testing.assert_array_equal(bkg.clipped(x, analysis.features), x)  # inside: unchanged
    far = x.copy()
    column = analysis.features.index("met")
    far[:, column] = 1e6
    top = bkg.observables["met"].max()
    assert np.all(bkg.clipped(far, analysis.features)[:, column] == top)


def test_learned_poisson_rates_collapse_the_mixture_exactly(
    with_backgrounds: Path, tmp_path: Path
) -> None:
    copy = shutil.copytree(with_backgrounds, tmp_path / "learned")
    manifest = json.loads((copy / "analysis.json").read_text())
    manifest["rate_model"]["poisson"] = "learned"
    (copy / "analysis.json").write_text(json.dumps(manifest))
    analysis = madsbi.load_analysis(copy)
    data = prepare_data(analysis, BSM, data_mode="counts", luminosity=900.0)
    one, _, _ = method_models(analysis, data, "mlp")
    mixed, _, _ = method_models(analysis, data, "mlp", collapse=False)
    assert len(one[0].components) == 1
    assert len(mixed[0].components) == 3
    grid = np.array([[0.0, 0.0, 0.0], [1.0, 0.1, 0.1], [-0.5, 0.2, -0.05]])
    np.testing.assert_allclose(
        one[0].log_likelihood(grid), mixed[0].log_likelihood(grid), atol=1e-8
    )
