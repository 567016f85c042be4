"""A JSON-ready description of an event store (``madsbi store inspect``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from madsbi.events.store import EventStore
from madsbi.events.verify import check_structure, verify_store
from madsbi.theory.polynomial import coefficient_labels


def describe_store(path: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """Everything a user wants to know about a store, as plain Python values.

    Parameters
    ----------
    path : str or Path
        The store.
    verify : bool
        Read every event dataset back through its checksums first (see
        :func:`~madsbi.events.verify.verify_store`); ``integrity`` is then ``"ok"`` or
        ``"no checksums"``, otherwise ``"not checked"``.

    Raises
    ------
    StoreCorruptError
        With ``verify``, if a dataset fails its checksum (named in the message).
    StoreFormatError
        If the store's structure is not that of the schema
        (:func:`~madsbi.events.verify.check_structure`), with or without ``verify``.
    """
    integrity = verify_store(path).status if verify else "not checked"
    with EventStore(path) as store:
        check_structure(store)  # also without verify: it reads no event data
        meta = store.meta
        space = meta.space
        basis = meta.basis
        sigma_b = meta.basis_cross_sections
        sigma0 = float(store.cross_section(space.theta0_array)[0])
        return {
            "path": str(store.path),
            "format_version": store.format_version,
            "madsbi_version": str(store._file.attrs.get("madsbi_version", "")),
            "integrity": integrity,
            "process": meta.process,
            "mg5_version": meta.mg5_version,
            "sample_id": meta.sample_id,
            "attributes": dict(meta.attributes),
            "n_events": {g: store.n_events(g) for g in store.groups},
            "parameters": [
                {
                    "name": p.name,
                    "block": p.block,
                    "code": p.code,
                    "theta0": t0,
                    "theta_gen": t_gen,
                    "range": list(p.range) if p.range else None,
                }
                for p, t0, t_gen in zip(
                    space.parameters, space.theta0, meta.theta_gen or (), strict=True
                )
            ],
            "coefficient_labels": coefficient_labels(space.names),
            "basis": {
                "ids": list(meta.basis_ids),
                "points": basis.points.tolist(),
                "condition_number": basis.condition_number,
                "cross_sections_pb": None if sigma_b is None else sigma_b.tolist(),
            },
            "cross_section_theta0_pb": sigma0,
            "fields": {g: store.field_info(g) for g in store.groups},
            "cards": sorted(meta.cards),
            "shards": [
                {
                    "shard_id": s.shard_id,
                    "n_events": s.n_events,
                    "seed": s.seed,
                    "source": s.source,
                    "report": json.loads(s.report),
                }
                for s in meta.shards
            ],
        }


def format_description(info: dict[str, Any]) -> str:
    """Human-readable text of :func:`describe_store`'s result."""
    lines = [
        f"{info['path']}  (madsbi event store v{info['format_version']})",
        f"  process      {info['process'] or '-'}",
        f"  MadGraph     {info['mg5_version'] or '-'}",
        "  events       " + ", ".join(f"/{g}: {n:,}" for g, n in info["n_events"].items()),
        f"  σ(θ0)        {info['cross_section_theta0_pb']:.6g} pb",
        f"  integrity    {info['integrity']}",
    ]
    if info["attributes"]:
        lines.append(
            "  attributes   " + ", ".join(f"{k}={v}" for k, v in info["attributes"].items())
        )
    lines.append(f"  parameters   {len(info['parameters'])}")
    for p in info["parameters"]:
        where = f"{p['block']} {p['code']}" if p["block"] else "-"
        rng = f"[{p['range'][0]:g}, {p['range'][1]:g}]" if p["range"] else "-"
        lines.append(
            f"    {p['name']:<12} {where:<12} θ0 = {p['theta0']:<10g} "
            f"θ_gen = {p['theta_gen']:<10g} range {rng}"
        )
    basis = info["basis"]
    lines.append(
        f"  basis        K = {len(basis['ids'])}, cond(W) = {basis['condition_number']:.4g}"
    )
    sig = basis["cross_sections_pb"] or [float("nan")] * len(basis["ids"])
    for bid, point, s in zip(basis["ids"], basis["points"], sig, strict=True):
        coords = ", ".join(f"{v:g}" for v in point)
        lines.append(f"    {bid:<20} θ = ({coords})  σ = {s:.6g} pb")
    for group, fields in info["fields"].items():
        lines.append(f"  /{group}")
        for name, f in fields.items():
            unit = f" [{f['unit']}]" if f["unit"] else ""
            lines.append(f"    {name:<16} {f['dtype']:<8} {tuple(f['shape'])}{unit}")
    lines.append(f"  cards        {', '.join(info['cards']) or '-'}")
    for shard in info["shards"]:
        lines.append(
            f"  shard        {shard['shard_id']}: {shard['n_events']:,} events, "
            f"seed {shard['seed']}, from {shard['source'] or '-'}"
        )
        for check in shard["report"].get("holdouts", []):
            lines.append(
                f"    held-out {check['weight_id']:<16} max rel {check['max_rel_error']:.2e}, "
                f"max rel-to-largest {check['max_rel_to_largest']:.2e}, "
                f"σ rel {check['cross_section_rel_error']:.2e}"
            )
    return "\n".join(lines)
