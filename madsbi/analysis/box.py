"""The θ box a fit searches, and which results lie on its edge.

By default the box is the analysis's trained range (``defaults.ranges``), widened per
parameter to hold every ``at`` point with a margin: a point outside the range, or inside it
but closer than :data:`NEAR_EDGE` of half the range to a side, moves that side to the point ±
half the range (as the reco study's closure box does,
``madsbi.studies.wz_reco_limits.closure_box``), so q at the point is never measured
against a maximum the search could not reach, and a best fit near the point is not cut by
the edge. Points well inside the range leave it unchanged.
``ranges`` given as a mapping sets the named parameters' sides exactly (the others keep the
default, widened); given as an (n, 2) array it is the box, as is.

A best fit or a 1D interval end that lies on the box edge (within :data:`EDGE_FRACTION` of a
grid step of the line) says that the box, not the data, bounds the result: the fit warns
(:class:`madsbi.errors.BoxEdgeWarning`) naming the parameter, and ``fit.json`` records it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import BoxEdgeWarning, InputError

#: A result within this fraction of a grid step of the box edge lies on it.
EDGE_FRACTION = 0.01
#: An ``at`` point closer than this fraction of half the range to a side widens that side.
NEAR_EDGE = 0.25


@dataclass(frozen=True)
class FitBox:
    """The box of a fit: (n, 2) sides, and which parameters were set how.

    Attributes
    ----------
    ranges : (n, 2)
    widened : list of str
        Parameters whose default range was widened to hold an ``at`` point.
    given : list of str
        Parameters whose range the caller set.
    """

    ranges: FloatArray
    widened: list[str]
    given: list[str]

    def describe(self) -> dict[str, Any]:
        """For ``fit.json``'s settings."""
        return {"widened_for_at": self.widened, "given": self.given}


def parse_ranges(texts: Sequence[str], parameters: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``--range NAME=LOW,HIGH`` texts (one per parameter) → {name: (low, high)}.

    Raises
    ------
    InputError
        Naming ``--range``: an unknown name, a repeated name, not two numbers, low ≥ high.
    """
    out: dict[str, tuple[float, float]] = {}
    for text in texts:
        name, sep, values = text.partition("=")
        name = name.strip()
        if not sep or name not in parameters:
            raise InputError(
                f"--range {text!r}: expected NAME=LOW,HIGH with NAME one of {list(parameters)}"
            )
        if name in out:
            raise InputError(f"--range {text!r}: {name} is given twice (one --range per parameter)")
        try:
            numbers = [float(v) for v in values.split(",")]
        except ValueError:
            raise InputError(f"--range {text!r}: LOW and HIGH must be numbers") from None
        if len(numbers) != 2 or not (np.isfinite(numbers).all() and numbers[0] < numbers[1]):
            raise InputError(f"--range {text!r}: expected LOW,HIGH with finite LOW < HIGH")
        out[name] = (numbers[0], numbers[1])
    return out


def _checked_mapping(
    ranges: Mapping[str, Any], parameters: Sequence[str]
) -> dict[str, tuple[float, float]]:
    out = {}
    for name, pair in ranges.items():
        if name not in parameters:
            raise InputError(
                f"ranges: {name!r} is not a parameter; expected names from {list(parameters)}"
            )
        values = np.asarray(pair, dtype=np.float64)
        if values.shape != (2,) or not (np.isfinite(values).all() and values[0] < values[1]):
            raise InputError(
                f"ranges[{name!r}]: expected (low, high) with finite low < high, got {pair!r}"
            )
        out[str(name)] = (float(values[0]), float(values[1]))
    return out


def fit_box(
    parameters: Sequence[str],
    default: Any,
    ranges: Mapping[str, Any] | Any | None,
    at: Sequence[FloatArray],
) -> FitBox:
    """The box of a fit (module docstring).

    Parameters
    ----------
    parameters : names, in order
    default : (n, 2)
        The analysis's trained range.
    ranges : None, mapping name → (low, high), or (n, 2)
    at : points θ (n,) at which q is reported

    Raises
    ------
    InputError
        Naming ``ranges``: an unknown parameter, a side not (low, high) with low < high, an
        array of another shape.
    """
    n = len(parameters)
    given: dict[str, tuple[float, float]] = {}
    if ranges is not None and not isinstance(ranges, Mapping):
        box = np.asarray(ranges, dtype=np.float64)
        if box.shape != (n, 2) or not (np.isfinite(box).all() and (box[:, 0] < box[:, 1]).all()):
            raise InputError(
                f"ranges: expected {n} [low, high] pairs with low < high (one per parameter "
                f"{list(parameters)}) or a mapping name → (low, high), got {box.tolist()}"
            )
        return FitBox(box.copy(), [], list(parameters))
    if ranges is not None:
        given = _checked_mapping(ranges, parameters)
    box = np.array(default, dtype=np.float64)
    half = 0.5 * (box[:, 1] - box[:, 0])
    widened = []
    for i, name in enumerate(parameters):
        if name in given:
            box[i] = given[name]
            continue
        values = np.array([float(p[i]) for p in at])
        margin = NEAR_EDGE * half[i]
        below = values[values < box[i, 0] + margin]
        above = values[values > box[i, 1] - margin]
        if below.size:
            box[i, 0] = float(below.min()) - half[i]
        if above.size:
            box[i, 1] = float(above.max()) + half[i]
        if below.size or above.size:
            widened.append(name)
    return FitBox(box, widened, [p for p in parameters if p in given])


def outside_points(box: FloatArray, at: Sequence[FloatArray], parameters: Sequence[str]) -> None:
    """Warn for every ``at`` point outside a box the caller set.

    Q there is measured against the maximum inside the box (and clamped at 0).
    """
    for theta in at:
        out = [p for i, p in enumerate(parameters) if not box[i, 0] <= float(theta[i]) <= box[i, 1]]
        if out:
            label = ",".join(f"{p}={float(v):g}" for p, v in zip(parameters, theta, strict=True))
            warnings.warn(
                f"the point {label} lies outside the box in {out}: its q is measured against "
                "the maximum inside the box; widen --range (ranges=) to hold it",
                BoxEdgeWarning,
                stacklevel=3,
            )


def edge_report(
    box: FloatArray,
    parameters: Sequence[str],
    best_fit: FloatArray,
    intervals: Mapping[str, Mapping[str, Sequence[tuple[float, float]]]],
    points: int,
) -> dict[str, list[dict[str, Any]]]:
    """Best-fit coordinates and interval ends on the box edge.

    Parameters
    ----------
    box : (n, 2)
    best_fit : (n,)
    intervals : parameter → level → [(low, high), …]
    points : grid points of the 1D lines (the tolerance is :data:`EDGE_FRACTION` of a step)

    Returns
    -------
    dict
        ``{"best_fit": [{"parameter", "side", "value"}], "intervals": [{"parameter",
        "level", "side", "value"}]}``; ``side`` is ``"low"`` or ``"high"``.
    """
    report: dict[str, list[dict[str, Any]]] = {"best_fit": [], "intervals": []}
    for i, name in enumerate(parameters):
        lo, hi = float(box[i, 0]), float(box[i, 1])
        tol = EDGE_FRACTION * (hi - lo) / max(points - 1, 1)

        def side(value: float, lo: float = lo, hi: float = hi, tol: float = tol) -> str | None:
            if value <= lo + tol:
                return "low"
            if value >= hi - tol:
                return "high"
            return None

        where = side(float(best_fit[i]))
        if where is not None:
            report["best_fit"].append(
                {"parameter": name, "side": where, "value": float(best_fit[i])}
            )
        for level, found in intervals.get(name, {}).items():
            for a, b in found:
                for value, wanted in ((a, "low"), (b, "high")):
                    if side(float(value)) == wanted:
                        report["intervals"].append(
                            {"parameter": name, "level": level, "side": wanted, "value": value}
                        )
    return report


def warn_edges(method: str, report: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """One :class:`BoxEdgeWarning` naming the parameters of a method's results on the edge."""
    parts = [
        f"the best fit of {e['parameter']} ({e['value']:.4g}, {e['side']} edge)"
        for e in report["best_fit"]
    ]
    parts += [
        f"the {e['level']} interval of {e['parameter']} ({e['side']} end {e['value']:.4g})"
        for e in report["intervals"]
    ]
    if not parts:
        return
    names = sorted({str(e["parameter"]) for k in ("best_fit", "intervals") for e in report[k]})
    warnings.warn(
        f"{method}: {'; '.join(parts)} on the edge of the fit box: the box, not the data, "
        f"bounds it; widen the box for {names} (--range NAME=LOW,HIGH, or ranges=)",
        BoxEdgeWarning,
        stacklevel=3,
    )
