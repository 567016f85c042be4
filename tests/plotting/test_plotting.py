"""Figures (madsbi.plotting): every function writes a readable PNG, matplotlib stays lazy."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from madsbi.errors import InputError, OptionalDependencyError, ShapeError
from madsbi.plotting import (
    _mpl,
    plot_coverage,
    plot_learned_function,
    plot_likelihoods,
    plot_loss_curves,
    plot_mean_log_ratio,
    plot_q_histogram,
    plot_scatter_targets,
    plot_target_histogram,
)
from madsbi.plotting.coverage import chi2_pdf

pytest.importorskip("matplotlib")
plt = _mpl.pyplot()

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).parents[2]


def assert_png(path: Path) -> None:
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 5_000
    assert plt.get_fignums() == []  # the figure was closed


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"} | env
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )


def normal(x: np.ndarray, mean: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / width) ** 2) / (width * math.sqrt(2 * math.pi))


# -- toy figures ---------------------------------------------------------------------------
def test_likelihoods(tmp_path: Path) -> None:
    x = np.linspace(-5.0, 7.0, 300)
    densities = {
        rf"$\alpha = {a:g},\ \theta = {t:g}$": (normal(x, 0, 1.22) + t**2 * normal(x, a, 0.71))
        / (1 + t**2)
        for a in (1.5, 3.0)
        for t in (0.0, 0.4)
    }
    out = plot_likelihoods(x, densities, tmp_path / "nested" / "dir" / "fig1.png", title="toy")
    assert out == tmp_path / "nested" / "dir" / "fig1.png"
    assert_png(out)


def test_mean_log_ratio(tmp_path: Path, rng: np.random.Generator) -> None:
    thetas = np.linspace(-1.5, 1.5, 41)
    truth = -0.5 * (thetas - 0.6) ** 2 + 0.18
    methods = {
        "morphing-aware": (truth + 0.01 * rng.standard_normal(41), np.full(41, 0.02)),
        "derivative": (truth + 0.05 * thetas**2, 0.1 * np.abs(thetas)),
    }
    out = plot_mean_log_ratio(thetas, truth, methods, str(tmp_path / "fig2.png"), theta_test=0.6)
    assert isinstance(out, Path)
    assert_png(out)


def test_mean_log_ratio_without_methods(tmp_path: Path) -> None:
    thetas = np.linspace(-1.0, 1.0, 21)
    assert_png(plot_mean_log_ratio(thetas, thetas**2, {}, tmp_path / "truth_only.png"))


def test_target_histogram_drops_non_positive(tmp_path: Path, rng: np.random.Generator) -> None:
    original = np.exp(rng.normal(0.0, 3.0, 5_000))
    original[:50] = 0.0
    original[50:60] = -1.0
    fractional = np.exp(rng.normal(0.0, 3.0, 20_000))
    values = {
        "original": (original, np.ones_like(original)),
        "fractional smearing": (fractional, rng.uniform(0.1, 1.0, 20_000)),
    }
    assert_png(plot_target_histogram(values, tmp_path / "fig4.png"))
    assert_png(plot_target_histogram(values, tmp_path / "fig4_lin.png", log=False, bins=30))


def test_target_histogram_tiny_values_are_cut(tmp_path: Path, rng: np.random.Generator) -> None:
    # Toy targets underflow to 1e-300: the axis keeps LOG_DECADES decades below the maximum.
    values = 10.0 ** rng.uniform(-300, 4, 2_000)
    assert_png(plot_target_histogram({"original": (values, np.ones(2_000))}, tmp_path / "t.png"))


def test_learned_function(tmp_path: Path, rng: np.random.Generator) -> None:
    x = np.linspace(-4.0, 8.0, 200)
    truth = 2 * normal(x, 4.0, 0.71) / normal(x, 0.0, 1.22)
    methods = {
        "original": (truth * np.exp(-0.1 * np.clip(x - 3, 0, None) ** 2), np.zeros(200)),
        "fractional smearing": (truth * (1 + 0.05 * rng.standard_normal(200)), 0.3 * truth),
    }
    out = plot_learned_function(x, truth, methods, tmp_path / "fig5.png", shade_from=3.0)
    assert_png(out)
    linear = plot_learned_function(x, np.sin(x), {}, tmp_path / "lin.png", logy=False)
    assert_png(linear)


def test_learned_function_log_axis_with_non_positive_values(tmp_path: Path) -> None:
    x = np.linspace(-1.0, 1.0, 100)
    out = plot_learned_function(x, x, {"mlp": (x - 0.1, np.full(100, 0.5))}, tmp_path / "f.png")
    assert_png(out)


def test_scatter_targets(tmp_path: Path, rng: np.random.Generator) -> None:
    z = rng.normal(0.0, 1.0, 30_000)
    target = np.exp(3 * z)
    target[:100] = 0.0
    x = z + rng.normal(0.0, 0.7, 30_000)
    weights = 1.0 / rng.integers(1, 50, 30_000)
    assert_png(plot_scatter_targets((z, target), (x, target), tmp_path / "fig13_left.png"))
    out = plot_scatter_targets(
        (z, target), (x, target), tmp_path / "fig13_right.png", reco_weights=weights, max_points=500
    )
    assert_png(out)


def test_scatter_targets_is_reproducible(tmp_path: Path, rng: np.random.Generator) -> None:
    z = rng.normal(0.0, 1.0, 5_000)
    pair = (z, np.exp(z))
    first = plot_scatter_targets(pair, pair, tmp_path / "a.png", max_points=100)
    second = plot_scatter_targets(pair, pair, tmp_path / "b.png", max_points=100)
    assert first.read_bytes() == second.read_bytes()


# -- training and calibration --------------------------------------------------------------
def test_loss_curves(tmp_path: Path, rng: np.random.Generator) -> None:
    epochs = np.arange(40)
    histories = {
        "morphing-aware": (
            list(np.exp(-epochs / 10) + 0.05),
            list(np.exp(-epochs / 10) + 0.07 + 0.01 * rng.random(40)),
        ),
        "derivative": (list(2 * np.exp(-epochs / 20) + 0.1), []),
    }
    assert_png(plot_loss_curves(histories, tmp_path / "loss.png", title="training"))


def test_loss_curves_of_a_large_ensemble(tmp_path: Path) -> None:
    histories = {f"member {i}": ([1 + i, 0.5 + i, 0.4 + i], [1.1 + i, 0.6 + i]) for i in range(12)}
    assert_png(plot_loss_curves(histories, tmp_path / "ensemble.png"))


def test_loss_curves_negative_losses(tmp_path: Path) -> None:
    # Negative log-likelihood losses go below zero: the axis falls back to linear.
    train = [2.0, 0.5, -0.3, -0.8, -1.0]
    assert_png(plot_loss_curves({"inn": (train, [t + 0.1 for t in train])}, tmp_path / "l.png"))


def test_coverage(tmp_path: Path) -> None:
    gammas = np.linspace(0.05, 0.95, 19)
    fraction = np.clip(gammas + 0.04 * np.sin(np.pi * gammas), 0, 1)
    error = np.sqrt(fraction * (1 - fraction) / 500)
    empirical = {"repulsive ensemble": (fraction, error), "L-GATr": (gammas, error)}
    assert_png(plot_coverage(gammas, empirical, tmp_path / "fig12.png"))


def test_q_histogram(tmp_path: Path, rng: np.random.Generator) -> None:
    q = {"truth": rng.chisquare(3, 400), "mlp": 1.3 * rng.chisquare(3, 400)}
    assert_png(plot_q_histogram(q, 3, tmp_path / "q3.png"))
    assert_png(plot_q_histogram({"truth": rng.chisquare(1, 400)}, 1, tmp_path / "q1.png"))


@pytest.mark.parametrize("dof", [1, 2, 3, 7, 400])
def test_chi2_pdf_matches_scipy(dof: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    x = np.linspace(0.01, dof + 10 * math.sqrt(2 * dof), 500)
    np.testing.assert_allclose(chi2_pdf(x, dof), stats.chi2.pdf(x, dof), rtol=1e-10)
    assert chi2_pdf(np.array([-1.0, 0.0]), dof).tolist() == [0.0, 0.0]


# -- validation ----------------------------------------------------------------------------
def test_errors_name_the_argument(tmp_path: Path) -> None:
    x = np.linspace(0.0, 1.0, 10)
    with pytest.raises(ShapeError, match=r"densities\['a'\]"):
        plot_likelihoods(x, {"a": np.ones(9)}, tmp_path / "a.png")
    with pytest.raises(InputError, match="densities"):
        plot_likelihoods(x, {}, tmp_path / "a.png")
    with pytest.raises(InputError, match=r"path: expected a file name ending in \.png"):
        plot_likelihoods(x, {"a": x}, tmp_path / "a.pdf")
    with pytest.raises(InputError, match="std"):
        plot_mean_log_ratio(x, x, {"m": (x, -np.ones(10))}, tmp_path / "a.png")
    with pytest.raises(InputError, match="empirical"):
        plot_coverage(x, {"m": (x + 0.5, x)}, tmp_path / "a.png")
    with pytest.raises(InputError, match="dof"):
        plot_q_histogram({"m": x}, 0, tmp_path / "a.png")
    with pytest.raises(InputError, match="non-finite"):
        plot_q_histogram({"m": np.array([1.0, np.nan])}, 1, tmp_path / "a.png")
    with pytest.raises(InputError, match="positive"):
        plot_target_histogram({"m": (-x, x)}, tmp_path / "a.png")
    with pytest.raises(InputError, match="logy=False"):
        plot_learned_function(x, -x - 1, {}, tmp_path / "a.png")
    with pytest.raises(InputError, match="thetas: expected at least 2 points"):
        plot_mean_log_ratio(x[:1], x[:1], {}, tmp_path / "a.png")
    with pytest.raises(InputError, match="x: expected strictly increasing"):
        plot_likelihoods(x[::-1], {"a": x}, tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()
    assert plt.get_fignums() == []


def test_method_colors_are_stable_and_distinct() -> None:
    first = _mpl.method_colors(["derivative", "morphing-aware", "my method"])
    second = _mpl.method_colors(["Morphing_Aware", "other", "Derivative"])
    assert first["derivative"] == second["Derivative"]
    assert first["morphing-aware"] == second["Morphing_Aware"]
    assert len(set(first.values())) == 3
    # Two names with the same palette colour in one figure still get distinct colours.
    clash = _mpl.method_colors(["original", "morphing-aware", "parton"])
    assert len(set(clash.values())) == 3


# -- optional dependency -------------------------------------------------------------------
def test_import_does_not_load_matplotlib() -> None:
    code = (
        "import sys, madsbi.plotting as p; "
        "assert callable(p.plot_coverage), 'madsbi.plotting did not load'; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr


def test_agg_backend_unless_one_was_chosen() -> None:
    code = (
        "import matplotlib, numpy as np, tempfile, os; from madsbi.plotting import plot_coverage; "
        "g = np.linspace(0.1, 0.9, 9); "
        "plot_coverage(g, {'m': (g, 0 * g)}, os.path.join(tempfile.mkdtemp(), 'c.png')); "
        "print(matplotlib.get_backend().lower())"
    )
    default = run_python(code)
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip() == "agg"
    chosen = run_python(code, MPLBACKEND="svg")
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip() == "svg"


def test_missing_matplotlib_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(OptionalDependencyError, match=r"pip install 'madsbi\[plot\]'"):
        _mpl.pyplot()
    gammas = np.linspace(0.1, 0.9, 9)
    with pytest.raises(ImportError, match="plotting needs matplotlib"):
        plot_coverage(gammas, {"m": (gammas, 0 * gammas)}, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()
