"""``madsbi fit`` defaults (issue 29 item 16): the data mode from the store, profiled intervals.

A store without a process (real data; the pseudo-data of ``madsbi store mix``) is fitted as
counts, an MC store as Asimov data, and the output says which and why; intervals are
profiled unless ``--profile fixed``. At 14479bf every fit was Asimov with fixed intervals.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis.fit_options import check_data_store, choose_data_mode, data_store_kind
from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.errors import InputError
from madsbi.events.mix import mix_stores
from madsbi.simulate.reco import shipped_reco_path

from helpers.stores import copy_without_process

MC = sample_path("wpz_parton_bsm")


@pytest.fixture(scope="module")
def without_process(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped W⁺Z BSM parton store with an empty /meta/process (as real data have)."""
    return copy_without_process(MC, tmp_path_factory.mktemp("data") / "no_process.h5")


def test_choose_data_mode() -> None:
    assert choose_data_mode("asimov", "") == ("asimov", "given")
    assert choose_data_mode("counts", "p p > w+ z") == ("counts", "given")
    mode, why = choose_data_mode(None, "")
    assert mode == "counts"
    assert "no process" in why
    mode, why = choose_data_mode(None, "p p > w+ z")
    assert mode == "asimov"
    assert "MC store" in why
    assert "p p > w+ z" in why
    assert choose_data_mode(None, None)[0] == "asimov"
    with pytest.raises(InputError, match="data_mode"):
        choose_data_mode("poisson", "")


def test_pseudo_data_of_store_mix_are_counts(tmp_path: Path) -> None:
    out = tmp_path / "pseudo.h5"
    mix_stores(out, [shipped_reco_path("wz_reco_test")], luminosity=10.0, seed=1)
    process = check_data_store(out)
    assert process == ""
    assert choose_data_mode(None, process)[0] == "counts"
    assert check_data_store(MC)  # an MC store names its process


def test_asimov_pseudo_data_are_fitted_as_asimov_and_never_counted(tmp_path: Path) -> None:
    out = tmp_path / "asimov.h5"
    mix_stores(out, [shipped_reco_path("wz_reco_test")], luminosity=10.0, seed=1, asimov=True)
    process, asimov = data_store_kind(out)
    assert (process, asimov) == ("", True)
    mode, why = choose_data_mode(None, process, asimov)
    assert mode == "asimov"
    assert "store mix --asimov" in why
    assert choose_data_mode("asimov", process, asimov)[0] == "asimov"
    with pytest.raises(InputError, match=r"counts refused.*Asimov pseudo-data"):
        choose_data_mode("counts", process, asimov)
    assert data_store_kind(MC)[1] is False


def test_cli_defaults_counts_and_profiled_for_real_data(
    without_process: Path, tmp_path: Path
) -> None:
    torch.set_num_threads(1)
    result = CliRunner().invoke(
        cli,
        ["fit", "wz_parton_paper", str(without_process), "--out", str(tmp_path),
         "--method", "exact", "--select", "charge=1", "--no-figures", "--points-2d", "3",
         "--points-profile", "5"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "fit.json").read_text())
    assert document["data"]["mode"] == "counts"
    assert "no process" in document["data"]["mode_reason"]
    assert document["settings"]["profile"] == "profiled"
    assert "data mode counts: the store names no process" in result.output
    assert "intervals profiled" in result.output


@pytest.mark.filterwarnings("ignore::madsbi.errors.TrainingSupportWarning")
@pytest.mark.filterwarnings("ignore::madsbi.errors.BoxEdgeWarning")
def test_api_defaults_asimov_for_an_mc_store() -> None:
    torch.set_num_threads(1)
    analysis = madsbi.load_analysis("wz_parton_paper")
    result = analysis.fit(
        MC, methods=["exact"], select=["charge=1"], profile="fixed", points_2d=3, points_1d=5
    )
    assert result.data["mode"] == "asimov"
    assert "MC store" in result.data["mode_reason"]
    given = analysis.fit(
        MC, methods=["exact"], select=["charge=1"], data_mode="counts", profile="fixed",
        points_2d=3, points_1d=5,
    )  # fmt: skip
    assert given.data["mode"] == "counts"
    assert given.data["mode_reason"] == "given"
