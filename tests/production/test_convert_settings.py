"""One conversion-settings object, owned by ``events`` (issue 15, layering).

``convert_lhe`` took 15 keyword parameters that ``production.plan.ConvertSettings`` mirrored,
with the 1e-5 held-out tolerance written in three places. Now
:class:`madsbi.events.convert.ConvertSettings` holds every conversion setting and its default
once; ``convert_lhe`` takes it, the production plan's ``[convert]`` table is it, and the CLI
builds it from its options.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pytest

import madsbi.events
import madsbi.production
from madsbi.cli.store import convert as convert_command
from madsbi.errors import ConfigError, InputError
from madsbi.events.convert import DEFAULT_HOLDOUT_TOLERANCE, ConvertSettings, convert_lhe
from madsbi.events.store import EventStore
from madsbi.production import ProductionPlan, job_specs


def test_one_class_for_events_and_production() -> None:
    assert madsbi.production.ConvertSettings is ConvertSettings
    assert madsbi.events.ConvertSettings is ConvertSettings
    plan = ProductionPlan.from_mapping({"production": {"gridpack": "gp.tar.gz"}})
    assert type(plan.convert) is ConvertSettings
    assert job_specs(plan)[0].convert is plan.convert


def test_convert_lhe_takes_the_settings_not_fifteen_parameters() -> None:
    names = list(inspect.signature(convert_lhe).parameters)
    assert names == [
        "source",
        "output",
        "settings",
        "sample_id",
        "shard_id",
        "max_events",
        "overwrite",
        "progress",
        "options",
    ]


def test_the_tolerance_default_lives_in_the_settings() -> None:
    assert ConvertSettings().holdout_tolerance == DEFAULT_HOLDOUT_TOLERANCE == 1e-5
    option = next(p for p in convert_command.params if p.name == "holdout_tolerance")
    assert option.default is None  # the CLI leaves the default to ConvertSettings
    assert f"{DEFAULT_HOLDOUT_TOLERANCE:g}" in (option.help or "")
    production = ProductionPlan.from_mapping({"production": {"gridpack": "gp.tar.gz"}})
    assert production.convert == ConvertSettings()


def test_settings_are_normalised_and_checked() -> None:
    settings = ConvertSettings(parameters=["cW", "cHWB"], basis_ids=["a"], compression="none")
    assert settings.parameters == ("cW", "cHWB")
    assert settings.basis_ids == ("a",)
    assert settings.compression is None
    assert ConvertSettings(ranges={"cW": [-1, 1]}).ranges == {"cW": (-1.0, 1.0)}
    assert ConvertSettings(theta0=[0, 1]).theta0 == (0, 1)
    for bad, message in [
        ({"parameters": "cW"}, "parameters: expected a sequence of names"),
        ({"parameters": ["cW", ""]}, "parameters: expected non-empty strings"),
        ({"compression": "zstd"}, "compression: expected 'lzf', 'gzip' or 'none'"),
        ({"chunk_size": 0}, "chunk_size: expected an integer >= 1"),
        ({"max_condition": float("nan")}, "max_condition: expected a number >= 1"),
        ({"holdout_tolerance": float("inf")}, "holdout_tolerance: expected a finite number"),
        ({"ranges": {"cW": [1]}}, r"ranges\['cW'\]: expected \(low, high\)"),
    ]:
        with pytest.raises(InputError, match=message):
            ConvertSettings(**bad)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.holdout_tolerance = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"holdout_tolerance": -1.0}, r"\[convert\] holdout_tolerance: expected a finite number"),
        ({"parameters": []}, r"\[convert\] parameters: expected at least one parameter name"),
        ({"compression": "zstd"}, r"\[convert\] compression"),
        ({"chunk_size": 2.5}, r"\[convert\] chunk_size: expected an integer"),
        ({"tolerance": 1e-3}, r"\[convert\]: unknown key\(s\) \['tolerance'\]"),
    ],
)
def test_plan_convert_table_errors_name_the_table(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ProductionPlan.from_mapping({"production": {"gridpack": "gp.tar.gz"}, "convert": table})


def test_plan_convert_table_takes_every_setting() -> None:
    plan = ProductionPlan.from_mapping(
        {
            "production": {"gridpack": "gp.tar.gz"},
            "convert": {
                "parameters": ["cHWB", "cW"],
                "theta0": "cHWB=0,cW=0",
                "max_condition": 1e6,
                "chunk_size": 1000,
                "compression": "gzip",
            },
        }
    )
    assert plan.convert == ConvertSettings(
        parameters=("cHWB", "cW"),
        theta0="cHWB=0,cW=0",
        max_condition=1e6,
        chunk_size=1000,
        compression="gzip",
    )


def test_fingerprint_of_default_settings_is_unchanged() -> None:
    # what productions started before this change recorded in production.json
    plan = ProductionPlan.from_mapping({"production": {"gridpack": "gp.tar.gz"}})
    assert plan.fingerprint()["convert"] == {
        "parameters": None,
        "basis_ids": None,
        "holdout_tolerance": 1e-5,
        "keep_rwgt": True,
        "compression": "none",
    }
    changed = ProductionPlan.from_mapping(
        {"production": {"gridpack": "gp.tar.gz"}, "convert": {"max_condition": 1e6}}
    )
    assert changed.fingerprint()["convert"]["max_condition"] == 1e6


def test_settings_object_and_keyword_options_convert_alike(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "wz_parton_1k.lhe.gz"
    settings = ConvertSettings(parameters=("cHWB", "cW"), chunk_size=97, keep_rwgt=False)
    a = convert_lhe(src, tmp_path / "a.h5", settings, max_events=300)
    b = convert_lhe(
        src,
        tmp_path / "b.h5",
        parameters=["cHWB", "cW"],
        chunk_size=97,
        keep_rwgt=False,
        max_events=300,
    )
    # options override the settings object
    c = convert_lhe(src, tmp_path / "c.h5", settings, keep_rwgt=True, max_events=300)
    assert a.parameters == b.parameters == c.parameters == ("cHWB", "cW")
    with (
        EventStore(tmp_path / "a.h5") as sa,
        EventStore(tmp_path / "b.h5") as sb,
        EventStore(tmp_path / "c.h5") as sc,
    ):
        np.testing.assert_array_equal(
            sa.read("parton", ["coefficients"]).arrays["coefficients"],
            sb.read("parton", ["coefficients"]).arrays["coefficients"],
        )
        assert "rwgt" not in sa.fields("parton")
        assert "rwgt" in sc.fields("parton")
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['tolerance'\]"):
        convert_lhe(src, tmp_path / "d.h5", tolerance=1e-3)
