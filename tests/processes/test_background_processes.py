"""The registered background processes ZZ → 4ℓ (``zz_4l``) and Z+jets (``zjets``).

They name their MadGraph definitions and check their parton events; on the command line
``madsbi simulate reco`` passes their stores through the W±Z selection (24-event stores cut
from the session-12 productions: ``tests/data/zz_4l_sm_24.h5``, SMEFT coefficients embedded
into (cHWB, cW, cHq3), and ``tests/data/zjets_sm_24.h5``, θ-independent).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.errors import InputError
from madsbi.events import open_store, schema
from madsbi.processes import find_process, get_process, registered_processes, wz, zjets, zz

DATA = Path(__file__).parents[1] / "data"
PREAMBLE = "import model sm; define l+ = e+ mu+; define l- = e- mu-; "
ZZ_TEXT = PREAMBLE + "generate p p > z z, z > l+ l-, z > l+ l- @1 NP<=1"
WZ_TEXT = PREAMBLE + "generate p p > w+ z, w+ > l+ vl, z > l+ l- @1 NP<=1"


def test_backgrounds_are_registered_without_a_selection_of_their_own() -> None:
    assert {"wz", "zz_4l", "zjets"} <= set(registered_processes())
    assert get_process("zz_4l") is zz.PROCESS
    assert get_process("zjets") is zjets.PROCESS
    for name in ("zz_4l", "zjets"):
        with pytest.raises(InputError, match="no reco selection"):
            get_process(name).reco_selection()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ZZ_TEXT, "zz_4l"),
        ("generate p p > z z", "zz_4l"),
        (PREAMBLE + "generate p p > l+ l- j", "zjets"),
        ("generate p p > e+ e-", None),
        ("generate p p > mu+ mu- j j @0", "zjets"),
        ("generate p p > z j, z > l+ l-", "zjets"),
        ("generate p p > l+ l- j; add process p p > l+ l- j j", "zjets"),
        (WZ_TEXT, "wz"),
        ("generate p p > w+ w-", None),
        ("generate p p > l+ vl", None),
        ("generate p p > z z z", None),
        ("generate p p > t t~ z", None),
    ],
)
def test_each_process_text_finds_its_process(text: str, expected: str | None) -> None:
    found = find_process(text, prefer="wz")
    assert (found.name if found else None) == expected


def _parton(pdg: list[list[int]]) -> dict[str, np.ndarray]:
    ids = np.array(pdg, dtype=np.int32)
    return {"pdg_id": ids, "status": np.where(np.abs(ids) < 20, 1, -1)}


def test_event_checks_count_charged_leptons_and_neutrinos() -> None:
    zz.check_parton_events(_parton([[2, -2, 11, -11, 13, -13]]), "s.h5")
    zjets.check_parton_events(_parton([[2, -2, 11, -11, 21, 0]]), "s.h5")
    with pytest.raises(InputError, match=r"s\.h5: event 7 has 3 charged leptons and 1"):
        zz.check_parton_events(_parton([[2, -2, 11, -11, 13, -14]]), "s.h5", first_row=7)
    with pytest.raises(InputError, match=r"Z\+jets.*needs 2"):
        zjets.check_parton_events(_parton([[2, -2, 11, -11, 13, 21]]), "s.h5")


def test_simulate_reco_on_the_command_line_takes_zz(tmp_path: Path) -> None:
    out = tmp_path / "zz_reco.h5"
    args = ["simulate", "reco", str(DATA / "zz_4l_sm_24.h5"), str(out)]
    args += ["--card", "atlas_like_v2", "--shower", "fast", "--no-smear", "--quiet"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with open_store(out) as store:
        reco = store.read(schema.RECO)
        config = json.loads(str(store.meta.attributes["reco_config"]))
        assert store.column_names(schema.RECO, "x") == list(wz.OBSERVABLES)
    assert reco.n_events == 24
    assert config["card"] == "atlas_like_v2"
    assert config["selection"] == "wz"
    # four generator leptons: never more than four reconstructed ones
    n_lep = (reco["pdg_id"][:, :3] != 0).sum(axis=1)
    assert n_lep.max() <= 3


def test_simulate_reco_on_the_command_line_takes_zjets_with_fakes(tmp_path: Path) -> None:
    out = tmp_path / "zjets_reco.h5"
    args = ["simulate", "reco", str(DATA / "zjets_sm_24.h5"), str(out)]
    args += ["--card", "atlas_like_v2_fakes", "--shower", "fast", "--no-smear", "--quiet"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with open_store(out) as s:
        reco = s.read(schema.RECO)
        parent_weight = s.read(schema.PARTON, ["weight"])["weight"]
    # every copy has its nominal entry; jets that may fake add entries weighted by p < 0.02
    assert np.unique(reco["parent"]).size == 24
    assert reco.n_events > 24
    ratio = reco["weight"] / parent_weight[reco["parent"]]
    assert ((ratio > 0.9) | (ratio < 0.02)).all()
    np.testing.assert_allclose(np.bincount(reco["parent"], weights=ratio), 1.0, rtol=1e-12)


def test_a_process_nobody_registered_is_refused_by_name(tmp_path: Path) -> None:
    from madsbi.simulate.reco import RecoConfig, input_process

    with pytest.raises(InputError, match=r"no registered process.*p p > w\+ w-"):
        input_process(RecoConfig(shower="fast"), "generate p p > w+ w-", "ww.h5")
