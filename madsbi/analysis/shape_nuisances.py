"""Detector shape nuisances of a reco analysis: trained from paired variations, used in fits.

:func:`add_nuisances` (``madsbi analysis-nuisances``) trains, for each named detector
variation of a reco store simulated with ``--variations``, the paired classifier of
:mod:`madsbi.estimators.nuisance_ratio` on the analysis's features (log r(x|±1)), measures
η(±1) from the paired cut flags, saves the network under ``nuisances/<name>/`` of the
analysis and declares it in ``analysis.json`` (kind ``"shape"``,
:mod:`madsbi.analysis.nuisances`). :func:`fit_modifiers` turns the declared nuisances of a fit
into the likelihood model's modifiers: normalisations as they are, shapes as
:class:`~madsbi.inference.modifiers.LearnedShape` evaluated on the data's features and
normalised over the analysis's rate events at θ0 (in the data's selection).

:func:`add_theory_nuisances` (``madsbi analysis-nuisances --theory mu_f``) learns the same
kind of entry for a theory-scale variation, by regression on the exact per-event factors of a
nominal store (:mod:`madsbi.estimators.theory_ratio`). :func:`add_normalisations`
(``madsbi analysis-nuisances --normalisation lumi=0.02``) declares log-normal normalisations
(luminosity, cross-sections) on all or some of the analysis's components.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from madsbi.analysis.components import component_names
from madsbi.analysis.nuisances import COMPONENT, NuisanceSpec
from madsbi.analysis.overlay import NUISANCES_DIR
from madsbi.analysis.schema import member_path, read_manifest, validate_manifest
from madsbi.errors import InputError

if TYPE_CHECKING:
    from madsbi.analysis.load import Analysis
    from madsbi.analysis.prepare import FitData
    from madsbi.estimators.nuisance_ratio import RatioTraining

NUISANCE_DIR = NUISANCES_DIR


def fit_modifiers(
    specs: Sequence[NuisanceSpec], analysis: Analysis, data: FitData
) -> tuple[Any, ...]:
    """The likelihood modifiers of a fit's nuisances (module docstring), in order.

    A shape nuisance acts on the components it names (``"components": ["signal"]``: the
    signal only). Declared without components it acts on the signal of a signal-only
    analysis, and on every component alike
    (:data:`~madsbi.inference.modifiers.shape.ALL_COMPONENTS`) of an analysis with
    backgrounds: the approximation that the per-event factor and the acceptance change learned
    on the signal's events apply to every process (the backgrounds are a few per cent of the
    events of the shipped analyses). It keeps the profile in its fast separable form
    (:mod:`madsbi.inference.profile`).

    Raises
    ------
    CheckpointError, MissingFileError
        A shape nuisance's ratio cannot be loaded.
    InputError
        Its features differ from the analysis's.
    """
    from madsbi.inference.modifiers import LearnedShape
    from madsbi.inference.modifiers.shape import ALL_COMPONENTS

    default = COMPONENT if len(component_names(analysis)) == 1 else ALL_COMPONENTS
    out: list[Any] = []
    sample = None
    for spec in specs:
        if spec.kind != "shape":
            out.append(spec.modifier())
            continue
        ratio = load_ratio(analysis.path, spec)
        if ratio.features != list(analysis.features):
            raise InputError(
                f"nuisance {spec.name!r}: its ratio takes the features {ratio.features}, the "
                f"analysis has {analysis.features}"
            )
        if sample is None:
            sample = analysis.rate_event_features(data.selections)
        out.append(
            LearnedShape.evaluate(
                spec.name,
                spec.components[0] if spec.components else default,
                ratio.log_ratios,
                data.features,
                rate_up=spec.rate_up,
                rate_down=spec.rate_down,
                sample=sample[0],
                sample_weights=sample[1],
            )
        )
    return tuple(out)


def load_ratio(directory: Path, spec: NuisanceSpec) -> Any:
    """The trained :class:`~madsbi.estimators.nuisance_ratio.VariationRatio` of a shape spec."""
    from madsbi.estimators.nuisance_ratio import VariationRatio

    path = member_path(Path(directory), spec.path, f"nuisances.{spec.name}.path")
    return VariationRatio.load(path)


def add_nuisances(
    source: str | Path,
    store: str | Path | Sequence[str | Path],
    variations: Sequence[str],
    *,
    destination: str | Path | None = None,
    training: RatioTraining | None = None,
    card: str | None = None,
    overlay: bool = False,
) -> tuple[Path, list[dict[str, Any]]]:
    """Train the shape nuisances of ``variations`` from ``store`` into an analysis.

    Parameters
    ----------
    source : path or shipped name
        A reco-level analysis.
    store : path, or a sequence of paths
        A reco store simulated with ``--variations`` (the same selection and detector card as
        the analysis; nominal parents the analysis does not fit), or several (one per process,
        e.g. W⁺Z and W⁻Z pairs), joined at their fiducial cross-sections
        (:func:`~madsbi.estimators.nuisance_ratio.read_paired_stores`).
    variations : sequence of str
        Names among the store's variations (``all``: every one that every store holds).
    destination : path, optional
        A new or empty directory for a copy of ``source`` with the nuisances; default:
        ``source`` itself (refused for a shipped analysis).
    training : RatioTraining, optional
        The classifier's settings.
    card : str, optional
        The detector card whose ``[variations]`` sizes are recorded (default the analysis's).
    overlay : bool
        Write only the nuisances and a manifest naming ``source`` as the base
        (:mod:`madsbi.analysis.overlay`), not a copy of its trained files.

    Returns
    -------
    (Path, list of dict)
        The analysis directory and the manifest entries written (one per variation).

    Raises
    ------
    InputError
        Not a reco analysis; no variation named; a shipped analysis without destination.
    OutputError
        ``destination`` is not new or empty.
    StoreFormatError
        The store lacks a variation or a feature column.
    """
    from madsbi.analysis.data import file_sha256
    from madsbi.analysis.names import analysis_path
    from madsbi.analysis.overlay import BASE_KEY, derived
    from madsbi.estimators.nuisance_ratio import read_paired_stores, train_variation_ratio
    from madsbi.events.reco import stored_variations
    from madsbi.simulate.detector_card import load_card

    root = analysis_path(source)
    manifest = read_manifest(root)
    if manifest.get("level") != "reco":
        raise InputError(f"{root}: detector nuisances need a reco-level analysis")
    stores = [Path(store)] if isinstance(store, str | Path) else [Path(s) for s in store]
    if not stores:
        raise InputError("store: name at least one paired reco store")
    if list(variations) == ["all"]:
        held = [set(stored_variations(s)) for s in stores]
        names = [n for n in stored_variations(stores[0]) if all(n in h for h in held)]
    else:
        names = list(variations)
    if not names:
        raise InputError("variations: name at least one")
    card_name = card or (manifest.get("simulation") or {}).get("card", "atlas_like")
    sizes = load_card(card_name).variations
    out, base_entry = derived(root, destination, overlay=overlay)
    if base_entry is not None:
        manifest[BASE_KEY] = base_entry
    features = list(manifest["features"])
    paths = [str(s.resolve()) for s in stores]
    digests = [file_sha256(s) for s in stores]
    record = (
        {"store": paths[0], "sha256": digests[0]}
        if len(stores) == 1
        else {"store": paths, "sha256": digests}
    )
    entries = []
    for name in names:
        paired = read_paired_stores(stores, name, features)
        ratio = train_variation_ratio(name, features, paired["up"], paired["down"], training)
        relative = f"{NUISANCE_DIR}/{name}"
        ratio.save(out / relative)
        keys = ("n_entries", "n_train", "n_validation", "best_epoch", "validation_gain",
                "validation_gain_error", "learned")  # fmt: skip
        info = {k: ratio.info[k] for k in keys}
        entries.append(
            {
                "name": name,
                "kind": "shape",
                "size": float(sizes.get(name, 1.0)),
                "path": relative,
                "rate_up": ratio.rate_up,
                "rate_down": ratio.rate_down,
                "training": {
                    **record,
                    "card": str(card_name),
                    "validation_loss": ratio.info["validation_loss"],
                    **info,
                },
            }
        )
    _write_entries(out, manifest, entries)
    return out, entries


def _write_entries(out: Path, manifest: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """Replace the manifest's nuisances of the entries' names by them; write it atomically."""
    names = {e["name"] for e in entries}
    kept = [e for e in manifest.get("nuisances") or [] if e.get("name") not in names]
    manifest["nuisances"] = kept + entries
    validate_manifest(manifest, out)
    tmp = out / "analysis.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / "analysis.json")


def add_theory_nuisances(
    source: str | Path,
    store: str | Path,
    names: Sequence[str],
    *,
    destination: str | Path | None = None,
    training: RatioTraining | None = None,
    overlay: bool = False,
) -> tuple[Path, list[dict[str, Any]]]:
    """Learn theory-scale shape nuisances (``mu_f``) from a nominal store's exact factors.

    For each name the parents' factors r_±(z) = w_v/w of its variations (``mu_f_up``,
    ``mu_f_down``; ``/parton/theory_variations``) are regressed on the analysis's features of
    the store's selected entries (:mod:`madsbi.estimators.theory_ratio`); η(±1) are exact. The
    entries are of kind ``"shape"`` (the same saved ratio as a detector variation's), size 1
    (±1σ is the scale × 2 and × ½), and record the training store, its SHA-256 and the
    variation names. ``destination`` and ``overlay`` as in :func:`add_nuisances`.

    Returns
    -------
    (Path, list of dict)
        The analysis directory and the manifest entries written.

    Raises
    ------
    InputError
        Not a reco analysis; no name, or a name that is not a theory nuisance; a variation
        with every factor 1 (μ_R at LO for W±Z).
    StoreFormatError
        The store lacks the theory variations, a parent link or a feature column.
    """
    from madsbi.analysis.data import file_sha256
    from madsbi.analysis.names import analysis_path
    from madsbi.analysis.overlay import BASE_KEY, derived
    from madsbi.estimators.theory_ratio import (
        read_theory_sample,
        theory_variations,
        train_theory_ratio,
    )

    root = analysis_path(source)
    manifest = read_manifest(root)
    if manifest.get("level") != "reco":
        raise InputError(f"{root}: learned theory nuisances need a reco-level analysis")
    if not names:
        raise InputError("theory: name at least one nuisance (mu_f)")
    for name in names:
        theory_variations(name)
    features = list(manifest["features"])
    samples = {name: read_theory_sample(store, name, features) for name in names}
    out, base_entry = derived(root, destination, overlay=overlay)
    if base_entry is not None:
        manifest[BASE_KEY] = base_entry
    digest = file_sha256(Path(store))
    entries = []
    for name, sample in samples.items():
        ratio = train_theory_ratio(name, features, sample, training)
        relative = f"{NUISANCE_DIR}/{name}"
        ratio.save(out / relative)
        keys = ("method", "variations", "n_entries", "n_train", "n_validation", "best_epoch",
                "validation_loss", "validation_gain", "validation_gain_error",
                "learned")  # fmt: skip
        training_record = {"store": str(Path(store).resolve()), "sha256": digest}
        entries.append(
            {
                "name": name,
                "kind": "shape",
                "size": 1.0,
                "path": relative,
                "rate_up": ratio.rate_up,
                "rate_down": ratio.rate_down,
                "training": training_record | {k: ratio.info[k] for k in keys},
            }
        )
    _write_entries(out, manifest, entries)
    return out, entries


def parse_normalisation(text: str) -> dict[str, Any]:
    """``NAME=SIZE`` or ``NAME=SIZE:COMPONENT[+COMPONENT…]`` → a manifest entry.

    Raises
    ------
    InputError
        Not of that form; a bad name or size (:func:`madsbi.analysis.nuisances.parse_declared`).
    """
    from madsbi.analysis.nuisances import parse_declared

    head, _, listed = text.partition(":")
    name, sep, size = head.partition("=")
    if not sep:
        raise InputError(f"--normalisation {text!r}: expected NAME=SIZE[:COMPONENT+COMPONENT]")
    components = [c.strip() for c in listed.split("+") if c.strip()]
    entry: dict[str, Any] = {"name": name.strip(), "kind": "normalisation", "size": size}
    if components:
        entry["components"] = components
    [spec] = parse_declared([entry], f"--normalisation {text!r}")
    return {**entry, "size": spec.size}


def add_normalisations(
    source: str | Path,
    entries: Sequence[dict[str, Any]],
    *,
    destination: str | Path | None = None,
    overlay: bool = False,
) -> Path:
    """Declare normalisation nuisances (log-normal, unit Gaussian constraint) in an analysis.

    ``entries``: manifest entries (:func:`parse_normalisation`); one named like a declared
    nuisance replaces it. Each entry's ``components`` must be components of the analysis
    (``signal`` and its backgrounds; absent: all). ``destination`` and ``overlay`` as in
    :func:`add_nuisances`.

    Raises
    ------
    InputError
        No entry; a component the analysis does not have; a shipped analysis without
        destination.
    """
    from madsbi.analysis.component_spec import parse_components
    from madsbi.analysis.names import analysis_path
    from madsbi.analysis.overlay import BASE_KEY, derived

    if not entries:
        raise InputError("normalisations: name at least one (NAME=SIZE)")
    root = analysis_path(source)
    manifest = read_manifest(root)
    spec = parse_components(manifest.get("components"), f"{root}: components")
    known = [COMPONENT] if spec is None else spec.names
    for entry in entries:
        unknown = sorted(set(entry.get("components", [])) - set(known))
        if unknown:
            raise InputError(
                f"normalisation {entry['name']!r}: components {unknown} are not components "
                f"of {root} ({known})"
            )
    out, base_entry = derived(root, destination, overlay=overlay)
    if base_entry is not None:
        manifest[BASE_KEY] = base_entry
    _write_entries(out, manifest, [dict(e) for e in entries])
    return out
