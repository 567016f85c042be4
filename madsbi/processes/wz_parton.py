"""W±Z parton-level observables computed from an event store's LHE record.

Process-specific, so they live here rather than in the process-agnostic ``madsbi.events``
(which must not import this stage: see ``.importlinter``); the ``"wz"`` process
(:mod:`madsbi.processes.wz`) serves them as its parton observables.

The WZ analysis of paper Sec. 4.1 learns on the Mandelstam variables s and t and the W
charge. Every observable here is a function of the ``/parton`` fields ``pdg_id``,
``status`` and ``momentum`` (E, px, py, pz in GeV) and returns one value per event;
:func:`parton_features` stacks the ones a study names into the network inputs.

- ``s``: ŝ = (p_a + p_b)² of the incoming partons, GeV²;
- ``t``: t̂ = (p_q − p_W)², p_q the incoming quark (PDG id > 0; the first incoming parton
  if both are antiquarks or gluons), GeV²;
- ``charge``: the W charge, ±1;
- ``log_s``, ``log_minus_t``: log ŝ and log(−t̂) with the energies in TeV (ŝ spans three
  decades: the logarithms give the network a well-conditioned input);
- ``m_wz``, ``pt_w``: √ŝ of the diboson system from the outgoing W and Z, and the W
  transverse momentum, GeV.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import InputError
from madsbi.processes import base

W_ID, Z_ID = 24, 23
INCOMING = -1
TEV2 = 1e6  # GeV² per TeV²

PARTON_FIELDS = ("pdg_id", "status", "momentum")


def _minkowski_square(p: FloatArray) -> FloatArray:
    result: FloatArray = p[..., 0] ** 2 - (p[..., 1:] ** 2).sum(-1)
    return result


def _pick(event: Mapping[str, Any], select: Any, what: str) -> FloatArray:
    """The momentum of the first particle per event where ``select`` (N, P) is true."""
    found = select.any(axis=1)
    if not found.all():
        row = int(np.argmin(found))
        raise InputError(f"parton record: event {row} has no {what}")
    index = select.argmax(axis=1)
    momenta = np.asarray(event["momentum"], dtype=np.float64)
    result: FloatArray = momenta[np.arange(momenta.shape[0]), index]
    return result


def _incoming(event: Mapping[str, Any]) -> FloatArray:
    """(N, 2, 4): both incoming partons, the quark first when there is one."""
    status = np.asarray(event["status"])
    pdg = np.asarray(event["pdg_id"])
    incoming = status == INCOMING
    counts = incoming.sum(axis=1)
    if not (counts == 2).all():
        row = int(np.argmax(counts != 2))
        raise InputError(f"parton record: event {row} does not have two incoming partons")
    rows = np.arange(pdg.shape[0])[:, None]
    index = np.argsort(~incoming, axis=1, kind="stable")[:, :2]
    ids = pdg[rows, index]
    is_quark = (ids > 0) & (ids != 21)
    swap = is_quark[:, 1] & ~is_quark[:, 0]
    index[swap] = index[swap, ::-1]
    momenta = np.asarray(event["momentum"], dtype=np.float64)
    result: FloatArray = momenta[rows, index]
    return result


def _w_boson(event: Mapping[str, Any]) -> FloatArray:
    pdg = np.asarray(event["pdg_id"])
    return _pick(event, np.abs(pdg) == W_ID, "W boson")


def _s(event: Mapping[str, Any]) -> FloatArray:
    return _minkowski_square(_incoming(event).sum(axis=1))


def _t(event: Mapping[str, Any]) -> FloatArray:
    return _minkowski_square(_incoming(event)[:, 0] - _w_boson(event))


def _charge(event: Mapping[str, Any]) -> FloatArray:
    pdg = np.asarray(event["pdg_id"])
    select = np.abs(pdg) == W_ID
    _pick(event, select, "W boson")
    result: FloatArray = np.sign(pdg[np.arange(pdg.shape[0]), select.argmax(axis=1)]).astype(
        np.float64
    )
    return result


def _log_s(event: Mapping[str, Any]) -> FloatArray:
    result: FloatArray = np.log(_s(event) / TEV2)
    return result


def _log_minus_t(event: Mapping[str, Any]) -> FloatArray:
    t = _t(event)
    if (t >= 0).any():
        row = int(np.argmax(t >= 0))
        raise InputError(f"parton record: event {row} has t = {t[row]} >= 0, log(-t) undefined")
    result: FloatArray = np.log(-t / TEV2)
    return result


def _m_wz(event: Mapping[str, Any]) -> FloatArray:
    pdg = np.asarray(event["pdg_id"])
    pair = _w_boson(event) + _pick(event, pdg == Z_ID, "Z boson")
    result: FloatArray = np.sqrt(np.maximum(_minkowski_square(pair), 0.0))
    return result


def _pt_w(event: Mapping[str, Any]) -> FloatArray:
    p = _w_boson(event)
    result: FloatArray = np.hypot(p[:, 1], p[:, 2])
    return result


OBSERVABLES: dict[str, Callable[[Mapping[str, Any]], FloatArray]] = {
    "s": _s,
    "t": _t,
    "charge": _charge,
    "log_s": _log_s,
    "log_minus_t": _log_minus_t,
    "m_wz": _m_wz,
    "pt_w": _pt_w,
}


def parton_features(event: Mapping[str, Any], names: Sequence[str]) -> FloatArray:
    """The observables ``names`` for every event, (N, len(names)).

    Parameters
    ----------
    event : mapping
        At least the ``/parton`` fields ``pdg_id``, ``status`` and ``momentum``.
    names : sequence of str
        Keys of :data:`OBSERVABLES`.

    Raises
    ------
    InputError
        For an unknown name or an event record without the particles an observable needs.
    """
    return base.parton_features(OBSERVABLES, PARTON_FIELDS, event, names)
