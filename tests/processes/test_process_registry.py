"""The process interface: the registry, W±Z as one implementation, and a new process plugged in.

A tiny dummy process (the leading lepton's p_T and |η|, one cut p_T > 20 GeV) is registered
and run through the reco simulation (``--shower fast``, a few events of the shipped W⁺Z
store); its copies are the W±Z run's (same seeds), so its leading lepton is checked against
the W±Z selection's three leptons. A background-like process without a selection of its own
passes the W±Z selection once registered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from madsbi.data import sample_path
from madsbi.errors import InputError, ShapeError
from madsbi.events import open_store, schema
from madsbi.events.particles import eta, pt
from madsbi.processes import (
    Process,
    RecoObjects,
    RecoSelection,
    SelectionResult,
    find_process,
    get_process,
    register_process,
    registered_processes,
    unregister_process,
    wz,
)
from madsbi.simulate.reco import RecoConfig, simulate_reco

DUMMY = "lead_lepton"
OBSERVABLES = ("lead_pt", "lead_abs_eta")
CUTS = ("shower", "lead_pt")
PT_MIN = 20.0
N = 8


def lead_lepton(objects: RecoObjects) -> SelectionResult:
    """p_T and |η| of the leading reconstructed lepton (0 without one); cut p_T > 20 GeV."""
    leptons, n = objects.leptons, objects.n_events
    p = leptons.momentum
    pts = pt(p)
    order = np.lexsort((-pts, leptons.event))  # by event, then by falling p_T
    has = leptons.counts > 0
    first = order[leptons.offsets[:-1][has]]
    x = np.zeros((n, 2))
    x[has, 0] = pts[first]
    x[has, 1] = np.abs(eta(p[first]))
    cuts = np.stack([objects.shower_ok, x[:, 0] > PT_MIN], axis=1)
    return SelectionResult(x, cuts)


def dummy_process() -> Process:
    """Describes the W⁺Z store like ``wz``, with its own two-observable selection."""
    return Process(
        name=DUMMY,
        description="one leading lepton (test)",
        accepts=wz.accepts_wz,
        selection=RecoSelection(OBSERVABLES, CUTS, lead_lepton, categorical=()),
    )


@pytest.fixture
def dummy() -> Iterator[Process]:
    process = register_process(dummy_process())
    yield process
    unregister_process(DUMMY)


def test_wz_is_registered_with_its_selection_and_categorical_observables() -> None:
    process = get_process("wz")
    assert process is wz.PROCESS
    assert "wz" in registered_processes()
    assert process.observables == wz.OBSERVABLES
    assert process.reco_selection().cuts == wz.CUTS
    assert {"sum_charge", "charge", "l1_flavour", "n_jets"} <= process.categorical
    assert not {"mt_wz", "log_s"} & process.categorical
    assert find_process("generate p p > w- z, w- > l- vl~, z > l+ l-") is process
    assert find_process("generate p p > e+ e-") is None
    event = {"pdg_id": np.array([[2, -1, 24, 23]]), "status": np.array([[-1, -1, 1, 1]])}
    with pytest.raises(InputError, match="missing field"):
        process.parton_features(event, ["charge"])


def test_registry_errors_name_the_known_processes(dummy: Process) -> None:
    with pytest.raises(InputError, match=r"unknown process 'zz'.*'wz'.*'lead_lepton'"):
        get_process("zz")
    with pytest.raises(InputError, match="already registered"):
        register_process(dummy_process())
    assert register_process(dummy) is dummy  # the same object again is fine
    with pytest.raises(InputError, match="identifier"):
        Process(name="a b", description="", accepts=wz.accepts_wz)
    with pytest.raises(InputError, match=r"categorical: \['charge'\]"):
        RecoSelection(OBSERVABLES, CUTS, lead_lepton, categorical=("charge",))
    with pytest.raises(InputError, match="no reco selection"):
        Process(name="bare", description="no selection", accepts=wz.accepts_wz).reco_selection()
    with pytest.raises(InputError, match="unknown process 'nope'"):
        RecoConfig(selection="nope")


def test_a_selection_returning_the_wrong_shape_is_refused(dummy: Process) -> None:
    bad = RecoSelection(OBSERVABLES, CUTS, lambda o: SelectionResult(np.zeros((1, 3)), o.met > 0))
    leptons = dummy_objects()
    with pytest.raises(ShapeError, match=r"selection x: expected shape \(2, 2\), got \(1, 3\)"):
        bad(leptons)
    result = dummy.reco_selection()(leptons)
    np.testing.assert_allclose(result.x, [[50.0, 0.0], [0.0, 0.0]])
    assert result.passed.tolist() == [True, False]
    np.testing.assert_allclose(result.cut_flow(np.array([1.0, 3.0])), [1.0, 0.25])


def dummy_objects() -> RecoObjects:
    """Two events: one lepton of p_T 50 at η = 0 and one of p_T 10; no lepton in the second."""
    from madsbi.events.particles import Particles

    leptons = Particles.from_counts(
        np.array([2, 0]), np.array([11, -13]), np.array([[10.0, 10, 0, 0], [50.0, 0, 50, 0]])
    )
    jets = Particles.from_counts(np.zeros(2, np.int64), np.zeros(0, np.int32), np.zeros((0, 4)))
    return RecoObjects(leptons, jets, np.zeros((2, 2)), np.ones(2, bool))


def _reco(path: Path) -> tuple[dict[str, np.ndarray], dict[str, list[str]], dict[str, str]]:
    with open_store(path) as store:
        reco = store.read(schema.RECO)
        arrays = {f: reco[f] for f in store.fields(schema.RECO)}
        names = store.named_columns(schema.RECO)
        attributes = {k: str(v) for k, v in store.meta.attributes.items()}
    return arrays, names, attributes


def test_dummy_process_runs_through_the_reco_simulation(dummy: Process, tmp_path: Path) -> None:
    store = sample_path("wz_leptonic")
    config = RecoConfig(seed=7, smear=False, shower="fast", selection=DUMMY)
    report = simulate_reco(store, tmp_path / "dummy.h5", config, stop=N, chunk_size=5)
    wz_report = simulate_reco(
        store, tmp_path / "wz.h5", RecoConfig(seed=7, smear=False, shower="fast"), stop=N
    )
    reco, names, attributes = _reco(tmp_path / "dummy.h5")
    wz_reco, _, _ = _reco(tmp_path / "wz.h5")
    assert names == {"x": list(OBSERVABLES), "cuts": list(CUTS)}
    assert "momentum" not in reco  # the dummy selection has no tokens
    assert json.loads(attributes["reco_config"])["selection"] == DUMMY
    assert attributes["reco_process"] == DUMMY  # its own process is preferred over "wz"
    assert list(report.cut_flow) == list(CUTS)
    assert report.n_copies == wz_report.n_copies == N
    # The cut is the selection's, and the copies (weights, parents) are the W±Z run's.
    np.testing.assert_array_equal(reco["cuts"][:, 1], reco["x"][:, 0] > PT_MIN)
    np.testing.assert_array_equal(reco["weight"], wz_reco["weight"])
    np.testing.assert_array_equal(reco["parent"], wz_reco["parent"])
    # The W±Z selection's leptons are some of the reconstructed ones: none leads the dummy's.
    leptons = wz_reco["x"][:, [wz.OBSERVABLES.index(f"l{k}_px") for k in (1, 2, 3)]]
    leptons_py = wz_reco["x"][:, [wz.OBSERVABLES.index(f"l{k}_py") for k in (1, 2, 3)]]
    wz_lead = np.hypot(leptons, leptons_py).max(axis=1)
    assert np.all(reco["x"][:, 0] >= wz_lead - 1e-9)
    three = wz_reco["cuts"][:, wz.CUTS.index("three_leptons")].astype(bool)
    inside = three & (reco["x"][:, 1] < wz.LEPTON_ETA_MAX)
    assert inside.sum() >= 2
    np.testing.assert_allclose(reco["x"][inside, 0], wz_lead[inside], rtol=1e-12)


def test_a_registered_background_passes_the_wz_selection(tmp_path: Path) -> None:
    store = sample_path("drell_yan")
    config = RecoConfig(seed=3, smear=False, shower="fast")
    with pytest.raises(InputError, match=r"drell_yan.h5: no registered process.*wz \(W±Z"):
        simulate_reco(store, tmp_path / "refused.h5", config, stop=4)
    background = Process(
        name="drell_yan_test",
        description="Z/γ* → e⁺e⁻ (test)",
        accepts=lambda text: text.rstrip().endswith("generate p p > e+ e-"),
    )
    register_process(background)
    try:
        report = simulate_reco(store, tmp_path / "dy.h5", config, stop=4)
    finally:
        unregister_process(background.name)
    _, names, attributes = _reco(tmp_path / "dy.h5")
    assert names["x"] == list(wz.OBSERVABLES)
    assert attributes["reco_process"] == "drell_yan_test"
    assert json.loads(attributes["reco_config"])["selection"] == "wz"
    assert report.n_passed == 0  # two leptons never make three
    assert report.cut_flow["three_leptons"] == 0.0
