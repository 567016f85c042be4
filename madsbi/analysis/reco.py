"""Reco-level data for a trained analysis: the passed ``/reco`` entries of an event store.

A reco-level analysis (``"level": "reco"`` in ``analysis.json``) takes its features from the
named columns of ``/reco/x``. Of a store's ``/reco`` entries only those that pass every cut
flag (``/reco/cuts``, when stored) are read — the selection the analysis was trained and its
rate model built with. Their weights are the stored event weights (parent weight × smearing
weight 1/n, eq. 35) scaled to the fiducial cross-section at the generation point,

    σ_fid = σ(θ_gen) Σ_passed w_reco / Σ w_parton,

so Asimov data (MC weights scaled to L σ_fid) include the smearing weights. Each entry
carries its parent's exact coefficients (``/parton/coefficients[parent]``) when the store has
them (the ``exact`` method).

A fractionally smeared store (several weighted copies of one parent, smearing weights < 1 or
copy numbers > 0) is marked ``smeared``: its copies are not independent events, so
:func:`madsbi.analysis.fit.prepare_data` refuses it as counted data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from madsbi.analysis.data import StoreEvents, file_sha256, generation_cross_section, read_store
from madsbi.errors import InputError, MissingFileError, StoreFormatError, WeightError
from madsbi.events import schema


def _smeared_config(attributes: object) -> bool:
    """The ``smear`` flag of the store's recorded reco configuration (False if absent)."""
    if not isinstance(attributes, dict) or "reco_config" not in attributes:
        return False
    try:
        config = json.loads(str(attributes["reco_config"]))
    except json.JSONDecodeError:
        return False
    return bool(isinstance(config, dict) and config.get("smear", False))


def read_reco_store(
    path: str | Path,
    observables: Sequence[str],
    *,
    need_coefficients: bool = False,
    optional: Sequence[str] = (),
) -> StoreEvents:
    """Read the named ``/reco/x`` columns (and weights, parent coefficients) of passed entries.

    ``optional`` columns are added when the store has them (selections).

    Raises
    ------
    MissingFileError
        No such file.
    StoreFormatError
        No ``/reco`` group (a parton-level store), no ``/reco/weight``, a feature that is not
        a column of ``/reco/x`` (naming it), no entry passing the cuts, or no parent
        coefficients when ``need_coefficients``.
    WeightError
        NaN, infinite or negative weights.
    """
    from madsbi.events.store import EventStore

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such event store")
    with EventStore(path) as store:
        if schema.RECO not in store.groups:
            raise StoreFormatError(
                f"{path}: no /reco group (a parton-level store); the analysis is reco-level "
                f"(features {list(observables)} from /reco/x): simulate the store with "
                "madsbi simulate reco"
            )
        present = set(store.fields(schema.RECO))
        for name in ("x", "weight"):
            if name not in present:
                raise StoreFormatError(f"{path}: /reco/{name} is missing")
        columns = list(store.column_names(schema.RECO, "x"))
        missing = [n for n in observables if n not in columns]
        if missing:
            raise StoreFormatError(
                f"{path}: /reco/x has no columns {missing} (it has {columns}); the analysis "
                f"needs {list(observables)}"
            )
        extra = [f for f in ("cuts", "parent", "smearing_weight", "copy_index") if f in present]
        reco = store.read(schema.RECO, ["x", "weight", *extra])
        parton_fields = set(store.fields(schema.PARTON)) if schema.PARTON in store.groups else set()
        has_c = "coefficients" in parton_fields and "parent" in present
        if need_coefficients and not has_c:
            raise StoreFormatError(f"{path}: /parton/coefficients (or /reco/parent) is missing")
        if "weight" not in parton_fields:
            raise StoreFormatError(
                f"{path}: /parton/weight is missing (the parents' weights normalise σ_fid)"
            )
        parton = store.read(schema.PARTON, ["weight", *(["coefficients"] if has_c else [])])
        meta = store.meta
        theta_gen, sigma_gen = generation_cross_section(store)
    keep: npt.NDArray[np.bool_] = np.ones(reco.n_events, dtype=bool)
    if "cuts" in extra:
        keep = np.asarray(np.asarray(reco["cuts"]).astype(bool).all(axis=1), dtype=bool)
    if not keep.any():
        raise StoreFormatError(f"{path}: no /reco entry passes every cut")
    x = np.asarray(reco["x"], dtype=np.float64)[keep]
    weights = np.asarray(reco["weight"], dtype=np.float64)[keep]
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        raise WeightError(
            f"{path}: /reco/weight has {int(bad.sum())} NaN, infinite or negative values "
            "among the passed entries"
        )
    parent_sum = float(np.sum(parton["weight"]))
    if not parent_sum > 0:
        raise WeightError(f"{path}: /parton/weight sums to {parent_sum}, expected > 0")
    scale = sigma_gen / parent_sum
    smeared = _smeared_config(getattr(meta, "attributes", None))
    if "smearing_weight" in extra:
        smeared |= bool(np.any(np.asarray(reco["smearing_weight"]) != 1.0))
    if "copy_index" in extra:
        smeared |= bool(np.any(np.asarray(reco["copy_index"]) > 0))
    values = {n: x[:, columns.index(n)] for n in observables}
    values.update({n: x[:, columns.index(n)] for n in optional if n in columns})
    coefficients = None
    if has_c:
        parents = np.asarray(reco["parent"], dtype=np.int64)[keep]
        coefficients = np.asarray(parton["coefficients"], dtype=np.float64)[parents]
    return StoreEvents(
        path=path,
        observables=values,
        weights=weights * scale if np.isfinite(scale) else weights,
        coefficients=coefficients,
        parameters=tuple(meta.space.names),
        theta0=np.asarray(meta.space.theta0_array, dtype=np.float64),
        theta_gen=theta_gen,
        sigma_gen=float(np.sum(weights) * scale),
        process=str(meta.process),
        sha256=file_sha256(path),
        level="reco",
        smeared=smeared,
    )


def read_level(
    level: str,
    path: str | Path,
    observables: Sequence[str],
    *,
    need_coefficients: bool = False,
    optional: Sequence[str] = (),
) -> StoreEvents:
    """:func:`read_reco_store` for ``level == "reco"``, else the parton reader."""
    if level == "reco":
        return read_reco_store(
            path, observables, need_coefficients=need_coefficients, optional=optional
        )
    if level != "parton":
        raise InputError(f"level: expected 'parton' or 'reco', got {level!r}")
    return read_store(path, observables, need_coefficients=need_coefficients, optional=optional)
