"""Lazy matplotlib access, the shared figure style, the method palette and input checks.

Nothing here imports matplotlib at import time: :func:`pyplot` does, on the first figure.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError, OptionalDependencyError

MISSING_MESSAGE = "plotting needs matplotlib: pip install 'madsbi[plot]'"
DPI = 150

#: Colours per method, so a method keeps its colour across figures. Keys are compared after
#: :func:`_normalise` (case, ``-``/``_`` and spaces do not matter).
PALETTE: dict[str, str] = {
    "truth": "#000000",
    "morphing-aware": "#1f77b4",
    "morphing": "#1f77b4",
    "derivative": "#ff7f0e",
    "derivative learning": "#ff7f0e",
    "single network": "#2ca02c",
    "morphing-aware single network": "#2ca02c",
    "repulsive ensemble": "#d62728",
    "ensemble": "#d62728",
    "original": "#1f77b4",
    "fractional smearing": "#ff7f0e",
    "parton": "#1f77b4",
    "reco": "#ff7f0e",
    "l-gatr": "#9467bd",
    "lgatr": "#9467bd",
    "mlp": "#d62728",
    "cross-section only": "#7f7f7f",
    "rate only": "#7f7f7f",
}

#: Colours for names not in :data:`PALETTE` (Tableau 10 without black), used in order.
FALLBACK_CYCLE: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

#: rcParams applied while a figure is built and saved: readable fonts, light grid.
STYLE: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 13,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 10,
    "legend.framealpha": 0.85,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linestyle": ":",
    "lines.linewidth": 1.8,
    "mathtext.fontset": "dejavusans",
}

#: Opacity of ±1σ bands.
BAND_ALPHA = 0.25

#: Largest number of decades a log axis spans below its largest value.
LOG_DECADES = 12


def pyplot() -> Any:
    """Return ``matplotlib.pyplot``, importing it with the non-interactive Agg backend.

    The Agg backend is selected only when no backend was chosen before (``MPLBACKEND``,
    ``matplotlib.use``, a matplotlibrc, or pyplot already imported by the caller).

    Returns
    -------
    module
        The ``matplotlib.pyplot`` module.

    Raises
    ------
    OptionalDependencyError
        If matplotlib is not installed (extra ``plot``).
    """
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError as exc:
        raise OptionalDependencyError(MISSING_MESSAGE) from exc
    if "matplotlib.pyplot" not in sys.modules and not _backend_forced(matplotlib):
        matplotlib.use("Agg")
    try:
        return importlib.import_module("matplotlib.pyplot")
    except ImportError as exc:
        raise OptionalDependencyError(MISSING_MESSAGE) from exc


def _backend_forced(matplotlib: Any) -> bool:
    if os.environ.get("MPLBACKEND"):
        return True
    # Private but long-standing (matplotlib >= 3.5): None while the backend is still "auto".
    getter = getattr(matplotlib.rcParams, "_get_backend_or_none", None)
    return getter is not None and getter() is not None


def _normalise(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


_PALETTE_NORMALISED = {_normalise(key): value for key, value in PALETTE.items()}


def method_colors(names: Iterable[str]) -> dict[str, str]:
    """Assign a colour to each name: its palette colour, else the next unused fallback colour.

    A palette colour already taken by an earlier name of the same figure is not reused; that
    name falls back to the cycle, so every curve of one figure stays distinguishable.

    Parameters
    ----------
    names : iterable of str
        Method or dataset names in plotting order.

    Returns
    -------
    dict of str to str
        Name → matplotlib colour.
    """
    names = list(names)
    colors: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        color = _PALETTE_NORMALISED.get(_normalise(name))
        if color is not None and color not in used:
            colors[name] = color
            used.add(color)
    free = iter([c for c in FALLBACK_CYCLE if c not in used])
    for index, name in enumerate(names):
        if name not in colors:
            colors[name] = next(free, FALLBACK_CYCLE[index % len(FALLBACK_CYCLE)])
    return colors


def output_path(path: str | os.PathLike[str]) -> Path:
    """The output path as a :class:`~pathlib.Path`; it must name a ``.png`` file."""
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise InputError(f"path: expected a file name ending in .png, got {str(out)!r}")
    return out


@contextmanager
def figure(
    path: Path, *, figsize: tuple[float, float] = (6.4, 4.6), **subplots: Any
) -> Iterator[tuple[Any, Any]]:
    """Yield ``(fig, axes)`` in the package style; on exit save the PNG and close the figure.

    The parent directory is created; the PNG is written at :data:`DPI` with a tight bounding
    box. The figure is closed even if drawing fails (then nothing is written).
    """
    plt = pyplot()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(figsize=figsize, layout="constrained", **subplots)
        try:
            yield fig, axes
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, format="png", dpi=DPI, bbox_inches="tight")
        finally:
            plt.close(fig)


def finish(
    ax: Any,
    *,
    title: str = "",
    legend: bool = True,
    bands: Mapping[Any, Any] | None = None,
    **legend_kwargs: Any,
) -> None:
    """Set the title and draw the legend when there are labelled artists.

    ``bands`` maps a labelled line to its ±1σ band; the legend key then shows both.
    """
    if title:
        ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    if legend and handles:
        bands = bands or {}
        keys = [(bands[h], h) if h in bands else h for h in handles]
        ax.legend(keys, labels, **legend_kwargs)


def sci(value: float) -> str:
    """A number for a legend: ``0.25`` stays plain, ``3e-08`` becomes mathtext 3×10⁻⁸."""
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    power = f"10^{{{int(exponent)}}}"
    return f"${power}$" if mantissa in ("1.0", "-1.0") else f"${mantissa}\\times {power}$"


def rgba(color: str, alpha: float) -> tuple[float, float, float, float]:
    """A ``#rrggbb`` colour with opacity ``alpha`` (face and edge of one artist differ)."""
    digits = color.lstrip("#")
    if len(digits) != 6:
        raise InputError(f"color: expected '#rrggbb', got {color!r}")
    red, green, blue = (int(digits[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return (red, green, blue, alpha)


def log_lower_limit(values: FloatArray) -> float | None:
    """Lower end of a log axis: the smallest positive value, but within :data:`LOG_DECADES`.

    At most :data:`LOG_DECADES` decades below the largest value: toy targets reach 1e-300,
    and such ranges hide the interesting part. Returns None when no value is positive.
    """
    positive = values[values > 0]
    if positive.size == 0:
        return None
    return max(float(positive.min()), float(positive.max()) * 10.0**-LOG_DECADES)


def vector(value: Any, name: str, length: int | None = None) -> FloatArray:
    """A 1-d finite float64 array, of ``length`` entries if given."""
    array = as_float_array(value, name, (length,))
    if array.shape[0] == 0:
        raise InputError(f"{name}: expected at least one value, got an empty array")
    return array


def grid(value: Any, name: str) -> FloatArray:
    """A strictly increasing 1-d float64 array of at least two points (an x axis of curves)."""
    array = vector(value, name)
    if array.shape[0] < 2:
        raise InputError(f"{name}: expected at least 2 points for a curve, got {array.shape[0]}")
    if np.any(np.diff(array) <= 0):
        index = int(np.argmax(np.diff(array) <= 0))
        raise InputError(
            f"{name}: expected strictly increasing values, got {array[index]} then "
            f"{array[index + 1]} at index {index}"
        )
    return array


def plane(value: Any, name: str, shape: tuple[int, int]) -> FloatArray:
    """A finite float64 array of exactly ``shape`` (values on a grid of a parameter plane)."""
    array: FloatArray = np.asarray(value, dtype=np.float64)
    if array.shape != shape:
        raise InputError(f"{name}: expected shape {shape}, got {array.shape}")
    if not np.isfinite(array).all():
        raise InputError(f"{name}: contains non-finite values")
    return array


def mean_std_pairs(
    methods: Mapping[str, tuple[Any, Any]], name: str, length: int
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Validate ``{method: (mean, std)}`` with both arrays of shape ``(length,)``, std >= 0."""
    result: dict[str, tuple[FloatArray, FloatArray]] = {}
    for method, pair in methods.items():
        if len(pair) != 2:
            raise InputError(f"{name}[{method!r}]: expected a (mean, std) pair, got {len(pair)}")
        mean = vector(pair[0], f"{name}[{method!r}] mean", length)
        std = vector(pair[1], f"{name}[{method!r}] std", length)
        if np.any(std < 0):
            raise InputError(f"{name}[{method!r}] std: expected values >= 0, got {std.min()}")
        result[method] = (mean, std)
    return result


def positive_or_nan(values: FloatArray) -> FloatArray:
    """Values with non-positive entries replaced by NaN (gaps on a log axis, no warnings)."""
    result: FloatArray = np.where(values > 0, values, np.nan)
    return result
