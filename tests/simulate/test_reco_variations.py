"""``madsbi simulate reco --variations`` / ``--shift`` on the shipped W⁺Z store (Pythia's fast
setting, a few hundred events): paired stores, shifted pseudo-data, the reader, merging."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.errors import InputError, StoreFormatError
from madsbi.events import open_store, schema
from madsbi.events.reco import read_reco, read_reco_variation, stored_variations
from madsbi.events.verify import verify_store
from madsbi.processes import wz
from madsbi.production.plan import ClusterSettings
from madsbi.simulate.detector import load_card
from madsbi.simulate.detector_card import CARDS
from madsbi.simulate.reco import RecoConfig, simulate_reco
from madsbi.simulate.reco_jobs import run_reco_jobs
from madsbi.simulate.variations import passes_all, stored_rows

N = 200
SEED = 9


@pytest.fixture(scope="module")
def wz_store():
    return sample_path("wz_leptonic")


def _invoke(*args: str) -> None:
    result = CliRunner().invoke(cli, ["simulate", "reco", *args, "--quiet"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def paired(wz_store, tmp_path_factory):
    """All variations of N events (through the CLI), and the same events with a shift."""
    folder = tmp_path_factory.mktemp("variations")
    common = ["--seed", str(SEED), "--no-smear", "--shower", "fast", "--stop", str(N)]
    _invoke(str(wz_store), str(folder / "all.h5"), *common, "--variations", "all")
    _invoke(
        str(wz_store), str(folder / "shifted.h5"), *common, "--chunk-size", "70",
        "--shift", "lep_scale_e=1",
    )  # fmt: skip
    return folder / "all.h5", folder / "shifted.h5"


def _group(path, group, fields=None):
    with open_store(path) as store:
        return store.read(group, fields)


def test_every_variation_is_stored_row_for_row(paired):
    path, _ = paired
    assert stored_variations(path) == schema.VARIATION_NAMES
    nominal = _group(path, schema.RECO)
    assert nominal.n_events == N
    with open_store(path) as store:
        for group in schema.VARIATION_GROUPS:
            assert store.column_names(group, "x") == list(wz.OBSERVABLES)
            assert store.column_names(group, "cuts") == list(wz.CUTS)
    verify = verify_store(path)
    assert verify.ok
    assert verify.digests
    assert "/reco_variations/lep_res_up/x" in verify.checked
    assert nominal["cuts"].all(axis=1).sum() >= 1


def test_lepton_scale_e_changes_only_the_electrons(paired):
    path, _ = paired
    delta = load_card().variations["lep_scale_e"]
    nominal = _group(path, schema.RECO)
    up = _group(path, schema.variation_group("lep_scale_e", "up"))
    n_jets = wz.OBSERVABLES.index("n_jets")
    np.testing.assert_array_equal(up["x"][:, n_jets], nominal["x"][:, n_jets])
    np.testing.assert_array_equal(up["cuts"][:, :3], nominal["cuts"][:, :3])  # shower, 3ℓ, jets
    # events with three leptons, none an electron, are the nominal ones bit for bit
    ids = nominal["pdg_id"]
    no_e = ~(np.abs(ids) == 11).any(axis=1) & nominal["cuts"][:, 1].astype(bool)
    assert no_e.any()
    np.testing.assert_array_equal(up["x"][no_e], nominal["x"][no_e])
    np.testing.assert_array_equal(up["momentum"][no_e], nominal["momentum"][no_e])
    # tokens in the same order: electrons scaled by exactly 1 + δ, muons identical
    same_order = (up["pdg_id"] == ids).all(axis=1) & ~no_e
    assert same_order.sum() >= 0.8 * (~no_e).sum()
    electrons = (np.abs(ids) == 11) & same_order[:, None]
    muons = (np.abs(ids) == 13) & same_order[:, None]
    assert electrons.any()
    assert muons.any()
    np.testing.assert_allclose(
        up["momentum"][electrons], nominal["momentum"][electrons] * (1 + delta), rtol=1e-14
    )
    np.testing.assert_array_equal(up["momentum"][muons], nominal["momentum"][muons])
    changed = ~np.all(up["x"] == nominal["x"], axis=1)
    assert changed[~no_e & nominal["cuts"][:, 1].astype(bool)].all()


def test_jet_scale_leaves_the_leptons(paired):
    path, _ = paired
    nominal = _group(path, schema.RECO)
    for direction in schema.DIRECTIONS:
        varied = _group(path, schema.variation_group("jet_scale", direction))
        np.testing.assert_array_equal(varied["pdg_id"], nominal["pdg_id"])
        same = (np.abs(nominal["pdg_id"]) == 11) | (np.abs(nominal["pdg_id"]) == 13)
        np.testing.assert_array_equal(varied["momentum"][same], nominal["momentum"][same])


def test_shift_equals_the_up_variation_event_by_event(paired):
    path, shifted = paired
    up = _group(path, schema.variation_group("lep_scale_e", "up"))
    data = _group(shifted, schema.RECO)
    for name in ("x", "cuts", "momentum", "pdg_id"):
        np.testing.assert_array_equal(data[name], up[name], err_msg=name)
    with open_store(shifted) as store:
        assert '"shifts": [["lep_scale_e", 1.0]]' in store.meta.attributes["reco_config"]
        assert schema.RECO_VARIATIONS not in "".join(store.groups)


def test_reader_of_a_variation(paired):
    path, shifted = paired
    nominal = read_reco(path, need_coefficients=True)
    for name in ("lep_res", "met_soft"):
        for direction in schema.DIRECTIONS:
            varied = read_reco_variation(path, name, direction, need_coefficients=True)
            cuts = _group(path, schema.variation_group(name, direction), ["cuts"])["cuts"]
            assert varied.n_events == int(passes_all(cuts).sum())
            assert varied.n_entries == N
            assert varied.columns == nominal.columns
            # same weights and coefficients as the nominal rows of the same parents
            rows = _group(path, schema.RECO, ["weight", "parent"])
            np.testing.assert_array_equal(varied.weights, rows["weight"][varied.parents])
            assert varied.coefficients is not None
            assert varied.parent_weight_sum == nominal.parent_weight_sum
            assert varied.sigma_gen == nominal.sigma_gen
    known = ", ".join(schema.VARIATION_NAMES)
    with pytest.raises(
        InputError, match=rf"unknown detector variation 'lep_scale'; known: {known}"
    ):
        read_reco_variation(path, "lep_scale", "up")
    with pytest.raises(InputError, match="direction"):
        read_reco_variation(path, "lep_res", "sideways")
    with pytest.raises(StoreFormatError, match=r"no /reco_variations/lep_res_up .*\[\]"):
        read_reco_variation(shifted, "lep_res", "up")


def test_passed_only_keeps_events_that_a_variation_selects(wz_store, tmp_path):
    # large variations make events migrate across the cuts
    text = (CARDS / "atlas_like.toml").read_text()
    text = text.replace("met_scale = 0.10", "met_scale = 0.9").replace(
        "lep_res = 0.10", "lep_res = 0.9"
    )
    card = tmp_path / "wide.toml"
    card.write_text(text)
    config = RecoConfig(
        seed=SEED, smear=False, shower="fast", card=str(card), variations=("met_scale", "lep_res")
    )
    full, kept = tmp_path / "full.h5", tmp_path / "kept.h5"
    simulate_reco(wz_store, full, config, stop=N)
    report = simulate_reco(wz_store, kept, config, stop=N, passed_only=True)
    nominal = passes_all(_group(full, schema.RECO, ["cuts"])["cuts"])
    varied = [
        passes_all(_group(full, g, ["cuts"])["cuts"])
        for g in schema.VARIATION_GROUPS
        if g.split("/")[1].rsplit("_", 1)[0] in ("met_scale", "lep_res")
    ]
    rows = stored_rows(nominal, varied)
    assert (rows & ~nominal).any()  # some events only a variation selects
    assert report.n_passed == int(nominal.sum())
    for group in (schema.RECO, schema.variation_group("met_scale", "down")):
        a, b = _group(full, group), _group(kept, group)
        assert b.n_events == int(rows.sum())
        for name in a.arrays:
            np.testing.assert_array_equal(b[name], a[name][rows], err_msg=f"{group}/{name}")
    # the nominal reader still reads only the nominal selection
    assert read_reco(kept).n_events == int(nominal.sum())


def test_jobs_merge_with_their_variations(wz_store, tmp_path):
    config = RecoConfig(
        seed=SEED, smear=True, max_copies=3, shower="fast", variations=("jet_scale",)
    )
    one, merged = tmp_path / "one.h5", tmp_path / "merged.h5"
    simulate_reco(wz_store, one, config, stop=30, chunk_size=30)
    cluster = ClusterSettings(n_workers=1, processes=False)
    run_reco_jobs(wz_store, merged, config, n_jobs=2, stop=30, chunk_size=7, cluster=cluster)
    with open_store(one) as a, open_store(merged) as b:
        assert a.groups == b.groups
        assert schema.variation_group("jet_scale", "down") in b.groups
        for group in a.groups:
            for name in a.fields(group):
                np.testing.assert_array_equal(
                    a.read(group, [name])[name], b.read(group, [name])[name]
                )
    assert verify_store(merged).ok


def test_cli_refuses_an_unknown_variation(wz_store, tmp_path):
    out = tmp_path / "x.h5"
    result = CliRunner().invoke(
        cli, ["simulate", "reco", str(wz_store), str(out), "--variations", "lep_scale,jet_scale"]
    )
    assert result.exit_code != 0
    assert "unknown detector variation 'lep_scale'" in result.output
    assert ", ".join(schema.VARIATION_NAMES) in result.output
    assert not out.exists()
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            "reco",
            str(wz_store),
            str(out),
            "--variations",
            "all",
            "--shift",
            "lep_res=1",
        ],
    )
    assert result.exit_code != 0
    assert "give one or the other" in result.output
