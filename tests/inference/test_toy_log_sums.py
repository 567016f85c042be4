"""The compiled toy sums (``madsbi._core.toy_log_sums`` through :class:`CoreGather`).

Each toy's Σ_e n_te log(c_e·φ_g) is taken there as the log of a running product of arguments
with its binary exponent moved aside: checked against per-pair float64 logs summed in NumPy
on fresh random inputs, including arguments the fast path does not take (huge, tiny,
subnormal, outside the domain), repeated events (counts up to 10⁵), empty toys, grids and
samples that are not multiples of the kernel's strip and block sizes, and every thread count.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from madsbi._backend import call_core
from madsbi.errors import InputError
from madsbi.inference.dense import CoreGather

FLOOR = 1e-300


def reference(counts: np.ndarray, c: np.ndarray, phi: np.ndarray, log1p: bool) -> np.ndarray:
    """S[t, g] = Σ_e n_te log term, every pair's log in float64 (clamped to log(FLOOR))."""
    with np.errstate(all="ignore"):
        if log1p:
            u = c[:, 1:] @ phi[:, 1:].T
            ok = np.isfinite(u) & (u > -1.0)
            terms = np.where(ok, np.log1p(np.where(ok, u, 0.0)), np.log(FLOOR))
        else:
            a = c @ phi.T
            ok = np.isfinite(a) & (a > 0.0)
            terms = np.where(ok, np.log(np.where(ok, a, 1.0)), np.log(FLOOR))
    return counts.astype(np.float64) @ terms, int(np.count_nonzero(~ok))


def random_problem(
    rng: np.random.Generator, n_events: int, n_points: int, n_toys: int, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = 6  # two parameters: 1, θ1, θ2, θ1², θ1θ2, θ2²
    c = np.concatenate([np.ones((n_events, 1)), rng.normal(0.0, scale, (n_events, k - 1))], 1)
    phi = np.concatenate([np.ones((n_points, 1)), rng.uniform(-1.5, 1.5, (n_points, k - 1))], 1)
    counts = np.zeros((n_toys, n_events), dtype=np.uint32)
    for t in range(n_toys - 1):  # the last toy stays empty
        picked = rng.integers(0, n_events, int(rng.integers(1, 3 * n_events)))
        counts[t] = np.bincount(picked, minlength=n_events)
    return c, phi, counts


@pytest.mark.parametrize("log1p", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sums_equal_per_pair_logs(log1p: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # 2,500 events (three blocks of 1,024), 77 points (strips of 32 and a remainder).
    c, phi, counts = random_problem(rng, 2500, 77, 6, scale=0.4)
    if not log1p:
        c[:, 0] = rng.uniform(0.5, 2.0, c.shape[0])
    sums = CoreGather().bind(counts, c, log1p=log1p, floor=FLOOR)
    got = sums(phi)
    want, clamped = reference(counts, c, phi, log1p)
    assert clamped > 0  # scale 0.4: some arguments leave the domain
    assert sums.clamped_pairs == clamped
    scale = float(np.abs(want).max())
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13 * scale)
    np.testing.assert_array_equal(got[-1], 0.0)  # the empty toy


def test_arguments_off_the_fast_path() -> None:
    rng = np.random.default_rng(7)
    c, phi, counts = random_problem(rng, 300, 40, 4, scale=0.1)
    c[:, 0] = 1.0
    # Huge (2^±200), tiny, subnormal, zero and negative arguments, all in one sample.
    c[0, 0], c[1, 0], c[2, 0] = 2.0**200, 2.0**-200, 5e-320
    c[0, 1:] = c[1, 1:] = c[2, 1:] = 0.0
    c[3] = 0.0
    c[4, 0] = -1.0
    c[4, 1:] = 0.0
    counts[:, :5] = [[1, 3, 2, 1, 1], [7, 0, 1, 0, 2], [0, 1000, 0, 0, 0], [100000, 1, 1, 1, 1]]
    sums = CoreGather().bind(counts, c, log1p=False, floor=FLOOR)
    got = sums(phi)
    want, clamped = reference(counts, c, phi, log1p=False)
    assert clamped >= 2 * phi.shape[0]
    assert sums.clamped_pairs == clamped
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * float(np.abs(want).max()))


def test_many_repeats_of_one_event() -> None:
    # 10⁵ copies of events with arguments up to 2^60: the running product is folded in time.
    c = np.array([[2.0**59, 0.0], [3.0, 0.0], [2.0**-59, 0.0]])
    phi = np.array([[1.0, 0.0], [1.0, 0.5]])
    counts = np.array([[100000, 0, 0], [0, 100000, 0], [100000, 0, 100000]], dtype=np.uint32)
    got = CoreGather().bind(counts, c, log1p=False, floor=FLOOR)(phi)
    want, _ = reference(counts, c, phi, log1p=False)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-9)


def test_result_does_not_depend_on_threads() -> None:
    rng = np.random.default_rng(4)
    c, phi, counts = random_problem(rng, 1500, 200, 5, scale=0.3)
    one = CoreGather(n_threads=1).bind(counts, c, log1p=True, floor=FLOOR)(phi)
    for threads in (2, 3, 0):
        np.testing.assert_array_equal(
            CoreGather(n_threads=threads).bind(counts, c, log1p=True, floor=FLOOR)(phi), one
        )


def test_bad_sparse_counts_are_named() -> None:
    c = np.ones((4, 1))
    phi = np.ones((3, 1))

    def call(starts: list[int], index: list[int], counts: list[float]) -> None:
        call_core(
            "toy_log_sums", c, phi, np.array(starts, dtype=np.int64),
            np.array(index, dtype=np.int64), np.array(counts, dtype=np.float64), False, FLOOR, 1,
        )  # fmt: skip

    call([0, 2, 3], [0, 3, 1], [1.0, 2.0, 1.0])  # valid
    cases = {
        "row_starts: expected row_starts[0] == 0": ([1, 2, 3], [0, 3, 1], [1.0, 1.0, 1.0]),
        "row_starts: decreasing at toy 1": ([0, 3, 2, 3], [0, 1, 2], [1.0, 1.0, 1.0]),
        "row_starts[T] == 3": ([0, 2, 2], [0, 3, 1], [1.0, 1.0, 1.0]),
        "event_index: 4 of toy 1 outside [0, 4)": ([0, 2, 3], [0, 3, 4], [1.0, 1.0, 1.0]),
        "event_index: -1 of toy 0": ([0, 2, 3], [-1, 3, 1], [1.0, 1.0, 1.0]),
        "not increasing within toy 0": ([0, 2, 3], [3, 3, 1], [1.0, 1.0, 1.0]),
        "counts: expected whole numbers": ([0, 2, 3], [0, 3, 1], [1.0, -1.0, 1.0]),
        "counts: expected whole numbers in [0": ([0, 2, 3], [0, 3, 1], [1.0, 0.5, 1.0]),
        "got nan": ([0, 2, 3], [0, 3, 1], [1.0, float("nan"), 1.0]),
    }
    for message, args in cases.items():
        with pytest.raises(InputError, match=re.escape(message)):
            call(*args)
    with pytest.raises(InputError, match="floor"):
        call_core(
            "toy_log_sums", c, phi, np.array([0, 1]), np.array([0]), np.array([1.0]), False,
            0.0, 1,
        )  # fmt: skip
