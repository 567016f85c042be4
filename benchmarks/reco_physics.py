"""Physics sanity of the W±Z reco chain (RESULTS.md): cut flow, lepton and E_T^miss
resolutions against the card, smeared vs unsmeared (unbiasedness, χ²/ndf), fast vs default
Pythia on a common subsample, and the figures (Fig. 4 and Fig. 13 for W±Z, parton vs reco).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/reco_physics.py \
        [--test 3000] [--smeared 1500] [--common 400] [--resolution 400]

Stores and PNGs go to benchmarks/out/reco/.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from madsbi.data import sample_path
from madsbi.events import open_store, schema
from madsbi.events.particles import eta, is_invisible, pt
from madsbi.plotting import plot_scatter_targets
from madsbi.plotting.reco import chi2_per_ndf, plot_distributions, plot_smearing_targets
from madsbi.processes import wz
from madsbi.processes.wz_parton import parton_features
from madsbi.simulate.detector import load_card, missing_et, reconstruct_leptons, smear_jets
from madsbi.simulate.jets import cluster_jets
from madsbi.simulate.reco import (
    RecoConfig,
    plan_chunk,
    run_statistics,
    simulate_reco,
    smearing_targets,
)
from madsbi.simulate.shower import ShowerSettings, beam_energies, run_shower

from _common import OUT, report

DIR = OUT / "reco"
STORE = sample_path("wz_leptonic")
TARGET_NAMES = [
    *(rf"$R_{{{p}}}$" for p in ("HWB", "W", "Hq3")),
    *(
        rf"$R_{{{a},{b}}}$"
        for i, a in enumerate(("HWB", "W", "Hq3"))
        for b in ("HWB", "W", "Hq3")[i:]
    ),
]


def run(name: str, config: RecoConfig, stop: int) -> tuple[dict, float]:
    t0 = time.process_time()
    rep = simulate_reco(STORE, DIR / f"{name}.h5", config, stop=stop, overwrite=True)
    return {
        "name": name,
        **rep.cut_flow,
        "copies": rep.n_copies,
        "passed": rep.n_passed,
        "failures": rep.shower_failures,
    }, time.process_time() - t0


def load(name: str) -> dict:
    with open_store(DIR / f"{name}.h5") as store:
        reco = dict(store.read(schema.RECO).arrays)
        parton = dict(
            store.read(schema.PARTON, ["pdg_id", "status", "momentum", "coefficients"]).arrays
        )
    reco["passed"] = reco["cuts"].all(axis=1)
    return {"reco": reco, "parton": parton}


def col(d: dict, name: str) -> np.ndarray:
    return d["reco"]["x"][:, wz.OBSERVABLES.index(name)]


def resolutions(n: int) -> dict:
    with open_store(STORE) as store:
        parton = dict(store.read(schema.PARTON, None, 0, n).arrays)
        stats = run_statistics(store, 0, n)
        energies = beam_energies(store.meta.cards)
    plan = plan_chunk(parton["coefficients"], 0, RecoConfig(seed=3, smear=False), stats)
    shower = run_shower(parton, plan.parent, plan.seed, energies, ShowerSettings("fast"))
    card = load_card()
    fs = shower.final_state
    visible = fs.select(~is_invisible(fs.pdg_id))
    rec = reconstruct_leptons(visible, plan.seed, card)
    truth = visible.momentum[rec.source]
    pt_t, eta_t = pt(truth), np.abs(eta(truth))
    ratio = pt(rec.leptons.momentum) / pt_t - 1
    out = {}
    for flavour, resp in (("electron", card.electron), ("muon", card.muon)):
        sel = np.abs(rec.leptons.pdg_id) == resp.pdg
        sigma = resp.resolution_of(pt_t[sel], eta_t[sel])
        pull = ratio[sel] / sigma
        out[flavour] = {
            "n": int(sel.sum()),
            "rms_rel_resolution": float(np.sqrt(np.mean(ratio[sel] ** 2))),
            "card_rms_rel_resolution": float(np.sqrt(np.mean(sigma**2))),
            "pull_std": float(pull.std()),
        }
    keep = np.ones(visible.pdg_id.size, bool)
    keep[rec.source] = False
    hadronic = visible.select(keep)
    inside = hadronic.select(np.abs(eta(hadronic.momentum)) < card.met_eta_max)
    tj = cluster_jets(inside, card.jet_radius, card.jet_pt_min)
    jets = smear_jets(tj, plan.seed, card)
    met = missing_et(rec.leptons, tj, jets, hadronic, plan.seed, card)
    nu = fs.select(is_invisible(fs.pdg_id))
    true_met = np.zeros((fs.n_events, 2))
    np.add.at(true_met, nu.event, nu.momentum[:, 1:3])
    diff = met - true_met
    out["met"] = {
        "sigma_x": float(diff[:, 0].std()),
        "sigma_y": float(diff[:, 1].std()),
        "mean_x": float(diff[:, 0].mean()),
        "true_met_mean": float(np.hypot(*true_met.T).mean()),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--test", type=int, default=3000)
    parser.add_argument("--smeared", type=int, default=1500)
    parser.add_argument("--common", type=int, default=400)
    parser.add_argument("--resolution", type=int, default=400)
    parser.add_argument("--reuse", action="store_true", help="analyse the stores of a former run")
    args = parser.parse_args()
    DIR.mkdir(parents=True, exist_ok=True)
    rows, times = [], {}
    for name, config, stop in (
        ("test_fast", RecoConfig(seed=7, smear=False, shower="fast"), args.test),
        ("smeared_fast", RecoConfig(seed=8, smear=True, shower="fast"), args.smeared),
        ("common_default", RecoConfig(seed=9, smear=False, shower="default"), args.common),
    ):
        if args.reuse:
            with open_store(DIR / f"{name}.h5") as store:
                reco = store.read(schema.RECO, ["cuts", "smearing_weight"])
            flow = (reco["cuts"].cumprod(axis=1) * reco["smearing_weight"][:, None]).sum(0)
            flow = flow / reco["smearing_weight"].sum()
            rows.append(
                {
                    "name": name,
                    **dict(zip(wz.CUTS, flow.round(4).tolist(), strict=True)),
                    "copies": reco.n_events,
                    "passed": int(reco["cuts"].all(axis=1).sum()),
                }
            )
            continue
        row, seconds = run(name, config, stop)
        rows.append(row)
        times[name] = {
            "seconds": round(seconds, 1),
            "copies": row["copies"],
            "copies_per_s": round(row["copies"] / seconds, 1),
        }
    test, smeared, default = load("test_fast"), load("smeared_fast"), load("common_default")
    # unbiasedness on the common parents 0 .. smeared
    unsm = {k: v for k, v in test["reco"].items()}
    in_common = unsm["parent"] < args.smeared
    # compared where the observables are defined: three leptons (and a Z candidate for
    # m_ll), before the later cuts, for statistics; unbiasedness holds at every cut level
    chi2 = {}
    three = wz.CUTS.index("three_leptons")
    for obs, rng in (("mt_wz", (0, 600)), ("pt_z", (0, 300)), ("m_ll_z", (60, 120))):
        a_sel = unsm["cuts"][:, three].astype(bool) & in_common & (col(test, obs) > 0)
        b_sel = smeared["reco"]["cuts"][:, three].astype(bool) & (col(smeared, obs) > 0)
        a = (col(test, obs)[a_sel], unsm["smearing_weight"][a_sel])
        b = (col(smeared, obs)[b_sel], smeared["reco"]["smearing_weight"][b_sel])
        value, ndf = chi2_per_ndf(a, b, np.linspace(*rng, 13))
        chi2[obs] = {
            "chi2_ndf": round(value, 3),
            "ndf": ndf,
            "n_unsmeared": int(a_sel.sum()),
            "n_smeared_copies": int(b_sel.sum()),
        }
        plot_distributions(
            {"unsmeared": a, "fractional smearing": b},
            DIR / f"smeared_vs_unsmeared_{obs}.png",
            xlabel=obs,
            value_range=rng,
        )
    # fast vs default on the common subsample
    common = test["reco"]["parent"] < args.common
    fast_flow = test["reco"]["cuts"][common].cumprod(axis=1).mean(axis=0)
    default_flow = default["reco"]["cuts"].cumprod(axis=1).mean(axis=0)
    three_fast = test["reco"]["cuts"][:, three].astype(bool)
    three_def = default["reco"]["cuts"][:, three].astype(bool)
    mt_fast = col(test, "mt_wz")[common & three_fast]
    mt_def = col(default, "mt_wz")[three_def]
    fast_vs_default = {
        "cut_flow_fast": dict(zip(wz.CUTS, np.round(fast_flow, 3).tolist(), strict=True)),
        "cut_flow_default": dict(zip(wz.CUTS, np.round(default_flow, 3).tolist(), strict=True)),
        "mt_wz_mean_fast (3 leptons)": float(mt_fast.mean()),
        "mt_wz_sem_fast": float(mt_fast.std() / np.sqrt(mt_fast.size)),
        "mt_wz_sem_default": float(mt_def.std() / np.sqrt(mt_def.size)),
        "mt_wz_mean_default (3 leptons)": float(mt_def.mean()),
        "n_three_leptons_fast": int(mt_fast.size),
        "n_three_leptons_default": int(mt_def.size),
    }
    # figures: Fig. 4 and Fig. 13 for W±Z, parton vs reco
    coeff = smeared["parton"]["coefficients"]
    targets = smearing_targets(coeff)
    counts = np.bincount(smeared["reco"]["parent"], minlength=coeff.shape[0])
    plot_smearing_targets(targets, counts, TARGET_NAMES, DIR / "fig4_wz_targets.png")
    k = 3 + 3  # R_{W,W}: the cW quadratic term, the paper's second-derivative example
    for name, d in (("original", test), ("smeared", smeared)):
        c = d["parton"]["coefficients"]
        t = smearing_targets(c)[:, k]
        m_wz = parton_features(d["parton"], ["m_wz"])[:, 0]
        r = d["reco"]
        sel = r["passed"]
        plot_scatter_targets(
            (m_wz, t),
            (col(d, "mt_wz")[sel], t[r["parent"][sel]]),
            DIR / f"fig13_wz_{name}.png",
            reco_weights=r["smearing_weight"][sel],
            xlabel=r"$m_{WZ}$ (parton), $m_T^{WZ}$ (reco) [GeV]",
            ylabel=TARGET_NAMES[k],
        )
    r = test["reco"]
    plot_distributions(
        {
            "parton $m_{WZ}$": (
                parton_features(test["parton"], ["m_wz"])[:, 0],
                np.ones(args.test),
            ),
            "reco $m_T^{WZ}$ (passed)": (
                col(test, "mt_wz")[r["passed"]],
                r["smearing_weight"][r["passed"]],
            ),
        },
        DIR / "parton_vs_reco_mwz.png",
        xlabel="GeV",
        value_range=(0, 800),
    )
    extra = {
        "times": times,
        "chi2": chi2,
        "fast_vs_default": fast_vs_default,
        "resolutions": resolutions(args.resolution),
    }
    report("reco_physics", rows, extra)
    print(json.dumps(extra, indent=1))


if __name__ == "__main__":
    main()
