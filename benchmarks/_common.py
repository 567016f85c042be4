"""Shared helpers of the benchmark scripts: timing, machine description, table and JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "out"


def machine() -> dict[str, Any]:
    """CPU model, core count, Python and platform."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """Wall times of ``repeat`` calls and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def interleaved(
    fns: dict[str, Callable[[], Any]], repeat: int, rounds: int = 2, warmup: int = 3
) -> dict[str, list[float]]:
    """Time several functions in alternating blocks (A×repeat, B×repeat, A×repeat, ...).

    Alternating spreads slow machine phases over all candidates; blocks (rather than A B A B)
    keep one candidate's side effects from landing in the other's timings: BLAS worker threads
    that spin after a NumPy call, and the kernel compacting memory for huge pages after large
    arrays were freed (seen here: the first calls after a switch run 2-5x slower). The first
    ``warmup`` calls of each block are not timed.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(warmup):
                fn()
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return times


def summary(times: list[float]) -> dict[str, float]:
    """Best and median of a list of times."""
    return {"best_s": min(times), "median_s": statistics.median(times)}


def report(name: str, rows: list[dict[str, Any]], extra: dict[str, Any]) -> Path:
    """Print ``rows`` as a table and write them with the machine description to out/NAME.json."""
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(_fmt(r[k])) for r in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for r in rows:
        print("  ".join(_fmt(r[k]).ljust(widths[k]) for k in keys))
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.json"
    payload = {
        "benchmark": name,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "rows": rows,
        **extra,
    }
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}")
    return path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
