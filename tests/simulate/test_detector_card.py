"""The detector card is checked when read: every value in range, no unknown key (issue 29/12).

Each refusal names the card file, the table, the key and the value; an unknown key gets the
closest known one. Checked against main at a8482b3, where all of these cards were accepted.
"""

from __future__ import annotations

import re

import pytest

from madsbi.errors import ConfigError, InputError
from madsbi.simulate.detector import CARDS, load_card


def _card(tmp_path, old: str, new: str, name: str = "card.toml"):
    """The shipped card with one line replaced, written to ``tmp_path/name``."""
    text = (CARDS / "atlas_like.toml").read_text()
    assert text.count(old) >= 1, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "where", "value"),
    [
        # negative resolutions
        (
            "resolution_a = [0.03, 0.05, 0.15]",
            "resolution_a = [0.03, -0.05, 0.15]",
            "[electron].resolution_a",
            "-0.05",
        ),
        (
            "resolution_b = [1.0e-4, 1.5e-4, 3.5e-4]",
            "resolution_b = [1.0e-4, -1.5e-4, 3.5e-4]",
            "[muon].resolution_b",
            "-0.00015",
        ),
        ("ecal_s = 0.101", "ecal_s = -0.101", "[electron].ecal_s", "-0.101"),
        (
            "resolution_c = [0.0302, 0.0500, 0.0942]",
            "resolution_c = [-0.0302, 0.05, 0.0942]",
            "[jets].resolution_c",
            "-0.0302",
        ),
        (
            "resolution_n = [1.59, 0.0, 0.0]",
            "resolution_n = [-1.59, 0.0, 0.0]",
            "[jets].resolution_n",
            "-1.59",
        ),
        # an isolation cut no lepton passes
        (
            "isolation_pt_ratio_max = 0.12",
            "isolation_pt_ratio_max = -1",
            "[electron].isolation_pt_ratio_max",
            "-1",
        ),
        (
            "isolation_delta_r = 0.5\nisolation_pt_min = 0.5\nisolation_pt_ratio_max = 0.25",
            "isolation_delta_r = 0.0\nisolation_pt_min = 0.5\nisolation_pt_ratio_max = 0.25",
            "[muon].isolation_delta_r",
            "0.0",
        ),
        # the E_T^miss soft term
        ("unclustered_k = 0.5", "unclustered_k = -0.5", "[missing_et].unclustered_k", "-0.5"),
        ("eta_max = 4.9", "eta_max = -4.9", "[missing_et].eta_max", "-4.9"),
        # efficiencies, edges, jets
        (
            "id_efficiency = [[0.0, 0.0, 0.95, 0.95], [0.0, 0.0, 0.85, 0.85]]",
            "id_efficiency = [[0.0, 0.0, 1.95, 0.95], [0.0, 0.0, 0.85, 0.85]]",
            "[electron].id_efficiency",
            "1.95",
        ),
        ("pt_min = 20.0", "pt_min = -20.0", "[jets].pt_min", "-20.0"),
        ("radius = 0.4", "radius = 4.0", "[jets].radius", "4.0"),
        ("radius = 0.4", 'radius = "0.4"', "[jets].radius", "'0.4'"),
        ("radius = 0.4", "radius = true", "[jets].radius", "True"),
        ("radius = 0.4", "radius = [0.4, 0.6]", "[jets].radius", "[0.4, 0.6]"),
        (
            "eta_edges = [0.0, 1.5, 2.5]\n",
            "eta_edges = [-2.5, 1.5, 2.5]\n",
            "[electron].eta_edges",
            "-2.5",
        ),
        ("pdg = 13", "pdg = 11", "[muon].pdg", "11"),
    ],
)
def test_out_of_range_values_are_refused_naming_card_key_and_value(
    tmp_path, old, new, where, value
):
    path = _card(tmp_path, old, new)
    with pytest.raises(InputError) as caught:
        load_card(path)
    message = str(caught.value)
    assert f"{path}{where}" in message
    assert value in message
    # typed: a bad configuration and a bad input value at once
    assert isinstance(caught.value, InputError)
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize(
    ("old", "new", "table", "key", "suggestion"),
    [
        ("ecal_c = 0.0017", "ecal_cc = 0.0017", "[electron]", "ecal_cc", "ecal_c"),
        ("unclustered_k = 0.5", "unclustered = 0.5", "[missing_et]", "unclustered", None),
        ("radius = 0.4", "radius = 0.4\nraduis = 0.6", "[jets]", "raduis", "radius"),
        ('name = "atlas_like"', 'name = "atlas_like"\nsoruce = "x"', "", "soruce", "source"),
    ],
)
def test_unknown_keys_are_refused_with_the_closest_known_key(
    tmp_path, old, new, table, key, suggestion
):
    path = _card(tmp_path, old, new)
    with pytest.raises(
        InputError, match=re.escape(f"{path}{table}: unknown key {key!r}")
    ) as caught:
        load_card(path)
    if suggestion is not None:
        assert f"did you mean {suggestion!r}" in str(caught.value)


def test_misspelled_key_that_leaves_a_required_one_missing_names_it(tmp_path):
    path = _card(tmp_path, "unclustered_k = 0.5", "unclustred_k = 0.5")
    with pytest.raises(InputError, match="did you mean 'unclustered_k'"):
        load_card(path)


def test_unknown_table_is_refused(tmp_path):
    path = _card(tmp_path, "[missing_et]", "[missing_ett]\n[missing_et]")
    with pytest.raises(InputError, match=r"unknown key 'missing_ett'.*did you mean 'missing_et'"):
        load_card(path)


def test_edge_values_that_make_sense_are_accepted(tmp_path):
    # zero resolutions (a perfect detector) and no soft-term smearing are allowed
    path = _card(tmp_path, "unclustered_k = 0.5", "unclustered_k = 0")
    assert load_card(path).met_unclustered_k == 0.0
    path = _card(tmp_path, "resolution_n = [1.59, 0.0, 0.0]", "resolution_n = [0, 0, 0]", "n.toml")
    assert load_card(path).jet_n.tolist() == [0.0, 0.0, 0.0]
    card = load_card()
    assert card.electron.ecal_c == pytest.approx(0.0017)
    assert card.path.endswith("atlas_like.toml")


def test_a_reco_run_refuses_a_bad_card_before_simulating(tmp_path):
    from click.testing import CliRunner

    from madsbi.cli.main import cli
    from madsbi.simulate.reco import RecoConfig

    path = _card(tmp_path, "ecal_c = 0.0017", "ecal_cc = 0.0017")
    with pytest.raises(InputError, match="ecal_cc"):
        RecoConfig(card=str(path), shower="fast")
    out = tmp_path / "out.h5"
    result = CliRunner().invoke(
        cli, ["simulate", "reco", str(tmp_path / "absent.h5"), str(out), "--card", str(path)]
    )
    assert result.exit_code != 0
    assert "ecal_cc" in result.output
    assert "did you mean 'ecal_c'" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
