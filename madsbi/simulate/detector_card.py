"""The detector card: reading and checking the TOML tables of ``cards/*.toml``.

Every key of a card is known here and every value is checked when the card is read: a
negative resolution, an isolation cut that no lepton can pass, a negative E_T^miss soft-term
coefficient, a misspelled key (which would leave its term silently at zero) or an unknown
table is refused with a :class:`DetectorCardError` that names the card file, the table, the
key and the value, and for an unknown key the closest known one. The response itself is in
:mod:`madsbi.simulate.detector`; the ``[variations]`` table (the sizes of the named ±1σ
detector variations) in :mod:`madsbi.simulate.variations`; the optional ``[fakes]`` table (jets
reconstructed as leptons, :class:`FakeRates`) is applied as event weights by
:mod:`madsbi.simulate.detector`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray, IntArray
from madsbi.config import read_toml
from madsbi.errors import ConfigError, InputError, MissingFileError
from madsbi.events.schema import VARIATION_NAMES

CARDS = Path(__file__).parent / "cards"


class DetectorCardError(ConfigError, InputError):
    """A detector card has an unknown key or a value out of its range.

    Both a :class:`~madsbi.errors.ConfigError` (a bad configuration file) and an
    :class:`~madsbi.errors.InputError` (a value madsbi cannot use); the message names the
    card file, the table, the key and the value.
    """


_TOP_KEYS = (
    "name",
    "source",
    "base",
    "electron",
    "muon",
    "jets",
    "missing_et",
    "variations",
    "fakes",
)
_FAKE_KEYS = ("eta_edges", "pt_edges", "electron", "muon", "momentum_fraction")
_LEPTON_KEYS = (
    "pdg",
    "eta_edges",
    "pt_edges",
    "tracking_efficiency",
    "id_efficiency",
    "resolution_eta_edges",
    "resolution_a",
    "resolution_b",
    "ecal_c",
    "ecal_s",
    "isolation_delta_r",
    "isolation_pt_min",
    "isolation_pt_ratio_max",
)
_JET_KEYS = (
    "radius",
    "pt_min",
    "resolution_eta_edges",
    "resolution_c",
    "resolution_s",
    "resolution_n",
)
_MET_KEYS = ("eta_max", "unclustered_k", "unclustered_noise", "escaping_muons")
#: Values of ``[missing_et] escaping_muons``: which muons that are not reconstructed escape.
ESCAPING_MUONS = ("none", "untracked", "unreconstructed")
#: PDG id each lepton table must describe.
_LEPTON_PDG = {"electron": 11, "muon": 13}


def check_keys(table: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    """Refuse a key of ``table`` that is not in ``known``, suggesting the closest known key.

    Raises
    ------
    DetectorCardError
        Naming ``where`` (card file and table), the key, its value and the closest known key.
    """
    for key in sorted(set(table) - set(known)):
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DetectorCardError(
            f"{where}: unknown key {key!r} (value {table[key]!r}){hint} "
            f"(known keys: {', '.join(known)})"
        )


def numbers(
    table: Mapping[str, Any],
    key: str,
    where: str,
    *,
    minimum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    maximum: float | None = None,
) -> FloatArray:
    """The finite number(s) of ``table[key]``, each within the given bounds.

    Raises
    ------
    DetectorCardError
        For a missing key, non-numbers (booleans and strings included), ragged lists,
        non-finite values or values outside the bounds (naming card, key and value).
    """
    if key not in table:
        raise DetectorCardError(f"{where}: missing key {key!r}")
    raw = table[key]
    try:
        value = np.asarray(raw)
    except ValueError:
        value = np.asarray([], dtype=object)
    if value.dtype.kind not in "iuf":
        raise DetectorCardError(f"{where}.{key}: expected numbers, got {raw!r}")
    value = value.astype(np.float64)
    bounds = [
        (minimum, np.greater_equal, ">="),
        (above, np.greater, ">"),
        (below, np.less, "<"),
        (maximum, np.less_equal, "<="),
    ]
    wanted = [f"{op} {bound:g}" for bound, _, op in bounds if bound is not None]
    ok = np.isfinite(value)
    for bound, test, _ in bounds:
        if bound is not None:
            ok &= test(value, bound)
    if not np.all(ok):
        need = f"finite values {' and '.join(wanted)}" if wanted else "finite values"
        raise DetectorCardError(f"{where}.{key}: expected {need}, got {raw!r}")
    return value


def scalar(table: Mapping[str, Any], key: str, where: str, **bounds: float) -> float:
    """One number of ``table[key]`` (see :func:`numbers`), refusing a list."""
    value = numbers(table, key, where, **bounds)
    if value.ndim != 0:
        raise DetectorCardError(f"{where}.{key}: expected one number, got {table[key]!r}")
    return float(value)


def edges(table: Mapping[str, Any], key: str, where: str) -> FloatArray:
    """Increasing bin edges >= 0 (|η| or p_T) of ``table[key]``."""
    values = numbers(table, key, where, minimum=0.0)
    if values.ndim != 1 or values.size < 2 or np.any(np.diff(values) <= 0):
        raise DetectorCardError(
            f"{where}.{key}: expected increasing bin edges, got {values.tolist()}"
        )
    return values


def bin_index(values: FloatArray, bin_edges: FloatArray) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Bin index of every value and whether it lies inside [edges[0], edges[-1])."""
    inside = (values >= bin_edges[0]) & (values < bin_edges[-1])
    index = np.clip(np.searchsorted(bin_edges, values, side="right") - 1, 0, bin_edges.size - 2)
    return index.astype(np.int64), inside


@dataclass(frozen=True, eq=False)
class LeptonResponse:
    """Efficiency table, relative p_T resolution and isolation of one lepton flavour."""

    pdg: int
    eta_edges: FloatArray
    pt_edges: FloatArray
    efficiency: FloatArray  # tracking × identification, shape (n_eta, n_pt)
    resolution_eta_edges: FloatArray
    resolution_a: FloatArray
    resolution_b: FloatArray
    isolation_delta_r: float
    isolation_pt_min: float
    isolation_pt_ratio_max: float
    ecal_c: float = 0.0
    ecal_s: float = 0.0
    tracking: FloatArray | None = None  # tracking efficiency alone, shape (n_eta, n_pt)

    @classmethod
    def from_table(
        cls, table: dict[str, Any], where: str, flavour: str = "electron"
    ) -> LeptonResponse:
        """Read and check a ``[electron]`` or ``[muon]`` table of the card.

        Raises
        ------
        DetectorCardError
            An unknown or missing key, or a value out of range (named with the card).
        """
        check_keys(table, _LEPTON_KEYS, where)
        expected = _LEPTON_PDG[flavour]
        pdg = table.get("pdg", expected)
        if isinstance(pdg, bool) or pdg != expected:
            raise DetectorCardError(
                f"{where}.pdg: expected {expected} (the {flavour}'s PDG id), got {pdg!r}"
            )
        eta_edges = edges(table, "eta_edges", where)
        pt_edges = edges(table, "pt_edges", where)
        shape = (eta_edges.size - 1, pt_edges.size - 1)
        eff = [
            numbers(table, name, where, minimum=0.0, maximum=1.0)
            for name in ("tracking_efficiency", "id_efficiency")
        ]
        for name, values in zip(("tracking_efficiency", "id_efficiency"), eff, strict=True):
            if values.shape != shape:
                raise DetectorCardError(
                    f"{where}.{name}: expected {shape} values (|η| × p_T bins) in [0, 1], "
                    f"got shape {values.shape}"
                )
        res_edges = edges(table, "resolution_eta_edges", where)
        a = numbers(table, "resolution_a", where, minimum=0.0)
        b = numbers(table, "resolution_b", where, minimum=0.0)
        if a.shape != (res_edges.size - 1,) or b.shape != a.shape:
            raise DetectorCardError(
                f"{where}: resolution_a/b need one value per |η| bin of resolution_eta_edges "
                f"({res_edges.size - 1}), got {table['resolution_a']!r}, {table['resolution_b']!r}"
            )
        ecal_c, ecal_s = (
            scalar(table, k, where, minimum=0.0) if k in table else 0.0
            for k in ("ecal_c", "ecal_s")
        )
        return cls(
            expected,
            eta_edges,
            pt_edges,
            eff[0] * eff[1],
            res_edges,
            a,
            b,
            scalar(table, "isolation_delta_r", where, above=0.0),
            scalar(table, "isolation_pt_min", where, minimum=0.0),
            scalar(table, "isolation_pt_ratio_max", where, above=0.0),
            ecal_c,
            ecal_s,
            tracking=eff[0],
        )

    def efficiency_of(self, pt_: FloatArray, abs_eta: FloatArray) -> FloatArray:
        """Efficiency of leptons with these p_T and |η| (0 outside the table)."""
        ie, in_eta = bin_index(abs_eta, self.eta_edges)
        ip, in_pt = bin_index(pt_, self.pt_edges)
        result: FloatArray = np.where(in_eta & in_pt, self.efficiency[ie, ip], 0.0)
        return result

    def tracking_of(self, pt_: FloatArray, abs_eta: FloatArray) -> FloatArray:
        """Tracking efficiency alone (0 outside the table; the full efficiency without one)."""
        table = self.efficiency if self.tracking is None else self.tracking
        ie, in_eta = bin_index(abs_eta, self.eta_edges)
        ip, in_pt = bin_index(pt_, self.pt_edges)
        result: FloatArray = np.where(in_eta & in_pt, table[ie, ip], 0.0)
        return result

    def resolution_of(self, pt_: FloatArray, abs_eta: FloatArray) -> FloatArray:
        """Relative p_T resolution (last bin beyond the table).

        The track's sqrt(a² + (b·p_T)²), combined with the calorimeter's
        sqrt(C² + S²/E) (E = p_T cosh η) when the card gives ``ecal_c``/``ecal_s``.
        """
        i, _ = bin_index(abs_eta, self.resolution_eta_edges)
        track: FloatArray = np.hypot(self.resolution_a[i], self.resolution_b[i] * pt_)
        if self.ecal_c == 0 and self.ecal_s == 0:
            return track
        energy = np.maximum(pt_ * np.cosh(abs_eta), 1e-12)
        calo = np.sqrt(self.ecal_c**2 + self.ecal_s**2 / energy)
        result: FloatArray = track * calo / np.hypot(track, calo)
        return result


@dataclass(frozen=True, eq=False)
class FakeRates:
    """Jets reconstructed as leptons: the card's ``[fakes]`` table (off without it).

    A **pheno-level model, not a measurement**: the probability that a reconstructed jet is
    (mis)identified as an isolated electron or muon, binned in the jet's |η| and p_T (order
    10⁻³–10⁻² per jet at 20–50 GeV, falling with p_T, as light- and heavy-flavour fakes in
    LHC multilepton analyses); 0 outside the table. The fake lepton carries the fraction
    ``momentum_fraction`` of the jet's three-momentum (massless). Applied as event weights,
    so no event is thrown away (:func:`madsbi.simulate.detector.plan_fakes`).

    Attributes
    ----------
    eta_edges, pt_edges : ndarray
        Bin edges of the jet's |η| and p_T (GeV).
    electron, muon : ndarray, shape (n_eta, n_pt)
        Probability per jet to be reconstructed as that flavour; e + μ ≤ 1 in every bin.
    momentum_fraction : float
        The fake lepton's share of the jet's momentum, in (0, 1].
    """

    eta_edges: FloatArray
    pt_edges: FloatArray
    electron: FloatArray
    muon: FloatArray
    momentum_fraction: float

    @classmethod
    def from_table(cls, table: Any, where: str) -> FakeRates:
        """Read and check the ``[fakes]`` table.

        Raises
        ------
        DetectorCardError
            An unknown or missing key, probabilities outside [0, 1] or of the wrong shape, a
            bin whose e + μ probability exceeds 1, or a momentum fraction outside (0, 1].
        """
        if not isinstance(table, dict):
            raise DetectorCardError(f"{where}: expected a table, got {table!r}")
        check_keys(table, _FAKE_KEYS, where)
        eta_edges = edges(table, "eta_edges", where)
        pt_edges = edges(table, "pt_edges", where)
        shape = (eta_edges.size - 1, pt_edges.size - 1)
        rates = [numbers(table, k, where, minimum=0.0, maximum=1.0) for k in ("electron", "muon")]
        for name, values in zip(("electron", "muon"), rates, strict=True):
            if values.shape != shape:
                raise DetectorCardError(
                    f"{where}.{name}: expected {shape} probabilities (|η| × p_T bins) in "
                    f"[0, 1], got shape {values.shape}"
                )
        if np.any(rates[0] + rates[1] > 1.0):
            raise DetectorCardError(
                f"{where}: electron + muon probability exceeds 1 in a bin: "
                f"{(rates[0] + rates[1]).tolist()}"
            )
        fraction = scalar(table, "momentum_fraction", where, above=0.0, maximum=1.0)
        return cls(eta_edges, pt_edges, rates[0], rates[1], fraction)

    def probabilities(self, pt_: FloatArray, abs_eta: FloatArray) -> FloatArray:
        """Fake probabilities (M, 2), columns (electron, muon), of jets with these p_T, |η|."""
        ie, in_eta = bin_index(abs_eta, self.eta_edges)
        ip, in_pt = bin_index(pt_, self.pt_edges)
        inside = (in_eta & in_pt)[:, None]
        table = np.stack([self.electron[ie, ip], self.muon[ie, ip]], axis=1)
        result: FloatArray = np.where(inside, table, 0.0)
        return result


@dataclass(frozen=True, eq=False)
class DetectorCard:
    """The whole card (see ``cards/atlas_like.toml``).

    ``variations`` maps the name of each ±1σ detector variation the card defines
    (:data:`~madsbi.events.schema.VARIATION_NAMES`) to its relative size; ``fakes`` is the
    jet → lepton fake model of the ``[fakes]`` table (None: no fakes, the default).

    ``escaping_muons`` (:data:`ESCAPING_MUONS`): which unreconstructed muons escape, making
    E_T^miss: ``"none"`` (``atlas_like``), ``"untracked"`` or ``"unreconstructed"``; electrons are
    measured within |η| < ``met_eta_max``. ``met_unclustered_noise`` (GeV) adds in quadrature
    to the soft-term resolution, a stand-in for pile-up. See ``cards/atlas_like_v2.toml``.
    """

    name: str
    source: str
    electron: LeptonResponse
    muon: LeptonResponse
    jet_radius: float
    jet_pt_min: float
    jet_eta_edges: FloatArray
    jet_c: FloatArray
    jet_s: FloatArray
    jet_n: FloatArray
    met_eta_max: float
    met_unclustered_k: float
    path: str = ""
    variations: Mapping[str, float] = field(default_factory=dict)
    fakes: FakeRates | None = None
    met_unclustered_noise: float = 0.0
    escaping_muons: str = "none"

    def jet_resolution(self, energy: FloatArray, abs_eta: FloatArray) -> FloatArray:
        """Absolute jet energy resolution σ_E = sqrt((C·E)² + S²·E + N²) in GeV."""
        i, _ = bin_index(abs_eta, self.jet_eta_edges)
        e = np.maximum(energy, 0.0)
        result: FloatArray = np.sqrt(
            (self.jet_c[i] * e) ** 2 + self.jet_s[i] ** 2 * e + self.jet_n[i] ** 2
        )
        return result


def _text(data: Mapping[str, Any], key: str, default: str, where: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise DetectorCardError(f"{where}: {key}: expected a string, got {value!r}")
    return value


def _variations(data: Mapping[str, Any], where: str) -> dict[str, float]:
    """The ``[variations]`` table: relative sizes 0 < δ < 1 of the named variations."""
    table = data.get("variations", {})
    if not isinstance(table, dict):
        raise DetectorCardError(f"{where}: variations: expected a table, got {table!r}")
    check_keys(table, VARIATION_NAMES, f"{where}[variations]")
    return {
        name: scalar(table, name, f"{where}[variations]", above=0.0, below=1.0)
        for name in VARIATION_NAMES
        if name in table
    }


def load_card(card: str | Path = "atlas_like") -> DetectorCard:
    """Read and check a detector card: a name of a shipped card or a path to a TOML file.

    Raises
    ------
    MissingFileError
        If the card does not exist.
    DetectorCardError
        For a missing, unknown (misspelled) or out-of-range entry; the message names the
        card file, the table, the key and the value (a :class:`~madsbi.errors.ConfigError`
        and an :class:`~madsbi.errors.InputError`).
    """
    path = Path(card)
    if path.suffix != ".toml":
        path = CARDS / f"{card}.toml"
    if not path.is_file():
        shipped = sorted(p.stem for p in CARDS.glob("*.toml"))
        raise MissingFileError(f"detector card not found: {card} (shipped: {shipped})")
    data = _with_base(read_toml(path), path)
    check_keys(data, _TOP_KEYS, str(path))
    for key in ("electron", "muon", "jets", "missing_et"):
        if not isinstance(data.get(key), dict):
            raise DetectorCardError(f"{path}: missing table [{key}]")
    jets, met = data["jets"], data["missing_et"]
    check_keys(jets, _JET_KEYS, f"{path}[jets]")
    check_keys(met, _MET_KEYS, f"{path}[missing_et]")
    jet_edges = edges(jets, "resolution_eta_edges", f"{path}[jets]")
    terms = [numbers(jets, f"resolution_{k}", f"{path}[jets]", minimum=0.0) for k in "csn"]
    if any(t.shape != (jet_edges.size - 1,) for t in terms):
        raise DetectorCardError(
            f"{path}[jets]: resolution_c/s/n need one value per |η| bin of "
            f"resolution_eta_edges ({jet_edges.size - 1})"
        )
    radius = scalar(jets, "radius", f"{path}[jets]", above=0.0, below=math.pi)
    return DetectorCard(
        name=_text(data, "name", path.stem, str(path)),
        source=_text(data, "source", "", str(path)),
        electron=LeptonResponse.from_table(data["electron"], f"{path}[electron]", "electron"),
        muon=LeptonResponse.from_table(data["muon"], f"{path}[muon]", "muon"),
        jet_radius=radius,
        jet_pt_min=scalar(jets, "pt_min", f"{path}[jets]", minimum=0.0),
        jet_eta_edges=jet_edges,
        jet_c=terms[0],
        jet_s=terms[1],
        jet_n=terms[2],
        met_eta_max=scalar(met, "eta_max", f"{path}[missing_et]", above=0.0),
        met_unclustered_k=scalar(met, "unclustered_k", f"{path}[missing_et]", minimum=0.0),
        path=str(path),
        variations=_variations(data, str(path)),
        fakes=FakeRates.from_table(data["fakes"], f"{path}[fakes]") if "fakes" in data else None,
        met_unclustered_noise=scalar(
            {"unclustered_noise": 0.0, **met}, "unclustered_noise", f"{path}[missing_et]", minimum=0
        ),
        escaping_muons=_choice(met, "escaping_muons", ESCAPING_MUONS, f"{path}[missing_et]"),
    )


def _choice(table: Mapping[str, Any], key: str, choices: tuple[str, ...], where: str) -> str:
    """``table[key]`` (default: the first choice), one of ``choices``."""
    value = table.get(key, choices[0])
    if value in choices:
        return str(value)
    raise DetectorCardError(f"{where}.{key}: expected one of {list(choices)}, got {value!r}")


def _with_base(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """The card's tables over those of its ``base`` (a shipped card), key by key; bases chain.

    Raises
    ------
    DetectorCardError
        For a base that is not a shipped card's name, or a chain that does not end.
    """
    seen = [path.stem]
    while "base" in data:
        base = data.pop("base")
        if not isinstance(base, str) or not (CARDS / f"{base}.toml").is_file():
            shipped = sorted(p.stem for p in CARDS.glob("*.toml"))
            raise DetectorCardError(
                f"{path}: base: expected a shipped card {shipped}, got {base!r}"
            )
        if base in seen or len(seen) > 8:
            raise DetectorCardError(f"{path}: base: the chain {[*seen, base]} does not end")
        seen.append(base)
        merged = {k: v for k, v in read_toml(CARDS / f"{base}.toml").items() if k != "name"}
        for key, value in data.items():
            both = isinstance(value, dict) and isinstance(merged.get(key), dict)
            merged[key] = {**merged[key], **value} if both else value
        data = merged
    return data
