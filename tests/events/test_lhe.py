"""The LHE reader (C++ core behind madsbi.events.lhe.LheFile): good files and bad ones."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from madsbi.errors import LheFormatError, MissingFileError
from madsbi.events.lhe import LheFile

from helpers.lhe import edited, read_text, write_lhe
from helpers.lhe_events import (
    drop_event_weight,
    edit_event,
    event_spans,
    parse_event_text,
    parse_events,
)
from helpers.wz import WEIGHT_IDS

FIXTURES = ("wz_parton_1k", "wz_leptonic_1k", "dy_1k")
WZ_IDS = list(WEIGHT_IDS)
PER_PARTICLE = (
    "pdg_id",
    "status",
    "mothers",
    "colors",
    "momentum",
    "mass",
    "lifetime",
    "helicity",
)


def _pad(array: np.ndarray[Any, Any], p: int) -> np.ndarray[Any, Any]:
    widths = [(0, 0)] * array.ndim
    widths[1] = (0, p - array.shape[1])
    return np.pad(array, widths)


def read_all(path: Path, chunk_size: int = 100_000, **kwargs: Any) -> dict[str, Any]:
    """All events of a file as one dict of arrays (particle axes padded to the widest chunk)."""
    with LheFile(path, **kwargs) as lhe:
        chunks = list(lhe.chunks(chunk_size))
    starts = [c.start for c in chunks]
    assert starts == list(np.cumsum([0] + [c.n_events for c in chunks[:-1]]))
    p = max(c.arrays["pdg_id"].shape[1] for c in chunks)
    out: dict[str, Any] = {}
    for name in chunks[0].arrays:
        parts = [c.arrays[name] for c in chunks]
        if name in PER_PARTICLE:
            parts = [_pad(a, p) for a in parts]
        out[name] = np.concatenate(parts)
    return out


def read_error(path: Path, **kwargs: Any) -> LheFormatError:
    """The LheFormatError raised while opening or iterating ``path``."""
    with pytest.raises(LheFormatError) as info, LheFile(path, **kwargs) as lhe:
        for _ in lhe.chunks(100):
            pass
    return info.value


# -- good files ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "n_particles"), [("wz_parton_1k", 4), ("wz_leptonic_1k", 8)])
def test_wz_counts(data_dir: Path, name: str, n_particles: int) -> None:
    arrays = read_all(data_dir / f"{name}.lhe.gz")
    assert arrays["weight"].shape == (1000,)
    assert np.all(arrays["n_particles"] == n_particles)
    assert arrays["momentum"].shape == (1000, n_particles, 4)
    assert arrays["rwgt"].shape == (1000, 11)


@pytest.mark.parametrize("name", FIXTURES)
def test_every_event_matches_a_hand_parse(data_dir: Path, name: str) -> None:
    path = data_dir / f"{name}.lhe.gz"
    events = parse_events(read_text(path))
    arrays = read_all(path)
    assert len(events) == 1000 == arrays["weight"].shape[0]
    np.testing.assert_array_equal(arrays["n_particles"], [e.nup for e in events])
    np.testing.assert_array_equal(arrays["weight"], [e.weight for e in events])
    np.testing.assert_array_equal(arrays["scale"], [e.scale for e in events])
    np.testing.assert_array_equal(arrays["process_id"], [e.idprup for e in events])
    for i, event in enumerate(events):
        cols = np.array(event.particles)
        n = event.nup
        np.testing.assert_array_equal(arrays["pdg_id"][i, :n], cols[:, 0])
        # LHE columns px py pz E; the store keeps (E, px, py, pz)
        np.testing.assert_array_equal(arrays["momentum"][i, :n], cols[:, [9, 6, 7, 8]])
        # padding beyond the event's own particles is zero
        assert not arrays["pdg_id"][i, n:].any()
        assert not arrays["momentum"][i, n:].any()
        if event.rwgt:
            np.testing.assert_array_equal(arrays["rwgt"][i], [event.rwgt[w] for w in WZ_IDS])


def test_dy_has_jagged_particles_and_no_weights(data_dir: Path) -> None:
    arrays = read_all(data_dir / "dy_1k.lhe.gz")
    assert arrays["weight"].shape == (1000,)
    assert set(np.unique(arrays["n_particles"])) == {4, 5}
    assert arrays["pdg_id"].shape == (1000, 5)
    assert arrays["rwgt"].shape == (1000, 0)
    np.testing.assert_allclose(arrays["weight"], 843.23)
    with LheFile(data_dir / "dy_1k.lhe.gz") as lhe:
        assert lhe.header.weight_ids == []


def test_first_event_numbers(data_dir: Path) -> None:
    path = data_dir / "wz_parton_1k.lhe.gz"
    text = read_text(path)
    start, stop = event_spans(text)[0]
    lines = text[start:stop].splitlines()
    head = lines[1].split()
    particle_lines = [ln.split() for ln in lines[2:6]]
    with LheFile(path) as lhe:
        first = next(lhe.chunks(1))
    a = first.arrays
    assert first.start == 0
    assert first.n_events == 1
    assert a["n_particles"][0] == int(head[0]) == 4
    assert a["process_id"][0] == int(head[1])
    assert a["weight"][0] == float(head[2]) == 16.3333
    assert a["scale"][0] == float(head[3])
    assert a["aqed"][0] == float(head[4])
    assert a["aqcd"][0] == float(head[5])
    for j, tok in enumerate(particle_lines):
        assert a["pdg_id"][0, j] == int(tok[0])
        assert a["status"][0, j] == int(tok[1])
        assert tuple(a["mothers"][0, j]) == (int(tok[2]), int(tok[3]))
        assert tuple(a["colors"][0, j]) == (int(tok[4]), int(tok[5]))
        expected = (float(tok[9]), float(tok[6]), float(tok[7]), float(tok[8]))
        assert tuple(a["momentum"][0, j]) == expected
        assert a["mass"][0, j] == float(tok[10])
        assert a["lifetime"][0, j] == np.float32(float(tok[11]))
        assert a["helicity"][0, j] == np.float32(float(tok[12]))
    # the pieces of the first event read directly from the file's text
    assert a["pdg_id"][0].tolist() == [-1, 2, 24, 23]
    assert a["status"][0].tolist() == [-1, -1, 1, 1]
    np.testing.assert_array_equal(
        a["momentum"][0, 2], [6.8796803209e02, -4.9260350347e01, -2.5557473783e01, -6.8099792719e02]
    )
    assert a["mass"][0, 3] == 9.11876e01
    assert a["rwgt"][0, 0] == 16.3333
    assert a["rwgt"][0, 5] == 22.856436  # p05_cHq3_p1
    assert a["rwgt"][0, 10] == 20.246514  # p10_holdout


def test_weight_columns_follow_the_header_order(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "wz_parton_1k.lhe.gz"
    with LheFile(src) as lhe:
        assert lhe.header.weight_ids == WZ_IDS
        assert all(w.group == "mg_reweighting" for w in lhe.header.weights)
        p10 = lhe.header.weights[10]
        assert set(p10.changes or ()) == {
            ("smeft", (2,), -0.7),
            ("smeft", (9,), 0.3),
            ("smeft", (25,), 0.5),
        }
        assert lhe.header.weights[0].changes == ()

    # listing an event's <wgt> lines in reverse order changes nothing: columns go by id
    def reverse_wgts(block: str) -> str:
        head, rest = block.split("<rwgt>\n", 1)
        body, tail = rest.split("</rwgt>", 1)
        lines = body.splitlines(keepends=True)
        return head + "<rwgt>\n" + "".join(reversed(lines)) + "</rwgt>" + tail

    shuffled = edited(src, tmp_path / "rev.lhe.gz", lambda t: edit_event(t, 3, reverse_wgts))
    np.testing.assert_array_equal(read_all(shuffled)["rwgt"], read_all(src)["rwgt"])


@pytest.mark.parametrize("name", ["wz_parton_1k", "wz_leptonic_1k"])
def test_header_cards(data_dir: Path, name: str) -> None:
    with LheFile(data_dir / f"{name}.lhe.gz") as lhe:
        h = lhe.header
    assert h.mg5_version == "3.5.7"
    assert "BLOCK SMEFT" in h.param_card
    assert "event_norm" in h.run_card
    assert "generate p p > w+ z" in h.proc_card
    assert h.n_events_declared == 1000
    assert h.init_cross_section is not None
    # the param card's own values are the SM point
    assert "<" not in h.param_card


def test_uncompressed_file_reads_the_same(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "wz_leptonic_1k.lhe.gz"
    plain = write_lhe(tmp_path / "plain.lhe", read_text(src), compress=False)
    a, b = read_all(src), read_all(plain)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_multi_member_gzip_reads_as_one_stream(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "wz_parton_1k.lhe.gz"
    text = read_text(src)
    # split inside an event, so that one event spans the two gzip members
    cut = event_spans(text)[500][0] + 40
    path = tmp_path / "two.lhe.gz"
    path.write_bytes(gzip.compress(text[:cut].encode()) + gzip.compress(text[cut:].encode()))
    a, b = read_all(src), read_all(path)
    assert b["weight"].shape == (1000,)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("name", FIXTURES)
def test_chunk_and_block_sizes_give_identical_arrays(data_dir: Path, name: str) -> None:
    path = data_dir / f"{name}.lhe.gz"
    reference = read_all(path, chunk_size=100_000)
    for chunk_size, block_bytes in [(1, 4 << 20), (7, 1 << 16), (333, 1 << 16), (1000, 1)]:
        other = read_all(path, chunk_size=chunk_size, block_bytes=block_bytes)
        for field_name in reference:
            np.testing.assert_array_equal(
                reference[field_name], other[field_name], err_msg=f"{field_name} {chunk_size}"
            )


def test_bytes_consumed_reaches_the_text_length(data_dir: Path) -> None:
    path = data_dir / "dy_1k.lhe.gz"
    size = len(read_text(path).encode())
    with LheFile(path, block_bytes=1 << 16) as lhe:
        consumed = [c.bytes_consumed for c in lhe.chunks(100)]
        assert lhe.bytes_consumed <= size
    assert consumed == sorted(consumed)
    assert size - 100 < consumed[-1] <= size


# -- bad files -------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.lhe.gz"
    with pytest.raises(MissingFileError, match="not found") as info:
        LheFile(missing)
    assert str(missing) in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


@pytest.mark.parametrize(
    "content", [b"hello world\n" * 50, b"", gzip.compress(b"<html>not events</html>\n")]
)
def test_not_an_lhe_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.lhe.gz"
    path.write_bytes(content)
    err = read_error(path)
    assert "not a Les Houches Event file" in str(err)
    assert str(path) in str(err)
    assert isinstance(err, ValueError)


def test_header_without_init_end(data_dir: Path, tmp_path: Path) -> None:
    text = read_text(data_dir / "dy_1k.lhe.gz")
    path = write_lhe(tmp_path / "head.lhe.gz", text[: text.index("</init>")])
    assert "truncated header" in str(read_error(path))


@pytest.mark.parametrize("block_bytes", [4 << 20, 1 << 16])
def test_file_cut_inside_an_event(data_dir: Path, tmp_path: Path, block_bytes: int) -> None:
    text = read_text(data_dir / "wz_parton_1k.lhe.gz")
    start, stop = event_spans(text)[700]
    path = write_lhe(tmp_path / "cut.lhe.gz", text[: (start + stop) // 2])
    err = read_error(path, block_bytes=block_bytes)
    assert "ends inside an <event> block" in str(err)
    assert "after 700 events" in str(err)


def test_file_without_closing_tag(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "wz_parton_1k.lhe.gz"
    path = edited(src, tmp_path / "open.lhe.gz", lambda t: t.replace("</LesHouchesEvents>", ""))
    err = read_error(path)
    assert "without </LesHouchesEvents>" in str(err)
    assert "after 1000 events" in str(err)


@pytest.mark.parametrize("block_bytes", [4 << 20, 1 << 16])
def test_gzip_corrupt(data_dir: Path, tmp_path: Path, block_bytes: int) -> None:
    raw = bytearray((data_dir / "wz_parton_1k.lhe.gz").read_bytes())
    middle = len(raw) // 2
    for i in range(middle, middle + 16):
        raw[i] ^= 0xFF
    path = tmp_path / "corrupt.lhe.gz"
    path.write_bytes(bytes(raw))
    err = read_error(path, block_bytes=block_bytes)
    assert "gzip stream is corrupt" in str(err)


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.999])
def test_gzip_truncated(data_dir: Path, tmp_path: Path, fraction: float) -> None:
    raw = (data_dir / "wz_leptonic_1k.lhe.gz").read_bytes()
    path = tmp_path / "short.lhe.gz"
    path.write_bytes(raw[: int(len(raw) * fraction)])
    err = read_error(path, block_bytes=1 << 16)
    assert "gzip stream is truncated" in str(err)


def test_event_lacking_a_weight_id(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "wz_parton_1k.lhe.gz"
    path = edited(
        src,
        tmp_path / "lack.lhe.gz",
        lambda t: edit_event(t, 417, lambda b: drop_event_weight(b, "p05_cHq3_p1")),
    )
    err = read_error(path)
    assert "event 417 lacks weight id 'p05_cHq3_p1'" in str(err)


def test_event_without_rwgt_block(data_dir: Path, tmp_path: Path) -> None:
    def strip(block: str) -> str:
        return block[: block.index("<rwgt>")] + "</event>"

    src = data_dir / "wz_parton_1k.lhe.gz"
    path = edited(src, tmp_path / "norwgt.lhe.gz", lambda t: edit_event(t, 12, strip))
    err = read_error(path)
    assert "event 12 has no <rwgt> block" in str(err)


def test_unknown_weight_id(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "wz_parton_1k.lhe.gz"
    path = edited(
        src,
        tmp_path / "unknown.lhe.gz",
        lambda t: edit_event(t, 5, lambda b: b.replace("'p03_cW_p1'", "'p99_bogus'")),
    )
    err = read_error(path)
    assert "event 5 has weight id 'p99_bogus'" in str(err)
    assert "does not declare" in str(err)


def test_duplicated_weight_id_in_an_event(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "wz_parton_1k.lhe.gz"
    path = edited(
        src,
        tmp_path / "dup.lhe.gz",
        lambda t: edit_event(t, 9, lambda b: b.replace("'p04_cW_m1'", "'p03_cW_p1'")),
    )
    err = read_error(path)
    assert "event 9 lists weight id 'p03_cW_p1' twice" in str(err)


def test_duplicated_weight_id_in_the_header(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "wz_parton_1k.lhe.gz"
    path = edited(
        src,
        tmp_path / "duphead.lhe.gz",
        lambda t: t.replace("<weight id='p04_cW_m1'>", "<weight id='p03_cW_p1'>", 1),
    )
    err = read_error(path)
    assert "'p03_cW_p1' is listed twice" in str(err)
    assert "<initrwgt>" in str(err)


def test_malformed_particle_line(data_dir: Path, tmp_path: Path) -> None:
    def garble(block: str) -> str:
        lines = block.split("\n")
        tokens = lines[3].split()
        tokens[7] = "abc"  # py of the second particle
        lines[3] = " ".join(tokens)
        return "\n".join(lines)

    src = data_dir / "wz_leptonic_1k.lhe.gz"
    path = edited(src, tmp_path / "garbled.lhe.gz", lambda t: edit_event(t, 250, garble))
    err = read_error(path)
    assert "malformed particle line 2 of event 250" in str(err)


def test_event_with_too_few_particle_lines(data_dir: Path, tmp_path: Path) -> None:
    def drop_line(block: str) -> str:
        lines = block.split("\n")
        del lines[4]
        return "\n".join(lines)

    src = data_dir / "dy_1k.lhe.gz"
    path = edited(src, tmp_path / "short_event.lhe.gz", lambda t: edit_event(t, 3, drop_line))
    err = read_error(path)
    assert "of event 3" in str(err)
    assert "malformed" in str(err)


def test_malformed_event_header_line(data_dir: Path, tmp_path: Path) -> None:
    def garble(block: str) -> str:
        first = parse_event_text(block)
        return block.replace(f"{first.nup}      1 +", f"{first.nup}      x +", 1)

    src = data_dir / "wz_parton_1k.lhe.gz"
    path = edited(src, tmp_path / "head.lhe.gz", lambda t: edit_event(t, 2, garble))
    err = read_error(path)
    assert "malformed first line of event 2" in str(err)


def test_event_with_more_particle_lines_than_declared(data_dir: Path, tmp_path: Path) -> None:
    # NUP says 5 but six particle lines follow: the reader must not silently drop the last one
    def duplicate_line(block: str) -> str:
        lines = block.split("\n")
        lines.insert(3, lines[2])
        return "\n".join(lines)

    src = data_dir / "dy_1k.lhe.gz"
    path = edited(src, tmp_path / "long_event.lhe.gz", lambda t: edit_event(t, 3, duplicate_line))
    err = read_error(path)
    assert "event 3" in str(err)
