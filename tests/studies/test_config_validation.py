"""Study configs: a value of the wrong type or out of range is a ConfigError naming the file,
the section and the key, raised while the config is read, before any study code runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.config import build, coerce
from madsbi.errors import ConfigError
from madsbi.production.plan import ProductionPlan
from madsbi.studies.binn_config import BINNStudyConfig
from madsbi.studies.toy_config import ToyStudyConfig
from madsbi.studies.wz_config import WZStudyConfig

# The CLI command, the study module whose run function must never be reached, its name.
COMMANDS = {
    "toy": (["toy", "run"], "madsbi.studies.toy", "run_toy_study"),
    "wz": (["run"], "madsbi.studies.wz", "run_wz_study"),
    "binn": (["binn", "run"], "madsbi.studies.binn", "run_binn_study"),
}

# (study, section, key, TOML literal of a bad value, words the message must contain)
BAD_VALUES = [
    ("toy", "training", "epochs", "2.5", "expected an integer"),
    ("toy", "network", "members", "2.5", "expected an integer"),
    ("toy", "training", "batch_size", "100.5", "expected an integer"),
    ("toy", "study", "n_test", "2000.5", "expected an integer"),
    ("toy", "study", "seed", '"zero"', "expected an integer"),
    ("toy", "study", "seed", "true", "expected an integer"),
    ("toy", "study", "alpha", '"big"', "expected a number"),
    ("toy", "study", "alpha", "nan", "expected a finite number"),
    ("toy", "study", "theta_test", "inf", "expected a finite number"),
    ("toy", "study", "grid", '"wide"', "expected an array"),
    ("toy", "study", "grid", "[-1.5, 1.5, 21.7]", "expected an integer"),
    ("toy", "study", "grid", "[-1.5, 1.5]", "expected an array of 3 values"),
    ("toy", "study", "band_sigmas", "-2", "expected > 0"),
    ("toy", "study", "methods", '"derivative"', "expected an array"),
    ("toy", "network", "hidden", '["a"]', "expected an integer"),
    ("toy", "network", "hidden", "[8.5, 8]", "expected an integer"),
    ("toy", "training", "bootstrap", "1", "expected true or false"),
    ("toy", "training", "device", "0", "expected a string"),
    ("toy", "smearing", "threshold", "-0.5", "expected > 0"),
    ("toy", "coverage", "method", '"single_network_morphing"', "is not among [study] methods"),
    ("wz", "analysis", "seed", '"zero"', "expected an integer"),
    ("wz", "analysis", "points_1d", "21.7", "expected an integer"),
    ("wz", "analysis", "ranges", "[[-4, 4], [-0.4], [-0.4, 0.4]]", "expected an array of 2"),
    ("wz", "analysis", "band_sigmas", '"two"', "expected a number"),
    ("wz", "network", "hidden", "[8.5, 8]", "expected an integer"),
    ("wz", "morphing", "repulsion", '"none"', "expected a number"),
    ("wz", "training", "epochs", "2.5", "expected an integer"),
    ("binn", "evaluation", "sigma_at", '"x"', "expected a number"),
    ("binn", "evaluation", "band_sigmas", "-2", "band_sigmas"),
    ("binn", "evaluation", "n_draws", "30.5", "expected an integer"),
    ("binn", "study", "seed", '"zero"', "expected an integer"),
    ("binn", "study", "training_sizes", "[1000, 2000.5]", "expected an integer"),
    ("binn", "network", "hidden", '["a"]', "expected an integer"),
    ("binn", "training", "n_updates", "1e2.5", ""),  # not TOML at all: named by the parser
    ("binn", "training", "batch_size", "100.5", "expected an integer"),
]


class _Reached(Exception):
    """Raised by the stand-in for the study function: config loading was passed."""


def _invoke(study: str, config: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run the CLI on ``config``; return the result and the calls the study function got."""
    args, module, function = COMMANDS[study]
    calls: list[Any] = []

    def reached(*a: Any, **k: Any) -> None:
        calls.append((a, k))
        raise _Reached

    monkeypatch.setattr(f"{module}.{function}", reached, raising=True)
    result = CliRunner().invoke(cli, [*args, str(config), "--out", str(out), "--quiet"])
    return result, calls


@pytest.mark.parametrize(("study", "section", "key", "literal", "words"), BAD_VALUES)
def test_bad_value_is_named_before_any_compute(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    study: str,
    section: str,
    key: str,
    literal: str,
    words: str,
) -> None:
    config = tmp_path / f"{study}_bad.toml"
    config.write_text(f"[{section}]\n{key} = {literal}\n")
    out = tmp_path / "out"
    result, calls = _invoke(study, config, out, monkeypatch)
    assert result.exit_code == 1, result.output
    assert calls == []  # the study (training, data, figures) never started
    assert not out.exists()
    assert "ConfigError" in result.output
    assert str(config) in result.output
    if words:  # a TOML syntax error names the line rather than the key
        assert f"[{section}]" in result.output
        assert key in result.output
        assert words in result.output


@pytest.mark.parametrize("study", sorted(COMMANDS))
def test_valid_config_reaches_the_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, study: str
) -> None:
    """The control: a valid file passes config loading and calls the study exactly once."""
    config = tmp_path / "good.toml"
    config.write_text("[training]\nbatch_size = 2e2\n")  # an integral float is an integer
    result, calls = _invoke(study, config, tmp_path / "out", monkeypatch)
    assert isinstance(result.exception, _Reached)
    assert len(calls) == 1
    settings = calls[0][0][0]
    assert settings.training.batch_size == 200
    assert isinstance(settings.training.batch_size, int)


@pytest.mark.parametrize("study", sorted(COMMANDS))
def test_non_utf8_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, study: str
) -> None:
    config = tmp_path / "latin1.toml"
    config.write_bytes(b"# Gr\xfc\xdfe\n[training]\nbatch_size = 256\n")
    result, calls = _invoke(study, config, tmp_path / "out", monkeypatch)
    assert result.exit_code == 1
    assert calls == []
    assert "ConfigError" in result.output
    assert str(config) in result.output
    assert "UTF-8" in result.output
    assert "line 1" in result.output


def test_coverage_method_off_is_accepted_when_coverage_is_disabled() -> None:
    document = {
        "study": {"methods": ["smearing"]},
        "coverage": {"enabled": False, "method": "derivative"},
    }
    config = ToyStudyConfig.from_dict(document, "smearing.toml")
    assert config.study.methods == ("smearing",)
    with pytest.raises(ConfigError, match=r"smearing\.toml: \[coverage\] method"):
        ToyStudyConfig.from_dict({"study": {"methods": ["smearing"]}}, "smearing.toml")


def test_nested_tuples_and_optionals_are_typed() -> None:
    wz = WZStudyConfig.from_dict(
        {
            "analysis": {"ranges": [[-4, 4], [-1, 1], [-1, 1]]},
            "morphing": {"repulsion": 3, "basis": [[1, 0, 0]]},
        }
    )
    assert wz.analysis.ranges == ((-4.0, 4.0), (-1.0, 1.0), (-1.0, 1.0))
    assert all(isinstance(v, float) for pair in wz.analysis.ranges for v in pair)
    assert wz.morphing.repulsion == 3.0
    assert isinstance(wz.morphing.repulsion, float)
    assert wz.morphing.basis == ((1.0, 0.0, 0.0),)
    with pytest.raises(ConfigError, match=r"w\.toml: \[morphing\] basis\[0\]\[1\]"):
        WZStudyConfig.from_dict({"morphing": {"basis": [[1, "x", 0]]}}, "w.toml")
    binn = BINNStudyConfig.from_dict({"study": {"training_sizes": [1e3, 2000]}})
    assert binn.study.training_sizes == (1000, 2000)


def test_production_plan_values_are_typed() -> None:
    plan = {"production": {"name": "p", "n_jobs": 2.5}}
    with pytest.raises(ConfigError, match=r"\[production\] n_jobs: expected an integer"):
        ProductionPlan.from_mapping(plan)
    cluster = {
        "production": {"name": "p", "job": "m.jobs:run"},
        "cluster": {"jobqueue": "slurm"},
    }
    with pytest.raises(ConfigError, match=r"\[cluster\] jobqueue: expected a table"):
        ProductionPlan.from_mapping(cluster)


def test_coerce_names_the_element() -> None:
    with pytest.raises(ConfigError, match=r"\[s\] k\[1\]: expected a string, got 3 \(int\)"):
        coerce(["a", 3], tuple[str, ...], "[s] k")
    assert coerce([1, 2], tuple[float, ...], "[s] k") == (1.0, 2.0)
    with pytest.raises(ConfigError, match=r"\[s\] k: expected true or false"):
        coerce("yes", bool, "[s] k")
    with pytest.raises(ConfigError, match=r"\[network\]: expected a table"):
        build(type(ToyStudyConfig().network), 3, "network")  # type: ignore[arg-type]
