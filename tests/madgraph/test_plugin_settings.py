"""The reweight-card commands of reweight=madsbi (no MadGraph needed)."""

from __future__ import annotations

import pytest

from madsbi.errors import ConfigError
from madsbi.madgraph.settings import parse_settings

CARD = """\
# a comment
change rwgt_dir rwgt
change helicity False
parameter cHWB SMEFT 9 -1 1
parameter cW SMEFT 2
theta0 0.1 -0.2
point extra 0.5 0.5   # trailing comment
lhe_weights on
sample_id wz
launch
"""


def test_card_is_read() -> None:
    settings = parse_settings(CARD, "card").finish()
    assert settings.names == ("cHWB", "cW")
    assert settings.parameters[0].block == "SMEFT"
    assert settings.parameters[0].code == 9
    assert settings.parameters[0].range == (-1.0, 1.0)
    assert settings.parameters[1].range is None
    assert settings.theta0 == (0.1, -0.2)
    assert settings.basis == "auto"
    assert [p.name for p in settings.extra_points] == ["extra"]
    assert settings.extra_points[0].theta == (0.5, 0.5)
    assert settings.lhe_weights is True
    assert settings.sample_id == "wz"
    assert settings.rwgt_dir == "rwgt"


def test_explicit_basis_needs_k_points() -> None:
    lines = ["parameter a SMEFT 1", "basis explicit", "basis_point b0 0", "basis_point b1 1"]
    with pytest.raises(ConfigError, match="exactly K = 3"):
        parse_settings("\n".join(lines)).finish()
    settings = parse_settings("\n".join([*lines, "basis_point b2 -1"])).finish()
    assert [p.theta for p in settings.basis_points] == [(0.0,), (1.0,), (-1.0,)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("frobnicate 3", "line 2: unknown setting 'frobnicate'"),
        ("change helicity True", "line 2: 'change helicity True'"),
        ("change model sm", "line 2: 'change model' is not supported"),
        ("set SMEFT 9 1.0", "line 2: 'set' lines"),
        ("launch --rwgt_name=x", "line 2: 'launch' takes no arguments"),
        ("parameter b SMEFT x", "line 2: parameter 'b': param-card id must be an integer"),
        ("parameter b SMEFT 3 1 -1", "line 2: parameter 'b': range needs LOW < HIGH"),
        ("parameter a SMEFT 4", "line 2: parameter 'a' is defined twice"),
        ("parameter b smeft 1", "line 2: param-card entry smeft 1 is used twice"),
        ("point p 1e", "line 2: point 'p': expected a number"),
        ("point p nan", "line 2: point 'p': expected a finite number"),
        ("lhe_weights maybe", "line 2: lhe_weights: expected on/off"),
        ("basis random", "line 2: expected 'basis auto' or 'basis explicit'"),
    ],
)
def test_bad_lines_name_the_line(line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_settings(f"parameter a SMEFT 1\n{line}\n", "card").finish()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no 'parameter"),
        ("parameter a SMEFT 1\ntheta0 0 0", "theta0 has 2 values, expected 1"),
        ("parameter a SMEFT 1\npoint p 1 2", "line 2: point 'p' has 2 values, expected 1"),
        ("parameter a SMEFT 1\nbasis_point p 1", "'basis_point' needs 'basis explicit'"),
    ],
)
def test_inconsistent_settings(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(text, "card").finish()


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="unknown setting"):
        parse_settings("bogus")
