"""The import layering of docs/design.md's data flow, as import-linter contracts.

A lower stage never imports a later one (theory < events < madgraph < production <
simulate < nn < estimators, generative < inference, plotting < analysis < studies < cli),
the array stages and the figures never import torch, and no modules import each other in a
circle (the ``no-circles`` contract between siblings, and :func:`test_no_import_circles`
between any modules, package ``__init__`` modules included).
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import grimp
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


#: Imports left out of the search for circles, (importer, imported). Each must still exist
#: (delete its line when it goes), so the list only shrinks.
NOT_CIRCLES = {
    # ``from madsbi import _core``: the compiled module has no Python source, so the import
    # graph records an import of the package itself.
    ("madsbi._backend", "madsbi"),
    # The package root's lazy ``madsbi.load_analysis`` façade (ignored by the stages contract).
    ("madsbi", "madsbi.analysis"),
}
#: Circles known today, to be removed (none left).
KNOWN_CIRCLES: set[tuple[str, str]] = set()


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """The modules that lie on a circle of imports, one sorted group per circle (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        # Iterative depth-first search: (module, the imports still to visit).
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, todo = work[-1]
            for imported in todo:
                if imported not in index:
                    index[imported] = low[imported] = len(index)
                    stack.append(imported)
                    on_stack.add(imported)
                    work.append(
                        (imported, iter(sorted(graph.find_modules_directly_imported_by(imported))))
                    )
                    break
                if imported in on_stack:
                    low[module] = min(low[module], index[imported])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == module:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return sorted(groups)


def test_no_import_circles() -> None:
    # Between any two modules of madsbi, package __init__ modules included (which the
    # no-circles contract, comparing siblings only, does not see); TYPE_CHECKING imports do not
    # count, as in .importlinter.
    graph = grimp.build_graph("madsbi", exclude_type_checking_imports=True, cache_dir=None)
    for importer, imported in sorted(NOT_CIRCLES | KNOWN_CIRCLES):
        assert graph.direct_import_exists(importer=importer, imported=imported), (
            f"{importer} no longer imports {imported}: delete it from tests/test_layers.py"
        )
        graph.remove_import(importer=importer, imported=imported)
    circles = strongly_connected(graph)
    lines = []
    for group in circles:
        edges = [
            f"    {a} -> {b} (line {detail['line_number']})"
            for a in group
            for b in group
            if graph.direct_import_exists(importer=a, imported=b)
            for detail in graph.get_import_details(importer=a, imported=b)[:1]
        ]
        lines.append("circle of " + ", ".join(group) + ":\n" + "\n".join(edges))
    assert not circles, "\n".join(lines)


def test_the_circle_search_finds_circles() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")]:
        graph.add_import(importer=importer, imported=imported)
    graph.add_import(importer="p.d", imported="p.e")
    graph.add_import(importer="p.e", imported="p.d")
    assert strongly_connected(graph) == [["p.a", "p.b", "p.c"], ["p.d", "p.e"]]


def test_no_circles_is_a_contract() -> None:
    contract = contracts()["no-circles"]
    assert contract["type"] == "acyclic_siblings"
    assert contract["ancestors"].split() == ["madsbi"]
    assert "ignore_imports" not in contract
