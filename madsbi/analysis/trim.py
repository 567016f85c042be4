"""A smaller copy of a trained analysis for shipping: the rate model's events subsampled.

``madsbi run`` keeps every test event in ``rate_events.npz`` (every observable, the exact
coefficients and the MIS weight v_e: about 150 bytes per event) and the test and validation
indices of every training store in ``split.npz``. :func:`trim_analysis` writes a copy with

- the estimators unchanged (byte for byte);
- at most ``rate_events`` rate events: per channel (process) a draw without replacement of
  n_c = min(N_c, share of N) events, N split over the channels in proportion to their event
  counts (largest remainders, at least one event per channel). The kept weights of channel c
  are scaled by Σ_{e∈c} v_e / Σ_{kept e∈c} v_e, so every channel's σ(θ0) = Σ v_e is kept
  exactly and σ̂_c(θ) = σ_c(θ0) Σ_kept v_e R_e(θ) / Σ_kept v_e is the self-normalised
  estimate of the subsample (consistent, its bias O(1/n_c) far below its MC error; for the
  equal weights of one unweighted store per channel the factor is N_c/n_c). Every observable
  is kept (``--select`` needs them); observables and coefficients are stored as float32 when
  ``float32`` (the loader widens them to float64), the MIS weights always as float64, and
  each kept event's channel as ``channel`` (int16; the loader ignores it, a second trim reads
  it);
- ``split.npz`` with the test indices only, as int32 and compressed: ``madsbi fit`` of a
  training store fits its test split, so they stay; the validation indices (read by nothing
  after training) are dropped, their counts stay in the manifest.

The manifest records ``rate_model.trimmed_from`` = {"n_events": the source's count, "seed",
"float32", "channels": per channel N_c, n_c and σ_c(θ0)} (a trimmed source's own record
nested under it) and ``rate_model.n_events`` the kept count; it is written last, atomically.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, IntArray
from madsbi.analysis.backgrounds import DIRECTORY as COMPONENTS_DIR
from madsbi.analysis.names import analysis_path
from madsbi.analysis.overlay import BASE_KEY
from madsbi.analysis.save import MANIFEST_NAME, RATE_EVENTS_NAME
from madsbi.analysis.schema import (
    check_rate_events,
    check_split,
    load_npz,
    member_path,
    read_manifest,
)
from madsbi.analysis.shape_nuisances import NUISANCE_DIR
from madsbi.cards import channel_names, process_key
from madsbi.errors import InputError, MissingFileError, OutputError, StoreFormatError

#: The channel of every trimmed rate event (the loader reads ``obs_*``, ``coefficients`` and
#: ``mis_weights`` only); the names are the keys of ``rate_model.trimmed_from.channels``.
CHANNEL_KEY = "channel"
#: Observables that tell the W⁺Z and W⁻Z channels apart when the stores do not.
CHARGE_OBSERVABLES = ("charge", "sum_charge")


def trim_analysis(
    source: str | Path,
    destination: str | Path,
    *,
    rate_events: int,
    seed: int = 0,
    float32: bool = True,
) -> Path:
    """Write a copy of the analysis ``source`` with at most ``rate_events`` rate events.

    Parameters
    ----------
    source : path or shipped name
        A trained analysis directory (``OUT/analysis`` of ``madsbi run``).
    destination : path
        A new or empty directory, neither ``source`` nor inside it.
    rate_events : int
        N > 0, the rate events to keep over all channels (all of them when N is at least
        their number; a channel keeps at least one event).
    seed : int
        Seed of the draw (``numpy.random.default_rng``).
    float32 : bool
        Store observables and exact coefficients as float32 (MIS weights stay float64).

    Returns
    -------
    Path
        ``destination``.

    Raises
    ------
    InputError
        ``rate_events`` is not a positive integer, or ``destination`` is ``source`` or inside
        it.
    OutputError
        ``destination`` exists and is not an empty directory, or cannot be written.
    MissingFileError, StoreFormatError
        ``source`` is not an analysis directory of this format.
    """
    if isinstance(rate_events, bool) or not isinstance(rate_events, (int, np.integer)):
        raise InputError(f"rate_events: expected an integer, got {rate_events!r}")
    if rate_events <= 0:
        raise InputError(f"rate_events: expected > 0, got {rate_events}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed: expected an integer >= 0, got {seed!r}")
    src = _source(source)
    dst = Path(destination)
    _check_destination(src, dst)
    # The manifest's file names are checked to stay inside the source (they are read there)
    # and, so, inside the destination (written there) (madsbi.analysis.schema).
    manifest: dict[str, Any] = read_manifest(src)
    if BASE_KEY in manifest:
        raise InputError(
            f"source: {src} is an overlay on {manifest[BASE_KEY]['analysis']!r} (it holds no "
            "trained files to trim); trim its base and rebuild the overlay on the trimmed one"
        )
    rate = manifest["rate_model"]
    rate_file = member_path(src, rate["file"], "rate_model.file")
    arrays = load_npz(rate_file, "rate_model.file")
    check_rate_events(rate_file, arrays, manifest)
    split_name = manifest["split"]["file"]
    split_file = member_path(src, split_name, "split.file")
    split = load_npz(split_file, "split.file")
    check_split(split_file, split, manifest)
    estimator_paths = [
        member_path(src, entry["path"], f"estimators.{name}.path").relative_to(src)
        for name, entry in manifest["estimators"].items()
    ]
    # Attached nuisance networks and background components are kept as they are.
    estimator_paths += [Path(d) for d in (NUISANCE_DIR, COMPONENTS_DIR) if (src / d).is_dir()]
    weights = np.asarray(arrays["mis_weights"], dtype=np.float64)
    n_total = int(weights.shape[0])
    labels, names = channels(manifest, arrays)
    counts = np.bincount(labels, minlength=len(names))
    kept_counts = allocate(counts, int(rate_events))
    rng = np.random.default_rng(int(seed))
    kept: list[IntArray] = []
    scale = np.ones(n_total)
    record: dict[str, Any] = {}
    for c, name in enumerate(names):
        members = np.flatnonzero(labels == c)
        n_c = int(kept_counts[c])
        if n_c < members.shape[0]:
            chosen = np.sort(rng.choice(members, size=n_c, replace=False))
            scale[chosen] = weights[members].sum() / weights[chosen].sum()
        else:
            chosen = members
        kept.append(chosen)
        record[name] = {
            "n_events": int(members.shape[0]),
            "n_kept": n_c,
            "sigma0_pb": float(weights[members].sum()),
        }
    index = np.sort(np.concatenate(kept))
    dtype = np.float32 if float32 else np.float64
    trimmed: dict[str, Any] = {}
    for key, value in arrays.items():
        if key == "mis_weights":
            trimmed[key] = weights[index] * scale[index]
        elif key != CHANNEL_KEY:
            trimmed[key] = _narrow(np.asarray(value, dtype=np.float64)[index], dtype, key)
    trimmed[CHANNEL_KEY] = labels[index].astype(np.int16)
    test = {}
    for key, value in split.items():
        if key.startswith("test_"):
            test[key] = _indices(value)
    source_record = {
        "n_events": n_total,
        "seed": int(seed),
        "float32": bool(float32),
        "channels": record,
        "split": "test indices kept (int32 where they fit); validation indices dropped",
    }
    if "trimmed_from" in rate:
        source_record["trimmed_from"] = rate["trimmed_from"]
    out = copy.deepcopy(manifest)
    out["rate_model"]["n_events"] = int(index.shape[0])
    out["rate_model"]["sigma0_pb"] = float(np.sum(trimmed["mis_weights"]))
    out["rate_model"]["file"] = RATE_EVENTS_NAME
    out["rate_model"]["trimmed_from"] = source_record
    created = not dst.exists()
    try:
        dst.mkdir(parents=True, exist_ok=True)
        for relative in estimator_paths:
            shutil.copytree(src / relative, dst / relative)
        _savez_compressed(dst / RATE_EVENTS_NAME, trimmed)
        _savez_compressed(member_path(dst, split_name, "split.file"), test)
        tmp = dst / (MANIFEST_NAME + ".tmp")
        tmp.write_text(json.dumps(out, indent=1))
        os.replace(tmp, dst / MANIFEST_NAME)
    except OSError as exc:
        _clean(dst, created)
        raise OutputError(f"destination: cannot write {dst}: {exc}") from exc
    except BaseException:
        _clean(dst, created)
        raise
    return dst


def channels(manifest: Mapping[str, Any], arrays: Mapping[str, Any]) -> tuple[IntArray, list[str]]:
    """Each rate event's channel (index into the names) and the channel names.

    A trimmed analysis stores them (``channel``). Else the rate events are the test parts
    of the training stores in store order (``madsbi.studies.wz_data.pool_stores``): when
    the stores' test counts add up to the rate events, a channel is a store's process (its
    :func:`madsbi.cards.process_key`, as in
    :func:`madsbi.inference.rate.mis_weights`). Otherwise (a reco analysis's separate test
    store) one process is one channel, and several are told apart by the sign of a charge
    observable.

    Raises
    ------
    StoreFormatError
        Several processes and no way to tell the events' channels.
    """
    n = int(np.asarray(arrays["mis_weights"]).shape[0])
    trimmed = manifest["rate_model"].get("trimmed_from")
    if trimmed is not None and CHANNEL_KEY in arrays:
        return np.asarray(arrays[CHANNEL_KEY], dtype=np.int64), list(trimmed["channels"])
    stores = manifest["split"]["stores"]
    n_test = [int(s.get("n_test", 0)) for s in stores]
    if stores and sum(n_test) == n and all("process" in s for s in stores):
        named = channel_names(str(s["process"]) for s in stores)
        names = sorted(named.values())
        labels = np.concatenate(
            [
                np.full(k, names.index(named[process_key(str(s["process"]))]), dtype=np.int64)
                for s, k in zip(stores, n_test, strict=True)
            ]
        )
        return labels, names
    processes = list(manifest.get("processes", []))
    if len(processes) <= 1:
        return np.zeros(n, dtype=np.int64), [str(processes[0]) if processes else ""]
    for name in CHARGE_OBSERVABLES:
        key = f"obs_{name}"
        if key in arrays:
            sign = np.sign(np.asarray(arrays[key], dtype=np.float64))
            values = sorted(set(sign.tolist()))
            names = [f"{name}{'+' if v > 0 else '-' if v < 0 else '0'}" for v in values]
            labels = np.searchsorted(np.asarray(values), sign).astype(np.int64)
            return labels, names
    raise StoreFormatError(
        f"rate events: {len(processes)} processes {processes}, but neither the stores' test "
        f"counts ({sum(n_test)} ≠ {n}) nor a charge observable tell their channels apart"
    )


def allocate(counts: Any, n: int) -> IntArray:
    """Events to keep per channel: n split in proportion to ``counts`` (all if n ≥ Σ).

    Largest remainders; every non-empty channel keeps at least one event (so the total may
    exceed n by at most the number of channels).
    """
    c = np.asarray(counts, dtype=np.int64)
    total = int(c.sum())
    if n >= total:
        return c.copy()
    share = n * c / total
    out = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - out), kind="stable")
    out[order[: n - int(out.sum())]] += 1
    result: IntArray = np.minimum(np.maximum(out, (c > 0).astype(np.int64)), c)
    return result


def _source(source: str | Path) -> Path:
    try:
        path = analysis_path(source)
    except MissingFileError as exc:
        raise MissingFileError(f"source: {exc}") from exc
    try:
        read_manifest(path)
    except StoreFormatError as exc:
        raise StoreFormatError(f"source: {exc}") from exc
    return path


def _check_destination(src: Path, dst: Path) -> None:
    s, d = src.resolve(), dst.resolve()
    if d == s or s in d.parents:
        raise InputError(f"destination: {dst} is the source {src} or inside it")
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise OutputError(f"destination: {dst} exists and is not an empty directory")


def _narrow(value: FloatArray, dtype: Any, key: str) -> Any:
    result = value.astype(dtype)
    if not np.all(np.isfinite(result) == np.isfinite(value)):
        raise InputError(f"float32: {key} overflows float32; keep float64")
    return result


def _indices(value: Any) -> Any:
    index = np.asarray(value, dtype=np.int64)
    if index.size == 0 or (index.min() >= 0 and index.max() < np.iinfo(np.int32).max):
        return index.astype(np.int32)
    return index


def _savez_compressed(path: Path, arrays: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def _clean(dst: Path, created: bool) -> None:
    """Remove what a failed trim wrote (the directory itself if it created it)."""
    if created:
        shutil.rmtree(dst, ignore_errors=True)
    elif dst.is_dir():
        for child in dst.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
