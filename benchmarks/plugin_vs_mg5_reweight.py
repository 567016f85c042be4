"""MadGraph's own reweighting vs reweight=madsbi: same events, same 10 points, one core.

Needs an existing MadGraph process directory (SMEFTsim WZ, see examples/wz/) with a run whose
events have no reweighting yet, the plugin installed (``madsbi mg5 install-plugin``), and
``madsbi`` importable by the Python running MadGraph. Each tool reweights a fresh copy twice:
cold (builds and compiles the matrix element) and warm (``rwgt_dir`` reuses it). Reported:
wall time of the whole ``bin/madevent reweight`` call, and the event-loop time (MadGraph's
"All event done" lines summed over its passes; the plugin's one-pass time from its report),
per event per point.

    python benchmarks/plugin_vs_mg5_reweight.py --process-dir WZ_parton --run run_01
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from madsbi.events.lhe import LheFile
from madsbi.events.store import EventStore

POINTS = {
    "p00_sm": (0, 0, 0),
    "p01_cHWB_p1": (1, 0, 0),
    "p02_cHWB_m1": (-1, 0, 0),
    "p03_cW_p1": (0, 1, 0),
    "p04_cW_m1": (0, -1, 0),
    "p05_cHq3_p1": (0, 0, 1),
    "p06_cHq3_m1": (0, 0, -1),
    "p07_cHWB_cW_p1": (1, 1, 0),
    "p08_cHWB_cHq3_p1": (1, 0, 1),
    "p09_cW_cHq3_p1": (0, 1, 1),
}
CODES = (9, 2, 25)  # SMEFT entries of cHWB, cW, cHq3


def mg5_card() -> str:
    lines = ["change rwgt_dir rwgt", "change helicity False"]
    for name, theta in POINTS.items():
        lines.append(f"launch --rwgt_name={name}")
        lines += [f"set SMEFT {c} {v}" for c, v in zip(CODES, theta, strict=True)]
    return "\n".join(lines) + "\n"


def madsbi_card() -> str:
    lines = ["change rwgt_dir rwgt", "change helicity False"]
    lines += [
        f"parameter {n} SMEFT {c} -1 1" for n, c in zip(("cHWB", "cW", "cHq3"), CODES, strict=True)
    ]
    lines.append("basis explicit")
    lines += [f"basis_point {n} {t[0]} {t[1]} {t[2]}" for n, t in POINTS.items()]
    lines += ["lhe_weights on", "launch"]
    return "\n".join(lines) + "\n"


def seconds(text: str) -> float:
    """MadGraph's format_timer output ('2.5s', '1m05s', '1h02m')."""
    total = 0.0
    for value, unit in re.findall(r"([\d.]+)([hms])", text):
        total += float(value) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


def reweight(proc: Path, pristine: Path, run: str, script: Path) -> tuple[float, str]:
    target = proc / "Events" / run
    shutil.rmtree(target)
    shutil.copytree(pristine, target)
    start = time.perf_counter()
    done = subprocess.run(
        [str(proc / "bin" / "madevent"), str(script)],
        cwd=proc,
        capture_output=True,
        text=True,
        check=False,
    )
    return time.perf_counter() - start, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--process-dir", type=Path, required=True)
    parser.add_argument("--run", default="run_01")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/plugin_vs_mg5_reweight.json"))
    args = parser.parse_args()
    source = args.process_dir.resolve()
    with tempfile.TemporaryDirectory(prefix="madsbi-bench-") as tmp:
        work = Path(tmp)
        pristine = work / "pristine"
        shutil.copytree(source / "Events" / args.run, pristine)
        for p in pristine.iterdir():
            if p.name == "madsbi.h5":
                p.unlink()
        (events,) = list(pristine.glob("unweighted_events.lhe*"))
        with LheFile(events) as lhe:
            n_events = sum(c.n_events for c in lhe.chunks(100_000))
        results = {}
        for tool, card, line in (
            ("madgraph", mg5_card(), f"reweight {args.run} -from_cards\n"),
            ("madsbi", madsbi_card(), f"reweight {args.run} --plugin=madsbi -from_cards\n"),
        ):
            proc = work / tool
            shutil.copytree(source, proc, symlinks=True, ignore=shutil.ignore_patterns("rwgt*"))
            (proc / "Cards" / "reweight_card.dat").write_text(card)
            script = work / f"{tool}.me"
            script.write_text(line)
            cold, _ = reweight(proc, pristine, args.run, script)
            warm, log = reweight(proc, pristine, args.run, script)
            if tool == "madgraph":
                loop = sum(
                    seconds(m)
                    for m in re.findall(r"All event done\s+\(nb_event: \d+\)\s+(\S+)", log)
                )
                me_only = float("nan")
            else:
                with EventStore(proc / "Events" / args.run / "madsbi.h5") as store:
                    report = json.loads(store.meta.shards[0].report)
                loop, me_only = report["seconds"], report["seconds_matrix_element"]
            per = 1e3 / (n_events * len(POINTS))
            results[tool] = {
                "cold_wall_s": cold,
                "warm_wall_s": warm,
                "event_loop_s": loop,
                "matrix_element_s": me_only,
                "warm_wall_ms_per_event_point": warm * per,
                "event_loop_ms_per_event_point": loop * per,
            }
    results["meta"] = {"n_events": n_events, "n_points": len(POINTS)}
    mg, ms = results["madgraph"], results["madsbi"]
    results["speedup"] = {
        "event_loop": mg["event_loop_s"] / ms["event_loop_s"],
        "warm_wall": mg["warm_wall_s"] / ms["warm_wall_s"],
    }
    print(f"{n_events} events x {len(POINTS)} points, one core")
    head = ("", "cold wall", "warm wall", "loop", "ms/ev/pt (loop)", "ms/ev/pt (warm wall)")
    print("{:10s} {:>10s} {:>10s} {:>8s} {:>16s} {:>21s}".format(*head))
    for tool in ("madgraph", "madsbi"):
        r = results[tool]
        print(
            f"{tool:10s} {r['cold_wall_s']:9.1f}s {r['warm_wall_s']:9.1f}s "
            f"{r['event_loop_s']:7.2f}s "
            f"{r['event_loop_ms_per_event_point']:16.4f} {r['warm_wall_ms_per_event_point']:21.4f}"
        )
    print(
        f"speed-up: event loop {results['speedup']['event_loop']:.1f}x, "
        f"warm wall {results['speedup']['warm_wall']:.1f}x"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
