"""Normalisation nuisances declared in an analysis (`analysis-nuisances --normalisation`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from madsbi.analysis.load import load_analysis
from madsbi.analysis.nuisances import parse_declared
from madsbi.analysis.shape_nuisances import add_normalisations, parse_normalisation
from madsbi.cli.main import cli
from madsbi.errors import InputError


def test_parse_normalisation_reads_name_size_and_components() -> None:
    assert parse_normalisation("lumi=0.02") == {"name": "lumi", "kind": "normalisation",
                                                "size": 0.02}  # fmt: skip
    entry = parse_normalisation("xsec_zz_4l=0.1:zz_4l")
    assert entry["components"] == ["zz_4l"]
    assert entry["size"] == 0.1
    assert parse_normalisation("xsec_all=0.05:signal+zz_4l")["components"] == ["signal", "zz_4l"]
    for bad, message in (("lumi", "NAME=SIZE"), ("lumi=-1", "size"), ("1x=0.1", "name"),
                         ("lumi=abc", "size")):  # fmt: skip
        with pytest.raises(InputError, match=message):
            parse_normalisation(bad)


def test_overlay_declares_normalisations_on_the_components(tmp_path: Path) -> None:
    out = add_normalisations(
        "wz_reco_bkg",
        [parse_normalisation("lumi=0.02"), parse_normalisation("xsec_zz_4l=0.1:zz_4l")],
        destination=tmp_path / "norm",
        overlay=True,
    )
    manifest = json.loads((out / "analysis.json").read_text())
    assert manifest["base"]["analysis"]  # an overlay on the same base as wz_reco_bkg
    specs = {s.name: s for s in parse_declared(manifest["nuisances"])}
    assert specs["lumi"].size == 0.02
    assert specs["lumi"].components == ()
    assert specs["xsec_zz_4l"].components == ("zz_4l",)
    # the overlay loads: the base and its components are found
    assert load_analysis(out).manifest["components"] == manifest["components"]
    # declaring again replaces an entry of the same name (in place: not a shipped analysis)
    add_normalisations(out, [parse_normalisation("lumi=0.017")])
    again = parse_declared(json.loads((out / "analysis.json").read_text())["nuisances"])
    assert [s.size for s in again if s.name == "lumi"] == [0.017]
    assert len([s for s in again if s.name == "lumi"]) == 1


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"components \['zz_4l'\] are not components"):
        add_normalisations("wz_reco_paper", [parse_normalisation("x=0.1:zz_4l")],
                           destination=tmp_path / "a")  # fmt: skip
    with pytest.raises(InputError, match="at least one"):
        add_normalisations("wz_reco_paper", [], destination=tmp_path / "b")
    with pytest.raises(InputError, match="not changed in place"):
        add_normalisations("wz_reco_paper", [parse_normalisation("lumi=0.02")])


def test_cli_needs_no_store_for_normalisations(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        cli, ["analysis-nuisances", "wz_reco_paper", "--normalisation", "lumi=0.02",
              "--normalisation", "xsec_signal=0.1:signal", "--out", str(out), "--overlay"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "lumi: normalisation ± 2 % on every component" in result.output
    names = [e["name"] for e in json.loads((out / "analysis.json").read_text())["nuisances"]]
    assert names == ["lumi", "xsec_signal"]
    missing = CliRunner().invoke(
        cli, ["analysis-nuisances", "wz_reco_paper", "--variations", "lep_res", "--out",
              str(tmp_path / "x")],
    )  # fmt: skip
    assert missing.exit_code == 1
    assert "STORE" in missing.output
    none = CliRunner().invoke(cli, ["analysis-nuisances", "wz_reco_paper"])
    assert none.exit_code == 1
    assert "--normalisation" in none.output


def test_fit_resolves_per_process_normalisations_against_the_analysis_components() -> None:
    from madsbi.analysis.components import component_names
    from madsbi.analysis.nuisances import resolve

    assert component_names(load_analysis("wz_reco_paper")) == ("signal",)
    known = component_names(load_analysis("wz_reco_bkg"))
    assert known == ("signal", "zz_4l")
    declared = parse_declared([parse_normalisation("xsec_zz_4l=0.1:zz_4l")])
    [spec], _ = resolve(declared, components=known)
    assert spec.modifier().acts_on("zz_4l")
    assert not spec.modifier().acts_on("signal")
    with pytest.raises(InputError, match="not in the likelihood model"):
        resolve(declared)  # a signal-only model has no zz_4l
