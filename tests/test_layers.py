"""The import layering of docs/design.md's data flow, as import-linter contracts.

A lower stage never imports a later one (theory < events < madgraph < production <
simulate < nn < estimators, generative < inference, plotting < analysis < studies < cli),
and the array stages and the figures never import torch.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
CONFIG = ROOT / ".importlinter"


def lint_imports() -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "lint-imports"
    if not executable.exists():
        pytest.fail(f"{executable} is missing: install the test extra (import-linter>=2)")
    return subprocess.run(
        [str(executable), "--no-cache", "--no-logo", str(CONFIG)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def contracts() -> dict[str, configparser.SectionProxy]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    prefix = "importlinter:contract:"
    return {s[len(prefix) :]: parser[s] for s in parser.sections() if s.startswith(prefix)}


def test_every_contract_is_kept() -> None:
    run = lint_imports()
    assert run.returncode == 0, run.stdout + run.stderr
    n = len(contracts())
    assert f"Contracts: {n} kept, 0 broken." in run.stdout, run.stdout


def test_the_layers_follow_the_data_flow() -> None:
    # The order of docs/design.md, top to bottom; a layer line may hold siblings ("a | b", "a : b").
    stages = contracts()["stages"]
    assert stages["exhaustive"].strip() == "True"
    layers = [line.strip() for line in stages["layers"].splitlines() if line.strip()]
    position = {}
    for i, line in enumerate(layers):
        for name in line.replace(":", "|").split("|"):
            position[name.strip()] = i
    flow = ["cli", "studies", "inference", "estimators", "nn", "simulate", "events", "theory"]
    assert [position[s] for s in flow] == sorted(position[s] for s in flow)
    assert len({position[s] for s in flow}) == len(flow)
    # The plugin writes the store; the plots take arrays from the networks' outputs.
    assert position["events"] > position["madgraph"] > position["simulate"]
    assert position["plotting"] < position["generative"]


def test_torch_stays_out_of_the_array_stages() -> None:
    contract = contracts()["no-torch"]
    sources = {line.strip() for line in contract["source_modules"].splitlines() if line.strip()}
    assert {"madsbi.theory", "madsbi.events", "madsbi.inference", "madsbi.plotting"} <= sources
    assert contract["forbidden_modules"].split() == ["torch"]
