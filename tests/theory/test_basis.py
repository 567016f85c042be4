"""optimise_basis: points in the box, θ0 kept, objective = Monte Carlo, beats the paper's basis."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from madsbi.errors import IllConditionedBasisError, InputError, PrecisionWarning, ShapeError
from madsbi.theory.basis import BasisChoice, optimise_basis
from madsbi.theory.morphing import MorphingBasis
from madsbi.theory.polynomial import n_coefficients, polynomial_features

#: The WZ analysis box and the paper's hand-picked basis (eq. 54), θ0 = 0.
WZ_BOX = np.array([[-4.0, 4.0], [-0.2, 0.2], [-0.2, 0.2]])
WZ_PAPER_BASIS = np.array(
    [
        [0.0, 0.0, 0.0],
        [-4.0, 0.0, 0.0],
        [4.0, 0.0, 0.0],
        [0.0, -0.2, 0.0],
        [0.0, 0.2, 0.0],
        [0.0, 0.0, -0.2],
        [0.0, 0.0, 0.2],
        [-1.2, -0.09, 0.0],
        [-1.2, 0.0, -0.09],
        [0.0, -0.09, -0.09],
    ]
)


def mc_squared_weight(
    basis: MorphingBasis, box: np.ndarray, rng: np.random.Generator, rate: np.ndarray | None
) -> float:
    """Independent estimate of E_θ[Σ_b a_b²] or E_θ[Σ_b (a_b σ_b/σ(θ))²] on a fresh sample."""
    thetas = rng.uniform(box[:, 0], box[:, 1], size=(100_000, box.shape[0]))
    a, _ = basis.weights(thetas, backend="numpy")
    if rate is None:
        return float(np.mean(np.sum(a**2, axis=1)))
    sigma_b = polynomial_features(basis.points, basis.theta0) @ rate
    sigma = polynomial_features(thetas, basis.theta0) @ rate
    return float(np.mean(np.sum((a * sigma_b / sigma[:, None]) ** 2, axis=1)))


def inside(points: np.ndarray, box: np.ndarray) -> bool:
    return bool(np.all((points >= box[:, 0]) & (points <= box[:, 1])))


def contains_point(points: np.ndarray, point: np.ndarray) -> bool:
    return bool(np.any(np.all(points == point, axis=1)))


def test_wz_basis_properties(rng: np.random.Generator) -> None:
    theta0 = np.zeros(3)
    choice = optimise_basis(theta0, WZ_BOX, seed=int(rng.integers(1000)))
    assert isinstance(choice, BasisChoice)
    assert not choice.rate_weighted
    points = choice.basis.points
    assert points.shape == (n_coefficients(3), 3)
    assert inside(points, WZ_BOX)
    assert contains_point(points, theta0)
    assert len(np.unique(points, axis=0)) == len(points)
    assert np.isfinite(choice.condition_number)
    assert choice.condition_number == choice.basis.condition_number
    assert choice.condition_number == pytest.approx(np.linalg.cond(choice.basis.matrix), rel=1e-8)
    # The reported objective is a Monte-Carlo estimate; an independent one agrees within a few %.
    independent = choice.basis.expected_squared_weight(WZ_BOX, n_samples=100_000, seed=12345)
    assert choice.expected_squared_weight == pytest.approx(independent, rel=0.03)
    assert independent == pytest.approx(
        mc_squared_weight(choice.basis, WZ_BOX, rng, None), rel=0.03
    )
    # Σ_b a_b(θ) = 1 for every θ (W's first column is all ones), so Σ_b a_b² >= 1/K.
    assert choice.expected_squared_weight >= 1 / n_coefficients(3)


def test_optimised_basis_beats_paper_basis(rng: np.random.Generator) -> None:
    choice = optimise_basis(np.zeros(3), WZ_BOX, seed=int(rng.integers(1000)))
    paper = MorphingBasis.from_points(WZ_PAPER_BASIS, np.zeros(3))
    paper_value = paper.expected_squared_weight(WZ_BOX, n_samples=100_000, seed=1)
    ours = choice.basis.expected_squared_weight(WZ_BOX, n_samples=100_000, seed=1)
    assert ours < paper_value
    assert choice.expected_squared_weight < 0.5 * paper_value


def test_optimised_basis_beats_random_bases(rng: np.random.Generator) -> None:
    choice = optimise_basis(np.zeros(3), WZ_BOX)
    ours = choice.basis.expected_squared_weight(WZ_BOX, n_samples=50_000, seed=2)
    compared = 0
    while compared < 10:
        points = rng.uniform(WZ_BOX[:, 0], WZ_BOX[:, 1], size=(10, 3))
        points[0] = 0.0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PrecisionWarning)
                random_basis = MorphingBasis.from_points(points, np.zeros(3))
        except IllConditionedBasisError:  # pragma: no cover - rare for continuous draws
            continue
        assert ours < random_basis.expected_squared_weight(WZ_BOX, n_samples=50_000, seed=2)
        compared += 1


@pytest.mark.parametrize("n", [1, 2, 3])
def test_random_boxes(rng: np.random.Generator, n: int) -> None:
    low = rng.uniform(-3.0, -0.5, n)
    high = low + rng.uniform(0.5, 5.0, n)
    box = np.stack([low, high], axis=1)
    theta0 = rng.uniform(low, high)  # generally not on the grid: it is added to the candidates
    choice = optimise_basis(theta0, box, seed=int(rng.integers(1000)))
    assert inside(choice.basis.points, box)
    assert contains_point(choice.basis.points, theta0)
    np.testing.assert_array_equal(choice.basis.theta0, theta0)
    assert np.isfinite(choice.condition_number)
    independent = mc_squared_weight(choice.basis, box, rng, None)
    assert choice.expected_squared_weight == pytest.approx(independent, rel=0.05)


def test_without_theta0(rng: np.random.Generator) -> None:
    theta0 = np.array([1.0, 0.05, 0.0])
    choice = optimise_basis(theta0, WZ_BOX, include_theta0=False, seed=int(rng.integers(1000)))
    assert inside(choice.basis.points, WZ_BOX)
    assert np.isfinite(choice.condition_number)
    independent = mc_squared_weight(choice.basis, WZ_BOX, rng, None)
    assert choice.expected_squared_weight == pytest.approx(independent, rel=0.03)
    with_theta0 = optimise_basis(theta0, WZ_BOX, include_theta0=True, seed=3)
    assert contains_point(with_theta0.basis.points, theta0)


def test_deterministic_for_equal_seed() -> None:
    a = optimise_basis(np.zeros(2), [[-1, 1], [-2, 2]], seed=4)
    b = optimise_basis(np.zeros(2), [[-1, 1], [-2, 2]], seed=4)
    np.testing.assert_array_equal(a.basis.points, b.basis.points)
    assert a.expected_squared_weight == b.expected_squared_weight


def test_rate_weighted(rng: np.random.Generator) -> None:
    # σ(θ) = 1 + 0.1 θ1 + 0.3 θ1² + 5 θ2² + 5 θ3² + ... > 0 in the box.
    rate = np.array([1.0, 0.1, 0.05, 0.02, 0.3, 5.0, 5.0, 0.1, 0.1, 1.0])
    choice = optimise_basis(np.zeros(3), WZ_BOX, rate_coefficients=rate, seed=5)
    assert choice.rate_weighted
    assert inside(choice.basis.points, WZ_BOX)
    assert contains_point(choice.basis.points, np.zeros(3))
    assert np.isfinite(choice.condition_number)
    independent = mc_squared_weight(choice.basis, WZ_BOX, rng, rate)
    assert choice.expected_squared_weight == pytest.approx(independent, rel=0.03)
    paper = MorphingBasis.from_points(WZ_PAPER_BASIS, np.zeros(3))
    assert independent < mc_squared_weight(paper, WZ_BOX, rng, rate)


def test_bad_input() -> None:
    theta0 = np.zeros(2)
    with pytest.raises(InputError, match="ranges: expected low < high"):
        optimise_basis(theta0, [[-1, 1], [2, 2]])
    with pytest.raises(InputError, match="ranges: expected low < high"):
        optimise_basis(theta0, [[1, -1], [-2, 2]])
    with pytest.raises(InputError, match="ranges: non-finite"):
        optimise_basis(theta0, [[-1, np.inf], [-2, 2]])
    with pytest.raises(ShapeError, match="ranges"):
        optimise_basis(theta0, [[-1, 1]])
    with pytest.raises(ShapeError, match="ranges"):
        optimise_basis(theta0, [-1, 1, -2, 2])
    with pytest.raises(InputError, match="theta0"):
        optimise_basis([np.nan, 0.0], [[-1, 1], [-2, 2]])
    for levels in (0, 1, 2):
        with pytest.raises(InputError, match=f"levels: a quadratic needs >= 3 .* got {levels}"):
            optimise_basis(theta0, [[-1, 1], [-2, 2]], levels=levels)
    with pytest.raises(InputError, match="rate_coefficients: σ\\(θ\\) is not positive"):
        optimise_basis(theta0, [[-1, 1], [-2, 2]], rate_coefficients=[0.0, 1, 0, 0, 0, 0])
    with pytest.raises(ShapeError, match="rate_coefficients"):
        optimise_basis(theta0, [[-1, 1], [-2, 2]], rate_coefficients=[1.0, 0.0, 0.0])


def test_theta0_outside_box_is_not_silently_dropped() -> None:
    # include_theta0=True promises "θ0 itself as a basis point": with θ0 outside the box the
    # result must either contain θ0 or refuse with an error naming theta0, not swap in the
    # nearest grid point.
    error: InputError | None = None
    points = np.empty((0, 1))
    try:
        points = optimise_basis([5.0], [[-1.0, 1.0]], include_theta0=True).basis.points
    except InputError as exc:
        error = exc
    assert (error is not None and "theta0" in str(error)) or contains_point(
        points, np.array([5.0])
    ), f"θ0 = 5 dropped: basis points {points.ravel().tolist()}"
