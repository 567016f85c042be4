"""How a reco-level analysis's stores were simulated, so new events can be simulated alike.

``madsbi simulate reco`` records its settings in the output store's ``reco_config``
attribute (:mod:`madsbi.simulate.reco`). A reco-level analysis records, in ``analysis.json``
(``simulation``), the settings that make its observables: the registered process whose
selection was applied, the Pythia setting and extra lines, and the detector card. They are
read from its training stores when the analysis is saved; for an analysis saved before they
were recorded they are derived from the stores its manifest names (the training stores, the
test and rate stores of the reco study) that can still be found: the path itself, or a
shipped reco store of the same name. ``madsbi simulate reco IN OUT --like ANALYSIS`` then
simulates IN the same way, unsmeared (as data).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from madsbi.errors import InputError

#: The settings that decide what a reco event looks like (the seed and smearing do not).
SIMULATION_KEYS = ("selection", "shower", "card", "pythia")


def store_simulation(path: str | Path) -> dict[str, Any] | None:
    """The simulation settings recorded in a reco store (None: no ``reco_config``)."""
    from madsbi.events.reco import LEGACY_SELECTION
    from madsbi.events.store import EventStore

    with EventStore(path) as store:
        attributes = store.meta.attributes
    if "reco_config" not in attributes:
        return None
    try:
        config = json.loads(str(attributes["reco_config"]))
    except json.JSONDecodeError:
        return None
    if not isinstance(config, dict):
        return None
    return {
        "selection": str(config.get("selection", LEGACY_SELECTION)),
        "shower": str(config.get("shower", "default")),
        "card": str(config.get("card", "atlas_like")),
        "pythia": [str(line) for line in config.get("pythia", [])],
    }


def _resolve(name: str) -> Path | None:
    """A store named in a manifest: the path, or the shipped reco store of that name."""
    from madsbi.simulate.reco import SHIPPED_RECO, shipped_reco_path

    path = Path(name)
    if path.is_file():
        return path
    for candidate in (name, path.stem):
        if candidate in SHIPPED_RECO:
            return shipped_reco_path(candidate)
    return None


def common_simulation(paths: Iterable[str], where: str) -> dict[str, Any] | None:
    """The settings shared by the found reco stores among ``paths`` (None: none found).

    Raises
    ------
    InputError
        If two found stores were simulated differently (naming both and the setting).
    """
    found: list[tuple[Path, dict[str, Any]]] = []
    for name in paths:
        path = _resolve(name)
        record = None if path is None else store_simulation(path)
        if path is not None and record is not None:
            found.append((path, record))
    if not found:
        return None
    first_path, first = found[0]
    for path, record in found[1:]:
        differ = [k for k in SIMULATION_KEYS if record[k] != first[k]]
        if differ:
            raise InputError(
                f"{where}: its stores were simulated differently ({differ}: "
                f"{[first[k] for k in differ]} in {first_path}, {[record[k] for k in differ]} "
                f"in {path}); no one setting reproduces them"
            )
    return {**first, "stores": [str(p) for p, _ in found]}


def manifest_stores(manifest: Mapping[str, Any]) -> list[str]:
    """Every store an analysis manifest names: training stores, then test and rate stores."""
    split = manifest.get("split", {})
    names = [str(s["path"]) for s in split.get("stores", []) if "path" in s]
    if split.get("test_store"):
        names.append(str(split["test_store"]))
    names += [str(s) for s in split.get("rate_stores", [])]
    return names


def analysis_simulation(manifest: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The simulation settings of a reco-level analysis (module docstring).

    Raises
    ------
    InputError
        A parton-level analysis, or one that records no settings and names no store that
        can be found.
    """
    if manifest.get("level", "parton") != "reco":
        raise InputError(
            f"{where}: a parton-level analysis (its features are computed from /parton): it "
            "has no reco simulation to imitate"
        )
    recorded = manifest.get("simulation")
    if recorded:
        return dict(recorded)
    stores = manifest_stores(manifest)
    derived = common_simulation(stores, where)
    if derived is None:
        raise InputError(
            f"{where}: the analysis records no simulation settings (saved before they were "
            f"recorded) and none of the stores it names is found ({stores}); simulate with "
            "explicit --selection, --shower, --card and --pythia instead of --like"
        )
    return derived
