"""The atlas_like_escaping cards (issue 26): atlas_like with escaping untracked muons and no
soft-term noise, for background analyses built on wz_reco_paper (trained with atlas_like)."""

from __future__ import annotations

import dataclasses

from madsbi.simulate.detector_card import load_card


def _fields(name: str) -> dict[str, str]:
    card = dataclasses.asdict(load_card(name))
    return {k: str(v) for k, v in card.items() if k not in ("name", "source", "path")}


def test_escaping_is_atlas_like_with_untracked_muons_escaping_and_no_noise() -> None:
    base, card, v2 = _fields("atlas_like"), _fields("atlas_like_escaping"), _fields("atlas_like_v2")
    assert load_card("atlas_like_escaping").name == "atlas_like_escaping"
    assert {k for k in card if card[k] != base[k]} == {"escaping_muons"}
    assert card["escaping_muons"] == "untracked"
    assert card["met_unclustered_noise"] == "0.0"
    # v2 differs from it by its noise only
    assert {k for k in card if card[k] != v2[k]} == {"met_unclustered_noise"}


def test_escaping_fakes_adds_atlas_like_fakes_table() -> None:
    card, fakes = _fields("atlas_like_escaping_fakes"), _fields("atlas_like_fakes")
    escaping = _fields("atlas_like_escaping")
    assert {k for k in card if card[k] != escaping[k]} == {"fakes"}
    assert card["fakes"] == fakes["fakes"]
