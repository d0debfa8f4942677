"""Every metric of one task at once (`score_all`), counting the pairs once for official and robust CMI.

Every metric compares, over pairs of models, the order of the measure ``m_i``
with the order of the generalization gap ``g_i = train_acc - test_acc``, and
uses the models' hyperparameters (a `Grid`) to condition or to group (SPEC §3):

* `harness.scoring.official` — the 2020 competition's conditional mutual information;
* `harness.scoring.cmi` — robust CMI;
* `harness.scoring.ranking` — Kendall's τ, granulated Kendall's Ψ, sign-error.

Ties: every metric that counts or excludes ties compares gaps after
`harness.scoring.inputs.round_gaps` (1e-9); the official score keeps the 2020
scorer's raw float comparisons. Pure numpy: no TensorFlow and no scipy
(``scipy.stats`` alone takes over a second to import, and scoring must start in
well under one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.params import InstanceOf, validate_params
from harness.scoring.cmi import RobustCMI, RobustPairSums, RobustSums, column_pairs, robust_of_tables
from harness.scoring.counting import PairConsumer, PairTypes, count_pairs
from harness.scoring.grid import Grid
from harness.scoring.groups import one_out_pairs
from harness.scoring.inputs import check_inputs, round_gaps
from harness.scoring.official import (OfficialPass, all_keys_are_cells, fold_min, grid_problem,
                                      official_of_tables)
from harness.scoring.pairs import PairCounts, make_layout, subsets
from harness.scoring.ranking import (GranulatedKendall, SignError, granulated_of_pairs, kendall_tau,
                                     sign_error_of_pairs)

#: The environments `score_all`'s sign-error keeps for its worst case need this many seed pairs.
SIGN_ERROR_MIN_SAMPLES = 4


@dataclass(frozen=True)
class Metrics:
    """Every metric of one task (see `score_all`).

    ``official`` is None when the grid is invalid; ``official_reason`` then
    says why. ``official_pairs`` holds score(a, b) per ordered pair.
    """

    official: float | None
    official_reason: str | None
    official_pairs: dict[tuple[str, str], float]
    robust: RobustCMI
    kendall_tau: float
    granulated: GranulatedKendall
    sign_error: SignError


@validate_params({"grid": [InstanceOf(Grid)]})
def score_all(measure: Any, gap: Any, grid: Grid, *, pair_counts: PairCounts | None = None) -> Metrics:
    """Every metric, counting the pairs once for official and robust CMI.

    The official score is None (with the reason) when the grid is invalid.
    ``pair_counts`` (`pair_counts_for`'s, of this gap and grid) counts the pairs on the
    product of the hyperparameter levels, the way the permutation null does, and can be
    shared with it; by default it is made when the grid is dense enough for it.

    >>> grid = Grid.from_levels([[0, 0], [0, 1], [1, 0], [1, 1]], names=["A", "B"])
    >>> result = score_all([1.0, 2.0, 4.0, 3.0], [0.1, 0.2, 0.3, 0.4], grid)
    >>> result.official == 0, round(result.kendall_tau, 4), result.granulated.psi
    (True, 0.6667, 0.5)
    """
    m, g = check_inputs(measure, gap, grid)
    reason = grid_problem(grid)
    if pair_counts is None:
        pair_counts = pair_counts_for(m, g, grid)
    if pair_counts is not None and (reason is not None or all_keys_are_cells(grid)):
        pairs, robust = counted_scan(m, grid, pair_counts, official=reason is None)
    else:
        pairs, robust = pair_code_scan(m, g, grid, official=reason is None)
    groups = one_out_pairs(grid)
    rounded = round_gaps(g)
    return Metrics(fold_min(pairs.values()) if reason is None else None, reason, pairs, robust,
                   kendall_tau(m, g), granulated_of_pairs(groups, m, rounded),
                   sign_error_of_pairs(groups, m, rounded, SIGN_ERROR_MIN_SAMPLES))


def pair_counts_for(measure: np.ndarray, gap: np.ndarray, grid: Grid) -> PairCounts | None:
    """`harness.scoring.pairs.PairCounts` of this gap and grid, for measures with the tie
    pattern of ``measure`` (and its permutations); None when the grid is too sparse for it
    (its product of levels more than twice the models)."""
    k = grid.n_hparams
    wants = subsets(k, min(2, k))
    if make_layout(grid.levels, wants).n_slots > 2 * max(grid.n_models, 8):
        return None
    return PairCounts(grid.levels, gap, round_gaps(gap), wants,
                      measure_ties=len(np.unique(measure)) < len(measure))


def pair_code_scan(m: np.ndarray, g: np.ndarray, grid: Grid, *,
                   official: bool) -> tuple[dict[tuple[str, str], float], RobustCMI]:
    """Official score(a, b) (``official``: the grid is complete) and robust CMI from one pass per
    pair of hyperparameters over the pairs' bin codes."""
    types, sums = PairTypes(m, g), RobustSums()
    passes = OfficialPass(grid) if official else None
    for first, second in column_pairs(grid):
        consumers: list[PairConsumer] = [RobustPairSums(sums, first, second)]
        if passes is not None and first.hparams and second.hparams:
            consumers += passes.consumers(first.hparams[0], second.hparams[0])
        count_pairs(types, first, second, consumers)
    return (passes.scores(types) if passes is not None else {}), sums.result(grid)


def counted_scan(m: np.ndarray, grid: Grid, counts: PairCounts, *,
                 official: bool) -> tuple[dict[tuple[str, str], float], RobustCMI]:
    """What `pair_code_scan` gives, from `PairCounts`' tables (the same integers, the official
    arithmetic in the same order, so the same bits)."""
    tables = counts.tables(m[None, :], official=official)
    return (official_of_tables(tables, grid) if official else {}), robust_of_tables(tables, grid)
