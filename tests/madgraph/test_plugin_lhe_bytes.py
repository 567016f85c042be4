"""``lhe_weights`` on an LHE file with bytes that are not UTF-8: the weights are added and every
other byte is kept (before, the copy failed with a UnicodeDecodeError after the full
matrix-element pass)."""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from madsbi.cards import ParamCard
from madsbi.events.lhe import LheChunk, LheFile
from madsbi.events.store import EventStore
from madsbi.madgraph.lhe_weights import write_weighted_lhe
from madsbi.madgraph.plan import ParamKey, make_plan
from madsbi.madgraph.reweight import run_reweighting
from madsbi.madgraph.settings import parse_settings

KEYS: tuple[ParamKey, ...] = (("SMEFT", 9), ("SMEFT", 2))
CARD = "parameter cHWB SMEFT 9 -1 1\nparameter cW SMEFT 2 -1 1\npoint check1 0.3 -0.7\n"
EVENT_BYTES = b"# caf\xe9 \xff comment\n"
HEADER_BYTES = b"<!-- r\xe9sum\xe9 -->\n"


class _ME:
    """|M|² = (1 + u·θ)² + (v·θ)² + 0.5, u and v from the event's momenta; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, chunk: LheChunk, points: Sequence[Mapping[ParamKey, float]]) -> np.ndarray:
        self.calls += 1
        p = chunk.arrays["momentum"][:, 2:4, 1:3].reshape(chunk.n_events, -1)
        u, v = np.sin(p[:, :2]) * 0.8, np.cos(p[:, 2:4]) * 0.6
        out = np.empty((chunk.n_events, len(points)))
        for j, changes in enumerate(points):
            theta = np.array([changes.get(k, 0.0) for k in KEYS])
            out[:, j] = (1 + u @ theta) ** 2 + (v @ theta) ** 2 + 0.5
        return out


def _with_bad_bytes(data_dir: Path, target: Path) -> bytes:
    raw = gzip.decompress((data_dir / "wz_parton_1k.lhe.gz").read_bytes())
    raw = raw.replace(b"<MGVersion>", HEADER_BYTES + b"<MGVersion>", 1)
    first_end = raw.index(b"</event>")
    raw = raw[:first_end] + EVENT_BYTES + raw[first_end:]
    target.write_bytes(gzip.compress(raw) if target.name.endswith(".gz") else raw)
    return raw


def _is_subsequence(small: list[bytes], large: list[bytes]) -> list[bytes]:
    """The lines of ``large`` left over after matching ``small`` in order (fails if not)."""
    extra, i = [], 0
    for line in large:
        if i < len(small) and line == small[i]:
            i += 1
        else:
            extra.append(line)
    assert i == len(small), f"original line {i} missing: {small[i]!r}"
    return extra


@pytest.mark.parametrize("name", ["unweighted_events.lhe.gz", "unweighted_events.lhe"])
def test_non_utf8_bytes_survive_lhe_weights(tmp_path: Path, data_dir: Path, name: str) -> None:
    run = tmp_path / "Events" / "run_01"
    run.mkdir(parents=True)
    events = run / name
    original = _with_bad_bytes(data_dir, events)
    with LheFile(events) as lhe:
        plan = make_plan(
            parse_settings(CARD, "card").finish(), ParamCard.parse(lhe.header.param_card)
        )
        original_ids = lhe.header.weight_ids
    me = _ME()
    report = run_reweighting(events, run / "madsbi.h5", plan, me, lhe_weights=True)
    assert report.n_events == 1000
    assert me.calls == 1  # one pass of the matrix element
    written = events.read_bytes()
    assert (written[:2] == b"\x1f\x8b") == name.endswith(".gz")  # compressed like the source
    new = gzip.decompress(written) if name.endswith(".gz") else written
    assert HEADER_BYTES in new
    assert EVENT_BYTES in new
    extra = _is_subsequence(original.splitlines(True), new.splitlines(True))
    # Only the weight group and one <wgt> per point and event were added.
    wgt = [line for line in extra if line.startswith(b"<wgt id='")]
    assert len(wgt) == 1000 * len(plan.point_ids)
    with LheFile(events) as lhe:
        assert lhe.header.weight_ids == [*original_ids, *plan.point_ids]
        rwgt = next(lhe.chunks(2000)).arrays["rwgt"][:, len(original_ids) :]
    with EventStore(run / "madsbi.h5") as store:
        np.testing.assert_allclose(rwgt, store.read("parton", ["rwgt"])["rwgt"], rtol=1e-15)
    assert sorted(p.name for p in run.iterdir()) == ["madsbi.h5", name]


def test_crlf_line_endings_are_kept(tmp_path: Path, data_dir: Path) -> None:
    raw = gzip.decompress((data_dir / "wz_parton_1k.lhe.gz").read_bytes())
    source = tmp_path / "crlf.lhe"
    source.write_bytes(raw.replace(b"\n", b"\r\n"))
    with LheFile(source) as lhe:
        n = sum(chunk.n_events for chunk in lhe.chunks(500))
    target = tmp_path / "out.lhe"
    weights = iter([np.ones((n, 1))])
    assert write_weighted_lhe(source, target, ["w1"], ["set x 1"], weights) == n
    lines = target.read_bytes().splitlines(True)
    kept = _is_subsequence(source.read_bytes().splitlines(True), lines)
    assert all(b"\r" not in line for line in kept)  # only madsbi's own lines use "\n"
    assert sum(line.startswith(b"<wgt id='w1'>") for line in kept) == n
