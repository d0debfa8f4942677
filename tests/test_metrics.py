"""Specifications of the metrics of harness.scoring: hand-computed cases, slow references, properties."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest

from harness.scoring import (Grid, InvalidGrid, check_complete, granulated_kendall, kendall_tau, round_gaps,
                             official_pair_scores, official_score, robust_cmi, score_all, sign_error)

LOG2_3 = math.log2(3)


def h2(p: float) -> float:
    """Binary entropy in bits."""
    return -sum(q * math.log2(q) for q in (p, 1 - p) if q > 0)


def h2_eps(p: float) -> float:
    """The 2020 scorer's entropy of a bin with P(G = 1) = p: log2(p + 1e-12) inside."""
    return -(p * math.log2(p + 1e-12) + (1 - p) * math.log2(1 - p + 1e-12))


def complete_grid(values: dict[str, list]) -> list[dict]:
    """Every combination of ``values`` once, in itertools.product order."""
    return [dict(zip(values, combo)) for combo in itertools.product(*values.values())]


# --------------------------------------------------------------- slow references
# Written straight from the SPEC §3 text, with loops over pairs; deliberately naive.


def slow_official_pairs(measure, gap, hparams, possible) -> dict[tuple[str, str], float]:
    """score(a, b) per ordered pair, exactly as SPEC §3 describes the 2020 scorer.

    Bins are keyed by the string str(v)+str(w)+str(x)+str(y), listed for v, w in
    V_a, x, y in V_b; a repeated key keeps its last position; pairs whose key
    names no bin are skipped. Per bin: MI over the (G, Q) cells in the order
    (1,1), (1,0), (0,1), (0,0) skipping zero cells, entropy of G with
    log2(p + 1e-12); score = mean MI / mean H over all bins, in numpy float64
    (an empty bin gives 0/0 = nan, as in the original).
    """
    names = list(possible)
    out = {}
    for a in names:
        for b in names:
            if a == b:
                continue
            keys = [str(v) + str(w) + str(x) + str(y) for v in possible[a] for w in possible[a]
                    for x in possible[b] for y in possible[b]]
            position = {key: pos for pos, key in enumerate(keys)}
            tables = [np.zeros((2, 2)) for _ in keys]   # rows: g_i > g_j yes/no; cols: m_i > m_j yes/no
            for i in range(len(gap)):
                for j in range(len(gap)):
                    key = (str(hparams[i][a]) + str(hparams[j][a])
                           + str(hparams[i][b]) + str(hparams[j][b]))
                    if key in position:
                        tables[position[key]][0 if gap[i] > gap[j] else 1,
                                              0 if measure[i] > measure[j] else 1] += 1
            mi_sum, h_sum = 0, 0
            with np.errstate(all="ignore"):
                for table in tables:
                    total = table.sum()
                    rows, cols = table.sum(axis=1), table.sum(axis=0)
                    mi = 0.0
                    for r in range(2):
                        for c in range(2):
                            joint = table[r, c] / total
                            if joint == 0:
                                continue
                            mi += joint * np.log2(joint / ((rows[r] / total) * (cols[c] / total)))
                    p = rows / rows.sum()
                    mi_sum += mi
                    h_sum += -np.sum(p * np.log2(p + 1e-12))
                out[a, b] = float((mi_sum / len(keys)) / (h_sum / len(keys)))
    return out


def slow_official(measure, gap, hparams, possible) -> float:
    best = math.inf
    for score in slow_official_pairs(measure, gap, hparams, possible).values():
        best = min(score, best)
    return best


def slow_robust(measure, gap, levels, subset) -> float:
    """Robust CMI of SPEC §3 for one conditioning set, by loops: distinct untied ordered pairs,
    bin = (θ_S(i), θ_S(j)), sum_b n_b I_b / sum_b n_b H_b."""
    bins = defaultdict(lambda: np.zeros(4))
    for i in range(len(gap)):
        for j in range(len(gap)):
            if i == j or gap[i] == gap[j] or measure[i] == measure[j]:
                continue
            key = (tuple(levels[i][h] for h in subset), tuple(levels[j][h] for h in subset))
            bins[key][2 * (gap[i] > gap[j]) + (measure[i] > measure[j])] += 1
    info = ent = 0.0
    for c in bins.values():
        n = c.sum()
        pg = [(c[0] + c[1]) / n, (c[2] + c[3]) / n]
        pq = [(c[0] + c[2]) / n, (c[1] + c[3]) / n]
        info += n * sum(c[t] / n * math.log2(c[t] / n / (pg[t >> 1] * pq[t & 1]))
                        for t in range(4) if c[t] > 0)
        ent += n * -sum(p * math.log2(p) for p in pg if p > 0)
    return info / ent if ent > 0 else math.nan


def slow_tau_b(x, y) -> float:
    s = tx = ty = 0
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            s += dx * dy
            tx += dx == 0
            ty += dy == 0
    n0 = n * (n - 1) / 2
    return s / math.sqrt((n0 - tx) * (n0 - ty)) if (n0 - tx) * (n0 - ty) > 0 else math.nan


def slow_jiang_tau(x, y) -> float:
    """Jiang et al.'s τ(T): Σ_{i≠j} sign(x_i - x_j) sign(y_i - y_j) / (|T| (|T| - 1))."""
    n = len(x)
    total = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i in range(n) for j in range(n) if i != j)
    return total / (n * (n - 1))


def same(x: float, y: float) -> bool:
    """Bit-for-bit equal floats, nan equal to nan."""
    return (math.isnan(x) and math.isnan(y)) or x == y


VALUE_POOLS = [
    [0, 1], [1, 2, 3], [1, 11], [1, 12], [1, 21], [0.1, 0.01, 1.0], ["relu", "tanh"],
    [64, 128, 256], [7],
]


def random_task(rng: np.random.Generator, n_hparams: int):
    pools = rng.choice(len(VALUE_POOLS), size=n_hparams, replace=False)
    possible = {f"h{k}": list(VALUE_POOLS[p]) for k, p in enumerate(pools)}
    hparams = complete_grid(possible)
    rng.shuffle(hparams)
    n = len(hparams)
    gap = rng.integers(0, 6, n) / 10 if rng.random() < 0.5 else rng.normal(size=n)
    measure = rng.integers(0, 4, n).astype(float) if rng.random() < 0.5 else rng.normal(size=n)
    return measure, gap, hparams, possible


# ------------------------------------------------------------ hand-computed cases


@pytest.fixture
def two_by_two():
    """A = row, B = column; gaps 0.1 .. 0.4; the measure swaps the last two models."""
    hparams = complete_grid({"A": [0, 1], "B": [0, 1]})   # (0,0) (0,1) (1,0) (1,1)
    gap = np.array([0.1, 0.2, 0.3, 0.4])
    measure = np.array([1.0, 2.0, 4.0, 3.0])
    return measure, gap, Grid.from_hparams(hparams, {"A": [0, 1], "B": [0, 1]})


def test_official_on_two_by_two_grid_is_zero_whatever_the_measure(two_by_two):
    """Each of the 16 bins (a_i, a_j, b_i, b_j) holds exactly one ordered pair (one model per
    cell), so every 2x2 table has a single count: I = 1 * log2(1 / (1 * 1)) = 0, and
    H = -(1 * log2(1 + 1e-12) + 0) = -1.44e-12. Score = (0 / 16) / (16 * -1.44e-12 / 16) = -0.0
    for both ordered pairs; the task score is their minimum, 0."""
    measure, gap, grid = two_by_two
    pairs = official_pair_scores(measure, gap, grid)
    assert pairs == {("A", "B"): 0.0, ("B", "A"): 0.0}
    assert official_score(measure, gap, grid) == 0.0
    assert official_score(gap, gap, grid) == 0.0   # even a perfect measure


def test_granulated_kendall_on_two_by_two_grid(two_by_two):
    """ψ_A: groups fix B. B=0: (0,0) g.1 m1 vs (1,0) g.3 m4, concordant, τ = 1; B=1: (0,1) g.2 m2
    vs (1,1) g.4 m3, concordant, τ = 1; ψ_A = 1. ψ_B: A=0: g.1 m1 vs g.2 m2, τ = 1; A=1: g.3 m4
    vs g.4 m3, τ = -1; ψ_B = 0. Ψ = (1 + 0) / 2 = 0.5."""
    result = granulated_kendall(*two_by_two)
    assert result.per_hparam == {"A": 1.0, "B": 0.0}
    assert result.psi == 0.5


def test_kendall_tau_on_two_by_two_grid(two_by_two):
    """Six pairs, only (1,0)-(1,1) discordant: τ = (5 - 1) / 6."""
    measure, gap, _ = two_by_two
    assert kendall_tau(measure, gap) == pytest.approx(2 / 3, abs=1e-15)
    assert kendall_tau(-measure, gap) == pytest.approx(-2 / 3, abs=1e-15)


def test_sign_error_on_two_by_two_grid(two_by_two):
    """Pairs differing only in A: (00,10), (01,11), both concordant: mean 0, worst 0. Only in B:
    (00,01) concordant, (10,11) discordant: mean 1/2, worst group (A=1) 1. Overall 1/4, worst 1.
    One model per configuration: every environment has one sample, none passes the filter."""
    result = sign_error(*two_by_two)
    assert (result.per_hparam["A"].mean, result.per_hparam["A"].worst_group) == (0.0, 0.0)
    assert (result.per_hparam["B"].mean, result.per_hparam["B"].worst_group) == (0.5, 1.0)
    assert (result.overall.mean, result.overall.worst_group, result.overall.n_pairs) == (0.25, 1.0, 4)
    assert math.isnan(result.overall.worst_environment) and result.overall.n_environments == 0


def test_robust_cmi_on_two_by_two_grid(two_by_two):
    """{} : 12 ordered untied pairs, 5 concordant unordered pairs and 1 discordant, symmetric table
    -> I = 1 - h(1/6), H = 1. {A}: bins (0,0) and (1,1) hold one unordered pair each (I = H = 1,
    n = 2); bins (0,1), (1,0) have G constant (H = 0). -> (2 + 2) / (2 + 2) = 1. {B}: bins (0,0),
    (1,1): I = H = 1, n = 2; bin (0,1) has counts G0Q0 2, G0Q1 1, G1Q1 1: I = 1.5 - 0.75 log2 3,
    H = h(1/4) = 2 - 0.75 log2 3, n = 4, and its mirror (1,0) the same:
    (4 + 8 I) / (4 + 8 H) = (16 - 6 log2 3) / (20 - 6 log2 3). {A, B}: one pair per bin, every
    H = 0: undefined, so the headline (min over size-2 sets) is undefined too."""
    result = robust_cmi(*two_by_two)
    assert result.by_set[()] == pytest.approx(1 - h2(1 / 6), rel=1e-12)
    assert result.by_set[("A",)] == pytest.approx(1.0, rel=1e-12)
    assert result.by_set[("B",)] == pytest.approx((16 - 6 * LOG2_3) / (20 - 6 * LOG2_3), rel=1e-12)
    assert math.isnan(result.by_set[("A", "B")])
    assert math.isnan(result.headline)


@pytest.fixture
def three_binary():
    """A, B, C in {0, 1}; gap = 10c + 2a + b (C dominates), measure = 2a + b (blind to C)."""
    hparams = complete_grid({"A": [0, 1], "B": [0, 1], "C": [0, 1]})
    gap = np.array([10 * h["C"] + 2 * h["A"] + h["B"] for h in hparams], dtype=float)
    measure = np.array([2 * h["A"] + h["B"] for h in hparams], dtype=float)
    return measure, gap, Grid.from_hparams(hparams, {"A": [0, 1], "B": [0, 1], "C": [0, 1]})


def test_official_scores_of_a_measure_blind_to_the_dominant_hyperparameter(three_binary):
    """Pair (A, B): each cell (a, b) holds the two models c = 0, 1, which the measure ties, so
    Q = 0 in the 4 same-cell bins; across cells Q = [2a+b > 2a'+b'] is constant. I = 0 in all 16
    bins: score(A, B) = score(B, A) = 0 and the task scores 0.
    Pair (A, C): the 4 same-cell bins hold the models b = 0, 1: two self-pairs (G0 Q0), and one
    pair each way, G = Q; counts G1Q1 1, G0Q0 3: I = 1/4 log2 4 + 3/4 log2(4/3) = h(1/4), and the
    scorer's H = h_eps(1/4). In the 12 cross-cell bins G is fixed (c, else a, outweighs b): I = 0,
    H = h_eps(1) = -log2(1 + 1e-12). score = 4 h(1/4) / (4 h_eps(1/4) + 12 h_eps(1)).
    Pair (B, C): same-cell bins as above (4); cross-cell bins with the same c (4) mix G but G = Q
    (2a outweighs b in both): I = h(1/4), H = h_eps(1/4); the 8 with c != c' have G fixed.
    score = 8 h(1/4) / (8 h_eps(1/4) + 8 h_eps(1))."""
    measure, gap, grid = three_binary
    pairs = official_pair_scores(measure, gap, grid)
    assert pairs["A", "B"] == 0.0 and pairs["B", "A"] == 0.0
    a_c = 4 * h2(0.25) / (4 * h2_eps(0.25) + 12 * h2_eps(1.0))
    b_c = 8 * h2(0.25) / (8 * h2_eps(0.25) + 8 * h2_eps(1.0))
    for pair, want in ((("A", "C"), a_c), (("C", "A"), a_c), (("B", "C"), b_c), (("C", "B"), b_c)):
        assert pairs[pair] == pytest.approx(want, rel=1e-12)
    assert official_score(measure, gap, grid) == 0.0


def test_granulated_kendall_counts_a_tied_measure_as_zero_as_jiang_et_al_do(three_binary):
    """ψ_A: groups differ in a only; g and m both rise by 2: τ = 1 in each. ψ_B likewise 1. ψ_C:
    groups differ in c only; the measure is tied in every group: Jiang et al.'s τ counts the tie
    as 0 (τ_b would be undefined and drop the group), so ψ_C = 0 and Ψ = (1 + 1 + 0) / 3."""
    result = granulated_kendall(*three_binary)
    assert result.per_hparam == {"A": 1.0, "B": 1.0, "C": 0.0}
    assert result.psi == pytest.approx(2 / 3, abs=1e-15)


def test_granulated_kendall_counts_tied_gaps_in_the_denominator():
    """One group of three models (A varies), gaps 0.1, 0.1, 0.2, measure 1, 2, 3: the ordered pairs
    give sign products 0, +1, +1 twice each: τ = 4 / (3 * 2) = 2/3 (τ_b would give 2 / sqrt(3 * 2))."""
    grid = Grid.from_levels([[0], [1], [2]], names=["A"])
    result = granulated_kendall([1.0, 2.0, 3.0], [0.1, 0.1, 0.2], grid)
    assert result.psi == pytest.approx(2 / 3, abs=1e-15)


def test_a_seed_hyperparameter_is_a_replicate_label_not_an_intervention():
    """Grid A x seed: Ψ has no ψ_seed, and A's groups hold every seed of every A value."""
    grid = Grid.from_levels([[a, s] for a in range(2) for s in range(2)], names=["A", "seed"])
    gap = [0.1, 0.2, 0.3, 0.4]   # (A, seed) = 00, 01, 10, 11
    measure = [1.0, 3.0, 2.0, 4.0]
    result = granulated_kendall(measure, gap, grid)
    # one group {00, 01, 10, 11}: pairs 00-01 +, 00-10 +, 00-11 +, 01-10 -, 01-11 +, 10-11 +: τ = 4/6
    assert result.per_hparam == {"A": pytest.approx(2 / 3, abs=1e-15)}
    errors = sign_error(measure, gap, grid, min_samples=4)
    # one environment (A = 0 vs A = 1) with its 4 seed pairs: 00-10 +, 00-11 +, 01-10 -, 01-11 +
    assert set(errors.per_hparam) == {"A"}
    assert (errors.per_hparam["A"].mean, errors.per_hparam["A"].worst_environment) == (0.25, 0.25)
    assert errors.per_hparam["A"].n_environments == 1 and errors.per_hparam["A"].n_pairs == 4


def test_sign_error_worst_environment_keeps_environments_with_enough_seed_pairs():
    """Duplicate configurations are seeds too: A in {0, 1, 2}; A = 0 and A = 1 have two models each,
    A = 2 one. Environments: (0, 1) 4 seed pairs, (0, 2) and (1, 2) two each."""
    grid = Grid.from_levels([[0], [0], [1], [1], [2]], names=["A"])
    gap = [0.1, 0.2, 0.3, 0.4, 0.5]
    measure = [1.0, 2.0, 3.0, 4.0, 0.0]   # A = 2 is ranked wrong against everything
    result = sign_error(measure, gap, grid, min_samples=4).per_hparam["A"]
    assert result.worst_environment == 0.0 and result.n_environments == 1
    assert sign_error(measure, gap, grid, min_samples=2).per_hparam["A"].worst_environment == 1.0
    assert result.n_pairs == 8   # the two seed pairs within A = 0 and A = 1 are no environment


def test_sign_error_counts_a_tied_measure_as_half_an_error(three_binary):
    """Pairs differing only in C: Δg = 10, Δm = 0: error (1 - 0) / 2 = 1/2 each."""
    result = sign_error(*three_binary)
    assert (result.per_hparam["C"].mean, result.per_hparam["C"].worst_group) == (0.5, 0.5)
    assert result.per_hparam["C"].n_pairs == 4
    assert result.per_hparam["A"].mean == 0.0


def test_kendall_tau_b_with_ties_in_the_measure(three_binary):
    """n0 = 28 pairs, 4 tied in m. Same c: 12 pairs, concordant. Different c, different m:
    12 pairs, concordant iff the higher c has the higher m: 6 and 6. τ_b = 12 / sqrt(24 * 28)."""
    measure, gap, _ = three_binary
    assert kendall_tau(measure, gap) == pytest.approx(12 / math.sqrt(24 * 28), rel=1e-14)


# ------------------------------------------------------------------ quirks


def test_string_key_collision_empties_a_bin_and_makes_the_pair_score_nan():
    """A in [1, 11]: the keys "1"+"11"+.. and "11"+"1"+.. are equal, the later bin gets both
    pairs, the earlier stays empty (0/0 = nan), so every pair involving A scores nan. Folding
    with Python's min, min(nan, x) is nan and min(x, nan) is x: with names (A, B, C) the pairs
    come (A,B) (A,C) (B,A) (B,C) (C,A) (C,B) -> nan nan nan s_BC nan s_CB: the result is s_CB."""
    possible = {"A": [1, 11], "B": [0, 1], "C": [0, 1]}
    hparams = complete_grid(possible)
    rng = np.random.default_rng(3)
    gap, measure = rng.normal(size=8), rng.normal(size=8)
    grid = Grid.from_hparams(hparams, possible)
    pairs = official_pair_scores(measure, gap, grid)
    assert [math.isnan(v) for v in pairs.values()] == [True, True, True, False, True, False]
    assert official_score(measure, gap, grid) == pairs["C", "B"]
    assert all(same(pairs[k], v) for k, v in slow_official_pairs(measure, gap, hparams, possible).items())


def test_nan_from_the_last_pair_survives_the_min():
    """Same task with A last: ... (C,A) nan, (C,B) s, then (A,B) nan, (A,C) nan: the result is nan."""
    possible = {"B": [0, 1], "C": [0, 1], "A": [1, 11]}
    hparams = complete_grid(possible)
    rng = np.random.default_rng(3)
    gap, measure = rng.normal(size=8), rng.normal(size=8)
    assert math.isnan(official_score(measure, gap, Grid.from_hparams(hparams, possible)))
    assert math.isnan(slow_official(measure, gap, hparams, possible))


def test_prefix_collision_across_two_hyperparameters_is_detected():
    """A in [1, 12], B in [1, 21]: "11"+"211" == "112"+"11": no pair of values repeats, yet two
    bins share a key, so score(A, B) is nan (while (B, A)'s keys "11".."2121" + "11".."1212"
    do not collide)."""
    possible = {"A": [1, 12], "B": [1, 21], "C": [0, 1]}
    hparams = complete_grid(possible)
    rng = np.random.default_rng(5)
    gap, measure = rng.normal(size=8), rng.normal(size=8)
    pairs = official_pair_scores(measure, gap, Grid.from_hparams(hparams, possible))
    assert math.isnan(pairs["A", "B"]) and not math.isnan(pairs["B", "A"])
    want = slow_official_pairs(measure, gap, hparams, possible)
    assert all(same(pairs[k], v) for k, v in want.items())


def test_a_value_spelled_differently_from_possible_values_skips_its_pairs():
    """possible_values [1, 2] but model 0 says 1.0: the same level (1.0 == 1), so the grid is
    complete, but every pair involving model 0 has a key "1.0..." that names no bin and is
    skipped, which changes the scores of the pairs involving A (and only those)."""
    possible = {"A": [1, 2], "B": [0, 1], "C": [0, 1]}
    hparams = complete_grid(possible)
    rng = np.random.default_rng(7)
    gap, measure = rng.normal(size=8), rng.normal(size=8)
    plain = official_pair_scores(measure, gap, Grid.from_hparams(hparams, possible))
    hparams[0]["A"] = 1.0
    grid = Grid.from_hparams(hparams, possible)
    check_complete(grid)
    got = official_pair_scores(measure, gap, grid)
    want = slow_official_pairs(measure, gap, hparams, possible)
    assert all(same(got[k], v) for k, v in want.items())
    assert got["A", "B"] != plain["A", "B"] and got["B", "C"] == plain["B", "C"]


def test_fewer_than_two_hyperparameters_gives_the_min_over_no_pairs():
    grid = Grid.from_levels([[0], [1], [2]])
    assert official_score([1.0, 2.0, 3.0], [0.1, 0.3, 0.2], grid) == math.inf


# ------------------------------------------------------- against the references


@pytest.mark.parametrize("seed", range(25))
def test_official_matches_the_slow_reference_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    measure, gap, hparams, possible = random_task(rng, n_hparams=2 + seed % 2)
    grid = Grid.from_hparams(hparams, possible)
    got = official_pair_scores(measure, gap, grid)
    want = slow_official_pairs(measure, gap, hparams, possible)
    assert list(got) == list(want)
    assert all(same(got[k], want[k]) for k in want), (got, want)
    assert same(official_score(measure, gap, grid), slow_official(measure, gap, hparams, possible))


@pytest.mark.parametrize("seed", range(12))
def test_robust_cmi_matches_the_slow_reference_on_incomplete_grids(seed):
    rng = np.random.default_rng(100 + seed)
    k = 1 + seed % 3
    levels = np.stack([rng.integers(0, 3, 14) for _ in range(k)], axis=1)   # duplicates, holes
    gap = rng.integers(0, 5, 14) / 10
    measure = rng.normal(size=14).round(1)
    result = robust_cmi(measure, gap, Grid.from_levels(levels))
    names = [f"h{h}" for h in range(k)]
    subsets = [s for size in (0, 1, 2) for s in itertools.combinations(range(k), size)]
    assert set(result.by_set) == {tuple(names[h] for h in s) for s in subsets}
    for s in subsets:
        want = slow_robust(measure, gap, levels, s)
        got = result.by_set[tuple(names[h] for h in s)]
        assert (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_kendall_tau_matches_scipy_tau_b_with_ties(seed):
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    measure, gap = rng.integers(0, 5, 40).astype(float), rng.integers(0, 7, 40).astype(float)
    want = scipy_stats.kendalltau(measure, gap).statistic
    assert kendall_tau(measure, gap) == pytest.approx(want, rel=1e-12)
    assert kendall_tau(measure, gap) == pytest.approx(slow_tau_b(measure, gap), rel=1e-12)


def test_granulated_kendall_matches_group_loops_on_an_incomplete_grid():
    rng = np.random.default_rng(11)
    levels = np.stack([rng.integers(0, 3, 30), rng.integers(0, 2, 30), rng.integers(0, 2, 30)], axis=1)
    measure, gap = rng.normal(size=30), rng.integers(0, 4, 30).astype(float)
    result = granulated_kendall(measure, gap, Grid.from_levels(levels))
    for h in range(3):
        others = [c for c in range(3) if c != h]
        groups = defaultdict(list)
        for i, row in enumerate(levels):
            groups[tuple(row[others])].append(i)
        taus = [slow_jiang_tau(measure[idx], gap[idx]) for idx in groups.values() if len(idx) >= 2]
        assert result.per_hparam[f"h{h}"] == pytest.approx(np.mean(taus), rel=1e-12)


def test_sign_error_matches_pair_loops_on_an_incomplete_grid():
    rng = np.random.default_rng(12)
    levels = np.stack([rng.integers(0, 3, 25), rng.integers(0, 2, 25)], axis=1)
    measure, gap = rng.integers(0, 3, 25).astype(float), rng.integers(0, 4, 25).astype(float)
    result = sign_error(measure, gap, Grid.from_levels(levels))
    for h in range(2):
        by_group = defaultdict(list)
        for i, j in itertools.combinations(range(25), 2):
            differs = [c for c in range(2) if levels[i, c] != levels[j, c]]
            if differs == [h]:
                err = (1 - np.sign(measure[i] - measure[j]) * np.sign(gap[i] - gap[j])) / 2
                by_group[levels[i, 1 - h]].append(err)
        errors = [e for v in by_group.values() for e in v]
        summary = result.per_hparam[f"h{h}"]
        assert summary.n_pairs == len(errors)
        assert summary.mean == pytest.approx(np.mean(errors), rel=1e-12)
        assert summary.worst_group == pytest.approx(max(np.mean(v) for v in by_group.values()), rel=1e-12)


# ------------------------------------------------------------------ properties


def random_complete(seed: int, shape=(3, 2, 2)) -> tuple[np.ndarray, np.ndarray, Grid]:
    rng = np.random.default_rng(seed)
    levels = np.array(list(itertools.product(*map(range, shape))))
    n = len(levels)
    return rng.normal(size=n), rng.permutation(n) / n, Grid.from_levels(levels)


@pytest.mark.parametrize("seed", range(5))
def test_predicting_the_gap_scores_one_when_gaps_are_distinct(seed):
    _, gap, grid = random_complete(seed, shape=(3, 3, 2))
    assert official_score(gap, gap, grid) == pytest.approx(1.0, abs=1e-9)
    assert robust_cmi(gap, gap, grid).headline == pytest.approx(1.0, abs=1e-12)
    assert kendall_tau(gap, gap) == 1.0


@pytest.mark.parametrize("seed", range(3))
def test_a_constant_measure_scores_zero(seed):
    _, gap, grid = random_complete(seed)
    assert official_score(np.full(len(gap), 3.0), gap, grid) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_strictly_increasing_transforms_change_nothing(seed):
    measure, gap, grid = random_complete(seed)
    before = score_all(measure, gap, grid)
    after = score_all(np.exp(3 * measure) + 7, gap, grid)
    assert before == after


@pytest.mark.parametrize("seed", range(5))
def test_model_order_changes_nothing(seed):
    measure, gap, grid = random_complete(seed)
    order = np.random.default_rng(seed).permutation(len(gap))
    before = score_all(measure, gap, grid)
    after = score_all(measure[order], gap[order], grid.take(order))
    assert after.official == before.official
    assert after.official_pairs == before.official_pairs
    for key, value in before.robust.by_set.items():
        assert after.robust.by_set[key] == pytest.approx(value, rel=1e-12, nan_ok=True)
    assert after.kendall_tau == pytest.approx(before.kendall_tau, rel=1e-12)
    assert after.granulated.psi == pytest.approx(before.granulated.psi, rel=1e-12)
    assert after.sign_error == before.sign_error


@pytest.mark.parametrize("seed", range(5))
def test_negating_the_measure_keeps_robust_cmi_and_flips_tau(seed):
    measure, gap, grid = random_complete(seed)
    before, after = robust_cmi(measure, gap, grid), robust_cmi(-measure, gap, grid)
    for key, value in before.by_set.items():
        assert after.by_set[key] == pytest.approx(value, rel=1e-12, nan_ok=True)
    assert kendall_tau(-measure, gap) == -kendall_tau(measure, gap)


def test_blocked_counting_gives_the_same_bits_as_one_table(monkeypatch):
    """Large grids are counted in row blocks (and chunks); force tiny blocks on a small grid.
    (The pair-code pass itself: `score_all` would take the product layout on this dense grid.)"""
    import harness.scoring.cmi as cmi
    import harness.scoring.counting as counting
    import harness.scoring.ranking as ranking
    from harness.scoring.metrics import pair_code_scan
    measure, gap, grid = random_complete(1, shape=(4, 3, 2))
    whole_pairs, whole_robust = pair_code_scan(measure, gap, grid, official=True)
    whole_tau = kendall_tau(measure, gap)
    monkeypatch.setattr(counting, "TABLE_ENTRIES", 64)
    monkeypatch.setattr(cmi, "TABLE_ENTRIES", 64)
    monkeypatch.setattr(counting, "PAIRS_PER_CHUNK", 7)
    monkeypatch.setattr(ranking, "PAIRS_PER_BLOCK", 7)
    monkeypatch.setattr(counting, "TYPE_CACHE_PAIRS", 0)
    blocked_pairs, blocked_robust = pair_code_scan(measure, gap, grid, official=True)
    assert blocked_pairs == whole_pairs   # same summation order: same bits
    for key, value in whole_robust.by_set.items():   # sums regrouped: equal up to rounding
        assert blocked_robust.by_set[key] == pytest.approx(value, rel=1e-12)
    assert kendall_tau(measure, gap) == whole_tau   # integer sums: exact


# ------------------------------------------------------------------ grids, inputs


def test_incomplete_grid_is_invalid_for_the_official_score_only():
    measure, gap, grid = random_complete(0)
    sub = grid.take(np.arange(1, len(gap)))
    with pytest.raises(InvalidGrid, match=r"^incomplete grid: 1 of 12 hyperparameter combinations missing$"):
        official_score(measure[1:], gap[1:], sub)
    result = score_all(measure[1:], gap[1:], sub)
    assert result.official is None and result.official_reason.startswith("incomplete grid")
    assert not math.isnan(result.robust.headline)


def test_duplicated_grid_is_invalid():
    measure, gap, grid = random_complete(0)
    rows = np.concatenate([np.arange(len(gap)), [0]])
    with pytest.raises(InvalidGrid, match=r"^duplicated grid: 1 hyperparameter combination"):
        official_score(np.append(measure, 1.0), np.append(gap, 0.5), grid.take(rows))


def test_value_outside_possible_values_is_invalid():
    grid = Grid.from_hparams([{"A": 1}, {"A": 5}], {"A": [1, 2]}, ids=["0", "1"])
    with pytest.raises(InvalidGrid, match=r"^model 1: hyperparameter 'A' = 5 is not among its "
                                          r"possible_values$"):
        check_complete(grid)


def test_a_missing_hyperparameter_is_invalid():
    grid = Grid.from_hparams([{"A": 1, "B": 0}, {"A": 2}], {"A": [1, 2], "B": [0]}, ids=["0", "1"])
    with pytest.raises(InvalidGrid, match=r"^model 1: no value for hyperparameter 'B'$"):
        check_complete(grid)


def test_grid_levels_match_values_by_equality_and_keep_spellings():
    grid = Grid.from_hparams([{"A": 1.0, "B": "x"}, {"A": 2}, {"A": 7, "B": "y"}],
                             {"A": [1, 2], "B": ["x", "y"]})
    assert grid.levels.tolist() == [[0, 0], [1, 2], [2, 1]]   # 7 and the absent B get new levels
    assert [grid.label_strings[0][i] for i in grid.labels[:, 0]] == ["1.0", "2", "7"]


def test_inputs_are_validated():
    grid = Grid.from_levels([[0], [1]])
    with pytest.raises(ValueError, match="measure has 3 values but gap has 2"):
        robust_cmi([1, 2, 3], [1, 2], grid)
    with pytest.raises(ValueError, match="measure has 1 non-finite value"):
        kendall_tau([1, np.nan], [1, 2])
    with pytest.raises(ValueError, match="2 measure values but the grid has 3 models"):
        robust_cmi([1, 2], [1, 2], Grid.from_levels([[0], [1], [0]]))


# ------------------------------------------------------------------ ties and doctests


def test_float_noise_does_not_split_tied_gaps_except_in_the_official_score():
    """0.8 - 0.7 and 1.0 - 0.9 are one gap of 0.1: robust CMI, τ, Ψ and sign-error see a tie
    (round_gaps), the official score sees the raw floats, as the 2020 scorer did."""
    grid = Grid.from_levels([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]], names=["A", "B"])
    noisy = np.array([0.8 - 0.7, 1.0 - 0.9, 0.3, 0.5, 0.7, 0.2])
    clean = np.array([0.1, 0.1, 0.3, 0.5, 0.7, 0.2])
    assert noisy[0] != noisy[1] and np.array_equal(round_gaps(noisy), round_gaps(clean))
    measure = np.array([2.0, 1.0, 3.0, 4.0, 6.0, 5.0])
    a, b = score_all(measure, noisy, grid), score_all(measure, clean, grid)
    assert a.kendall_tau == b.kendall_tau and a.granulated == b.granulated and a.sign_error == b.sign_error
    for key, value in a.robust.by_set.items():
        assert same(value, b.robust.by_set[key])
    hparams = [{"A": int(r[0]), "B": int(r[1])} for r in grid.levels]
    possible = {"A": [0, 1, 2], "B": [0, 1]}
    assert official_pair_scores(measure, noisy, grid) == slow_official_pairs(measure, noisy, hparams, possible)


@pytest.mark.parametrize("module", ["harness.scoring.grid", "harness.scoring.inputs", "harness.scoring.groups",
                                    "harness.scoring.official", "harness.scoring.cmi", "harness.scoring.ranking",
                                    "harness.scoring.metrics", "harness.scoring.null", "harness.scoring.intervals",
                                    "harness.scoring.pairs", "harness.scoring.counting",
                                    "harness.scoring.predictions", "harness.scoring.formatting",
                                    "harness.scoring.scores_file", "harness.scoring.models_csv",
                                    "harness.scoring.environment"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and (result.attempted > 0 or module.endswith(("pairs", "counting")))
