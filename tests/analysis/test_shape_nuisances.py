"""Detector shape nuisances of a reco analysis (issue 27): trained from a paired store into a
copy of the shipped wz_reco_paper, declared in analysis.json, profiled by ``madsbi fit``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis.nuisances import parse_declared
from madsbi.analysis.prepare import prepare_data
from madsbi.analysis.schema import validate_manifest
from madsbi.analysis.shape_nuisances import add_nuisances, fit_modifiers
from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.errors import InputError, OutputError, StoreFormatError
from madsbi.estimators.nuisance_ratio import RatioTraining
from madsbi.inference.modifiers import LearnedShape, Normalisation
from madsbi.simulate.reco import shipped_reco_path

TINY = RatioTraining(hidden=(8,), epochs=2, seed=1, min_significance=-np.inf)  # keep every shape
BSM = shipped_reco_path("wz_reco_bsm_test")

pytestmark = pytest.mark.filterwarnings(
    "ignore::madsbi.errors.TrainingSupportWarning", "ignore::madsbi.errors.BoxEdgeWarning"
)


@pytest.fixture(scope="module")
def paired_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 W⁺Z events with the lep_scale_e and jet_scale variations (fast shower)."""
    out = tmp_path_factory.mktemp("paired") / "paired.h5"
    result = CliRunner().invoke(
        cli,
        [
            "simulate", "reco", str(sample_path("wz_leptonic")), str(out), "--seed", "4",
            "--no-smear", "--shower", "fast", "--passed-only", "--stop", "400",
            "--variations", "lep_scale_e,jet_scale", "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def with_shapes(paired_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("analysis") / "wz"
    path, entries = add_nuisances(
        "wz_reco_paper", paired_store, ["lep_scale_e", "jet_scale"], destination=out,
        training=TINY,
    )  # fmt: skip
    assert path == out
    assert [e["name"] for e in entries] == ["lep_scale_e", "jet_scale"]
    return out


def test_manifest_declares_the_trained_shapes(with_shapes: Path, paired_store: Path) -> None:
    manifest = json.loads((with_shapes / "analysis.json").read_text())
    entries = {e["name"]: e for e in manifest["nuisances"]}
    assert set(entries) == {"lep_scale_e", "jet_scale"}
    lep = entries["lep_scale_e"]
    assert lep["kind"] == "shape"
    assert lep["size"] == pytest.approx(0.005)  # the atlas_like card's [variations] size
    assert (with_shapes / lep["path"] / "estimator.json").is_file()
    assert lep["training"]["store"] == str(paired_store.resolve())
    # η(±1) closes on the cut flags of the store.
    from madsbi.estimators.nuisance_ratio import acceptance_factor, read_paired

    paired = read_paired(paired_store, "lep_scale_e", manifest["features"])
    assert lep["rate_up"] == pytest.approx(acceptance_factor(paired["up"]))
    assert lep["rate_down"] == pytest.approx(acceptance_factor(paired["down"]))
    specs = parse_declared(manifest["nuisances"])
    assert [s.kind for s in specs] == ["shape", "shape"]
    # The shipped analysis itself is unchanged.
    assert "nuisances" not in madsbi.load_analysis("wz_reco_paper").manifest


def test_fit_modifiers_evaluate_the_ratios_on_the_data(with_shapes: Path) -> None:
    analysis = madsbi.load_analysis(with_shapes)
    data = prepare_data(analysis, BSM, data_mode="asimov")
    specs = parse_declared(
        [*analysis.manifest["nuisances"], {"name": "lumi", "kind": "normalisation", "size": 0.02}]
    )
    modifiers = fit_modifiers(specs, analysis, data)
    assert isinstance(modifiers[0], LearnedShape)
    assert isinstance(modifiers[2], Normalisation)
    assert modifiers[0].n_events == data.features.shape[0]
    x, v = analysis.rate_event_features(data.selections)
    assert modifiers[0].sample_log_up is not None
    assert modifiers[0].sample_log_up.shape == v.shape == (x.shape[0],)
    # Normalised at every α over the rate events: ⟨r(α)⟩ = 1.
    for alpha in (-2.0, -0.5, 0.5, 1.0, 3.0):
        up, down = modifiers[0].sample_log_up, modifiers[0].sample_log_down
        shifted = LearnedShape("t", "signal", up, down, sample_log_up=up, sample_log_down=down,
                               sample_weights=v)  # fmt: skip
        mean = np.sum(v / v.sum() * np.exp(shifted.event_log_factors("signal", alpha)))
        assert mean == pytest.approx(1.0, abs=1e-9)


def test_fit_profiles_the_shapes_and_reports_them(with_shapes: Path) -> None:
    analysis = madsbi.load_analysis(with_shapes)
    options: dict[str, Any] = dict(
        methods=["mlp"], profile="fixed", points_1d=9, points_2d=2, data_mode="asimov"
    )
    full = analysis.fit(BSM, **options)
    fixed = analysis.fit(BSM, fix=["lep_scale_e=0", "jet_scale=0"], **options)
    document = full.to_dict()
    assert set(document["nuisances"]["mlp"]) == {"lep_scale_e", "jet_scale"}
    for entry in document["nuisances"]["mlp"].values():
        assert np.isfinite(entry["pull"])
        assert entry["constraint"] > 0
    assert set(document["impacts"]["mlp"]["parameters"]["cW"]) == {"lep_scale_e", "jet_scale"}
    assert document["settings"]["nuisances"][0]["kind"] == "shape"
    # Fixing every α at 0 is the stat-only fit; profiling can only raise the likelihood.
    np.testing.assert_allclose(
        list(document["best_fit_stat_only"]["mlp"].values()), fixed.methods["mlp"].best_fit
    )
    assert full.methods["mlp"].max_log_likelihood >= fixed.methods["mlp"].max_log_likelihood


def test_refusals(with_shapes: Path, paired_store: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="shipped analysis is not changed in place"):
        add_nuisances("wz_reco_paper", paired_store, ["lep_scale_e"], training=TINY)
    with pytest.raises(OutputError, match="not an empty directory"):
        add_nuisances("wz_reco_paper", paired_store, ["lep_scale_e"], destination=with_shapes)
    with pytest.raises(StoreFormatError, match="no paired variation 'lep_res'"):
        add_nuisances(
            "wz_reco_paper", paired_store, ["lep_res"], destination=tmp_path / "x", training=TINY
        )
    with pytest.raises(InputError, match="reco-level"):
        add_nuisances("wz_parton_paper", paired_store, ["lep_scale_e"], destination=tmp_path / "y")
    manifest = json.loads((with_shapes / "analysis.json").read_text())
    good = manifest["nuisances"][0]
    for change, message in (
        ({"path": "../../elsewhere"}, "outside the analysis"),
        ({"path": None}, "needs a path"),
        ({"rate_up": -1.0}, "rate_up must be"),
        ({"training": [1]}, "training must be an object"),
        ({"components": ["a", "b"]}, "one component"),
        ({"colour": 1}, "unknown keys"),
    ):
        bad = {**manifest, "nuisances": [{**good, **change}]}
        with pytest.raises(StoreFormatError, match=message):
            validate_manifest(bad, with_shapes)
    with pytest.raises(StoreFormatError, match="unknown keys"):
        validate_manifest(
            {**manifest, "nuisances": [{"name": "lumi", "size": 0.1, "path": "x"}]}, with_shapes
        )


def test_cli_trains_into_a_copy(paired_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    result = CliRunner().invoke(
        cli,
        [
            "analysis-nuisances", "wz_reco_paper", str(paired_store), "--variations", "jet_scale",
            "--out", str(out), "--epochs", "1", "--hidden", "4",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "jet_scale: η(+1) = " in result.output
    assert [e["name"] for e in json.loads((out / "analysis.json").read_text())["nuisances"]] == [
        "jet_scale"
    ]
    bad = CliRunner().invoke(
        cli, ["analysis-nuisances", "wz_reco_paper", str(paired_store), "--variations",
              "jet_scale", "--out", str(tmp_path / "z"), "--hidden", "a,b"],
    )  # fmt: skip
    assert bad.exit_code == 1
    assert "--hidden" in bad.output


def test_training_record_says_whether_the_shape_was_resolved(with_shapes: Path) -> None:
    manifest = json.loads((with_shapes / "analysis.json").read_text())
    for entry in manifest["nuisances"]:
        training = entry["training"]
        assert training["learned"] is True  # TINY keeps every shape
        assert np.isfinite(training["validation_gain"])
        assert training["validation_gain_error"] > 0


def test_several_paired_stores_are_joined(
    paired_store: Path, with_shapes: Path, tmp_path: Path
) -> None:
    """Two stores (here the same one twice) are one sample at their cross-sections.

    η(±1) are ratios of weighted sums, so the store twice gives the store's own η; the
    entries double; the record names both stores; ``all`` takes what every store holds.
    """
    torch.set_num_threads(1)
    single = {e["name"]: e for e in json.loads((with_shapes / "analysis.json").read_text())[
        "nuisances"
    ]}  # fmt: skip
    _, entries = add_nuisances(
        "wz_reco_paper", [paired_store, paired_store], ["lep_scale_e"],
        destination=tmp_path / "twice", training=TINY,
    )  # fmt: skip
    (entry,) = entries
    one = single["lep_scale_e"]
    assert entry["rate_up"] == pytest.approx(one["rate_up"], rel=1e-12)
    assert entry["rate_down"] == pytest.approx(one["rate_down"], rel=1e-12)
    assert entry["training"]["n_entries"] == 2 * one["training"]["n_entries"]
    assert entry["training"]["store"] == [str(paired_store.resolve())] * 2
    assert entry["training"]["sha256"] == [one["training"]["sha256"]] * 2
    # 'all' is what every store holds: a second store with jet_scale only
    other = tmp_path / "jet_only.h5"
    result = CliRunner().invoke(
        cli,
        [
            "simulate", "reco", str(sample_path("wz_leptonic")), str(other), "--seed", "5",
            "--no-smear", "--shower", "fast", "--passed-only", "--start", "400", "--stop", "600",
            "--variations", "jet_scale", "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        cli,
        [
            "analysis-nuisances", "wz_reco_paper", str(paired_store), str(other),
            "--variations", "all", "--out", str(tmp_path / "both"), "--epochs", "1",
            "--hidden", "4",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    names = [e["name"] for e in json.loads((tmp_path / "both" / "analysis.json").read_text())[
        "nuisances"
    ]]  # fmt: skip
    assert names == ["jet_scale"]
    refused = CliRunner().invoke(
        cli,
        [
            "analysis-nuisances", "wz_reco_paper", str(paired_store), str(other),
            "--theory", "mu_f", "--out", str(tmp_path / "theory"),
        ],
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "one nominal store, got 2" in refused.output
