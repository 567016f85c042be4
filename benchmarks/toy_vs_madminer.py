"""MadMiner's ALICES on the two-Gaussian toy (paper Sec. 3), scored against the exact ratio.

python benchmarks/toy_vs_madminer.py [--alpha 3] [--n-train 300000] [--epochs 40]
    [--madminer-python /work/mm-venv/bin/python] [--ours path/to/summary.json]

MadMiner lives in its own virtual environment (it is no dependency of madsbi); this script
makes the data with madsbi's ToyModel, hands it to ``_madminer_alices.py`` in that environment
and compares MadMiner's mean log r̂(x|θ, θ0 = 0) over test events drawn at θ = 0.6 with the
analytic mean log r on a θ grid. Training data as MadMiner's ``sample_train_ratio`` makes it:
half of the events drawn at a numerator θ ~ N(0, 1) (y = 0), half at the reference θ0 = 0
(y = 1, each paired with its own θ ~ N(0, 1)), with the joint ratio r(z|θ, θ0) and the joint
score t(z|θ) = ∂_θ log p(z|θ) from the parton-level density.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from madsbi.simulate.toy import ToyModel

from _common import report

HERE = Path(__file__).parent
THETA0 = 0.0


def joint_ratio_and_score(
    model: ToyModel, z: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """r(z|θ, θ0) = p(z|θ)/p(z|θ0) and t(z|θ) = ∂_θ log p(z|θ), one θ per event.

    From the joint coefficients: dσ(z|θ) = c0 + c1 Δ + c2 Δ² with Δ = θ − θ0, σ(θ) = 1 + θ²,
    p(z|θ) = dσ(z|θ)/σ(θ), so ∂_θ log p = (c1 + 2 c2 Δ)/dσ − 2θ/(1 + θ²).
    """
    c = model.parton_coefficients(z, THETA0)
    delta = theta - THETA0
    dsigma = c[:, 0] + c[:, 1] * delta + c[:, 2] * delta**2
    p_theta = dsigma / ToyModel.cross_section(theta)
    p_theta0 = c[:, 0] / ToyModel.cross_section(THETA0)
    score = (c[:, 1] + 2.0 * c[:, 2] * delta) / dsigma - 2.0 * theta / (1.0 + theta**2)
    return p_theta / p_theta0, score


def check_joint_terms(
    model: ToyModel, z: np.ndarray, theta: np.ndarray, r: np.ndarray, t: np.ndarray
) -> dict[str, float]:
    """Compare r with ToyModel.parton_density and t with a central finite difference."""
    h = 1e-5
    r_ref = np.array(
        [
            model.parton_density(zi, ti) / model.parton_density(zi, THETA0)
            for zi, ti in zip(z, theta, strict=True)
        ]
    )
    t_ref = np.array(
        [
            (np.log(model.parton_density(zi, ti + h)) - np.log(model.parton_density(zi, ti - h)))
            / (2 * h)
            for zi, ti in zip(z, theta, strict=True)
        ]
    )
    r_dev = float(np.max(np.abs(r / r_ref - 1.0)))
    t_dev = float(np.max(np.abs(t - t_ref) / (1.0 + np.abs(t_ref))))
    if r_dev > 1e-10 or t_dev > 1e-6:
        raise SystemExit(f"joint ratio/score check failed: r {r_dev:.3g}, t {t_dev:.3g}")
    return {"r_xz_max_rel_dev": r_dev, "t_xz_max_finite_difference_dev": t_dev}


def training_data(model: ToyModel, n_train: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """MadMiner's ``sample_train_ratio`` arrays for a standard-Gaussian θ prior, shuffled."""
    n_num = n_train // 2
    n_den = n_train - n_num
    theta_num = rng.standard_normal(n_num)
    z_num = np.fromiter(
        (model.sample_parton(1, t, rng)[0] for t in theta_num), dtype=float, count=n_num
    )
    z_den = model.sample_parton(n_den, THETA0, rng)
    theta_den = rng.standard_normal(n_den)
    z = np.concatenate([z_num, z_den])
    theta = np.concatenate([theta_num, theta_den])
    y = np.concatenate([np.zeros(n_num), np.ones(n_den)])
    x = model.smear(z, rng)
    r_xz, t_xz = joint_ratio_and_score(model, z, theta)
    order = rng.permutation(n_train)
    return {
        "z": z[order],
        "x": x[order, None],
        "theta": theta[order, None],
        "y": y[order, None],
        "r_xz": r_xz[order, None],
        "t_xz": t_xz[order, None],
    }


def read_ours(path: Path) -> list[dict[str, Any]]:
    """Rows for madsbi's methods from a study summary.json ({"methods": {name: {...}}})."""
    keys = ("rms_error", "max_abs_error", "train_seconds")
    try:
        methods = json.loads(path.read_text())["methods"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"--ours {path}: cannot read a 'methods' table ({exc!r}); showing MadMiner only")
        return []
    if not isinstance(methods, dict):
        print(f"--ours {path}: 'methods' is not a table of methods; showing MadMiner only")
        return []
    rows = []
    for name, entry in methods.items():
        try:
            row = {k: float(entry[k]) for k in keys}
        except (KeyError, TypeError, ValueError) as exc:
            print(f"--ours {path}: method {name!r}: no numeric {'/'.join(keys)} ({exc!r}); skipped")
            continue
        rows.append(
            {
                "method": f"madsbi {name}",
                "rms_error": row["rms_error"],
                "relative_rms_error": float(entry.get("relative_rms_error", math.nan)),
                "max_abs_error": row["max_abs_error"],
                "train_s": row["train_seconds"],
                "epochs": entry.get("epochs", ""),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alpha", type=float, default=3.0)
    parser.add_argument("--n-train", type=int, default=300_000, help="simulated events in all")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", default="64,64,64")
    parser.add_argument("--activation", default="tanh", help="MadMiner's names; it has no silu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--final-lr", type=float, default=1e-4)
    parser.add_argument("--validation-split", type=float, default=0.2)
    parser.add_argument("--score-weight", type=float, default=1.0, help="ALICES alpha")
    parser.add_argument("--n-test", type=int, default=100_000)
    parser.add_argument("--theta-test", type=float, default=0.6)
    parser.add_argument(
        "--grid", type=float, nargs=3, default=[-1.5, 1.5, 61], metavar=("LO", "HI", "N")
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in MadMiner")
    parser.add_argument("--n-workers", type=int, default=0, help="MadMiner DataLoader workers")
    parser.add_argument("--madminer-python", default="/work/mm-venv/bin/python")
    parser.add_argument("--ours", type=Path, help="a madsbi study summary.json to compare")
    parser.add_argument("--name", help="output name (default toy_vs_madminer_alpha<alpha>)")
    args = parser.parse_args()

    model = ToyModel(args.alpha)
    train_seq, test_seq, mm_seq = np.random.SeedSequence(args.seed).spawn(3)
    rng = np.random.default_rng(train_seq)
    t0 = time.perf_counter()
    data = training_data(model, args.n_train, rng)
    generate_s = time.perf_counter() - t0
    sub = rng.choice(args.n_train, size=500, replace=False)
    checks = check_joint_terms(
        model, data["z"][sub], data["theta"][sub, 0], data["r_xz"][sub, 0], data["t_xz"][sub, 0]
    )

    test_rng = np.random.default_rng(test_seq)
    x_test = model.smear(model.sample_parton(args.n_test, args.theta_test, test_rng), test_rng)
    lo, hi, n_grid = args.grid
    grid = np.linspace(lo, hi, int(n_grid))
    analytic = np.array([model.log_likelihood_ratio(x_test, t, THETA0).mean() for t in grid])

    with tempfile.TemporaryDirectory() as tmp:
        train_path, test_path, out_path = (Path(tmp) / n for n in ("tr.npz", "te.npz", "o.json"))
        np.savez(train_path, **{k: v for k, v in data.items() if k != "z"})
        np.savez(test_path, x_test=x_test[:, None], theta_grid=grid[:, None])
        command = [
            args.madminer_python,
            str(HERE / "_madminer_alices.py"),
            *("--train", str(train_path), "--test", str(test_path), "--out", str(out_path)),
            *("--hidden", args.hidden, "--activation", args.activation),
            *("--epochs", str(args.epochs), "--batch-size", str(args.batch_size)),
            *("--lr", str(args.lr), "--final-lr", str(args.final_lr)),
            *("--validation-split", str(args.validation_split)),
            *("--score-weight", str(args.score_weight)),
            *("--n-workers", str(args.n_workers), "--threads", str(args.threads)),
            *("--seed", str(int(mm_seq.generate_state(1)[0] % 2**31))),
        ]
        t0 = time.perf_counter()
        subprocess.run(command, check=True)
        subprocess_s = time.perf_counter() - t0
        mm = json.loads(out_path.read_text())

    mm_curve = np.array(mm["mean_log_r_hat"])
    diff = mm_curve - analytic
    analytic_range = float(analytic.max() - analytic.min())
    rms_error = float(np.sqrt(np.mean(diff**2)))
    rows = [
        {
            "method": "MadMiner ALICES",
            "rms_error": rms_error,
            "relative_rms_error": rms_error / analytic_range,
            "max_abs_error": float(np.max(np.abs(diff))),
            "train_s": mm["train_seconds"],
            "epochs": mm["epochs_run"],
        }
    ]
    if args.ours is not None:
        rows += read_ours(args.ours)
    print(
        f"alpha = {args.alpha:g}: analytic mean log r over the grid spans {analytic_range:.4g} "
        f"(max at θ = {grid[np.argmax(analytic)]:.3g}; MadMiner's at θ = "
        f"{grid[np.argmax(mm_curve)]:.3g}); MadMiner eval {mm['eval_seconds']:.1f} s"
    )
    report(
        args.name or f"toy_vs_madminer_alpha{args.alpha:g}",
        rows,
        {
            "alpha": args.alpha,
            "theta0": THETA0,
            "theta_prior": "numerator theta ~ N(0, 1) for every event (both classes)",
            "n_train_events": args.n_train,
            "n_numerator_events": int(np.sum(data["y"] == 0)),
            "n_reference_events": int(np.sum(data["y"] == 1)),
            "n_test_events": args.n_test,
            "theta_test": args.theta_test,
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "python_project": sys.version.split()[0],
            "madminer": mm["madminer"],
            "madminer_torch": mm["torch"],
            "madminer_settings": mm["settings"],
            "joint_term_checks": checks,
            "generate_seconds": generate_s,
            "madminer_subprocess_seconds": subprocess_s,
            "madminer_eval_seconds": mm["eval_seconds"],
            "madminer_loss_train": mm["loss_train"],
            "madminer_loss_val": mm["loss_val"],
            "analytic_range": analytic_range,
            "theta_grid": grid.tolist(),
            "analytic_mean_log_r": analytic.tolist(),
            "madminer_mean_log_r": mm_curve.tolist(),
            "theta_hat_analytic": float(grid[np.argmax(analytic)]),
            "theta_hat_madminer": float(grid[np.argmax(mm_curve)]),
            "note": "shared 2-core machine, another engineer training at the same time: "
            "timings are noisy",
        },
    )
    if not math.isfinite(rows[0]["rms_error"]):
        raise SystemExit("MadMiner's curve is not finite")


if __name__ == "__main__":
    main()
