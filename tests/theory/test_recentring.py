"""Re-expanding the quadratic around another reference point: c(θ0') = T(θ0 → θ0') c."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.theory.polynomial import (
    first_derivatives,
    n_coefficients,
    polynomial_features_reference,
    recentre_coefficients,
    recentring_matrix,
)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_polynomial_values_are_unchanged(n: int, rng: np.random.Generator) -> None:
    k = n_coefficients(n)
    c = rng.normal(size=(50, k))
    old, new = rng.normal(size=n), rng.normal(size=n) * 3
    c_new = recentre_coefficients(c, old, new)
    thetas = rng.normal(size=(40, n)) * 4
    before = c @ polynomial_features_reference(thetas, old).T
    after = c_new @ polynomial_features_reference(thetas, new).T
    # relative to the values, where they are not tiny (cancellations in c·φ)
    big = np.abs(before) > 1e-3 * np.abs(before).max()
    np.testing.assert_array_less(np.abs(after - before)[big] / np.abs(before)[big], 1e-12)
    # column 0 is the value at the new point, the linear block its gradient
    value_new = c @ polynomial_features_reference(new[None], old)[0]
    np.testing.assert_allclose(c_new[:, 0], value_new, rtol=1e-13, atol=1e-13)
    step = 1e-6
    for i in range(n):
        up, down = new.copy(), new.copy()
        up[i] += step
        down[i] -= step
        numeric = (
            c
            @ (
                polynomial_features_reference(up[None], old)[0]
                - polynomial_features_reference(down[None], old)[0]
            )
            / (2 * step)
        )
        np.testing.assert_allclose(
            first_derivatives(c_new)[:, i] * c_new[:, 0], numeric, rtol=1e-6, atol=1e-6
        )
    # quadratic block unchanged
    np.testing.assert_array_equal(c_new[:, 1 + n :], c[:, 1 + n :])


def test_inverse_and_identity(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=3), rng.normal(size=3)
    t_ab, t_ba = recentring_matrix(a, b), recentring_matrix(b, a)
    np.testing.assert_allclose(t_ba @ t_ab, np.eye(10), atol=1e-13)
    np.testing.assert_array_equal(recentring_matrix(a, a), np.eye(10))


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match="theta_to"):
        recentring_matrix([0.0, 1.0], [0.0])
    with pytest.raises(InputError, match="finite"):
        recentring_matrix([0.0], [np.nan])
    with pytest.raises(InputError, match="expected K = 6 columns"):
        recentre_coefficients(np.ones((2, 5)), [0.0, 0.0], [1.0, 1.0])
