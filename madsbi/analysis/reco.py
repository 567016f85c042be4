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
:func:`madsbi.analysis.prepare.prepare_data` refuses it as counted data.

The reading itself is :func:`madsbi.events.reco.read_reco`, shared with the studies.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from madsbi.analysis.data import StoreEvents, file_sha256, read_store
from madsbi.errors import InputError
from madsbi.events.reco import read_reco


def read_reco_store(
    path: str | Path,
    observables: Sequence[str],
    *,
    need_coefficients: bool = False,
    optional: Sequence[str] = (),
) -> StoreEvents:
    """Read the named ``/reco/x`` columns (and weights, parent coefficients) of passed entries.

    ``optional`` columns are added when the store has them (selections). The reading and its
    checks are :func:`madsbi.events.reco.read_reco`'s.

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
    entries = read_reco(path, columns=observables, need_coefficients=need_coefficients)
    values = {n: entries.column(n) for n in observables}
    values.update({n: entries.column(n) for n in optional if n in entries.columns})
    return StoreEvents(
        path=entries.path,
        observables=values,
        weights=entries.fiducial_weights,
        coefficients=entries.coefficients,
        parameters=entries.parameters,
        theta0=entries.theta0,
        theta_gen=entries.theta_gen,
        sigma_gen=entries.sigma_fid,
        process=entries.process,
        sha256=file_sha256(entries.path),
        level="reco",
        smeared=entries.smeared,
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
