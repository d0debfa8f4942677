"""Specifications of harness.scoring.null and harness.scoring.pairs: the permutation null."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from harness.errors import ParameterError
from harness.scoring import Grid, grid_problem, score_all
from harness.scoring.null import (NullEngine, auto_permutations, official_has_null, overall_official_null,
                                  p_value, permutation_null, summarize)
from harness.scoring.pairs import PairCounts, subsets


def product_grid(*sizes: int) -> Grid:
    return Grid.from_levels(list(itertools.product(*map(range, sizes))))


def brute_counts(levels, measures, gap, rounded, u):
    """D1, D2, EQ and SPLIT of SPEC-style pair loops, per measure of the batch."""
    n = len(gap)
    sizes = [int(levels[:, h].max()) + 1 for h in u]
    out = {f: np.zeros((len(measures), *sizes, *sizes), dtype=np.int64) for f in ("gt", "lt", "eq", "split")}
    for p, m in enumerate(measures):
        for i in range(n):
            for j in range(n):
                key = (p, *levels[i, list(u)], *levels[j, list(u)])
                q = m[i] > m[j]
                out["gt"][key] += (rounded[i] > rounded[j]) and q
                out["lt"][key] += (rounded[i] < rounded[j]) and q
                out["eq"][key] += (rounded[i] == rounded[j]) and i != j and q
                out["split"][key] += (rounded[i] == rounded[j]) and (gap[i] > gap[j]) and q
    return out


@pytest.mark.parametrize("case", range(6))
def test_pair_counts_match_pair_loops(case):
    """Dense and sparse paths, with and without measure ties, duplicates, 0 to 3 hyperparameters."""
    rng = np.random.default_rng(case)
    k = case % 4
    n = 20
    levels = np.stack([rng.integers(0, 3, n) for _ in range(k)], axis=1) if k else np.zeros((n, 0), int)
    gap = rng.integers(0, 5, n) / 10 if case < 3 else rng.normal(size=n).round(2)
    gap = gap + rng.choice([0.0, 1e-12], n)   # float noise that rounding removes
    rounded = np.round(gap, 9)
    measures = np.stack([rng.integers(0, 6, n).astype(float) if case % 2 else rng.normal(size=n)
                         for _ in range(3)])
    wants = subsets(k, min(2, k))
    counts = PairCounts(levels, gap, rounded, wants, measure_ties=bool(case % 2))
    got = counts.count(measures)
    for u in wants:
        want = brute_counts(levels, measures, gap, rounded, u)
        for field, value in got.items():
            assert np.array_equal(value[u], want[field]), (field, u)


@pytest.mark.parametrize("seed", range(4))
def test_each_permutation_scores_what_score_all_gives_the_permuted_measure(seed):
    rng = np.random.default_rng(seed)
    grid = product_grid(3, 2, 3)
    gap = rng.integers(0, 6, grid.n_models) / 10 + (0.8 - 0.7 - 0.1)   # ties, with float noise
    measure = rng.normal(size=grid.n_models) if seed % 2 else rng.integers(0, 4, grid.n_models) * 1.0
    engine = NullEngine(measure, gap, grid, official=official_has_null(grid))
    perms = np.stack([rng.permutation(measure) for _ in range(5)])
    batch = engine.batch(perms)
    for p, perm in enumerate(perms):
        want = score_all(perm, gap, grid)
        assert batch.headlines["official"][p] == pytest.approx(want.official, rel=1e-12, abs=1e-15)
        for (a, b), value in want.official_pairs.items():
            ia, ib = grid.names.index(a), grid.names.index(b)
            assert batch.official_pairs[ia, ib][p] == pytest.approx(value, rel=1e-12, abs=1e-15)
        assert batch.headlines["robust_cmi"][p] == pytest.approx(want.robust.headline, rel=1e-12, nan_ok=True)
        assert batch.headlines["kendall_tau"][p] == pytest.approx(want.kendall_tau, rel=1e-12)
        assert batch.headlines["psi"][p] == pytest.approx(want.granulated.psi, rel=1e-12)


def test_a_measure_equal_to_the_gap_is_significant():
    rng = np.random.default_rng(0)
    grid = product_grid(3, 3, 3, 2)
    gap = rng.normal(size=grid.n_models)
    null = permutation_null(gap, gap, grid, n_permutations=199, seed=3)
    for metric in ("official", "robust_cmi", "kendall_tau", "psi"):
        assert null.summaries[metric].p_value <= 0.01, metric


def test_random_measures_are_significant_at_the_nominal_rate():
    """Under the null (measures independent of the gap), p <= 0.05 must happen about 5% of the
    time: over 200 random measures the count must stay within a 99.9% binomial band of 10."""
    rng = np.random.default_rng(1)
    grid = product_grid(3, 3, 2)
    gap = rng.normal(size=grid.n_models)
    hits = {metric: 0 for metric in ("official", "robust_cmi", "kendall_tau", "psi")}
    trials = 200
    for t in range(trials):
        null = permutation_null(rng.normal(size=grid.n_models), gap, grid, n_permutations=99, seed=t)
        for metric in hits:
            hits[metric] += null.summaries[metric].p_value <= 0.05
    low, high = 1, 22   # binomial(200, 0.05): P(X < 1) + P(X > 22) < 0.001
    assert all(low <= h <= high for h in hits.values()), hits


def test_the_null_is_seeded():
    grid = product_grid(3, 3, 2)
    rng = np.random.default_rng(2)
    measure, gap = rng.normal(size=18), rng.normal(size=18)
    first = permutation_null(measure, gap, grid, n_permutations=49, seed=7)
    assert first.summaries == permutation_null(measure, gap, grid, n_permutations=49, seed=7).summaries
    assert first.summaries != permutation_null(measure, gap, grid, n_permutations=49, seed=8).summaries
    assert (first.n_permutations, first.seed) == (49, 7)


def test_the_official_null_is_skipped_on_an_invalid_grid():
    grid = product_grid(3, 3, 2)
    sub = grid.take(np.arange(1, 18))
    rng = np.random.default_rng(3)
    null = permutation_null(rng.normal(size=17), rng.normal(size=17), sub, n_permutations=19)
    assert "official" not in null.summaries and "robust_cmi" in null.summaries


def test_p_value_counts_ties_with_the_observed_value_as_at_least_as_good():
    """A constant measure scores the same under every permutation: p = 1."""
    grid = product_grid(3, 3, 2)
    gap = np.random.default_rng(4).normal(size=18)
    null = permutation_null(np.ones(18), gap, grid, n_permutations=19)
    assert null.summaries["official"].p_value == 1.0
    assert p_value(0.5, np.array([0.5 - 1e-13, 0.2])) == 2 / 3


def test_summarize_ignores_undefined_null_values():
    summary = summarize(0.3, np.array([0.1, np.nan, 0.2, 0.4]))
    assert summary.mean == pytest.approx(0.7 / 3) and summary.p_value == 0.5


def test_automatic_permutations_shrink_with_the_task():
    assert [auto_permutations(n) for n in (18, 243, 500, 1000, 2000, 10000)] == [999, 999, 999, 199, 49, 19]


def test_overall_null_averages_tasks_permuted_independently_and_counts_missing_tasks_as_zero():
    a, b = np.array([0.1, 0.2, 0.3]), np.array([0.3, 0.0, 0.1, 0.9])
    summary = overall_official_null(10.0, [a, b, None])
    values = 100 * np.array([0.4, 0.2, 0.4]) / 3
    assert summary.mean == pytest.approx(values.mean())
    assert summary.p_value == (1 + np.sum(values >= 10.0)) / 4
    assert overall_official_null(1.0, [None]) is None


def test_kendall_tau_uses_the_normal_approximation_below_999_permutations():
    grid = product_grid(4, 4, 4)
    rng = np.random.default_rng(5)
    gap = rng.normal(size=64)
    measure = gap + 2 * rng.normal(size=64)
    null = permutation_null(measure, gap, grid, n_permutations=99)
    exact = permutation_null(measure, gap, grid, n_permutations=999)
    assert null.methods["kendall_tau"] == "normal approximation" and exact.methods["kendall_tau"] == "permutation"
    assert null.summaries["kendall_tau"].p_value == pytest.approx(exact.summaries["kendall_tau"].p_value, abs=0.02)
    assert null.summaries["kendall_tau"].q95 == pytest.approx(exact.summaries["kendall_tau"].q95, rel=0.1)
    assert not math.isnan(null.summaries["kendall_tau"].mean)


@pytest.mark.parametrize("seed", range(6))
def test_score_all_counts_the_same_through_the_product_layout_as_through_pair_codes(seed):
    """score_all takes the product-layout counts (shared with the null) where the grid is dense
    enough; the pair-code scan is the other way. Same integers: the official bits agree."""
    from harness.scoring.metrics import counted_scan, pair_code_scan, pair_counts_for

    rng = np.random.default_rng(seed)
    grid = product_grid(3, 2, 2) if seed % 2 else product_grid(2, 3, 2, 2)
    if seed >= 4:   # incomplete and with a duplicated configuration
        grid = grid.take(np.r_[np.arange(1, grid.n_models), 3])
    n = grid.n_models
    gap = rng.integers(0, 5, n) / 10 + rng.choice([0.0, 1e-12], n)
    measure = rng.integers(0, 4, n).astype(float) if seed % 3 else rng.normal(size=n)
    counts = pair_counts_for(measure, gap, grid)
    assert counts is not None
    valid = grid_problem(grid) is None
    got_pairs, got_robust = counted_scan(measure, grid, counts, official=valid)
    want_pairs, want_robust = pair_code_scan(measure, gap, grid, official=valid)
    assert list(got_pairs) == list(want_pairs)
    assert all(got_pairs[k] == want_pairs[k] or (math.isnan(got_pairs[k]) and math.isnan(want_pairs[k]))
               for k in want_pairs)
    assert list(got_robust.by_set) == list(want_robust.by_set)
    for key, value in want_robust.by_set.items():
        assert got_robust.by_set[key] == pytest.approx(value, rel=1e-12, nan_ok=True)


def test_a_grid_too_sparse_for_the_product_layout_gets_a_null_of_psi_only():
    rng = np.random.default_rng(8)
    i = np.arange(40)
    grid = Grid.from_levels(np.stack([i // 2, i, (i // 2) % 7], axis=1))   # 5,600 slots for 40 models
    null = permutation_null(rng.normal(size=40), rng.normal(size=40), grid, n_permutations=19)
    assert set(null.summaries) == {"psi"}


def test_the_number_of_permutations_is_checked_naming_the_parameter():
    grid = product_grid(2, 2)
    with pytest.raises(ParameterError, match=r"^n_permutations must be an int in \[1, inf\) or None. "
                                             r"Received: n_permutations=0$"):
        permutation_null([1, 2, 3, 4], [1, 2, 3, 4], grid, n_permutations=0)
