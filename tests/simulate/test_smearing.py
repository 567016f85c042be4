"""Fractional smearing: C++ core = NumPy reference, copy-count properties, seeds, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi import _core
from madsbi.errors import DtypeError, InputError, ShapeError
from madsbi.simulate import smearing
from madsbi.simulate.smearing import (
    copy_counts,
    copy_seeds,
    plan_copies,
    regroup_survivors,
    target_statistics,
)

BACKENDS = ("core", "numpy")


def random_targets(rng: np.random.Generator, n: int, n_targets: int) -> np.ndarray:
    """Targets like r (positive, long tail) and R_i, R_ij (either sign, heavy tails)."""
    columns = []
    for t in range(n_targets):
        if t % 2 == 0:
            columns.append(rng.lognormal(0.0, rng.uniform(0.3, 1.5), n))
        else:
            columns.append(rng.uniform(-1, 1) + rng.standard_t(3, n) * rng.uniform(0.1, 3.0))
    return np.stack(columns, axis=1)


def random_weights(rng: np.random.Generator, n: int, kind: str) -> np.ndarray | None:
    if kind == "none":
        return None
    w = rng.uniform(0.1, 2.0, n)
    if kind == "signed":  # a few negative weights, as from NLO generators
        w[rng.random(n) < 0.05] *= -1.0
    return w


def edges(mean: np.ndarray, std: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Band edges on either side of zero: μ + t·s for y >= 0, t·s − μ for y < 0."""
    return mean + threshold * std, threshold * std - mean


# -- core vs reference -----------------------------------------------------------------------

CASES = [
    (1, "none", 50_000),
    (2, "positive", 80_000),
    (3, "signed", 70_000),
    (5, "positive", 40_000),
    (1, "signed", 3),
]


@pytest.mark.parametrize(("n_targets", "weight_kind", "n"), CASES)
def test_target_statistics_core_matches_reference(
    rng: np.random.Generator, n_targets: int, weight_kind: str, n: int
) -> None:
    y = random_targets(rng, n, n_targets)
    w = random_weights(rng, n, weight_kind)
    if w is not None and w.sum() <= 0:  # pragma: no cover - tiny samples only
        w = np.abs(w)
    mean_c, std_c = target_statistics(y, w, backend="core")
    mean_n, std_n = target_statistics(y, w, backend="numpy")
    assert mean_c.shape == std_c.shape == (n_targets,)
    scale = np.maximum(np.abs(mean_n), std_n)
    assert np.all(np.abs(mean_c - mean_n) <= 1e-12 * scale)
    np.testing.assert_allclose(std_c, std_n, rtol=1e-12)
    # And both are the textbook weighted moments.
    ww = np.ones(n) if w is None else w
    np.testing.assert_allclose(mean_n, np.average(y, axis=0, weights=ww), rtol=1e-10)


def test_target_statistics_one_dimensional_input(rng: np.random.Generator) -> None:
    y = rng.normal(2.0, 3.0, 1000)
    for backend in BACKENDS:
        mean, std = target_statistics(y, backend=backend)
        assert mean.shape == std.shape == (1,)
        np.testing.assert_allclose(mean, [y.mean()], rtol=1e-12)
        np.testing.assert_allclose(std, [y.std()], rtol=1e-12)


@pytest.mark.parametrize(("n_targets", "weight_kind", "n"), CASES)
@pytest.mark.parametrize("threshold", [0.5, 2.0, 5.0])
def test_copy_counts_core_matches_reference(
    rng: np.random.Generator, n_targets: int, weight_kind: str, n: int, threshold: float
) -> None:
    y = random_targets(rng, n, n_targets)
    w = random_weights(rng, n, weight_kind)
    if w is not None and w.sum() <= 0:  # pragma: no cover
        w = np.abs(w)
    mean, std = target_statistics(y, w)
    max_copies = int(rng.integers(3, 200))
    counts = {
        b: copy_counts(y, threshold, max_copies=max_copies, mean=mean, std=std, backend=b)
        for b in BACKENDS
    }
    assert counts["core"].dtype == np.int64
    np.testing.assert_array_equal(counts["core"], counts["numpy"])
    # The weights path computes the same statistics inside.
    direct = copy_counts(y, threshold, max_copies=max_copies, weights=w)
    np.testing.assert_array_equal(direct, counts["core"])


@pytest.mark.parametrize(("n_targets", "weight_kind", "n"), CASES[:4])
def test_plan_core_matches_reference(
    rng: np.random.Generator, n_targets: int, weight_kind: str, n: int
) -> None:
    y = random_targets(rng, n, n_targets)
    w = np.abs(random_weights(rng, n, weight_kind) if weight_kind != "none" else np.ones(n))
    mean, std = target_statistics(y, w)
    run_seed = int(rng.integers(0, 2**63)) * 2 + 1  # exercise the top bit too
    event_ids = rng.choice(10**12, size=n, replace=False)
    kwargs = {"max_copies": 50, "mean": mean, "std": std, "run_seed": run_seed}
    core = plan_copies(y, 1.0, event_ids=event_ids, backend="core", **kwargs)
    ref = plan_copies(y, 1.0, event_ids=event_ids, backend="numpy", **kwargs)
    assert core.n_copies == ref.n_copies > n
    for name in ("counts", "offsets", "parent", "copy_index", "weight", "seed", "mean", "std"):
        got, want = getattr(core, name), getattr(ref, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert core.seed.dtype == np.uint64
    assert core.copy_index.dtype == np.int32
    assert core.threshold == 1.0
    assert core.max_copies == 50


def test_plan_default_statistics_and_ids(rng: np.random.Generator) -> None:
    y = random_targets(rng, 5000, 2)
    core = plan_copies(y, 0.7, run_seed=11)
    ref = plan_copies(y, 0.7, run_seed=11, backend="numpy")
    np.testing.assert_allclose(core.mean, ref.mean, rtol=1e-12)
    np.testing.assert_array_equal(core.counts, ref.counts)
    np.testing.assert_array_equal(core.seed, ref.seed)
    explicit = plan_copies(y, 0.7, run_seed=11, event_ids=np.arange(5000))
    np.testing.assert_array_equal(core.seed, explicit.seed)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("with_weights", [False, True])
def test_regroup_core_matches_reference(
    rng: np.random.Generator, shuffle: bool, with_weights: bool
) -> None:
    n = 150_000
    y = random_targets(rng, n, 2)
    plan = plan_copies(y, 0.5, max_copies=20, run_seed=3)
    keep = rng.random(plan.n_copies) < rng.uniform(0.6, 0.9)
    parent = plan.parent[keep]
    assert parent.size > 2**17  # several threads' worth of survivors
    weights = plan.weight[keep] * rng.uniform(0.5, 1.5, parent.size) if with_weights else None
    if shuffle:  # survivors in arbitrary order take the counting-sort path
        perm = rng.permutation(parent.size)
        parent = parent[perm]
        weights = None if weights is None else weights[perm]
    core = regroup_survivors(parent, n, weights, backend="core")
    ref = regroup_survivors(parent, n, weights, backend="numpy")
    np.testing.assert_array_equal(core.order, ref.order)
    np.testing.assert_array_equal(core.offsets, ref.offsets)
    np.testing.assert_array_equal(core.counts, np.bincount(parent, minlength=n))
    if with_weights:
        assert core.weight_sum is not None
        assert ref.weight_sum is not None
        np.testing.assert_allclose(core.weight_sum, ref.weight_sum, rtol=1e-14, atol=1e-15)
    else:
        assert core.weight_sum is None
        assert ref.weight_sum is None
    # Stable grouping: each group lists its survivors in input order.
    for p in rng.choice(n, 50, replace=False):
        group = core.order[core.offsets[p] : core.offsets[p + 1]]
        np.testing.assert_array_equal(group, np.flatnonzero(parent == p))


@pytest.mark.parametrize("backend", BACKENDS)
def test_regroup_edge_cases(backend: str) -> None:
    empty = regroup_survivors(np.zeros(0, dtype=np.int64), 4, np.zeros(0), backend=backend)
    np.testing.assert_array_equal(empty.offsets, [0, 0, 0, 0, 0])
    assert empty.weight_sum is not None
    np.testing.assert_array_equal(empty.weight_sum, np.zeros(4))
    groups = regroup_survivors([1, 1, 3], 5, [0.5, 0.25, 1.0], backend=backend)
    np.testing.assert_array_equal(groups.order, [0, 1, 2])
    np.testing.assert_array_equal(groups.offsets, [0, 0, 2, 2, 3, 3])
    np.testing.assert_array_equal(groups.counts, [0, 2, 0, 1, 0])
    assert groups.weight_sum is not None
    np.testing.assert_array_equal(groups.weight_sum, [0.0, 0.75, 0.0, 1.0, 0.0])
    unsorted = regroup_survivors([3, 0, 3, 1], 4, backend=backend)
    np.testing.assert_array_equal(unsorted.order, [1, 3, 0, 2])
    np.testing.assert_array_equal(unsorted.offsets, [0, 1, 2, 2, 4])


# -- properties ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_targets", [1, 2, 3, 4])
def test_copy_count_properties(rng: np.random.Generator, backend: str, n_targets: int) -> None:
    n = 20_000
    y = random_targets(rng, n, n_targets)
    threshold = float(rng.uniform(0.2, 2.0))
    mean, std = target_statistics(y, backend=backend)
    upper, lower = edges(mean, std, threshold)
    edge = np.where(y >= 0, upper, lower)
    active = edge > 0  # an edge that does not reach past zero never asks for copies
    need = np.where(active, np.abs(y) / np.where(active, edge, 1.0), 1.0).max(axis=1)
    # A cap that the far tail exceeds.
    max_copies = max(2, int(np.quantile(need, 0.995)))
    assert np.any(need > max_copies)
    plan = plan_copies(y, threshold, max_copies=max_copies, run_seed=5, backend=backend)
    np.testing.assert_array_equal(plan.mean, mean)
    counts = plan.counts
    # The cap is respected and reached.
    assert counts.min() >= 1
    assert counts.max() == max_copies
    capped = counts == max_copies
    # Every copy's |y|/n_e lies within the band edge, unless the event is capped.
    per_copy = np.abs(y) / counts[:, None]
    ok = ~active | (per_copy <= edge * (1 + 1e-12))
    assert np.all(ok[~capped])
    # Capped events needed at least the cap; all events that needed more are capped.
    assert np.all(need[capped] > max_copies - 1)
    assert np.all(capped[need > max_copies])
    # Minimal: n_e − 1 copies would leave some target outside its edge.
    split = counts > 1
    fewer = np.abs(y[split]) / (counts[split] - 1)[:, None]
    violates = active[split] & (fewer > edge[split] * (1 - 1e-12))
    assert np.all(violates.any(axis=1))
    # Unsplit events are inside already.
    assert np.all((~active | (np.abs(y) <= edge * (1 + 1e-12)))[counts == 1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_copy_table_properties(rng: np.random.Generator, backend: str) -> None:
    n = 10_000
    y = random_targets(rng, n, 2)
    run_seed = int(rng.integers(2**32))
    plan = plan_copies(y, 0.8, max_copies=40, run_seed=run_seed, backend=backend)
    counts = plan.counts
    np.testing.assert_array_equal(plan.offsets, np.concatenate([[0], np.cumsum(counts)]))
    assert plan.n_copies == counts.sum() == plan.offsets[-1]
    np.testing.assert_array_equal(plan.parent, np.repeat(np.arange(n), counts))
    for e in rng.choice(n, 30, replace=False):
        rows = slice(plan.offsets[e], plan.offsets[e + 1])
        np.testing.assert_array_equal(plan.copy_index[rows], np.arange(counts[e]))
        np.testing.assert_array_equal(plan.weight[rows], 1.0 / counts[e])
    # Copy weights of each parent sum to 1.
    sums = np.bincount(plan.parent, weights=plan.weight, minlength=n)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-12)
    groups = regroup_survivors(plan.parent, n, plan.weight, backend=backend)
    assert groups.weight_sum is not None
    np.testing.assert_allclose(groups.weight_sum, 1.0, rtol=1e-12)
    # Seeds differ across all copies and follow the counter-based formula.
    assert np.unique(plan.seed).size == plan.n_copies
    np.testing.assert_array_equal(plan.seed, copy_seeds(run_seed, plan.parent, plan.copy_index))


def test_seeds_follow_formula(rng: np.random.Generator) -> None:
    y = random_targets(rng, 3000, 2)
    run_seed = int(rng.integers(2**64, dtype=np.uint64))
    ids = rng.choice(2**40, size=3000, replace=False)
    plan = plan_copies(y, 0.8, run_seed=run_seed, event_ids=ids)
    np.testing.assert_array_equal(
        plan.seed, copy_seeds(run_seed, ids[plan.parent], plan.copy_index)
    )
    other = plan_copies(y, 0.8, run_seed=run_seed + 1 if run_seed < 2**64 - 1 else 0, event_ids=ids)
    assert not np.any(other.seed == plan.seed)


def test_seeds_independent_of_sharding(rng: np.random.Generator) -> None:
    n = 20_000
    y = random_targets(rng, n, 3)
    run_seed = 2024
    full = plan_copies(y, 0.6, max_copies=30, run_seed=run_seed)
    stats = {"mean": full.mean, "std": full.std}
    # A random subset planned on its own, with its global ids and the full sample's statistics.
    subset = np.sort(rng.choice(n, size=3000, replace=False))
    part = plan_copies(y[subset], 0.6, max_copies=30, run_seed=run_seed, event_ids=subset, **stats)
    np.testing.assert_array_equal(part.counts, full.counts[subset])
    rows = np.concatenate([np.arange(full.offsets[e], full.offsets[e + 1]) for e in subset])
    np.testing.assert_array_equal(part.seed, full.seed[rows])
    np.testing.assert_array_equal(part.copy_index, full.copy_index[rows])
    np.testing.assert_array_equal(subset[part.parent], full.parent[rows])
    # Contiguous shards, concatenated, give the one-machine plan.
    cuts = np.sort(rng.choice(np.arange(1, n), size=3, replace=False))
    shards = [
        plan_copies(
            y[a:b], 0.6, max_copies=30, run_seed=run_seed, event_ids=np.arange(a, b), **stats
        )
        for a, b in zip([0, *cuts], [*cuts, n], strict=True)
    ]
    np.testing.assert_array_equal(np.concatenate([s.seed for s in shards]), full.seed)
    np.testing.assert_array_equal(np.concatenate([s.weight for s in shards]), full.weight)
    # Without the global ids the shard's seeds would repeat the first events' seeds.
    local = plan_copies(y[subset], 0.6, max_copies=30, run_seed=run_seed, **stats)
    assert not np.array_equal(local.seed, part.seed)


@pytest.mark.parametrize(
    ("run_seed", "event_id", "copy_id"),
    [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (12345, 678, 9), (2**64 - 1, 2**63 - 1, 999)],
)
def test_copy_seeds_matches_core_scalar(run_seed: int, event_id: int, copy_id: int) -> None:
    got = copy_seeds(run_seed, np.array([event_id]), np.array([copy_id]))
    assert got.dtype == np.uint64
    assert int(got[0]) == _core.copy_seed(run_seed, event_id, copy_id)


def test_copy_seeds_known_value() -> None:
    # splitmix64(0) = 0xE220A8397B1DCDAF is the published first output of SplitMix64 seeded 0.
    base = smearing.reference.splitmix64(np.array([0], dtype=np.uint64))
    assert int(base[0]) == 0xE220A8397B1DCDAF


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_targets(rng: np.random.Generator, backend: str, bad: float) -> None:
    y = random_targets(rng, 100_000, 2)
    y[77_777, 1] = bad
    with pytest.raises(InputError, match="targets: non-finite"):
        target_statistics(y, backend=backend)
    with pytest.raises(InputError, match="targets: non-finite"):
        copy_counts(y, 1.0, backend=backend)
    # With given statistics the count pass itself must notice.
    with pytest.raises(InputError, match="targets: non-finite"):
        copy_counts(y, 1.0, mean=[1.0, 0.0], std=[1.0, 1.0], backend=backend)
    with pytest.raises(InputError, match="targets: non-finite"):
        plan_copies(y, 1.0, mean=[1.0, 0.0], std=[1.0, 1.0], backend=backend)


def test_non_finite_target_location_is_reported(rng: np.random.Generator) -> None:
    y = random_targets(rng, 100_000, 3)
    y[77_777, 2] = np.nan
    with pytest.raises(InputError, match="event 77777, target 2"):
        copy_counts(y, 1.0, mean=np.ones(3), std=np.ones(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_weights(backend: str) -> None:
    with pytest.raises(InputError, match="weights: non-finite"):
        target_statistics(np.ones(3), [1.0, np.inf, 1.0], backend=backend)
    with pytest.raises(ShapeError, match=r"weights: expected shape \(3,\), got \(2,\)"):
        target_statistics(np.ones(3), [1.0, 1.0], backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_with_zero_sum(backend: str) -> None:
    with pytest.raises(InputError, match="weights: the sum of event weights must be positive"):
        target_statistics(np.arange(4.0), [1.0, -1.0, 2.0, -2.0], backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("threshold", [0.0, -1.0, np.nan, np.inf])
def test_bad_threshold(backend: str, threshold: float) -> None:
    with pytest.raises(InputError, match="threshold: expected a finite value > 0"):
        copy_counts(np.ones(3), threshold, backend=backend)
    with pytest.raises(InputError, match="threshold"):
        plan_copies(np.ones(3), threshold, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("max_copies", [0, -3])
def test_bad_max_copies(backend: str, max_copies: int) -> None:
    with pytest.raises(InputError, match=f"max_copies: expected >= 1, got {max_copies}"):
        copy_counts(np.ones(3), 1.0, max_copies=max_copies, backend=backend)
    with pytest.raises(InputError, match="max_copies"):
        plan_copies(np.ones(3), 1.0, max_copies=max_copies, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_statistics(backend: str) -> None:
    with pytest.raises(InputError, match="mean, std: give both or neither"):
        copy_counts(np.ones(3), 1.0, mean=[1.0], backend=backend)
    with pytest.raises(ShapeError, match="std"):
        copy_counts(np.ones((3, 2)), 1.0, mean=[1.0, 1.0], std=[1.0], backend=backend)
    with pytest.raises(InputError, match="mean: non-finite"):
        copy_counts(np.ones(3), 1.0, mean=[np.nan], std=[1.0], backend=backend)
    with pytest.raises(InputError, match="std: non-finite"):
        copy_counts(np.ones(3), 1.0, mean=[1.0], std=[np.inf], backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_std_is_refused(backend: str) -> None:
    with pytest.raises(InputError, match="std >= 0"):
        copy_counts(np.ones(3), 1.0, mean=[1.0], std=[-1.0], backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_targets_shape_and_dtype(backend: str) -> None:
    with pytest.raises(InputError, match=r"targets: expected shape \(N,\) or \(N, T\)"):
        target_statistics(np.zeros(0), backend=backend)
    with pytest.raises(InputError, match=r"targets: expected shape \(N,\) or \(N, T\)"):
        copy_counts(np.zeros((2, 2, 2)), 1.0, backend=backend)
    with pytest.raises(DtypeError, match="targets"):
        copy_counts(np.array(["1", "2"]), 1.0, backend=backend)
    with pytest.raises(DtypeError, match="targets"):
        copy_counts(np.ones(2, dtype=complex), 1.0, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_plan_arguments(backend: str) -> None:
    with pytest.raises(InputError, match="run_seed: expected 0 <= seed < 2\\*\\*64, got -1"):
        plan_copies(np.ones(3), 1.0, run_seed=-1, backend=backend)
    with pytest.raises(InputError, match="run_seed"):
        plan_copies(np.ones(3), 1.0, run_seed=2**64, backend=backend)
    with pytest.raises(ShapeError, match=r"event_ids: expected shape \(3,\)"):
        plan_copies(np.ones(3), 1.0, event_ids=[0, 1], backend=backend)
    with pytest.raises(DtypeError, match="event_ids"):
        plan_copies(np.ones(3), 1.0, event_ids=[0.0, 1.0, 2.0], backend=backend)
    with pytest.raises(InputError, match="backend: expected 'auto', 'core' or 'numpy', got 'cuda'"):
        plan_copies(np.ones(3), 1.0, backend="cuda")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "parent", [[0, 1, 5], [0, 5, 1], [3, 0, 1], [0, 1, -1], [2, -1, 0], [-1, 0, 1], [-1, -1, 2]]
)
def test_regroup_parent_out_of_range(backend: str, parent: list[int]) -> None:
    with pytest.raises(InputError, match=r"parent: .*outside|parent: indices must lie in"):
        regroup_survivors(np.array(parent), 3, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_regroup_parent_out_of_range_many(rng: np.random.Generator, backend: str) -> None:
    parent = np.sort(rng.integers(0, 1000, 300_000))
    parent[200_000] = 1000  # sorted input, bad index far from the start
    parent[200_001:] = 1000
    with pytest.raises(InputError, match="parent"):
        regroup_survivors(parent, 1000, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_regroup_bad_dtype_and_arguments(backend: str) -> None:
    with pytest.raises(DtypeError, match="parent: expected an integer array, got dtype float64"):
        regroup_survivors(np.array([0.0, 1.0]), 2, backend=backend)
    with pytest.raises(InputError, match="n_parents: expected >= 0, got -1"):
        regroup_survivors(np.array([0, 1]), -1, backend=backend)
    with pytest.raises(ShapeError, match="weights"):
        regroup_survivors(np.array([0, 1]), 2, np.ones(3), backend=backend)
    with pytest.raises(ShapeError, match="parent"):
        regroup_survivors(np.zeros((2, 2), dtype=np.int64), 2, backend=backend)
    with pytest.raises(InputError, match="backend"):
        regroup_survivors(np.array([0, 1]), 2, backend="gpu")
