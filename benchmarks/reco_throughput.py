"""Reco chain throughput: Pythia alone vs jets + detector + selection + store writing.

One process, one core (OMP_NUM_THREADS=1); times are CPU seconds of this process
(``time.process_time``), so other load on a shared machine does not inflate them. For each
Pythia setting the first N events of the shipped W⁺Z → ℓℓℓν store are showered once each (no
smearing), timing separately:
Pythia's initialisation (one event), the shower of N events, and everything after it
(detector, FastJet, selection and observables) and the HDF5 writing of /parton + /reco.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/reco_throughput.py [--default 60] [--fast 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from madsbi.data import sample_path
from madsbi.events import open_store, schema
from madsbi.events.particles import eta, is_invisible
from madsbi.events.writer import StoreWriter
from madsbi.processes import wz
from madsbi.simulate.detector import load_card, missing_et, reconstruct_leptons, smear_jets
from madsbi.simulate.jets import cluster_jets
from madsbi.simulate.reco import RECO_NAMES, RecoConfig, plan_chunk, run_statistics
from madsbi.simulate.shower import ShowerSettings, beam_energies, run_shower

from _common import report


def stages(mode: str, n: int) -> dict[str, float]:
    path = sample_path("wz_leptonic")
    with open_store(path) as store:
        parton = dict(store.read(schema.PARTON, None, 0, n).arrays)
        stats = run_statistics(store, 0, n)
        energies = beam_energies(store.meta.cards)
        meta = store.meta
        names = {"rwgt": store.column_names(schema.PARTON, "rwgt")}
    config = RecoConfig(seed=1, smear=False, shower=mode)
    plan = plan_chunk(parton["coefficients"], 0, config, stats)
    settings = ShowerSettings(mode)
    card = load_card()
    t0 = time.process_time()
    run_shower(parton, plan.parent[:1], plan.seed[:1], energies, settings)
    t_init = time.process_time() - t0
    t0 = time.process_time()
    shower = run_shower(parton, plan.parent, plan.seed, energies, settings)
    t_shower = time.process_time() - t0 - t_init
    t0 = time.process_time()
    visible = shower.final_state.select(~is_invisible(shower.final_state.pdg_id))
    leptons = reconstruct_leptons(visible, plan.seed, card)
    t_leptons = time.process_time() - t0
    t0 = time.process_time()
    keep = np.ones(visible.pdg_id.size, bool)
    keep[leptons.source] = False
    hadronic = visible.select(keep)
    inside = hadronic.select(np.abs(eta(hadronic.momentum)) < card.met_eta_max)
    truth_jets = cluster_jets(inside, card.jet_radius, card.jet_pt_min)
    t_jets = time.process_time() - t0
    t0 = time.process_time()
    jets = smear_jets(truth_jets, plan.seed, card)
    met = missing_et(leptons.leptons, truth_jets, jets, hadronic, plan.seed, card)
    sel = wz.select_wz(leptons.leptons, jets, met, shower.ok)
    t_select = time.process_time() - t0
    reco = {
        "x": sel.x,
        "weight": parton["weight"][plan.parent] * plan.weight,
        "smearing_weight": plan.weight,
        "parent": plan.parent,
        "copy_index": plan.copy_index,
        "momentum": sel.tokens,
        "pdg_id": sel.token_ids,
        "cuts": sel.cuts,
    }
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        with StoreWriter(Path(tmp) / "r.h5", meta) as writer:
            writer.append(schema.PARTON, parton, names=names)
            writer.append(schema.RECO, reco, names=RECO_NAMES)
        t_write = time.process_time() - t0
    after = t_leptons + t_jets + t_select + t_write
    return {
        "mode": mode,
        "events": n,
        "pythia_init_s": round(t_init, 3),
        "pythia_ms_per_event": round(1e3 * t_shower / n, 2),
        "pythia_events_per_s": round(n / t_shower, 1),
        "leptons_ms": round(1e3 * t_leptons / n, 3),
        "jets_ms": round(1e3 * t_jets / n, 3),
        "met_selection_ms": round(1e3 * t_select / n, 3),
        "write_ms": round(1e3 * t_write / n, 3),
        "after_pythia_fraction": round(after / t_shower, 4),
        "chain_events_per_s": round(n / (t_shower + after), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--default", type=int, default=60, help="events with MPI on")
    parser.add_argument("--fast", type=int, default=300, help="events with MPI off")
    args = parser.parse_args()
    rows = [stages("fast", args.fast), stages("default", args.default)]
    report("reco_throughput", rows, {"store": "wz_leptonic"})


if __name__ == "__main__":
    main()
