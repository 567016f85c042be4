"""The root attribute format_version: wrong types and unknown versions are typed errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.errors import StoreFormatError, StoreVersionError
from madsbi.events import schema
from madsbi.events.store import EventStore

from helpers.stores import make_meta, random_parton, write_store


@pytest.fixture
def store(tmp_path: Path, rng: np.random.Generator) -> Path:
    return write_store(tmp_path / "s.h5", make_meta(), [random_parton(rng, 5)])


@pytest.mark.parametrize(
    "value",
    [
        str(schema.FORMAT_VERSION),
        np.bytes_(str(schema.FORMAT_VERSION)),
        float(schema.FORMAT_VERSION),
        True,
        np.array([schema.FORMAT_VERSION]),
    ],
    ids=["str", "bytes", "float", "bool", "array"],
)
def test_wrong_type_is_a_format_error(store: Path, value: Any) -> None:
    with h5py.File(store, "r+") as f:
        f.attrs["format_version"] = value
    with pytest.raises(StoreFormatError, match="format_version: expected an integer") as info:
        EventStore(store)
    assert str(store) in str(info.value)
    assert not isinstance(info.value, StoreVersionError)
    result = CliRunner().invoke(cli, ["store", "inspect", str(store)])
    assert result.exit_code == 1
    assert "StoreFormatError" in result.output
    assert "format_version" in result.output
    assert result.exc_info is not None
    assert isinstance(result.exc_info[1], SystemExit)


def test_missing_version(store: Path) -> None:
    with h5py.File(store, "r+") as f:
        del f.attrs["format_version"]
    with pytest.raises(StoreFormatError, match="format_version is missing"):
        EventStore(store)


@pytest.mark.parametrize("version", [0, -1, max(schema.READABLE_VERSIONS) + 1])
def test_unknown_version(store: Path, version: int) -> None:
    with h5py.File(store, "r+") as f:
        f.attrs["format_version"] = np.int64(version)
    with pytest.raises(StoreVersionError, match=f"format version {version};") as info:
        EventStore(store)
    assert str(store) in str(info.value)


def test_readable_versions_open(store: Path) -> None:
    with EventStore(store) as s:
        assert s.format_version == schema.FORMAT_VERSION
    assert schema.FORMAT_VERSION in schema.READABLE_VERSIONS
