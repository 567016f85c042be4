"""Parameter and ParameterSpace: validation, θ0, ranges, and index() errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from madsbi.errors import InputError, UnknownParameterError
from madsbi.theory.parameters import Parameter, ParameterSpace


def test_parameter_defaults_and_range_cast() -> None:
    p = Parameter("cHWB", block="SMEFT", code=7, range=(-1, 2))
    assert p.range == (-1.0, 2.0)
    assert all(isinstance(v, float) for v in p.range)
    assert Parameter("theta").block is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_parameter_empty_name(name: str) -> None:
    with pytest.raises(InputError, match=r"Parameter\.name: expected a non-empty string"):
        Parameter(name)


def test_parameter_block_and_code_together() -> None:
    with pytest.raises(InputError, match=r"'cW': give both block and code.*block='SMEFT'"):
        Parameter("cW", block="SMEFT")
    with pytest.raises(InputError, match=r"code=3"):
        Parameter("cW", code=3)


@pytest.mark.parametrize(
    "bad", [(1.0, 1.0), (2.0, -1.0), (math.nan, 1.0), (-math.inf, 1.0), (0.0, math.inf)]
)
def test_parameter_bad_range(bad: tuple[float, float]) -> None:
    with pytest.raises(InputError, match=r"'c': range must be finite with low < high"):
        Parameter("c", range=bad)


def test_space_basics(rng: np.random.Generator) -> None:
    theta0 = tuple(rng.normal(size=3))
    space = ParameterSpace.from_names(
        ["cW", "cHWB", "cHDD"], theta0=theta0, ranges=[(-4, 4), (-0.2, 0.2), (-0.2, 0.2)]
    )
    assert space.names == ("cW", "cHWB", "cHDD")
    assert space.n_parameters == 3
    assert space.n_coefficients == 10
    np.testing.assert_array_equal(space.theta0_array, theta0)
    assert space.theta0_array.dtype == np.float64
    np.testing.assert_array_equal(space.ranges(), [[-4, 4], [-0.2, 0.2], [-0.2, 0.2]])
    for i, name in enumerate(space.names):
        assert space.index(name) == i


def test_space_default_theta0_is_zero() -> None:
    space = ParameterSpace((Parameter("a"), Parameter("b")))
    assert space.theta0 == (0.0, 0.0)
    assert ParameterSpace.from_names(["a"]).theta0 == (0.0,)
    empty = ParameterSpace(())
    assert empty.n_parameters == 0
    assert empty.n_coefficients == 1
    assert empty.ranges().shape == (0, 2)


def test_space_accepts_a_list_of_parameters() -> None:
    space = ParameterSpace([Parameter("a"), Parameter("b")])  # type: ignore[arg-type]
    assert isinstance(space.parameters, tuple)
    assert space.names == ("a", "b")


def test_space_duplicate_names() -> None:
    with pytest.raises(InputError, match=r"names must be unique, repeated: \['a'\]"):
        ParameterSpace.from_names(["a", "b", "a"])


def test_space_theta0_length() -> None:
    with pytest.raises(InputError, match=r"theta0: expected 2 values .* got 3"):
        ParameterSpace.from_names(["a", "b"], theta0=[0.0, 1.0, 2.0])


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_space_theta0_finite(bad: float) -> None:
    with pytest.raises(InputError, match="theta0: values must be finite"):
        ParameterSpace.from_names(["a", "b"], theta0=[0.0, bad])


def test_space_ranges_errors() -> None:
    with pytest.raises(InputError, match="ranges: expected 2 ranges, got 1"):
        ParameterSpace.from_names(["a", "b"], ranges=[(0, 1)])
    space = ParameterSpace((Parameter("a", range=(0, 1)), Parameter("b")))
    with pytest.raises(InputError, match=r"parameters without a range: \['b'\]"):
        space.ranges()


def test_index_unknown_parameter() -> None:
    space = ParameterSpace.from_names(["cW", "cHWB"])
    with pytest.raises(UnknownParameterError, match="unknown parameter 'cHDD'") as info:
        space.index("cHDD")
    assert "known parameters: ['cW', 'cHWB']" in str(info.value)
    assert isinstance(info.value, InputError)
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
