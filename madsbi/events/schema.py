"""The event-store format: the one place that defines groups, datasets, dtypes and units.

Layout (format version 2)::

    /                 attrs: format = "madsbi-event-store", format_version = 2, madsbi_version
    /meta             parameters, θ0, θ_gen, morphing basis, σ(θ_b), process, cards, shards
    /parton           per-event parton-level data; /parton/coefficients (N, K) float64;
                  optional /parton/theory_variations (N, V): w_v/w of named μ_R, μ_F, PDF
                  variations (madsbi.events.theory_weights)
    /reco             optional: reco-level observables x (N, D), weights, smearing bookkeeping
    /generated        optional: generated events (BINN) with σ_pred/p per event
    /reco_variations  optional: /reco_variations/<name>_{up,down}, the detector variations
    /checksums        optional: CRC-32 of every stored chunk, SHA-256 of /meta (events.digest)

Weights are in pb and normalised like MadGraph's ``event_norm = average``: the mean over
a store's events is the cross-section, σ(θ) = mean_e c_e·φ(θ − θ0). Merging shards is then
plain concatenation. Momenta are (E, px, py, pz) in GeV.

Detector variations (``madsbi simulate reco --variations``): each named ±1σ variation of the
detector card (:data:`VARIATION_NAMES`) is one group ``/reco_variations/<name>_up`` or
``_down`` (:func:`variation_group`) holding ``x``, ``cuts`` and, when the selection makes
them, ``momentum`` and ``pdg_id`` of the same entries as ``/reco``: row i of a variation group
is row i of ``/reco`` (same copy, same parent, same weights, same random numbers), simulated
with that variation. Rows are stored when the nominal or any variation passes every cut, so
an event that a variation moves into the selection is kept; ``/reco/cuts`` and the group's
``cuts`` tell which. The groups are not nested in ``/reco`` (the issue's
``/reco/variations/...``) because every reader that lists ``/reco``'s datasets would then
find a group among them; as event groups of their own, merging, re-centring, checksums and
``store verify`` treat them like ``/reco``.

Versions: 2 adds ``/meta/theta_gen``, the point the events were generated at, which may differ
from the reference point θ0 of the coefficients (``/parton/weight`` = c_e·φ(θ_gen − θ0)).
Version-1 stores read with θ_gen = θ0, which is what they meant.
"""

from __future__ import annotations

from dataclasses import dataclass

FORMAT_NAME = "madsbi-event-store"
FORMAT_VERSION = 2
#: Versions :class:`~madsbi.events.store.EventStore` reads.
READABLE_VERSIONS = (1, 2)

META = "meta"
#: Digests of the stored chunks and of /meta (:mod:`madsbi.events.digest`); absent in stores
#: of earlier madsbi versions, which read as before.
CHECKSUMS = "checksums"
PARTON = "parton"
RECO = "reco"
GENERATED = "generated"
#: Top-level group of the detector variations (module docstring).
RECO_VARIATIONS = "reco_variations"
#: The detector variations a card may define (issue 27; names used in card, store and fits).
VARIATION_NAMES = ("lep_scale_e", "lep_scale_mu", "lep_res", "met_scale", "met_soft", "jet_scale")
#: Directions of a variation: +1σ and −1σ.
DIRECTIONS = ("up", "down")


def variation_group(name: str, direction: str) -> str:
    """The group path of one variation, e.g. ``reco_variations/lep_res_up``."""
    return f"{RECO_VARIATIONS}/{name}_{direction}"


#: Every variation group, in :data:`VARIATION_NAMES` × :data:`DIRECTIONS` order.
VARIATION_GROUPS = tuple(variation_group(n, d) for n in VARIATION_NAMES for d in DIRECTIONS)
EVENT_GROUPS = (PARTON, RECO, GENERATED, *VARIATION_GROUPS)

#: Trailing-axis symbols: K coefficients, W reweighting ids, P particles (grows on append),
#: D named observables, C named cut flags, V named theory variations.
SYMBOLS = ("K", "W", "P", "D", "C", "V")


@dataclass(frozen=True)
class FieldSpec:
    """A per-event dataset: dtype, trailing axes after the event axis, whether required."""

    dtype: str
    inner: tuple[int | str, ...]
    required: bool
    doc: str
    unit: str = ""


FIELDS: dict[str, dict[str, FieldSpec]] = {
    PARTON: {
        "weight": FieldSpec("f8", (), True, "event weight at the generation point", "pb"),
        "coefficients": FieldSpec(
            "f8", ("K",), True, "c_e with dσ(z_e|θ) = c_e·φ(θ − θ0) (event_norm = average)", "pb"
        ),
        "rwgt": FieldSpec("f8", ("W",), False, "LHE <rwgt> weights, attr `ids`", "pb"),
        "process_id": FieldSpec("i4", (), False, "LHE IDPRUP"),
        "scale": FieldSpec("f8", (), False, "LHE SCALUP", "GeV"),
        "aqed": FieldSpec("f8", (), False, "LHE AQEDUP"),
        "aqcd": FieldSpec("f8", (), False, "LHE AQCDUP"),
        "n_particles": FieldSpec("i2", (), False, "number of LHE particles (rest is padding)"),
        "pdg_id": FieldSpec("i4", ("P",), False, "PDG id, 0 for padding"),
        "status": FieldSpec("i2", ("P",), False, "LHE status (-1 in, 1 out, 2 intermediate)"),
        "mothers": FieldSpec("i2", ("P", 2), False, "LHE mother indices (1-based)"),
        "colors": FieldSpec("i4", ("P", 2), False, "LHE colour flow tags"),
        "momentum": FieldSpec("f8", ("P", 4), False, "four-momentum (E, px, py, pz)", "GeV"),
        "mass": FieldSpec("f8", ("P",), False, "generated mass", "GeV"),
        "lifetime": FieldSpec("f4", ("P",), False, "LHE VTIMUP", "mm"),
        "helicity": FieldSpec("f4", ("P",), False, "LHE SPINUP (9 = unknown)"),
        "features": FieldSpec("f8", ("D",), False, "named parton observables, attr `names`"),
        # madsbi.events.theory_weights: r_v = w_v / w, θ-independent at LO
        "theory_variations": FieldSpec(
            "f8", ("V",), False, "w_v/w per theory variation (μ_R, μ_F, PDF), attr `names`"
        ),
    },
    RECO: {
        "x": FieldSpec("f8", ("D",), True, "reco-level observables, attr `names`"),
        "weight": FieldSpec("f8", (), True, "event weight (parent weight × smearing weight)", "pb"),
        "smearing_weight": FieldSpec("f8", (), False, "fractional-smearing weight 1/n"),
        "parent": FieldSpec("i8", (), False, "index of the parent /parton event"),
        "copy_index": FieldSpec("i4", (), False, "copy number within the parent"),
        "momentum": FieldSpec("f8", ("P", 4), False, "reco object four-momenta", "GeV"),
        "pdg_id": FieldSpec("i4", ("P",), False, "reco object type (PDG id), 0 for padding"),
        "cuts": FieldSpec("u1", ("C",), False, "1 where the copy passes cut c, attr `names`"),
    },
    GENERATED: {
        "x": FieldSpec("f8", ("D",), True, "generated observables, attr `names`"),
        "weight": FieldSpec("f8", (), True, "event weight", "pb"),
        "sigma_over_p": FieldSpec("f8", (), False, "relative density uncertainty σ_pred/p"),
    },
}
#: The fields of every variation group: row i belongs to /reco row i.
VARIATION_FIELDS = {
    "x": FieldSpec("f8", ("D",), True, "reco observables of /reco row i, varied, attr `names`"),
    "cuts": FieldSpec("u1", ("C",), True, "1 where the varied copy passes cut c, attr `names`"),
    "momentum": FieldSpec("f8", ("P", 4), False, "varied reco object four-momenta", "GeV"),
    "pdg_id": FieldSpec("i4", ("P",), False, "reco object type (PDG id), 0 for padding"),
}
FIELDS.update({group: VARIATION_FIELDS for group in VARIATION_GROUPS})

#: Datasets that carry a list of column names in an attribute.
NAMED_FIELDS: dict[tuple[str, str], str] = {
    (PARTON, "rwgt"): "ids",
    (PARTON, "features"): "names",
    (PARTON, "theory_variations"): "names",
    (RECO, "x"): "names",
    (RECO, "cuts"): "names",
    (GENERATED, "x"): "names",
    **{(group, name): "names" for group in VARIATION_GROUPS for name in ("x", "cuts")},
}

#: /meta fields that identify the physics content; shards merge only if all are equal.
IDENTITY_FIELDS = (
    "process",
    "mg5_version",
    "sample_id",
    "attributes",
    "parameter_names",
    "parameter_blocks",
    "parameter_codes",
    "parameter_ranges",
    "theta0",
    "theta_gen",
    "basis_ids",
    "basis_points",
    "cards",
)

#: ``/meta`` attribute (in ``attributes``) of a θ-independent store (``store convert
#: --no-reweighting``): True when every event's coefficients are (w, 0, …, 0), its weight at
#: every θ (a process that does not depend on the parameters, e.g. a SM background).
THETA_INDEPENDENT = "theta_independent"

#: ``/meta`` attribute of Asimov pseudo-data (``madsbi store mix --asimov``): True when every
#: event's weight is its expected share of σ_fid at the mixed θ (weighted data, not counts).
ASIMOV_DATA = "asimov_data"

#: HDF5 filter of event datasets unless asked otherwise. None: float64 event data compress
#: only about 2× with lzf, and compressing costs more than parsing the LHE text (150 vs
#: 500 MB/s on the benchmark machine); choose "lzf" or "gzip" for archival copies.
DEFAULT_COMPRESSION: str | None = None
#: Filters a store may be written with.
COMPRESSIONS = ("lzf", "gzip", None)

#: Run-card settings that legitimately differ between the jobs of one production.
PER_JOB_RUN_CARD_KEYS = frozenset({"iseed", "nevents"})
