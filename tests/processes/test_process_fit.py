"""A new process end to end: its reco selection, a tiny trained analysis, and ``madsbi fit``.

The dummy process of ``test_process_registry.py`` (the leading lepton's p_T and |η|) selects
a training and a data store from disjoint rows of the shipped W⁺Z store; a derivative
estimator trained on the training store's entries with their parents' exact coefficients is
written as a reco-level analysis, which fits the data store as counted events, in Python and
with ``madsbi fit``. Nothing of this touches W±Z code beyond the store.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from click.testing import CliRunner

import madsbi
import madsbi.events.store
from madsbi.analysis.provenance import analysis_simulation
from madsbi.analysis.reco import read_reco_store
from madsbi.analysis.save import RateEvents, StoreRecord, write_analysis
from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.errors import StoreFormatError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.trainer import TrainingConfig
from madsbi.events.reco import read_reco
from madsbi.nn.build import NetworkConfig
from madsbi.processes import register_process, unregister_process
from madsbi.simulate.reco import RecoConfig, simulate_reco


def _registry_tests() -> ModuleType:
    """The dummy process lives in the registry tests (one definition)."""
    path = Path(__file__).with_name("test_process_registry.py")
    spec = importlib.util.spec_from_file_location("_process_registry_tests", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DUMMY = _registry_tests()
FEATURES = list(DUMMY.OBSERVABLES)
NETWORK = NetworkConfig(kind="ensemble", hidden=(4,), members=2, repulsion=1.0)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Training (rows 0–59) and data (rows 60–99) stores of the dummy selection, unsmeared."""
    register_process(DUMMY.dummy_process())
    try:
        folder = tmp_path_factory.mktemp("dummy_process")
        source = sample_path("wz_leptonic")
        train, data = folder / "train.h5", folder / "data.h5"
        for path, seed, rows in ((train, 1, (0, 60)), (data, 2, (60, 100))):
            config = RecoConfig(seed=seed, smear=False, shower="fast", selection=DUMMY.DUMMY)
            simulate_reco(source, path, config, start=rows[0], stop=rows[1], chunk_size=50)
        yield train, data
    finally:
        unregister_process(DUMMY.DUMMY)


@pytest.fixture(scope="module")
def analysis_dir(stores: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny reco-level analysis of the dummy process's two observables."""
    train, _ = stores
    events = read_reco_store(train, FEATURES, need_coefficients=True)
    assert events.coefficients is not None
    x, c = events.features(FEATURES), events.coefficients
    sample = HypothesisSample.build(x, c, np.ones(x.shape[0]))
    estimator = DerivativeEstimator(events.theta0, x.shape[1], NETWORK, targets=[1, 2])
    estimator.fit(sample, TrainingConfig(epochs=2, batch_size=32, patience=0, seed=3))
    record = StoreRecord(
        str(train),
        events.sha256,
        events.process,
        events.n_events,
        tuple(events.theta_gen.tolist()),
        events.sigma_gen,
        np.zeros(0, dtype=np.int64),
    )
    return write_analysis(
        tmp_path_factory.mktemp("dummy_analysis") / "analysis",
        estimators={"mlp": estimator},
        parameters=list(events.parameters),
        theta0=events.theta0,
        features=FEATURES,
        projection="keep_reference",
        stores=[record],
        rate_events=RateEvents(dict(zip(FEATURES, x.T, strict=True)), c, events.weights),
        split={"seed": 3, "level": "reco"},
        defaults={
            "luminosity_fb": 300.0,
            "rate_factor": 1.0,
            "ranges": [[-1.0, 1.0]] * 3,
            "limit_points": 5,
        },
        config={"process": DUMMY.DUMMY},
        level="reco",
    )


def test_the_reco_reader_sees_the_dummy_selection(stores: tuple[Path, Path]) -> None:
    _, data = stores
    entries = read_reco(data, columns=FEATURES, need_coefficients=True)
    assert entries.columns == tuple(FEATURES)
    assert entries.selection == DUMMY.DUMMY
    assert not entries.smeared
    assert entries.momentum is None  # the dummy selection writes no tokens
    assert (entries.column("lead_pt") > DUMMY.PT_MIN).all()  # only passed entries
    assert entries.n_events < entries.n_entries == 40
    assert entries.coefficients is not None
    assert entries.parents is not None
    assert entries.coefficients.shape == (entries.n_events, 10)
    np.testing.assert_allclose(entries.fiducial_weights.sum(), entries.sigma_fid, rtol=1e-12)
    with pytest.raises(StoreFormatError, match=r"no columns \['mt_wz'\]"):
        read_reco(data, columns=["mt_wz"])


@pytest.mark.filterwarnings("ignore::madsbi.errors.BoxEdgeWarning")  # tiny networks
def test_a_dummy_process_analysis_fits_counted_data(
    stores: tuple[Path, Path], analysis_dir: Path, tmp_path: Path
) -> None:
    _, data = stores
    analysis = madsbi.load_analysis(analysis_dir)
    assert analysis.level == "reco"
    assert analysis.features == FEATURES
    n_passed = read_reco(data).n_events
    result = analysis.fit(data, data_mode="counts")
    assert set(result.methods) == {"mlp", "exact"}
    assert result.data["n_events"] == n_passed
    assert all(np.isfinite(v) for v in result.best_fit.values())
    # The same fit through the command line.
    out = tmp_path / "fit"
    run = CliRunner().invoke(
        cli,
        [
            "fit",
            str(analysis_dir),
            str(data),
            "--data-mode",
            "counts",
            "--out",
            str(out),
            "--no-figures",
        ],
    )
    assert run.exit_code == 0, run.output
    document = json.loads((out / "fit.json").read_text())
    assert document["data"]["n_events"] == n_passed
    for method in ("mlp", "exact"):
        assert document["intervals"][method].keys() == result.methods[method].intervals.keys()


def test_simulate_reco_like_the_analysis(
    stores: tuple[Path, Path], analysis_dir: Path, tmp_path: Path
) -> None:
    """``--like`` simulates new events with the analysis's selection, shower and card, unsmeared."""
    manifest = json.loads((analysis_dir / "analysis.json").read_text())
    train, _ = stores
    assert manifest["simulation"] == {
        "selection": DUMMY.DUMMY,
        "shower": "fast",
        "card": "atlas_like",
        "pythia": [],
        "stores": [str(train)],
    }
    out = tmp_path / "like.h5"
    source = str(sample_path("wz_leptonic"))
    args = ["simulate", "reco", source, str(out), "--start", "100", "--stop", "120", "--quiet"]
    run = CliRunner().invoke(cli, [*args, "--seed", "5", "--like", str(analysis_dir)])
    assert run.exit_code == 0, run.output
    assert f"like {analysis_dir}: selection {DUMMY.DUMMY}, shower fast" in run.output
    entries = read_reco(out, columns=FEATURES)
    assert entries.selection == DUMMY.DUMMY
    assert not entries.smeared
    with madsbi.events.store.EventStore(out) as store:
        recorded = json.loads(store.meta.attributes["reco_config"])
    assert recorded["smear"] is False
    assert (recorded["shower"], recorded["card"]) == ("fast", "atlas_like")
    # The analysis decides: the options it sets may not be given as well.
    clash = CliRunner().invoke(cli, [*args, "--like", str(analysis_dir), "--shower", "default"])
    assert clash.exit_code == 2
    assert "sets ['--shower']" in clash.output
    # An analysis saved before the settings were recorded, whose stores are gone.
    old = tmp_path / "old"
    shutil.copytree(analysis_dir, old)
    del manifest["simulation"]
    manifest["split"]["stores"][0]["path"] = str(tmp_path / "gone.h5")
    (old / "analysis.json").write_text(json.dumps(manifest))
    missing = CliRunner().invoke(cli, [*args, "--like", str(old)])
    assert missing.exit_code == 1
    assert "records no simulation settings" in missing.output
    # … whose training store is still there: the settings are read from it.
    manifest["split"]["stores"][0]["path"] = str(train)
    assert analysis_simulation(manifest, str(old))["shower"] == "fast"
