"""``store mix``: unweighted pseudo-data drawn from several processes' reco stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from madsbi.errors import InputError, MadSBIWarning, StoreMismatchError
from madsbi.events import schema
from madsbi.events.meta import StoreMeta
from madsbi.events.mix import mix_stores, parse_point
from madsbi.events.reco import read_reco
from madsbi.events.store import EventStore
from madsbi.events.writer import StoreWriter
from madsbi.theory.parameters import ParameterSpace

from helpers.stores import BASIS_OFFSETS

COLUMNS = ["m", "kind"]


def _signal(path: Path, n: int = 400, seed: int = 0) -> Path:
    """A θ-dependent reco store over (a, b): one passing entry per parent, kind = 0."""
    rng = np.random.default_rng(seed)
    space = ParameterSpace.from_names(["a", "b"], theta0=[0.0, 0.0])
    meta = StoreMeta(space, tuple(f"p{i}" for i in range(6)), BASIS_OFFSETS, "signal")
    c = np.zeros((n, 6))
    c[:, 0] = rng.uniform(0.5, 1.5, n) * 1e-3  # pb
    c[:, 1] = c[:, 0] * rng.normal(0.5, 0.2, n)  # linear in a
    c[:, 3] = c[:, 0] * 0.3  # a²
    x = np.stack([rng.normal(90, 5, n), np.zeros(n)], axis=1)
    with StoreWriter(path, meta) as writer:
        writer.append("parton", {"weight": c[:, 0].copy(), "coefficients": c})
        reco = {"x": x, "weight": c[:, 0].copy(), "parent": np.arange(n)}
        writer.append("reco", reco, names={"x": COLUMNS})
    return path


def _weighted_background(path: Path, n: int = 600, *, kind: float = 1.0) -> Path:
    """A θ-independent store of weighted entries: weights 1 and 3 (× 1e-4 pb), kind = 1."""
    meta = StoreMeta(
        ParameterSpace((), ()),
        ("nominal",),
        np.zeros((1, 0)),
        "background",
        attributes={schema.THETA_INDEPENDENT: True},
    )
    w = np.full(n, 2e-4)
    heavy = np.arange(n) % 2 == 1
    reco_w = np.where(heavy, 3e-4, 1e-4)
    x = np.stack([np.where(heavy, 1.0, 0.0), np.full(n, kind)], axis=1)
    with StoreWriter(path, meta) as writer:
        writer.append("parton", {"weight": w, "coefficients": w[:, None]})
        cuts = np.ones((n, 1), dtype=np.uint8)
        cuts[::7] = 0  # some entries fail the selection and are never drawn
        reco = {"x": x, "weight": reco_w, "parent": np.arange(n), "cuts": cuts}
        writer.append("reco", reco, names={"x": COLUMNS, "cuts": ["all"]})
    return path


def _sigma_fid(path: Path) -> float:
    return read_reco(path).sigma_fid


def test_counts_follow_poisson_of_sigma_times_luminosity(tmp_path: Path) -> None:
    sig, bkg = _signal(tmp_path / "s.h5"), _weighted_background(tmp_path / "b.h5")
    lumi = 30.0
    nu = [lumi * 1000 * _sigma_fid(p) for p in (sig, bkg)]
    counts = []
    for seed in range(40):
        report = mix_stores(tmp_path / f"m{seed}.h5", [sig, bkg], luminosity=lumi, seed=seed)
        np.testing.assert_allclose([i.expected for i in report.inputs], nu, rtol=1e-12)
        counts.append([i.drawn for i in report.inputs])
        (tmp_path / f"m{seed}.h5").unlink()
    mean = np.mean(counts, axis=0)
    # the mean of 40 Poisson counts within 4 standard errors
    assert np.all(np.abs(mean - nu) < 4 * np.sqrt(np.asarray(nu) / 40)), (mean, nu)
    assert np.var(np.asarray(counts)[:, 0]) > 0.3 * nu[0]  # Poisson spread, not fixed counts


def test_seed_reproducible_and_output_reads_as_counted_reco_data(tmp_path: Path) -> None:
    sig, bkg = _signal(tmp_path / "s.h5"), _weighted_background(tmp_path / "b.h5")
    a = mix_stores(tmp_path / "a.h5", [sig, bkg], luminosity=100.0, seed=7)
    b = mix_stores(tmp_path / "b2.h5", [sig, bkg], luminosity=100.0, seed=7)
    c = mix_stores(tmp_path / "c.h5", [sig, bkg], luminosity=100.0, seed=8)
    ea, eb, ec = (read_reco(r.path) for r in (a, b, c))
    np.testing.assert_array_equal(ea.x, eb.x)
    assert ea.x.shape != ec.x.shape or not np.array_equal(ea.x, ec.x)
    # labels dropped: no process, no parameters, no parents or coefficients, no cut flags
    assert ea.process == ""
    assert ea.parameters == ()
    assert ea.coefficients is None
    assert ea.parents is None
    assert not ea.smeared
    assert ea.columns == tuple(COLUMNS)
    assert ea.n_events == a.n_events
    # σ_fid of the pseudo-data is the count over the luminosity
    np.testing.assert_allclose(ea.sigma_fid * 100.0 * 1000, a.n_events, rtol=1e-12)
    # the processes are shuffled together: kinds interleave
    kinds = ea.column("kind")
    assert 0 < kinds.mean() < 1
    assert np.any(np.diff(kinds) != 0)
    assert np.count_nonzero(np.diff(kinds)) > 2
    with EventStore(a.path) as store:
        assert schema.RECO in store.groups
        report = json.loads(store.meta.shards[0].report)
    assert [i["drawn"] for i in report["inputs"]] == [i.drawn for i in a.inputs]


def test_acceptance_rejection_follows_the_weights(tmp_path: Path) -> None:
    bkg = _weighted_background(tmp_path / "b.h5", n=3000)
    report = mix_stores(tmp_path / "m.h5", [bkg], luminosity=1000.0, seed=3)
    x = read_reco(report.path).column("m")
    assert report.inputs[0].with_replacement is False
    # heavy entries (weight 3) are 3/4 of the weighted sample
    frac, n = x.mean(), x.size
    assert abs(frac - 0.75) < 4 * np.sqrt(0.75 * 0.25 / n)


def test_too_small_store_is_drawn_with_replacement_and_named(tmp_path: Path) -> None:
    bkg = _weighted_background(tmp_path / "b.h5", n=60)
    with pytest.warns(MadSBIWarning, match=r"b\.h5.*effective sample size"):
        report = mix_stores(tmp_path / "m.h5", [bkg], luminosity=3000.0, seed=1)
    assert report.inputs[0].with_replacement
    assert report.inputs[0].drawn > 60


def test_at_reweights_with_the_exact_coefficients(tmp_path: Path) -> None:
    sig, bkg = _signal(tmp_path / "s.h5"), _weighted_background(tmp_path / "b.h5")
    theta = {"a": 1.5, "b": -0.5}
    with EventStore(sig) as store:
        ratio = store.cross_section([[1.5, -0.5]])[0] / store.cross_section([[0.0, 0.0]])[0]
    assert ratio > 1.5
    lumi = 30.0
    nu_sig = lumi * 1000 * _sigma_fid(sig)
    nu_bkg = lumi * 1000 * _sigma_fid(bkg)
    counts = []
    for seed in range(40):
        out = tmp_path / f"at{seed}.h5"
        report = mix_stores(out, [sig, bkg], luminosity=lumi, seed=seed, at=theta)
        expected = [i.expected for i in report.inputs]
        np.testing.assert_allclose(expected, [nu_sig * ratio, nu_bkg], rtol=1e-10)
        counts.append(report.inputs[0].drawn)
        out.unlink()
    assert abs(np.mean(counts) - nu_sig * ratio) < 4 * np.sqrt(nu_sig * ratio / 40)
    # the text form gives the same
    again = mix_stores(tmp_path / "t.h5", [sig], luminosity=lumi, seed=0, at="a=1.5,b=-0.5")
    np.testing.assert_allclose(again.inputs[0].expected, nu_sig * ratio, rtol=1e-10)


def test_asimov_keeps_every_passed_entry_with_its_weight_at_theta(tmp_path: Path) -> None:
    """--asimov: no draw; σ_fid of the store is Σ_p σ_fid,p(θ), each entry its own share."""
    sig, bkg = _signal(tmp_path / "s.h5"), _weighted_background(tmp_path / "b.h5")
    with EventStore(sig) as store:
        ratio = store.cross_section([[1.5, -0.5]])[0] / store.cross_section([[0.0, 0.0]])[0]
    report = mix_stores(
        tmp_path / "asimov.h5", [sig, bkg], luminosity=300.0, seed=3, at="a=1.5,b=-0.5",
        asimov=True,
    )  # fmt: skip
    passed = [400, 600 - len(range(0, 600, 7))]
    assert [i.drawn for i in report.inputs] == passed
    assert not any(i.with_replacement for i in report.inputs)
    data = read_reco(report.path)
    assert data.n_events == sum(passed)
    kind = data.column("kind")
    w = data.fiducial_weights
    np.testing.assert_allclose(w[kind == 0].sum(), _sigma_fid(sig) * ratio, rtol=1e-10)
    np.testing.assert_allclose(w[kind == 1].sum(), _sigma_fid(bkg), rtol=1e-12)
    # the θ-independent background keeps each passed entry's own fiducial weight: its stored
    # weight (1 or 3 × 1e-4) × σ / Σ w_parton = 1 / 600 (600 parents of 2e-4 pb, mean σ)
    heavy = data.column("m")[kind == 1] == 1.0
    np.testing.assert_allclose(w[kind == 1], np.where(heavy, 3e-4, 1e-4) / 600, rtol=1e-12)
    np.testing.assert_allclose(data.sigma_fid, w.sum(), rtol=1e-12)
    np.testing.assert_allclose(
        [i.expected for i in report.inputs],
        [300e3 * _sigma_fid(sig) * ratio, 300e3 * _sigma_fid(bkg)],
        rtol=1e-10,
    )
    with EventStore(report.path) as store:
        assert store.meta.attributes[schema.ASIMOV_DATA] is True
        assert json.loads(store.meta.shards[0].report)["asimov"] is True
    drawn = mix_stores(tmp_path / "counts.h5", [sig, bkg], luminosity=10.0, seed=3)
    with EventStore(drawn.path) as store:
        assert store.meta.attributes[schema.ASIMOV_DATA] is False


def test_refusals(tmp_path: Path) -> None:
    sig, bkg = _signal(tmp_path / "s.h5"), _weighted_background(tmp_path / "b.h5")
    with pytest.raises(InputError, match=r"s\.h5.*missing \['b'\].*store embed"):
        mix_stores(tmp_path / "o.h5", [sig], luminosity=1.0, seed=0, at={"a": 1.0})
    with pytest.raises(InputError, match=r"not in the store \['c'\]"):
        mix_stores(tmp_path / "o.h5", [sig], luminosity=1.0, seed=0, at="a=1,b=0,c=2")
    with pytest.raises(InputError, match="luminosity"):
        mix_stores(tmp_path / "o.h5", [sig], luminosity=0.0, seed=0)
    with pytest.raises(InputError, match="at: expected"):
        parse_point("a=1,b")
    with pytest.raises(InputError, match="store mix"):
        mix_stores(sig, [sig], luminosity=1.0, seed=0)
    other = tmp_path / "other.h5"
    meta = StoreMeta(ParameterSpace((), ()), ("n",), np.zeros((1, 0)), "x")
    with StoreWriter(other, meta) as writer:
        writer.append("parton", {"weight": np.ones(3), "coefficients": np.ones((3, 1))})
        writer.append("reco", {"x": np.ones((3, 1)), "weight": np.ones(3)}, names={"x": ["z"]})
    with pytest.raises(StoreMismatchError, match=r"columns \['z'\]") as info:
        mix_stores(tmp_path / "o.h5", [bkg, other], luminosity=1.0, seed=0)
    assert info.value.field == "/reco/x"
    smeared = tmp_path / "smeared.h5"
    with StoreWriter(smeared, meta) as writer:
        writer.append("parton", {"weight": np.ones(3), "coefficients": np.ones((3, 1))})
        reco: dict[str, Any] = {
            "x": np.ones((3, 2)),
            "weight": np.full(3, 0.5),
            "smearing_weight": np.full(3, 0.5),
        }
        writer.append("reco", reco, names={"x": COLUMNS})
    with pytest.raises(InputError, match="smeared"):
        mix_stores(tmp_path / "o.h5", [smeared], luminosity=1.0, seed=0)
    assert not (tmp_path / "o.h5").exists()


def test_cli_mix(tmp_path: Path) -> None:
    from madsbi.cli.store_mix import mix

    sig, bkg = _signal(tmp_path / "s.h5"), _weighted_background(tmp_path / "b.h5")
    out = tmp_path / "data.h5"
    args = [str(out), str(sig), str(bkg), "--luminosity", "20", "--seed", "4", "--at", "a=1,b=0"]
    result = CliRunner().invoke(mix, args)
    assert result.exit_code == 0, result.output
    assert "σ_fid" in result.output
    assert f"wrote {out}" in result.output
    assert read_reco(out).n_events > 0
    asimov = tmp_path / "asimov.h5"
    result = CliRunner().invoke(mix, [str(asimov), *args[1:], "--asimov"])
    assert result.exit_code == 0, result.output
    assert "weighted entries (Asimov)" in result.output
    assert read_reco(asimov).n_events == 400 + 600 - len(range(0, 600, 7))


def test_store_passing_nothing_contributes_nothing(tmp_path: Path) -> None:
    sig = _signal(tmp_path / "s.h5")
    meta = StoreMeta(ParameterSpace((), ()), ("n",), np.zeros((1, 0)), "zz")
    empty = tmp_path / "empty.h5"
    with StoreWriter(empty, meta) as writer:
        writer.append("parton", {"weight": np.ones(3), "coefficients": np.ones((3, 1))})
        reco = {"x": np.ones((3, 2)), "weight": np.ones(3), "cuts": np.zeros((3, 1), np.uint8)}
        writer.append("reco", reco, names={"x": COLUMNS, "cuts": ["all"]})
    with pytest.warns(MadSBIWarning, match=r"empty\.h5: no /reco entry passes"):
        report = mix_stores(tmp_path / "m.h5", [sig, empty], luminosity=50.0, seed=2)
    assert report.inputs[1].drawn == 0
    assert report.inputs[1].expected == 0.0
    assert report.n_events == report.inputs[0].drawn > 0
