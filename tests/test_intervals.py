"""Specifications of harness.scoring.intervals: coverage, containment, seeds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from harness.errors import ParameterError
from harness.scoring import Grid, granulated_kendall, kendall_tau, score_all
from harness.scoring.intervals import has_replicates, resampled_intervals


def product_grid(*sizes: int, names=None) -> Grid:
    return Grid.from_levels(list(itertools.product(*map(range, sizes))), names=names)


@pytest.mark.parametrize("linear", [False, True], ids=["exact", "linear tau"])
def test_intervals_of_tau_and_psi_cover_the_known_value_at_least_90_percent_of_the_time(linear, monkeypatch):
    """Grids whose (measure, gap) are iid bivariate normal with correlation ρ: within any group
    and overall, the population Kendall τ is (2/π) arcsin ρ, which is also the value Ψ (a mean
    of unbiased group τ's) estimates. 95% intervals must cover it >= 90% of the time, also with
    the linear approximation that large tasks use for τ."""
    import harness.scoring.intervals as intervals

    if linear:
        monkeypatch.setattr(intervals, "_EXACT_TAU_PAIRS", 0)
    rng = np.random.default_rng(0)
    grid = product_grid(3, 3, 3, 3, 3)
    rho = 0.5
    truth = 2 / math.pi * math.asin(rho)
    covered = {"kendall_tau": 0, "psi": 0}
    trials = 100
    cov = [[1, rho], [rho, 1]]
    for t in range(trials):
        measure, gap = rng.multivariate_normal([0, 0], cov, size=grid.n_models).T
        ci = resampled_intervals(measure, gap, grid, n_resamples=200, seed=t)
        for key in covered:
            covered[key] += ci[key].low <= truth <= ci[key].high
    assert all(c >= 0.9 * trials for c in covered.values()), covered


@pytest.mark.parametrize("seed", range(10))
def test_every_interval_contains_its_point_estimate(seed):
    rng = np.random.default_rng(seed)
    grid = product_grid(2, 2, 3)
    measure = rng.integers(0, 3, grid.n_models).astype(float)
    gap = rng.normal(size=grid.n_models)
    ci = resampled_intervals(measure, gap, grid, n_resamples=30, seed=seed)
    assert ci["kendall_tau"].low <= kendall_tau(measure, gap) <= ci["kendall_tau"].high
    psi = granulated_kendall(measure, gap, grid).psi
    assert ci["psi"].low <= psi <= ci["psi"].high


def test_resampled_tau_matches_tau_b_of_the_resampled_models():
    """The multiplicity shortcut equals τ_b computed on an explicit resample with copies."""
    from harness.scoring.intervals import _weighted_tau_b

    rng = np.random.default_rng(3)
    m, g = rng.integers(0, 4, 12).astype(float), rng.integers(0, 5, 12).astype(float)
    rows = rng.integers(0, 12, 12)
    w = np.bincount(rows, minlength=12).astype(float)[None, :]
    assert _weighted_tau_b(m, g, w)[0] == pytest.approx(kendall_tau(m[rows], g[rows]), rel=1e-6)


def test_resampled_psi_leaves_out_pairs_of_copies():
    """Ψ of a resample: per group, τ over the pairs of distinct drawn models weighted by their
    multiplicities; computed here by loops over the resample's own pairs, skipping copies."""
    from harness.scoring.intervals import _weighted_psi

    rng = np.random.default_rng(4)
    grid = product_grid(3, 2, 2)
    m, g = rng.normal(size=12), rng.normal(size=12)
    rows = np.sort(rng.integers(0, 12, 12))
    w = np.bincount(rows, minlength=12).astype(float)[None, :]
    psi_k = []
    for h in range(3):
        others = [c for c in range(3) if c != h]
        groups = {}
        for r in rows:
            groups.setdefault(tuple(grid.levels[r, others]), []).append(r)
        taus = []
        for members in groups.values():
            terms = [np.sign(m[a] - m[b]) * np.sign(g[a] - g[b])
                     for x, a in enumerate(members) for b in members[x + 1:] if a != b]
            if terms:
                taus.append(np.mean(terms))
        if taus:
            psi_k.append(np.mean(taus))
    assert _weighted_psi(m, g, grid, w)[0] == pytest.approx(np.mean(psi_k), rel=1e-12)


def test_without_seeds_there_is_no_interval_for_the_official_score_or_robust_cmi():
    grid = product_grid(3, 3, 2)
    rng = np.random.default_rng(5)
    ci = resampled_intervals(rng.normal(size=18), rng.normal(size=18), grid, n_resamples=20)
    assert sorted(ci) == ["kendall_tau", "psi"] and {c.method for c in ci.values()} == {"models"}


def test_replicate_seeds_are_resampled_within_each_configuration_and_the_official_score_gets_one():
    grid = product_grid(3, 2, 2, 3, names=["a", "b", "c", "seed"])
    assert has_replicates(grid) and not has_replicates(product_grid(3, 2, 2))
    rng = np.random.default_rng(6)
    config_effect = rng.normal(size=12)
    gap = np.repeat(config_effect, 3) + 0.1 * rng.normal(size=36)
    measure = gap + 0.2 * rng.normal(size=36)
    ci = resampled_intervals(measure, gap, grid, n_resamples=25, seed=1)
    official = score_all(measure, gap, grid).official
    assert sorted(ci) == ["kendall_tau", "official", "psi"] and ci["official"].method == "seeds"
    assert ci["official"].low <= official <= ci["official"].high
    assert ci["official"].n_defined == 25


def test_interval_parameters_are_checked():
    grid = product_grid(2, 2)
    with pytest.raises(ParameterError, match=r"^n_resamples must be an int in \[1, inf\). Received: n_resamples=0$"):
        resampled_intervals([1, 2, 3, 4], [1, 2, 3, 4], grid, n_resamples=0)
    with pytest.raises(ParameterError, match=r"^confidence must be a float in \(0, 1\). Received: confidence=1.5$"):
        resampled_intervals([1, 2, 3, 4], [1, 2, 3, 4], grid, confidence=1.5)


def test_the_linear_approximation_of_resampled_tau_gives_the_exact_intervals_ends():
    """Large tasks use S* ~ S + Σ (w_i - 1) r_i (the remainder shrinks as 1/sqrt(n) relative to
    the spread); already on 400 models the 95% interval's ends move by under a tenth of its width."""
    from harness.scoring.intervals import _weighted_tau_b

    rng = np.random.default_rng(7)
    m = rng.normal(size=400)
    g = m + rng.normal(size=400)
    w = rng.multinomial(400, np.full(400, 1 / 400), size=200).astype(float)
    exact = np.percentile(_weighted_tau_b(m, g, w, linear=False), [2.5, 97.5])
    linear = np.percentile(_weighted_tau_b(m, g, w, linear=True), [2.5, 97.5])
    assert np.max(np.abs(exact - linear)) < 0.1 * (exact[1] - exact[0])
