"""``madsbi analysis-trim``: a smaller copy of an analysis whose fits differ only by the
subsampling of the rate model's events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis.data import read_store
from madsbi.analysis.save import RateEvents, StoreRecord, write_analysis
from madsbi.analysis.trim import allocate, trim_analysis
from madsbi.cli.main import cli
from madsbi.errors import InputError, MissingFileError, OutputError, StoreFormatError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.trainer import TrainingConfig
from madsbi.nn.build import NetworkConfig
from madsbi.theory.polynomial import polynomial_features

from helpers.wz import convert_wz_1k

PARAMETERS = ["cHWB", "cW", "cHq3"]
FEATURES = ["log_s", "log_minus_t", "charge"]
OTHER = "p p > w- z (a second channel of the test)"
#: σ(θ0) of the two channels (pb): the store's W⁺Z with its test split of 600 events, and
#: a second channel of 400 (the store's other events, charge −1).
SIGMA = {"A": 16.3333, "B": 10.0}
N_A = 600
THETAS = np.array([[0.0, 0.0, 0.0], [0.5, -0.1, 0.05], [-1.0, 0.2, 0.2], [0.0, 1.0, -0.5]])
FIT = {
    "luminosity": 300.0,
    "rate_factor": 0.014,
    "methods": ["derivative", "exact"],
    "points_1d": 41,
    "points_2d": 3,
    "at": ["cHWB=1,cW=0.1,cHq3=0.1"],
    "select": ["charge=1"],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_wz_1k(tmp_path_factory.mktemp("wz"))


@pytest.fixture(scope="module")
def analysis(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two channels (the store's process with its test split, and a second one), unequal
    MIS weights within each, one small derivative estimator."""
    torch.set_num_threads(1)
    events = read_store(store, FEATURES, need_coefficients=True, optional=["m_wz"])
    assert events.coefficients is not None
    x = events.features(FEATURES)
    sample = HypothesisSample.build(x, events.coefficients, events.weights / events.weights.mean())
    network = NetworkConfig(kind="ensemble", hidden=(8,), members=2, repulsion=1.0)
    derivative = DerivativeEstimator(events.theta0, x.shape[1], network, targets=[1, 2, 4])
    training = TrainingConfig(epochs=1, batch_size=256, patience=0, seed=1)
    derivative.fit(sample, training, progress=False)
    order = np.random.default_rng(1).permutation(events.n_events)
    parts = {"A": order[:N_A], "B": order[N_A:]}
    spread = np.random.default_rng(2).uniform(0.5, 1.5, events.n_events)
    v = {}
    for name, index in parts.items():
        w = events.weights[index] * spread[index]
        v[name] = w / w.sum() * SIGMA[name]
    records = [
        StoreRecord(str(store), events.sha256, events.process, 1000, (0, 0, 0), 16.0, parts["A"]),
        StoreRecord("other.h5", "0" * 64, OTHER, 1000, (0, 0, 0), 10.0, np.arange(400)),
    ]
    index = np.concatenate([parts["A"], parts["B"]])
    observables = {k: o[index] for k, o in events.observables.items()}
    observables["charge"][N_A:] = -1.0
    return write_analysis(
        tmp_path_factory.mktemp("analysis") / "analysis",
        estimators={"derivative": derivative},
        parameters=PARAMETERS,
        theta0=events.theta0,
        features=FEATURES,
        projection="keep_reference",
        stores=records,
        rate_events=RateEvents(
            observables,
            events.coefficients[index],
            np.concatenate([v["A"], v["B"]]),
        ),
        split={"seed": 1},
        defaults={
            "luminosity_fb": 300.0,
            "rate_factor": 0.014,
            "ranges": [[-2, 2], [-0.5, 0.5], [-0.5, 0.5]],
            "limit_points": 41,
        },
        config={},
    )


def _rate_arrays(path: Path) -> dict[str, Any]:
    with np.load(path / "rate_events.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _sigma(path: Path, thetas: Any = THETAS) -> Any:
    """σ̂(θ) = Σ_e v_e c_e·φ(θ − θ0)/c_e0 of the exact coefficients (pb)."""
    arrays = _rate_arrays(path)
    c = arrays["coefficients"].astype(np.float64)
    phi = polynomial_features(thetas, np.zeros(3))
    return (arrays["mis_weights"][:, None] * (c @ phi.T) / c[:, :1]).sum(0)


def _inputs(path: Path, n: int = 50) -> Any:
    """Network inputs of the first n rate events (float64)."""
    arrays = _rate_arrays(path)
    return np.stack([arrays[f"obs_{f}"][:n].astype(np.float64) for f in FEATURES], 1)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_allocation_is_proportional_and_keeps_every_channel() -> None:
    assert allocate([600, 400], 200).tolist() == [120, 80]
    assert allocate([600, 400], 5000).tolist() == [600, 400]
    assert allocate([999, 1], 10).tolist() == [10, 1]  # the small channel keeps one event
    assert allocate([5, 5, 5], 7).sum() == 7


def test_subsample_keeps_each_channels_sigma0_and_the_estimators(
    analysis: Path, tmp_path: Path
) -> None:
    out = trim_analysis(analysis, tmp_path / "trimmed", rate_events=200, seed=3)
    manifest = json.loads((out / "analysis.json").read_text())
    rate = manifest["rate_model"]
    assert rate["n_events"] == 200
    record = rate["trimmed_from"]
    assert (record["n_events"], record["seed"], record["float32"]) == (1000, 3, True)
    assert list(record["channels"]) == sorted([madsbi.load_analysis(analysis).processes[0], OTHER])
    assert [c["n_kept"] for c in record["channels"].values()] == [120, 80]
    arrays = _rate_arrays(out)
    assert arrays["coefficients"].dtype == np.float32
    assert arrays["obs_log_s"].dtype == np.float32
    assert arrays["mis_weights"].dtype == np.float64
    assert set(arrays) == set(_rate_arrays(analysis)) | {"channel"}  # every observable kept
    # Every channel's σ(θ0) = Σ v_e exactly (weights stay float64).
    for label, (name, sigma) in enumerate(zip(record["channels"], SIGMA.values(), strict=True)):
        assert record["channels"][name]["sigma0_pb"] == pytest.approx(sigma, rel=1e-12)
        kept = arrays["mis_weights"][arrays["channel"] == label].sum()
        np.testing.assert_allclose(kept, sigma, rtol=1e-12)
    assert rate["sigma0_pb"] == pytest.approx(sum(SIGMA.values()), rel=1e-12)

    original, trimmed = madsbi.load_analysis(analysis), madsbi.load_analysis(out)
    assert trimmed.sigma0_pb == pytest.approx(original.sigma0_pb, rel=1e-12)
    # Estimators unchanged: the same C_e, hence log R̂, to 1e-12.
    x = _inputs(analysis)
    np.testing.assert_allclose(
        trimmed.event_coefficients(x), original.event_coefficients(x), rtol=0, atol=1e-12
    )
    # log r̂ = log R̂ − log ρ̂: ρ̂ is the rate model's, so only that term moves.
    shift = trimmed.log_ratio(x, THETAS) - original.log_ratio(x, THETAS)
    np.testing.assert_allclose(shift, shift[:, :1, :].repeat(50, 1), rtol=0, atol=1e-12)
    # The exact σ̂(θ)/σ̂(θ0) of the subsample agrees within its MC error: with n_c of N_c
    # events drawn without replacement and weights rescaled per channel, the relative error
    # of ρ̂ is about std(R_e)/√n · √(1 − n/N) ≲ 0.1 here (R_e spreads by O(1) at these θ);
    # 5σ of the per-event spread of the original's R_e bounds the difference.
    full, sub = _sigma(analysis), _sigma(out)
    rho_full, rho_sub = full / full[0], sub / sub[0]
    arrays0 = _rate_arrays(analysis)
    c0 = arrays0["coefficients"]
    r = (c0 @ polynomial_features(THETAS, np.zeros(3)).T) / c0[:, :1]
    spread = np.sqrt(np.cov(r.T, aweights=arrays0["mis_weights"]).diagonal())
    bound = 5 * spread / np.sqrt(200) * np.sqrt(1 - 200 / 1000)
    assert np.all(np.abs(rho_sub - rho_full) <= bound)
    assert abs(rho_sub[0] - 1.0) < 1e-12
    # The split keeps the test indices (madsbi fit of a training store uses them).
    np.testing.assert_array_equal(trimmed.test_indices[0], original.test_indices[0])
    with np.load(out / "split.npz") as z:
        assert z["test_0"].dtype == np.int32
    assert _size(out) < _size(analysis)
    # A second trim reads the stored channels: the per-channel σ(θ0) stay.
    again = trim_analysis(out, tmp_path / "again", rate_events=50, seed=4)
    second = json.loads((again / "analysis.json").read_text())["rate_model"]["trimmed_from"]
    assert [c["n_kept"] for c in second["channels"].values()] == [30, 20]
    assert second["trimmed_from"] == record
    np.testing.assert_allclose(
        [c["sigma0_pb"] for c in second["channels"].values()], list(SIGMA.values()), rtol=1e-12
    )


@pytest.mark.filterwarnings("ignore::madsbi.errors.BoxEdgeWarning")  # tiny networks
@pytest.mark.parametrize("float32", [False, True])
def test_keeping_every_event_reproduces_the_fits(
    analysis: Path, store: Path, tmp_path: Path, float32: bool
) -> None:
    out = trim_analysis(analysis, tmp_path / "all", rate_events=5000, float32=float32)
    assert json.loads((out / "analysis.json").read_text())["rate_model"]["n_events"] == 1000
    original, trimmed = madsbi.load_analysis(analysis), madsbi.load_analysis(out)
    tolerance = 1e-6 if float32 else 1e-12
    np.testing.assert_allclose(_sigma(out), _sigma(analysis), rtol=tolerance)
    x = _inputs(analysis)
    np.testing.assert_allclose(
        trimmed.log_ratio(x, THETAS), original.log_ratio(x, THETAS), rtol=0, atol=tolerance
    )
    a, b = original.fit(store, **FIT), trimmed.fit(store, **FIT)
    assert a.data == b.data
    assert "test split (600 events)" in b.data["events_used"]
    for method in FIT["methods"]:
        ma, mb = a.methods[method], b.methods[method]
        np.testing.assert_allclose(mb.best_fit, ma.best_fit, rtol=0, atol=1e-6)
        for parameter in PARAMETERS:
            for level in ("0.68", "0.95"):
                np.testing.assert_allclose(
                    mb.intervals[parameter][level], ma.intervals[parameter][level], atol=1e-6
                )
    pa, pb = a.to_dict()["points"], b.to_dict()["points"]
    for label in pa:
        for method in FIT["methods"]:
            assert pb[label]["q"][method] == pytest.approx(pa[label]["q"][method], rel=1e-6)


def test_bad_arguments_raise_typed_errors(analysis: Path, tmp_path: Path) -> None:
    for bad in (0, -5):
        with pytest.raises(InputError, match="rate_events: expected > 0"):
            trim_analysis(analysis, tmp_path / "x", rate_events=bad)
    with pytest.raises(InputError, match="rate_events: expected an integer"):
        trim_analysis(analysis, tmp_path / "x", rate_events=1.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"destination: .* is the source"):
        trim_analysis(analysis, analysis, rate_events=10)
    with pytest.raises(InputError, match=r"destination: .* inside it"):
        trim_analysis(analysis, analysis / "sub", rate_events=10)
    full = tmp_path / "full"
    full.mkdir()
    (full / "file").write_text("x")
    with pytest.raises(OutputError, match=r"destination: .* not an empty directory"):
        trim_analysis(analysis, full, rate_events=10)
    with pytest.raises(MissingFileError, match=r"source: .* neither an analysis directory"):
        trim_analysis(tmp_path, tmp_path / "y", rate_events=10)
    other = tmp_path / "other"
    other.mkdir()
    (other / "analysis.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(StoreFormatError, match=r"source: .*something else"):
        trim_analysis(other, tmp_path / "y", rate_events=10)
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "y").exists()
    assert not (analysis / "sub").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert trim_analysis(analysis, empty, rate_events=10) == empty


def test_cli(analysis: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert "analysis-trim" in runner.invoke(cli, ["--help"]).output
    out = tmp_path / "cli"
    args = ["analysis-trim", str(analysis), str(out), "--rate-events", "100", "--seed", "2"]
    result = runner.invoke(cli, [*args, "--float64"])
    assert result.exit_code == 0, result.output
    assert "1,000 → 100 rate events" in result.output
    rate = json.loads((out / "analysis.json").read_text())["rate_model"]
    assert rate["trimmed_from"]["seed"] == 2
    assert rate["trimmed_from"]["float32"] is False
    assert _rate_arrays(out)["coefficients"].dtype == np.float64
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "OutputError: destination" in result.output
    result = runner.invoke(cli, [*args[:2], str(tmp_path / "z"), "--rate-events", "0"])
    assert result.exit_code == 1
    assert "InputError: rate_events" in result.output


def test_attached_nuisances_and_components_are_kept(analysis: Path, tmp_path: Path) -> None:
    """The ``nuisances/`` and ``components/`` folders of an analysis survive trimming."""
    import shutil

    source = tmp_path / "with_attachments"
    shutil.copytree(analysis, source)
    for folder in ("nuisances/lep_scale_e", "components/zz_4l"):
        (source / folder).mkdir(parents=True)
        (source / folder / "weights.bin").write_bytes(folder.encode())
    out = trim_analysis(source, tmp_path / "trimmed", rate_events=100, seed=1)
    for folder in ("nuisances/lep_scale_e", "components/zz_4l"):
        assert (out / folder / "weights.bin").read_bytes() == folder.encode()
    plain = trim_analysis(analysis, tmp_path / "plain", rate_events=100, seed=1)
    assert not (plain / "nuisances").exists()
    assert not (plain / "components").exists()
