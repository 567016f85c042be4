"""The LHE reader refuses what it used to misread (issue 15, defects 2 and 5).

Numbers: the compiled reader parsed by prefix (``+1.81x0265e+01`` read as 1.81, ``0x1.2p4`` as
0, a second number or trailing junk in a ``<wgt>`` ignored). Every number must now be one whole
token, read exactly as Python's ``float()`` reads it, or the file is refused with an error that
names the file, the event and the weight id. A property-based test (Hypothesis) checks both
halves on random values and random corruptions.

Files: gzip members after the first and bytes after the gzip data were dropped silently, so
``cat a.lhe.gz b.lhe.gz`` converted only ``a``. Every member is read now (a split document
reads whole), a second ``<LesHouchesEvents>`` document or any text after
``</LesHouchesEvents>`` is refused, and the event count is checked against the header's
``<MGGenerationInfo>``.
"""

from __future__ import annotations

import gzip
import itertools
import math
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from madsbi.errors import LheFormatError
from madsbi.events.convert import convert_lhe
from madsbi.events.lhe import LheFile

from helpers.lhe import read_text, write_lhe
from helpers.lhe_events import edit_event, event_spans, parse_events, set_weight
from helpers.wz import WEIGHT_IDS

WZ = "wz_parton_1k.lhe.gz"
_WGT_VALUE = re.compile(r"(<wgt id='[^']*'>)([^<]*)(</wgt>)")


def read_all(path: Path, **kwargs: Any) -> dict[str, np.ndarray[Any, Any]]:
    with LheFile(path, **kwargs) as lhe:
        chunks = list(lhe.chunks(100_000))
    return {k: np.concatenate([c.arrays[k] for c in chunks]) for k in ("weight", "rwgt")}


def read_error(path: Path, **kwargs: Any) -> str:
    with pytest.raises(LheFormatError) as info, LheFile(path, **kwargs) as lhe:
        for _ in lhe.chunks(100):
            pass
    assert isinstance(info.value, ValueError)
    return str(info.value)


def with_count(text: str, n_events: int) -> str:
    """``text`` with its header's ``Number of Events`` set to ``n_events``."""
    new, n = re.subn(r"(Number of Events\s*:\s*)\d+", rf"\g<1>{n_events}", text)
    assert n == 1
    return new


def first_events(text: str, n: int) -> str:
    """The header and the first ``n`` events of ``text``, closed, with a matching count."""
    spans = event_spans(text)
    body = text[: spans[n - 1][1]] + "\n</LesHouchesEvents>\n"
    return with_count(body, n)


# -- numbers in <wgt> ------------------------------------------------------------------------

BAD_TOKENS = [
    "+1.81x0265e+01",  # from the issue: was read as 1.81
    "0x1.2p4",  # hex float: was read as 0
    "+1.8170265e+01abc",  # trailing junk
    "+1.8170265e+01 +2.0e+00",  # a second number
    "+1.8170265e+01\n+2.0e+00",
    "+-1.8170265e+01",
    "++1.8170265e+01",
    "1.8170265e",
    "1.8170265e+",
    "0.18170265+002",  # Fortran's 3-digit exponent without the E
    "1.8170265D+01",  # Fortran's D exponent
    "1,8170265e+01",
    "",
    "abc",
]


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_malformed_wgt_value_is_refused_naming_file_event_and_id(
    data_dir: Path, tmp_path: Path, token: str
) -> None:
    text = read_text(data_dir / WZ)
    text = edit_event(text, 417, lambda b: set_weight(b, "p05_cHq3_p1", token))
    path = write_lhe(tmp_path / "bad.lhe.gz", text)
    message = read_error(path)
    assert str(path) in message
    assert "event 417, weight id 'p05_cHq3_p1'" in message
    assert "is not one decimal number" in message
    assert f"'{token.split()[0] if token.strip() else ''}" in message


def test_malformed_wgt_value_refused_by_convert_without_output(
    data_dir: Path, tmp_path: Path
) -> None:
    text = read_text(data_dir / WZ)
    text = edit_event(text, 3, lambda b: set_weight(b, "p01_cHWB_p1", "+1.81x0265e+01"))
    path = write_lhe(tmp_path / "bad.lhe.gz", text)
    out = tmp_path / "out.h5"
    with pytest.raises(LheFormatError, match=r"event 3, weight id 'p01_cHWB_p1'"):
        convert_lhe(path, out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.lhe.gz"]


def test_unclosed_wgt_is_refused(data_dir: Path, tmp_path: Path) -> None:
    text = read_text(data_dir / WZ)
    text = edit_event(text, 8, lambda b: b.replace("</wgt>", "", 1))
    path = write_lhe(tmp_path / "open.lhe.gz", text)
    message = read_error(path)
    assert "event 8" in message
    assert "p00_sm" in message


@pytest.mark.parametrize(
    ("field", "edit"),
    [
        ("malformed particle line 2 of event 6", lambda ln: ln.replace("e+", "x+", 1)),
        ("malformed particle line 2 of event 6", lambda ln: ln + "junk"),
        ("malformed particle line 2 of event 6", lambda ln: ln.replace("  501", " 5.01", 1)),
    ],
)
def test_particle_numbers_are_whole_tokens(
    data_dir: Path, tmp_path: Path, field: str, edit: Callable[[str], str]
) -> None:
    def garble(block: str) -> str:
        lines = block.split("\n")
        lines[3] = edit(lines[3])
        return "\n".join(lines)

    text = edit_event(read_text(data_dir / WZ), 6, garble)
    path = write_lhe(tmp_path / "particle.lhe.gz", text)
    assert field in read_error(path)


def test_event_line_numbers_are_whole_tokens(data_dir: Path, tmp_path: Path) -> None:
    def garble(block: str) -> str:
        tag, first, rest = block.split("\n", 2)
        tokens = first.split()
        tokens[2] += "junk"
        return "\n".join([tag, " ".join(tokens), rest])

    text = edit_event(read_text(data_dir / WZ), 11, garble)
    path = write_lhe(tmp_path / "eventline.lhe.gz", text)
    assert "malformed first line of event 11" in read_error(path)


@pytest.mark.parametrize(
    "token",
    [
        "18.170265",
        "+18",
        "1.8170265E+01",
        ".5",
        "5.",
        "-0.0",
        "  \t1.25e-3\n ",
        "4.9e-324",  # subnormal
        "2e-324",  # rounds to zero, as in Python
        "-0.000123e-321",
        "1.7976931349E+308",  # rounds to infinity, as in Python (convert refuses it)
        "-123.4e306",
        "1e99999999999999999999",
    ],
)
def test_valid_forms_read_as_python_float(data_dir: Path, tmp_path: Path, token: str) -> None:
    text = first_events(read_text(data_dir / WZ), 2)
    text = edit_event(text, 1, lambda b: set_weight(b, "p03_cW_p1", token))
    path = write_lhe(tmp_path / "ok.lhe", text, compress=False)
    value = read_all(path)["rwgt"][1, WEIGHT_IDS.index("p03_cW_p1")]
    assert struct.pack("<d", value) == struct.pack("<d", float(token))


# -- the same, property-based ----------------------------------------------------------------


class _SmallFile:
    """A 3-event LHE text whose 33 ``<wgt>`` values can be replaced, written to one path."""

    def __init__(self, text: str, folder: Path) -> None:
        self.text = first_events(text, 3)
        self.slots = [
            (event, wid)
            for event, parsed in enumerate(parse_events(self.text))
            for wid in parsed.rwgt
        ]
        assert len(self.slots) == 3 * len(WEIGHT_IDS)
        self.path = folder / "property.lhe"

    def write(self, values: list[str]) -> Path:
        it = iter(values)
        text = _WGT_VALUE.sub(lambda m: f"{m.group(1)}{next(it)}{m.group(3)}", self.text)
        self.path.write_text(text)
        return self.path


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> _SmallFile:
    data = Path(__file__).parents[1] / "data"
    return _SmallFile(read_text(data / WZ), tmp_path_factory.mktemp("property"))


_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_FORMATS: list[Callable[[float], str]] = [
    repr,
    lambda x: f"{x:+.7e}",  # as MadGraph writes weights
    lambda x: f"{x:.10E}",
    lambda x: f"{x:.17g}",
    lambda x: f"{x:.3f}",
    lambda x: f"{x:+.16e}",
    lambda x: f"{x:.8e}".replace("e+", "e"),
    lambda x: f"{x:.8e}".replace("e+", "e+0").replace("e-", "e-0"),
]
_SPACE = st.sampled_from(["", " ", "  ", "\t", "\n", " \n  "])


@st.composite
def valid_token(draw: st.DrawFn) -> str:
    x = draw(_FINITE)
    text = draw(st.sampled_from(_FORMATS))(x)
    if text[0] not in "+-" and draw(st.booleans()):
        text = "+" + text
    return draw(_SPACE) + text + draw(_SPACE)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(tokens=st.lists(valid_token(), min_size=33, max_size=33))
def test_property_valid_numbers_read_exactly_as_python_float(
    small_file: _SmallFile, tokens: list[str]
) -> None:
    rwgt = read_all(small_file.write(tokens))["rwgt"]
    for (event, wid), token in zip(small_file.slots, tokens, strict=True):
        got = float(rwgt[event, WEIGHT_IDS.index(wid)])
        want = float(token)
        assert struct.pack("<d", got) == struct.pack("<d", want), (token, got, want)


_JUNK = "xXgGqQzZ#@!,;:/*|&^%$?~=()[]{}"


@st.composite
def corrupted_token(draw: st.DrawFn) -> str:
    x = draw(_FINITE)
    good = draw(st.sampled_from(_FORMATS))(x)
    kind = draw(st.integers(0, 7))
    if kind == 0:  # a junk character anywhere
        at = draw(st.integers(0, len(good)))
        bad = good[:at] + draw(st.sampled_from(_JUNK)) + good[at:]
    elif kind == 1:  # a second number
        bad = f"{good}{draw(st.sampled_from([' ', '  ', chr(9), chr(10)]))}{draw(valid_token())}"
    elif kind == 2:  # hexadecimal
        bad = draw(st.sampled_from([float.hex(x), float.hex(x).replace("0x", "0X")]))
    elif kind == 3:  # two signs
        bad = draw(st.sampled_from(["+-", "-+", "++", "--"])) + good.lstrip("+-")
    elif kind == 4:  # exponent without digits
        bad = f"{x:.7e}".split("e")[0] + draw(st.sampled_from(["e", "e+", "e-", "E+"]))
    elif kind == 5:  # Fortran: a three-digit exponent without the E, or a D exponent
        mantissa = f"{abs(x) % 1:.8f}"
        bad = draw(
            st.sampled_from([f"{mantissa}-{draw(st.integers(100, 999))}", f"{x:.7e}".upper()])
        )
        bad = bad.replace("E", "D")
    elif kind == 6:  # a decimal comma
        bad = good.replace(".", ",") if "." in good else good + ",5"
    else:  # an empty value, or only a sign or a point
        bad = draw(st.sampled_from(["", "+", "-", ".", "+.", "e5"]))
    return draw(_SPACE) + bad + draw(_SPACE)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    good=st.lists(valid_token(), min_size=33, max_size=33),
    slot=st.integers(0, 32),
    bad=corrupted_token(),
)
def test_property_corrupted_numbers_are_refused(
    small_file: _SmallFile, good: list[str], slot: int, bad: str
) -> None:
    with pytest.raises(ValueError, match="could not convert"):  # Python agrees: not a number
        float(bad)
    tokens = [*good[:slot], bad, *good[slot + 1 :]]
    message = read_error(small_file.write(tokens))
    event, wid = small_file.slots[slot]
    assert str(small_file.path) in message
    assert f"event {event}, weight id '{wid}'" in message


# -- gzip members, trailing bytes, a second document -------------------------------------------


@pytest.mark.parametrize("block_bytes", [4 << 20, 1 << 16])
def test_concatenated_lhe_files_are_refused(
    data_dir: Path, tmp_path: Path, block_bytes: int
) -> None:
    raw = (data_dir / WZ).read_bytes()
    path = tmp_path / "cat.lhe.gz"
    path.write_bytes(raw + raw)  # cat a.lhe.gz a.lhe.gz
    message = read_error(path, block_bytes=block_bytes)
    assert "a second Les Houches document follows </LesHouchesEvents>" in message
    assert str(path) in message
    assert "after 1000 events" in message


def test_concatenated_lhe_files_refused_by_convert(data_dir: Path, tmp_path: Path) -> None:
    raw = (data_dir / WZ).read_bytes()
    path = tmp_path / "cat.lhe.gz"
    path.write_bytes(raw + raw)
    out = tmp_path / "out.h5"
    with pytest.raises(LheFormatError, match="second Les Houches document"):
        convert_lhe(path, out)
    assert not out.exists()


def test_plain_concatenated_lhe_files_are_refused(data_dir: Path, tmp_path: Path) -> None:
    text = read_text(data_dir / WZ)
    path = write_lhe(tmp_path / "cat.lhe", text + text, compress=False)
    assert "a second Les Houches document" in read_error(path)


@pytest.mark.parametrize(
    "tail", [b"garbage\n", b"\x00" * 512, b"\x1f", b"\x1f\x8b", gzip.compress(b"x")[:12]]
)
def test_bytes_after_the_gzip_data_are_refused(data_dir: Path, tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "tail.lhe.gz"
    path.write_bytes((data_dir / WZ).read_bytes() + tail)
    message = read_error(path)
    assert "gzip" in message
    assert str(path) in message


def test_bytes_after_the_gzip_data_message(data_dir: Path, tmp_path: Path) -> None:
    raw = (data_dir / WZ).read_bytes()
    path = tmp_path / "tail.lhe.gz"
    path.write_bytes(raw + b"appended by mistake\n")
    message = read_error(path)
    assert "goes on after the end of its gzip data" in message
    assert f"ends at compressed byte {len(raw)}" in message


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("tail", ["junk\n", "<event>\n</event>\n", "<!-- note -->\n x"])
def test_text_after_the_closing_tag_is_refused(
    data_dir: Path, tmp_path: Path, compress: bool, tail: str
) -> None:
    text = read_text(data_dir / WZ) + tail
    path = write_lhe(
        tmp_path / ("tail.lhe.gz" if compress else "tail.lhe"), text, compress=compress
    )
    message = read_error(path)
    assert "unexpected text after </LesHouchesEvents>" in message
    assert tail.split()[-1][:7] in message


@pytest.mark.parametrize("compress", [True, False])
def test_white_space_and_comments_after_the_closing_tag_are_fine(
    data_dir: Path, tmp_path: Path, compress: bool
) -> None:
    text = read_text(data_dir / WZ) + "\n \t\r\n" * 100_000 + "<!-- a comment -->\n\n"
    path = write_lhe(tmp_path / ("ws.lhe.gz" if compress else "ws.lhe"), text, compress=compress)
    assert read_all(path, block_bytes=1 << 16)["weight"].shape == (1000,)


@pytest.mark.parametrize("block_bytes", [4 << 20, 1 << 16])
def test_every_gzip_member_of_one_document_is_read(
    data_dir: Path, tmp_path: Path, block_bytes: int
) -> None:
    text = read_text(data_dir / WZ).encode()
    cuts = [0, 17, 5000, len(text) // 3, len(text) // 3, len(text) - 10, len(text)]
    members = [gzip.compress(text[a:b]) for a, b in itertools.pairwise(cuts)]
    path = tmp_path / "members.lhe.gz"
    path.write_bytes(b"".join(members))  # one of them is empty
    a, b = read_all(data_dir / WZ), read_all(path, block_bytes=block_bytes)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_truncated_last_member_is_refused(data_dir: Path, tmp_path: Path) -> None:
    text = read_text(data_dir / WZ).encode()
    half = len(text) // 2
    second = gzip.compress(text[half:])
    path = tmp_path / "short.lhe.gz"
    path.write_bytes(gzip.compress(text[:half]) + second[: len(second) - 100])
    assert "gzip stream is truncated" in read_error(path)


# -- the event count the header declares ------------------------------------------------------


@pytest.mark.parametrize("n_dropped", [1, 400])
def test_fewer_events_than_declared_are_refused(
    data_dir: Path, tmp_path: Path, n_dropped: int
) -> None:
    text = read_text(data_dir / WZ)
    spans = event_spans(text)
    start = spans[len(spans) - n_dropped][0]
    cut = text[:start] + "</LesHouchesEvents>\n"
    path = write_lhe(tmp_path / "cut.lhe.gz", cut)
    message = read_error(path)
    assert "declares 1000 events" in message
    assert f"holds {1000 - n_dropped}" in message
    assert str(path) in message


def test_more_events_than_declared_are_refused(data_dir: Path, tmp_path: Path) -> None:
    text = read_text(data_dir / WZ)
    a, b = event_spans(text)[0]
    path = write_lhe(tmp_path / "more.lhe.gz", text[:b] + "\n" + text[a:b] + text[b:])
    message = read_error(path)
    assert "declares 1000 events (<MGGenerationInfo> 'Number of Events')" in message
    assert "but the file holds 1001" in message


def test_count_mismatch_refused_by_convert(data_dir: Path, tmp_path: Path) -> None:
    text = read_text(data_dir / WZ)
    path = write_lhe(tmp_path / "miscount.lhe.gz", with_count(text, 20000))
    out = tmp_path / "out.h5"
    with pytest.raises(LheFormatError, match="declares 20000 events"):
        convert_lhe(path, out)
    assert not out.exists()
    # reading only the first events does not need the count
    report = convert_lhe(path, out, max_events=10)
    assert report.n_events == 10


def test_no_declared_count_no_check(data_dir: Path, tmp_path: Path) -> None:
    text = read_text(data_dir / WZ)
    text = re.sub(r"<MGGenerationInfo>.*?</MGGenerationInfo>", "", text, flags=re.S)
    spans = event_spans(text)
    text = text[: spans[500][0]] + "</LesHouchesEvents>\n"
    path = write_lhe(tmp_path / "nocount.lhe.gz", text)
    with LheFile(path) as lhe:
        assert lhe.header.n_events_declared is None
    assert read_all(path)["weight"].shape == (500,)
    assert math.isfinite(float(read_all(path)["weight"].sum()))
