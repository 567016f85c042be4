"""LHE → event store throughput on the WZ sample concatenated to >= 200k events, vs pylhe.

Throughput is MB/s of decompressed LHE text. madsbi: ``convert_lhe`` (C++ reader, coefficient
solve, held-out checks, HDF5 writing). Baselines in the same process: pylhe reading the same
file into awkward arrays, then the same coefficient solve and HDF5 writing of the same arrays
("pylhe → store"), and pylhe merely iterating over the events.

    python benchmarks/lhe_convert.py [--copies 10] [--rounds 2]

The input is the project's full WZ sample (``$MADSBI_SHARED_DATA`` or ../shared/data/madgraph)
repeated ``--copies`` times; without it, the 1k-event test fixture repeated 20×copies.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import time
from pathlib import Path

import numpy as np

from madsbi.events import convert_lhe
from madsbi.events.lhe import LheHeader
from madsbi.events.reweighting import choose_basis, resolve_parameters, reweight_points

from _common import OUT, report

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MADSBI_SHARED_DATA", ROOT.parent / "shared" / "data" / "madgraph"))


def build_input(copies: int) -> Path:
    source = SHARED / "wz_smeft_parton_13p6TeV_rwgt.lhe.gz"
    if not source.exists():
        source, copies = ROOT / "tests" / "data" / "wz_parton_1k.lhe.gz", 20 * copies
    target = OUT / f"{source.name.split('.')[0]}_x{copies}.lhe.gz"
    if target.exists():
        return target
    OUT.mkdir(exist_ok=True)
    with gzip.open(source, "rt") as f:
        text = f.read()
    head, rest = text.split("<event>", 1)
    body = "<event>" + rest.rsplit("</LesHouchesEvents>", 1)[0]
    # the reader checks the header's event count against the events in the file
    n_events = body.count("<event>") * copies
    head = re.sub(r"(Number of Events\s*:\s*)\d+", rf"\g<1>{n_events}", head)
    tmp = target.with_suffix(".tmp")
    with gzip.open(tmp, "wt", compresslevel=6) as f:
        f.write(head)
        for _ in range(copies):
            f.write(body)
        f.write("</LesHouchesEvents>\n")
    tmp.rename(target)
    return target


def pylhe_to_store(path: Path, out: Path) -> int:
    """The baseline: pylhe → awkward → the same arrays and coefficients → HDF5."""
    import awkward as ak
    import h5py
    import pylhe

    lhe = pylhe.LHEFile.fromfile(str(path))
    events = ak.Array(pylhe.to_awkward(lhe.events))
    with gzip.open(path, "rt") as f:
        head = f.read(1 << 20).split("<event>", 1)[0]
    header = LheHeader.parse(head)
    space = resolve_parameters(header)
    chosen, basis = choose_basis(reweight_points(header, space)[0], space)
    rwgt = np.stack([ak.to_numpy(events.weights[w]) for w in header.weight_ids], axis=1)
    basis_w = rwgt[:, [p.column for p in chosen]]
    coefficients = basis.coefficients(basis_w)
    particles = events.particles
    n_max = int(ak.max(ak.num(particles)))
    pad = ak.fill_none(
        ak.pad_none(particles, n_max, clip=True),
        {
            "vector": {"px": 0, "py": 0, "pz": 0, "e": 0},
            "id": 0,
            "status": 0,
            "mother1": 0,
            "mother2": 0,
            "color1": 0,
            "color2": 0,
            "m": 0,
            "lifetime": 0,
            "spin": 0,
        },
    )
    momentum = np.stack([ak.to_numpy(pad.vector[c]) for c in ("e", "px", "py", "pz")], axis=-1)
    with h5py.File(out, "w") as f:
        g = f.create_group("parton")
        g.create_dataset("weight", data=ak.to_numpy(events.eventinfo.weight), compression=None)
        g.create_dataset("coefficients", data=coefficients, compression=None)
        g.create_dataset("rwgt", data=rwgt, compression=None)
        g.create_dataset("momentum", data=momentum, compression=None)
        for name in ("id", "status", "mother1", "mother2", "color1", "color2"):
            g.create_dataset(name, data=ak.to_numpy(pad[name]), compression=None)
        for name in ("m", "lifetime", "spin"):
            g.create_dataset(name, data=ak.to_numpy(pad[name]), compression=None)
    return len(events)


def pylhe_iterate(path: Path) -> int:
    import pylhe

    return sum(1 for _ in pylhe.LHEFile.fromfile(str(path)).events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--madsbi-repeat", type=int, default=3)
    args = parser.parse_args()
    path = build_input(args.copies)
    with gzip.open(path, "rb") as f:
        size = sum(len(chunk) for chunk in iter(lambda: f.read(1 << 24), b""))
    store = OUT / "lhe_convert_madsbi.h5"
    times: dict[str, list[float]] = {
        "madsbi convert_lhe": [],
        "madsbi convert_lhe, lzf": [],
        "pylhe → store": [],
        "pylhe iterate only": [],
    }
    n_events = 0
    for _ in range(args.rounds):
        for _ in range(args.madsbi_repeat):
            for label, compression in (
                ("madsbi convert_lhe", None),
                ("madsbi convert_lhe, lzf", "lzf"),
            ):
                t0 = time.perf_counter()
                n_events = convert_lhe(
                    path, store, overwrite=True, compression=compression
                ).n_events
                times[label].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        n_pylhe = pylhe_to_store(path, OUT / "lhe_convert_pylhe.h5")
        times["pylhe → store"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pylhe_iterate(path)
        times["pylhe iterate only"].append(time.perf_counter() - t0)
    if n_pylhe != n_events:
        raise SystemExit(f"pylhe read {n_pylhe} events, madsbi {n_events}")
    base = float(np.median(times["pylhe → store"]))
    rows = []
    for name, t in times.items():
        med = float(np.median(t))
        rows.append(
            {
                "method": name,
                "best_s": min(t),
                "median_s": med,
                "MB_per_s": size / 1e6 / med,
                "events_per_s": n_events / med,
                "speedup_vs_pylhe_store": base / med,
            }
        )
    report(
        "lhe_convert", rows, {"input": path.name, "events": n_events, "decompressed_MB": size / 1e6}
    )


if __name__ == "__main__":
    main()
