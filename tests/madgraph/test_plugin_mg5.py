"""End to end with a real MadGraph (marker mg5: needs $MG5_DIR with SMEFTsim U35_MwScheme).

Generates a small SMEFT WZ run, reweights one copy with MadGraph's own reweighting and one with
reweight=madsbi, and compares; then launches a new run with the switch ``reweight=madsbi``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from madsbi.events.lhe import LheFile
from madsbi.events.store import EventStore
from madsbi.madgraph.doctor import diagnose
from madsbi.madgraph.install import install_plugin
from madsbi.theory.polynomial import polynomial_features_reference

from conftest import SHARED_MADGRAPH

pytestmark = pytest.mark.mg5

MODEL = "SMEFTsim_U35_MwScheme_UFO"
THETAS = {
    "p00_sm": (0, 0, 0),
    "p01_cHWB_p1": (1, 0, 0),
    "p02_cHWB_m1": (-1, 0, 0),
    "p03_cW_p1": (0, 1, 0),
    "p04_cW_m1": (0, -1, 0),
    "p05_cHq3_p1": (0, 0, 1),
    "p06_cHq3_m1": (0, 0, -1),
    "p07_cHWB_cW_p1": (1, 1, 0),
    "p08_cHWB_cHq3_p1": (1, 0, 1),
    "p09_cW_cHq3_p1": (0, 1, 1),
}
HOLDOUT = (0.3, -0.7, 0.5)
KEYS = ((9, 0), (2, 1), (25, 2))  # SMEFT entry of cHWB, cW, cHq3


def mg5_card() -> str:
    lines = ["change rwgt_dir rwgt", "change helicity False"]
    for name, theta in [*THETAS.items(), ("p10_holdout", HOLDOUT)]:
        lines.append(f"launch --rwgt_name={name}")
        lines += [f"set SMEFT {code} {theta[i]}" for code, i in KEYS]
    return "\n".join(lines) + "\n"


def madsbi_card() -> str:
    lines = [
        "change rwgt_dir rwgt",
        "change helicity False",
        "parameter cHWB SMEFT 9 -1 1",
        "parameter cW SMEFT 2 -1 1",
        "parameter cHq3 SMEFT 25 -1 1",
        "basis explicit",
        *(f"basis_point {n} {t[0]} {t[1]} {t[2]}" for n, t in THETAS.items()),
        "point own_holdout 0.3 -0.7 0.5",
        "launch",
    ]
    return "\n".join(lines) + "\n"


def run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=1800, check=False)
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    mg5 = Path(os.environ["MG5_DIR"])
    model = mg5 / "models" / MODEL
    if not model.is_dir():
        pytest.skip(f"needs {model} (SMEFTsim)")
    restrict = model / "restrict_madsbi_WZ.dat"
    if not restrict.exists():
        source = SHARED_MADGRAPH / "cards" / "restrict_madsbi_WZ.dat"
        if not source.exists():
            pytest.skip(f"needs {restrict}")
        shutil.copy(source, restrict)
    install_plugin(mg5)
    work = tmp_path_factory.mktemp("mg5")
    proc = work / "WZ"
    (work / "gen.mg5").write_text(
        "set automatic_html_opening False\nset auto_convert_model True\n"
        f"import model {MODEL}-madsbi_WZ\ngenerate p p > w+ z NP<=1\noutput {proc} -nojpeg\n"
        f"launch {proc} -n run_01\nshower=OFF\ndetector=OFF\nanalysis=OFF\nmadspin=OFF\n"
        "reweight=OFF\ndone\nset nevents 500\nset ebeam1 6800\nset ebeam2 6800\n"
        "set pdlabel nn23lo1\nset use_syst False\nset iseed 2468\nset nb_core 1\n"
        "set run_mode 0\nset param_card SMEFT 2 0.0\nset param_card SMEFT 9 0.0\n"
        "set param_card SMEFT 25 0.0\ndone\n"
    )
    log = run([sys.executable, str(mg5 / "bin" / "mg5_aMC"), str(work / "gen.mg5")], work)
    events = proc / "Events" / "run_01" / "unweighted_events.lhe.gz"
    assert events.exists(), log[-3000:]
    ref = work / "WZ_ref"
    shutil.copytree(proc, ref, symlinks=True)
    (ref / "Cards" / "reweight_card.dat").write_text(mg5_card())
    (work / "rw_mg5.me").write_text("reweight run_01 -from_cards\n")
    log = run([sys.executable, str(ref / "bin" / "madevent"), str(work / "rw_mg5.me")], ref)
    (proc / "Cards" / "reweight_card.dat").write_text(madsbi_card())
    (work / "rw_madsbi.me").write_text("reweight run_01 --plugin=madsbi -from_cards\n")
    plugin_log = run(
        [sys.executable, str(proc / "bin" / "madevent"), str(work / "rw_madsbi.me")], proc
    )
    (work / "plugin.log").write_text(plugin_log)
    return {"proc": proc, "ref": ref, "work": work}


def _events(run_dir: Path) -> Path:
    (path,) = list(run_dir.glob("unweighted_events.lhe*"))
    return path


def _store(runs: dict[str, Path]) -> Path:
    store = runs["proc"] / "Events" / "run_01" / "madsbi.h5"
    assert store.exists(), (runs["work"] / "plugin.log").read_text()[-4000:]
    return store


def test_store_holdout_in_double_precision(runs: dict[str, Path]) -> None:
    with EventStore(_store(runs)) as store:
        data = store.read("parton", ["coefficients", "rwgt"])
        assert store.column_names("parton", "rwgt")[-1] == "own_holdout"
        meta = store.meta
    assert meta.mg5_version.startswith("3.")
    assert {"proc_card", "run_card", "param_card", "reweight_card"} <= set(meta.cards)
    assert list(meta.basis_ids) == list(THETAS)
    phi = polynomial_features_reference(np.array([HOLDOUT]), np.zeros(3))[0]
    predicted = data["coefficients"] @ phi
    rel = np.abs(predicted - data["rwgt"][:, -1]) / np.abs(data["rwgt"][:, -1])
    print(f"plugin's own held-out point: max relative deviation {rel.max():.3g}")
    assert rel.max() <= 1e-10


def test_matches_madgraph_reweighting(runs: dict[str, Path]) -> None:
    with EventStore(_store(runs)) as store:
        coefficients = store.read("parton", ["coefficients"])["coefficients"]
    with LheFile(_events(runs["ref"] / "Events" / "run_01")) as lhe:
        ids = lhe.header.weight_ids
        rwgt = next(lhe.chunks(100_000)).arrays["rwgt"]
    assert rwgt.shape[0] == coefficients.shape[0]
    thetas = {**THETAS, "p10_holdout": HOLDOUT}
    worst = {}
    for name, theta in thetas.items():
        phi = polynomial_features_reference(np.array([theta], dtype=float), np.zeros(3))[0]
        mg = rwgt[:, ids.index(name)]
        worst[name] = float(np.max(np.abs(coefficients @ phi - mg) / np.abs(mg)))
    print("max relative deviation from MadGraph's reweighting:", worst)
    assert worst["p10_holdout"] <= 2e-7
    assert max(worst.values()) <= 2e-7


def test_second_run_refused_and_nothing_lost(runs: dict[str, Path]) -> None:
    store = _store(runs)
    run_dir = store.parent
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    log = run(
        [
            sys.executable,
            str(runs["proc"] / "bin" / "madevent"),
            str(runs["work"] / "rw_madsbi.me"),
        ],
        runs["proc"],
    )
    assert "already reweighted" in log
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    assert after["madsbi.h5"] == before["madsbi.h5"]
    lhe = [n for n in before if n.startswith("unweighted_events")]
    assert lhe
    for name in lhe:
        gz = name if name in after else f"{name}.gz" if f"{name}.gz" in after else name[:-3]
        assert gz in after


LAUNCH_SAMPLE = "wz_launch_switch"


@pytest.fixture(scope="module")
def launched(runs: dict[str, Path]) -> dict[str, Path]:
    """A fresh copy of the process launched with the switch ``reweight=madsbi``.

    As in examples/wz: the settings in ``Cards/madsbi_card.dat``, a one-line reweight card.
    """
    mg5 = Path(os.environ["MG5_DIR"])
    work = runs["work"]
    proc = work / "WZ_launch"
    shutil.copytree(runs["proc"], proc, symlinks=True, ignore=shutil.ignore_patterns("rwgt"))
    before = {p.name for p in (proc / "Events").iterdir()}
    settings = madsbi_card().replace("launch\n", f"lhe_weights on\nsample_id {LAUNCH_SAMPLE}\n")
    (proc / "Cards" / "madsbi_card.dat").write_text(settings)
    (proc / "Cards" / "reweight_card.dat").write_text("change rwgt_dir rwgt\n")
    (work / "launch.mg5").write_text(
        f"set automatic_html_opening False\nlaunch {proc}\nshower=OFF\ndetector=OFF\n"
        "analysis=OFF\nmadspin=OFF\nreweight=madsbi\ndone\nset nevents 300\n"
        "set ebeam1 6800\nset ebeam2 6800\nset pdlabel nn23lo1\nset use_syst False\n"
        "set iseed 97531\nset nb_core 1\nset run_mode 0\nset param_card SMEFT 2 0.0\n"
        "set param_card SMEFT 9 0.0\nset param_card SMEFT 25 0.0\ndone\n"
    )
    log = run([sys.executable, str(mg5 / "bin" / "mg5_aMC"), str(work / "launch.mg5")], work)
    (work / "launch.log").write_text(log)
    new = sorted(p for p in (proc / "Events").iterdir() if p.name not in before)
    assert len(new) == 1, log[-4000:]
    return {"run": new[0], "log": work / "launch.log"}


def test_launch_with_reweight_switch(launched: dict[str, Path]) -> None:
    log = launched["log"].read_text()
    assert "Will use re-weighting from pluging madsbi" in log, log[-4000:]
    store_path = launched["run"] / "madsbi.h5"
    assert store_path.exists(), log[-4000:]
    with EventStore(store_path) as store:
        data = store.read("parton", ["coefficients", "rwgt", "weight"])
        names = store.column_names("parton", "rwgt")
        meta = store.meta
    assert data["coefficients"].shape == (300, 10)
    assert meta.sample_id == LAUNCH_SAMPLE  # the settings came from Cards/madsbi_card.dat
    assert list(meta.basis_ids) == list(THETAS)
    (shard,) = meta.shards
    assert shard.seed == 97531
    (check,) = json.loads(shard.report)["holdouts"]
    assert check["weight_id"] == "own_holdout"
    assert check["max_rel_to_largest"] <= 1e-10
    phi = polynomial_features_reference(np.array([HOLDOUT]), np.zeros(3))[0]
    holdout = data["rwgt"][:, names.index("own_holdout")]
    rel = np.abs(data["coefficients"] @ phi - holdout) / np.abs(holdout)
    print(f"launch with reweight=madsbi: held-out max relative deviation {rel.max():.3g}")
    assert rel.max() <= 1e-10
    # lhe_weights on: the run's LHE file carries the same weights
    with LheFile(_events(launched["run"])) as lhe:
        ids = lhe.header.weight_ids
        arrays = next(lhe.chunks(100_000)).arrays
    assert list(ids) == names
    np.testing.assert_allclose(arrays["weight"], data["weight"], rtol=1e-12)
    np.testing.assert_allclose(arrays["rwgt"], data["rwgt"], rtol=1e-6)


def test_doctor_on_real_mg5() -> None:
    report = diagnose(os.environ["MG5_DIR"], python=sys.executable)
    print(report.format())
    assert report.ok, report.format()
    assert report.probe["interface"] == "MadSBIReweightInterface"
