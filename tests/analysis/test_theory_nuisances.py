"""Theory-scale shape nuisances of a reco analysis (issue 27): the parents' exact factors of a
reco store regressed on the features, declared in analysis.json (CLI, overlay), loaded and
profiled by the detector shapes' fit path."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis.nuisances import parse_declared
from madsbi.analysis.prepare import prepare_data
from madsbi.analysis.shape_nuisances import add_theory_nuisances, fit_modifiers, load_ratio
from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.errors import InputError, StoreFormatError
from madsbi.estimators.theory_ratio import read_theory_sample, theory_acceptance
from madsbi.events import schema
from madsbi.events.store import EventStore
from madsbi.events.theory_weights import FIELD
from madsbi.events.writer import StoreWriter
from madsbi.inference.modifiers import LearnedShape
from madsbi.simulate.reco import shipped_reco_path

NAMES = ["mu_f_up", "mu_f_down", "mu_r_up", "mu_r_down"]
PARENTS = 1000
BSM = shipped_reco_path("wz_reco_bsm_test")

pytestmark = pytest.mark.filterwarnings(
    "ignore::madsbi.errors.TrainingSupportWarning", "ignore::madsbi.errors.BoxEdgeWarning"
)


def _factors(scale: np.ndarray) -> np.ndarray:
    """Synthetic μ_F factors rising (falling) with the event's scale; μ_R's exactly 1."""
    up = (scale / 100.0) ** 0.1
    return np.stack([up, 1.0 / up, np.ones_like(up), np.ones_like(up)], axis=1)


@pytest.fixture(scope="module")
def parton_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 1000 events of the shipped W⁺Z sample with synthetic theory factors."""
    out = tmp_path_factory.mktemp("theory") / "parton.h5"
    with EventStore(sample_path("wz_leptonic")) as store:
        chunk = store.read(schema.PARTON, None, 0, PARENTS)
        names = store.named_columns(schema.PARTON)
        meta = store.meta
    arrays = dict(chunk.arrays)
    arrays[FIELD] = _factors(np.asarray(arrays["scale"]))
    with StoreWriter(out, meta) as writer:
        writer.append(schema.PARTON, arrays, names={**names, FIELD: NAMES})
    return out


@pytest.fixture(scope="module")
def reco_store(parton_store: Path) -> Path:
    out = parton_store.with_name("reco.h5")
    result = CliRunner().invoke(
        cli,
        ["simulate", "reco", str(parton_store), str(out), "--like", "wz_reco_paper", "--seed",
         "5", "--passed-only", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def overlay(reco_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("analysis") / "wz_muf"
    result = CliRunner().invoke(
        cli,
        ["analysis-nuisances", "wz_reco_paper", str(reco_store), "--theory", "mu_f", "--out",
         str(out), "--overlay", "--epochs", "3", "--hidden", "8", "--seed", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "mu_f: η(+1) = " in result.output
    return out


def test_reco_entries_carry_their_parents_factors(reco_store: Path) -> None:
    features = list(madsbi.load_analysis("wz_reco_paper").features)
    sample = read_theory_sample(reco_store, "mu_f", features)
    with EventStore(reco_store) as store:
        reco = store.read(schema.RECO, ["parent", "cuts", "x"])
        scale = np.asarray(store.read(schema.PARTON, ["scale"])["scale"])
    passed = np.asarray(reco["cuts"]).astype(bool).all(axis=1)
    parents = np.asarray(reco["parent"])[passed]
    assert sample.x.shape == (int(passed.sum()), len(features))
    assert sample.x.shape[0] >= 20
    np.testing.assert_array_equal(sample.factors, _factors(scale[parents])[:, :2])


def test_manifest_records_the_training(overlay: Path, reco_store: Path) -> None:
    manifest = json.loads((overlay / "analysis.json").read_text())
    assert manifest["base"]["analysis"] == "wz_reco_paper"
    assert not (overlay / "estimators").exists()  # an overlay holds only what it adds
    (entry,) = manifest["nuisances"]
    assert (entry["name"], entry["kind"], entry["size"]) == ("mu_f", "shape", 1.0)
    training = entry["training"]
    assert training["store"] == str(reco_store.resolve())
    assert training["sha256"] == hashlib.sha256(reco_store.read_bytes()).hexdigest()
    assert training["variations"] == ["mu_f_up", "mu_f_down"]
    features = list(manifest["features"])
    up, down = theory_acceptance(read_theory_sample(reco_store, "mu_f", features))
    assert (entry["rate_up"], entry["rate_down"]) == pytest.approx((up, down), rel=1e-12)
    assert entry["rate_up"] > 1.0 > entry["rate_down"]


def test_the_shape_path_loads_and_profiles_it(overlay: Path) -> None:
    analysis = madsbi.load_analysis(overlay)
    specs = parse_declared(analysis.manifest["nuisances"])
    ratio = load_ratio(analysis.path, specs[0])
    assert ratio.name == "mu_f"
    data = prepare_data(analysis, BSM, data_mode="asimov")
    (modifier,) = fit_modifiers(specs, analysis, data)
    assert isinstance(modifier, LearnedShape)
    assert modifier.n_events == data.features.shape[0]
    result = analysis.fit(
        BSM, methods=["mlp"], profile="fixed", points_1d=3, points_2d=2, data_mode="asimov"
    )
    pull = result.to_dict()["nuisances"]["mlp"]["mu_f"]
    assert np.isfinite(pull["pull"])
    assert 0 < pull["constraint"] <= 1.5


def test_refusals(reco_store: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(
        cli, ["analysis-nuisances", "wz_reco_paper", str(reco_store), "--theory", "mu_f",
              "--variations", "lep_scale_e", "--out", str(tmp_path / "a")],
    )  # fmt: skip
    assert both.exit_code != 0
    assert "with one of --variations and --theory" in both.output
    with pytest.raises(InputError, match="exactly 1"):
        add_theory_nuisances("wz_reco_paper", reco_store, ["mu_r"], destination=tmp_path / "b")
    with pytest.raises(InputError, match="pdf"):
        add_theory_nuisances("wz_reco_paper", reco_store, ["pdf"], destination=tmp_path / "c")
    with pytest.raises(StoreFormatError, match="use_syst"):
        add_theory_nuisances("wz_reco_paper", BSM, ["mu_f"], destination=tmp_path / "d")
    assert not (tmp_path / "d").exists()  # refused before anything is written
