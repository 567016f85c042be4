"""Parton shower, multiparton interactions and hadronisation with Pythia 8 (``pythia8mc``).

Input: the LHE record stored in ``/parton`` (PDG ids, status, mothers, colour flow,
momenta, masses, lifetimes, helicities, scale, α's), written back as Les Houches text for
the rows to simulate (a copy of an event is its row written again) and read by Pythia with
``Beams:frameType = 4``; the store keeps every LHE field, so nothing is lost on the way.

Reproducibility: Pythia is initialised once per chunk; a user hook re-seeds its generator
(``Rndm::init``) right after each event's process level (where an LHE event consumes no
random numbers) with a seed derived from the copy's counter-based seed
(run seed, parent event id, copy id). So every event's shower depends on its own seed and
LHE record only, whatever else is simulated in the same chunk, job or worker.

Settings: ``default`` has ISR, FSR, multiparton interactions and hadronisation on (Pythia's
defaults, Monash tune); ``fast`` switches multiparton interactions off (about 10× faster;
leptons, jets and E_T^miss then miss the underlying event), for tests and quick looks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from madsbi._validate import IntArray
from madsbi.cards import parse_run_card
from madsbi.errors import InputError, OptionalDependencyError
from madsbi.events.particles import Particles
from madsbi.simulate import _streams
from madsbi.simulate.jets import RECO_EXTRA, import_awkward

U64 = npt.NDArray[np.uint64]

#: LHE fields of ``/parton`` the shower needs.
LHE_FIELDS = (
    "n_particles",
    "pdg_id",
    "status",
    "mothers",
    "colors",
    "momentum",
    "mass",
    "lifetime",
    "helicity",
    "process_id",
    "weight",
    "scale",
    "aqed",
    "aqcd",
)

MODES: dict[str, tuple[str, ...]] = {
    "default": (),
    "fast": ("PartonLevel:MPI = off",),
}

_QUIET = (
    "Print:quiet = on",
    "Next:numberCount = 0",
    "Next:numberShowLHA = 0",
    "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0",
    "Next:numberShowEvent = 0",
)


def import_pythia() -> Any:
    """The ``pythia8mc`` module, or an error naming the extra that installs it."""
    try:
        import pythia8mc
    except ImportError as exc:
        raise OptionalDependencyError(
            f"the parton shower needs the pythia8mc package ({exc}); install it with {RECO_EXTRA}"
        ) from None
    return pythia8mc


@dataclass(frozen=True)
class ShowerSettings:
    """Pythia configuration.

    Parameters
    ----------
    mode : {"default", "fast"}
        See the module docstring.
    extra : sequence of str
        Further Pythia settings (``"Key = value"`` lines), applied last.
    """

    mode: str = "default"
    extra: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"shower mode: expected one of {sorted(MODES)}, got {self.mode!r}")
        for line in self.extra:
            if "=" not in line:
                raise InputError(f"shower setting {line!r}: expected 'Key = value'")

    def lines(self) -> tuple[str, ...]:
        """All Pythia settings of this configuration (without the LHE file)."""
        return (*_QUIET, *MODES[self.mode], *self.extra)


def beam_energies(cards: Mapping[str, str]) -> tuple[float, float]:
    """Beam energies (GeV) from the run card stored in ``/meta``.

    Raises
    ------
    InputError
        If the store has no run card or the card is not a proton–proton run.
    """
    if "run_card" not in cards:
        raise InputError("parton store: /meta has no run_card; cannot know the beams")
    settings = parse_run_card(cards["run_card"])
    if settings.get("lpp1", "1") != "1" or settings.get("lpp2", "1") != "1":
        raise InputError(
            f"parton store: beams lpp1={settings.get('lpp1')} lpp2={settings.get('lpp2')}; "
            "the reco simulation handles proton–proton runs only"
        )
    try:
        return float(settings["ebeam1"]), float(settings["ebeam2"])
    except (KeyError, ValueError):
        raise InputError("parton store: run card without numeric ebeam1/ebeam2") from None


def lhe_text(
    arrays: Mapping[str, Any], rows: Sequence[int] | IntArray, energies: tuple[float, float]
) -> str:
    """Les Houches text of the events ``rows`` of a ``/parton`` chunk (rows may repeat)."""
    missing = [f for f in LHE_FIELDS if f not in arrays]
    if missing:
        raise InputError(f"parton store: /parton lacks the LHE fields {missing}")
    a = {k: np.asarray(arrays[k]) for k in LHE_FIELDS}
    out = [
        '<LesHouchesEvents version="3.0">',
        "<init>",
        f"2212 2212 {energies[0]:.10e} {energies[1]:.10e} 0 0 0 0 -4 1",
        "1.0 0.0 1.0 1",
        "</init>",
    ]
    for row in rows:
        n = int(a["n_particles"][row])
        out.append("<event>")
        out.append(
            f"{n} {int(a['process_id'][row])} {a['weight'][row]:.17e} {a['scale'][row]:.17e} "
            f"{a['aqed'][row]:.17e} {a['aqcd'][row]:.17e}"
        )
        for k in range(n):
            p = a["momentum"][row, k]
            out.append(
                f"{a['pdg_id'][row, k]} {a['status'][row, k]} {a['mothers'][row, k, 0]} "
                f"{a['mothers'][row, k, 1]} {a['colors'][row, k, 0]} {a['colors'][row, k, 1]} "
                f"{p[1]:.17e} {p[2]:.17e} {p[3]:.17e} {p[0]:.17e} {a['mass'][row, k]:.17e} "
                f"{float(a['lifetime'][row, k]):.9e} {float(a['helicity'][row, k]):.1f}"
            )
        out.append("</event>")
    out.append("</LesHouchesEvents>")
    return "\n".join(out) + "\n"


@dataclass(frozen=True, eq=False)
class ShowerResult:
    """Final-state particles of every simulated copy and whether Pythia succeeded on it."""

    final_state: Particles
    ok: npt.NDArray[np.bool_]


def _seeding_hook(pythia8mc: Any, rndm: Any, seeds: IntArray, ok: npt.NDArray[np.bool_]) -> Any:
    class SeedPerEvent(pythia8mc.UserHooks):  # type: ignore[misc]
        """Re-seeds before the parton level of each event; records hadronisation success."""

        def __init__(self) -> None:
            pythia8mc.UserHooks.__init__(self)
            self.index = -1

        def canVetoProcessLevel(self) -> bool:
            return True

        def doVetoProcessLevel(self, process: Any) -> bool:
            self.index += 1
            if self.index < seeds.size:
                rndm.init(int(seeds[self.index]))
            return False

        def canVetoAfterHadronization(self) -> bool:
            return True

        def doVetoAfterHadronization(self, event: Any) -> bool:
            if 0 <= self.index < ok.size:
                ok[self.index] = True
            return False

    return SeedPerEvent()


def run_shower(
    arrays: Mapping[str, Any],
    rows: IntArray,
    seeds: U64,
    energies: tuple[float, float],
    settings: ShowerSettings = ShowerSettings(),
) -> ShowerResult:
    """Shower and hadronise the events ``rows`` of a ``/parton`` chunk, one seed per row.

    Parameters
    ----------
    arrays : mapping
        ``/parton`` fields of the chunk (at least :data:`LHE_FIELDS`).
    rows : ndarray of int, shape (M,)
        Row of each copy in the chunk.
    seeds : ndarray of uint64, shape (M,)
        Counter-based seed of each copy.
    energies : (float, float)
        Beam energies in GeV.
    settings : ShowerSettings

    Returns
    -------
    ShowerResult
        Final-state particles (neutrinos included) of the M copies; a copy on which Pythia
        failed has ``ok`` false and no particles.
    """
    pythia8mc = import_pythia()
    ak = import_awkward()
    rows = np.asarray(rows, dtype=np.int64)
    m = rows.size
    if np.shape(seeds) != (m,):
        raise InputError(f"seeds: expected shape ({m},), got {np.shape(seeds)}")
    if m == 0:
        return ShowerResult(
            Particles(np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros((0, 4))),
            np.zeros(0, bool),
        )
    pythia_seeds = _streams.pythia_seeds(np.asarray(seeds, np.uint64))
    ok = np.zeros(m, dtype=bool)
    with tempfile.TemporaryDirectory(prefix="madsbi-shower-") as tmp:
        path = Path(tmp) / "events.lhe"
        path.write_text(lhe_text(arrays, rows, energies))
        pythia = pythia8mc.Pythia("", False)
        for line in (*settings.lines(), "Beams:frameType = 4", f"Beams:LHEF = {path}"):
            if not pythia.readString(line):
                raise InputError(f"Pythia rejected the setting {line!r}")
        hook = _seeding_hook(pythia8mc, pythia.rndm, pythia_seeds, ok)
        pythia.setUserHooksPtr(hook)
        if not pythia.init():
            raise InputError(f"Pythia failed to initialise on {path} with settings {settings}")
        batch = pythia.nextBatch(m, "none")
        hadronising = bool(pythia.flag("HadronLevel:all"))
    if hook.index != m - 1 or len(batch) != m:
        raise InputError(
            f"Pythia processed {hook.index + 1} of {m} LHE events ({len(batch)} returned); "
            "the LHE record of the store is inconsistent"
        )
    prt = batch.prt
    final = prt[prt.status > 0]
    counts = ak.to_numpy(ak.num(final)).astype(np.int64)
    if not hadronising:  # the hook that records success runs after hadronisation only
        ok[:] = counts > 0
    counts[~ok] = 0
    final = final[ok]
    flat = ak.flatten(final)
    momentum = np.stack([ak.to_numpy(flat.p[k]) for k in ("e", "px", "py", "pz")], axis=1).reshape(
        -1, 4
    )
    pdg = ak.to_numpy(flat.id).astype(np.int32)
    return ShowerResult(Particles.from_counts(counts, pdg, momentum.astype(np.float64)), ok)
