"""The 2020 competition's score, reproduced exactly, quirks included, and the grids it accepts.

Jiang et al., "NeurIPS 2020 Competition: Predicting Generalization in Deep
Learning", arXiv:2012.07976; the competition's
``scoring_program/mutual_information.py``. The arithmetic follows the 2020 code
operation by operation (same summation order), so the results are bit-identical
to it; ties are its raw float comparisons (no `round_gaps`).
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from harness.params import InstanceOf, validate_params
from harness.scoring.counting import Column, PairBlock, PairTypes, RunningSum, count_pairs, pair_blocks
from harness.scoring.grid import ABSENT_LABEL, Grid
from harness.scoring.inputs import check_inputs

if TYPE_CHECKING:
    from harness.scoring.pairs import PairTables

#: The 2020 scorer's smoothing inside the entropy's logarithm.
LOG_EPS = 1e-12


class InvalidGrid(ValueError):
    """The hyperparameter grid is not complete with each combination once.

    The official score is undefined on such a task (the 2020 scorer refused
    it); the robust metrics are still defined. The message says why, in one line.
    """


# ------------------------------------------------------------- valid grids


def check_complete(grid: Grid) -> None:
    """Raise `InvalidGrid` unless every combination of possible values is present exactly once.

    Mirrors the 2020 scorer's validity check: a value outside its
    ``possible_values`` (or a missing hyperparameter) is an error, then an
    incomplete grid, then a duplicated one.

    >>> check_complete(Grid.from_levels([[0, 0], [0, 1], [1, 0]], possible_values=[[0, 1], [0, 1]]))
    Traceback (most recent call last):
    ...
    harness.scoring.official.InvalidGrid: incomplete grid: 1 of 4 hyperparameter combinations missing
    """
    for h, name in enumerate(grid.names):
        outside = np.flatnonzero(grid.levels[:, h] >= len(grid.possible_values[h]))
        if outside.size:
            i = int(outside[0])
            if grid.label(i, h) == ABSENT_LABEL:
                raise InvalidGrid(f"model {grid.model_id(i)}: no value for hyperparameter {name!r}")
            raise InvalidGrid(f"model {grid.model_id(i)}: hyperparameter {name!r} = {grid.label(i, h)} "
                              f"is not among its possible_values")
    total = math.prod(len(p) for p in grid.possible_values)
    if grid.n_hparams == 0:
        distinct, counts = (1, np.array([grid.n_models])) if grid.n_models else (0, np.array([]))
    else:
        uniq, counts = np.unique(grid.levels, axis=0, return_counts=True)
        distinct = len(uniq)
    if distinct < total:
        raise InvalidGrid(f"incomplete grid: {total - distinct} of {total} "
                          f"hyperparameter combinations missing")
    repeated = int(np.sum(counts > 1))
    if repeated:
        raise InvalidGrid(f"duplicated grid: {repeated} hyperparameter combination(s) "
                          f"appear more than once ({grid.n_models} models for {total} combinations)")


def grid_problem(grid: Grid) -> str | None:
    """Why `check_complete` rejects ``grid``, or None when the official score is defined on it."""
    try:
        check_complete(grid)
    except InvalidGrid as exc:
        return str(exc)
    return None


# ------------------------------------------------------------ string keys


def spelled_canonically(grid: Grid, h: int) -> bool:
    """Whether every model spells hyperparameter ``h`` as ``str()`` of its possible value."""
    pairs = np.unique(np.stack([grid.levels[:, h], grid.labels[:, h]], axis=1), axis=0)
    possible, spellings = grid.possible_values[h], grid.label_strings[h]
    return all(lv < len(possible) and spellings[lb] == str(possible[lv]) for lv, lb in pairs)


def keys_collide(values_a: Sequence[Any], values_b: Sequence[Any]) -> bool:
    """Whether two of the 2020 scorer's bin keys for the ordered pair (a, b) are equal strings.

    The keys are ``s + t`` with ``s`` in ``A = [str(v)+str(w) for v, w in V_a^2]``
    and ``t`` in ``B`` likewise. Two keys ``s + t = s' + t'`` with ``s != s'``
    need ``s'`` to be a proper prefix of ``s`` (or the reverse), ``s = s' + u``,
    and ``u + t = t'``; checked without building all ``|A| |B|`` keys.

    >>> keys_collide([1, 11], [0]), keys_collide(range(10), range(10))
    (True, False)
    """
    a = [str(v) + str(w) for v in values_a for w in values_a]
    b = [str(x) + str(y) for x in values_b for y in values_b]
    set_a, set_b = set(a), set(b)
    if len(set_a) < len(a) or len(set_b) < len(b):
        return True
    for s in set_a:
        for cut in range(len(s)):
            if s[:cut] in set_a and any(s[cut:] + t in set_b for t in b):
                return True
    return False


def keys_are_cells(grid: Grid) -> dict[tuple[int, int], bool]:
    """Per ordered pair of hyperparameters ``(a, b)``, whether the 2020 scorer's string keys are the
    grid's cells (no collision, no value spelled unlike its possible value): the fast, exact path applies."""
    canonical = [spelled_canonically(grid, h) for h in range(grid.n_hparams)]
    return {(a, b): canonical[a] and canonical[b]
            and not keys_collide(grid.possible_values[a], grid.possible_values[b])
            for a, b in itertools.permutations(range(grid.n_hparams), 2)}


def all_keys_are_cells(grid: Grid) -> bool:
    """`keys_are_cells` for every ordered pair of hyperparameters (True for fewer than two)."""
    return all(keys_are_cells(grid).values())


# ------------------------------------------------------------ arithmetic


def official_bins(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin ``I_b`` and ``H_b`` of `official_pair_scores`, with the 2020 code's arithmetic.

    ``counts[..., t]`` are the pairs of type ``t = 2G + Q`` per bin; the bins
    come out flattened in C order. The 2020 code walked its table's cells in
    the order (G, Q) = (1, 1), (1, 0), (0, 1), (0, 0), skipped cells whose
    joint probability is exactly 0 (never an empty bin's nan), and summed the
    two entropy terms in the order G = 1, G = 0.
    """
    c = counts.reshape(-1, 4).astype(np.float64)
    n00, n01, n10, n11 = c[:, 0], c[:, 1], c[:, 2], c[:, 3]
    total = n11 + n10 + n01 + n00
    g1, g0 = n11 + n10, n01 + n00
    q1, q0 = n11 + n01, n10 + n00
    mi = np.zeros(len(c))
    with np.errstate(divide="ignore", invalid="ignore"):
        for n, ng, nq in ((n11, g1, q1), (n10, g1, q0), (n01, g0, q1), (n00, g0, q0)):
            joint = n / total
            term = joint * np.log2(joint / ((ng / total) * (nq / total)))
            mi = mi + np.where(joint == 0, 0.0, term)
        p1, p0 = g1 / (g1 + g0), g0 / (g1 + g0)
        h = -(p1 * np.log2(p1 + LOG_EPS) + p0 * np.log2(p0 + LOG_EPS))
    return mi, h


def ratio_of_means(mi: RunningSum, h: RunningSum, n_bins: int) -> float:
    """``(sum I / n_bins) / (sum H / n_bins)``, as the 2020 code divided its left-to-right sums."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((mi.total / n_bins) / (h.total / n_bins))


def fold_min(scores: Iterable[float]) -> float:
    """``best = min(score, best)`` from ``best = inf``, with Python's ``min`` (see `official_score`)."""
    best = math.inf
    for score in scores:
        best = min(score, best)
    return float(best)


class OfficialBins:
    """The sums of ``I_b`` and ``H_b`` of one ordered pair of hyperparameters, filled block by block.

    ``reverse``: the pass bins by ``(b, a)``'s columns the other way round, so the
    bins are read transposed, which lists them in ``(a, b)``'s order only when the
    pass is one block; otherwise `complete` turns False and the pair needs its own pass.
    """

    def __init__(self, *, reverse: bool = False) -> None:
        self.reverse = reverse
        self.complete = True
        self.mi, self.h = RunningSum(), RunningSum()
        self.n_bins = 0

    def add(self, block: PairBlock) -> None:
        if self.reverse and not block.whole:
            self.complete = False
        if not self.complete:
            return
        counts = block.any_ties.transpose(2, 3, 0, 1, 4) if self.reverse else block.any_ties
        self.n_bins = (block.first.n_levels * block.second.n_levels) ** 2
        mi, h = official_bins(counts)
        self.mi.add(mi)
        self.h.add(h)

    def finish(self) -> None:
        pass

    def score(self) -> float:
        return ratio_of_means(self.mi, self.h, self.n_bins)


class OfficialPass:
    """score(a, b) for every ordered pair of hyperparameters of a complete grid.

    The caller runs one `count_pairs` pass per unordered pair ``a < b`` with
    `consumers`, which fill score(a, b) and score(b, a) where the keys are the cells;
    `scores` then completes what a pass could not give (`official_by_keys`).
    """

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.fast = keys_are_cells(grid)
        self.bins: dict[tuple[int, int], OfficialBins] = {}

    def consumers(self, a: int, b: int) -> list[OfficialBins]:
        """The bins the pass over columns ``a`` and ``b`` fills: (a, b)'s and (b, a)'s where fast."""
        out = []
        for pair, reverse in (((a, b), False), ((b, a), True)):
            if self.fast[pair]:
                self.bins[pair] = OfficialBins(reverse=reverse)
                out.append(self.bins[pair])
        return out

    def scores(self, types: PairTypes) -> dict[tuple[str, str], float]:
        """score(a, b) by hyperparameter names, in the order ``for a: for b: if a != b``."""
        names = self.grid.names
        return {(names[a], names[b]): self._score(types, a, b)
                for a, b in itertools.permutations(range(self.grid.n_hparams), 2)}

    def _score(self, types: PairTypes, a: int, b: int) -> float:
        if not self.fast[a, b]:
            return official_by_keys(types, self.grid, a, b)
        bins = self.bins.get((a, b))
        if bins is None or not bins.complete:
            bins = OfficialBins()
            count_pairs(types, Column.of(self.grid, a), Column.of(self.grid, b), [bins])
        return bins.score()


def official_by_keys(types: PairTypes, grid: Grid, a: int, b: int) -> float:
    """score(a, b) through the 2020 scorer's string keys, for grids where the fast path does not apply.

    Used when two bin keys collide or a model spells a value differently from
    ``possible_values`` (``1.0`` for ``1``). Builds all ``|V_a|^2 |V_b|^2`` keys,
    as the 2020 code did.
    """
    str_a = [str(v) for v in grid.possible_values[a]]
    str_b = [str(v) for v in grid.possible_values[b]]
    keys = [v + w + x + y for v in str_a for w in str_a for x in str_b for y in str_b]
    index = {key: pos for pos, key in enumerate(keys)}   # a repeated key keeps its last position
    cells, inverse = np.unique(np.stack([grid.labels[:, a], grid.labels[:, b]], axis=1),
                               axis=0, return_inverse=True)
    inverse = inverse.ravel()
    spell_a, spell_b = grid.label_strings[a], grid.label_strings[b]
    cell_keys = [(spell_a[ca], spell_b[cb]) for ca, cb in cells]
    target = np.array([index.get(ki[0] + kj[0] + ki[1] + kj[1], -1)
                       for ki in cell_keys for kj in cell_keys], dtype=np.intp)
    by_cells = Column((a, b), inverse, len(cells))
    counts = np.concatenate([block.counts for block in pair_blocks(types, by_cells, Column.constant(len(inverse)))])
    by_cell_pair = (counts[..., :4] + counts[..., 4:]).reshape(-1, 4)
    keep = target >= 0
    per_bin = np.zeros((len(keys), 4))
    for t in range(4):
        per_bin[:, t] = np.bincount(target[keep], weights=by_cell_pair[keep, t], minlength=len(keys))
    mi, h = official_bins(per_bin)
    return ratio_of_means(RunningSum.of(mi), RunningSum.of(h), len(keys))


def official_of_tables(tables: PairTables, grid: Grid) -> dict[tuple[str, str], float]:
    """score(a, b) from `harness.scoring.pairs.PairCounts`' official tables of one measure (the same
    integers as a pass's, the arithmetic in the same order, so the same bits)."""
    k = grid.n_hparams
    if k < 2 or tables.official is None:
        return {}
    by_pair = {}
    for (a, b), table in tables.official.items():
        t = table[0]
        by_pair[a, b] = np.transpose(t, (0, 2, 1, 3, 4))   # bins (a_i, a_j, b_i, b_j)
        by_pair[b, a] = np.transpose(t, (1, 3, 0, 2, 4))   # bins (b_i, b_j, a_i, a_j)
    out = {}
    for a, b in itertools.permutations(range(k), 2):
        mi, h = official_bins(by_pair[a, b])
        out[grid.names[a], grid.names[b]] = ratio_of_means(RunningSum.of(mi), RunningSum.of(h), mi.size)
    return out


@validate_params({"grid": [InstanceOf(Grid)]})
def official_pair_scores(measure: Any, gap: Any, grid: Grid) -> dict[tuple[str, str], float]:
    """score(a, b) of the 2020 scorer for every ordered pair of distinct hyperparameters.

    Over all ordered pairs of models ``(i, j)``, self-pairs included, let
    ``G = [g_i > g_j]`` and ``Q = [m_i > m_j]`` (strict). For the ordered pair
    of hyperparameters ``(a, b)``, the bins are the ``|V_a|^2 |V_b|^2``
    combinations of values, listed ``for v in V_a: for w in V_a: for x in V_b:
    for y in V_b``, and keyed by the *string* ``str(v)+str(w)+str(x)+str(y)``; a
    pair goes to the bin whose key is
    ``str(a_i)+str(a_j)+str(b_i)+str(b_j)``. When two bins share a key the later
    one takes all their pairs and the earlier stays empty; a pair whose key
    names no bin is skipped. Per bin, from its 2x2 table of (G, Q) counts, in bits::

        I_b = sum_{p_gq > 0} p_gq log2(p_gq / (p_g p_q))
        H_b = -sum_g p_g log2(p_g + 1e-12)

    and ``score(a, b) = mean_b I_b / mean_b H_b`` (plain means over all bins).
    An empty bin makes both nan (0/0), hence the score nan. The arithmetic
    follows the 2020 code operation by operation (same summation order), so
    the results are bit-identical to it.

    Raises `InvalidGrid` unless the grid is complete with each combination once.

    A measure equal to the gap on a 2 x 2 x 2 grid with distinct gaps: in every bin
    Q = G, so I_b = H_b up to the 1e-12 inside the entropy's logarithm:

    >>> grid = Grid.from_levels([[a, b, c] for a in range(2) for b in range(2) for c in range(2)])
    >>> gap = np.arange(8) / 10
    >>> round(official_pair_scores(gap, gap, grid)["h0", "h1"], 9)
    1.0
    """
    m, g = check_inputs(measure, gap, grid)
    check_complete(grid)
    types, passes = PairTypes(m, g), OfficialPass(grid)
    for a, b in itertools.combinations(range(grid.n_hparams), 2):
        consumers = passes.consumers(a, b)
        if consumers:
            count_pairs(types, Column.of(grid, a), Column.of(grid, b), consumers)
    return passes.scores(types)


@validate_params({"grid": [InstanceOf(Grid)]})
def official_score(measure: Any, gap: Any, grid: Grid) -> float:
    """The 2020 competition's score of a task: min over ordered pairs of score(a, b).

    See `official_pair_scores` for score(a, b). The minimum is folded exactly
    as the 2020 code did, ``best = min(score, best)`` from ``best = inf`` in
    the order ``for a in names: for b in names: if a != b``, with Python's
    ``min(x, y)``, which returns ``x`` unless ``y < x``. Hence a nan score(a, b)
    replaces the running minimum, and the next non-nan score replaces the nan:
    the result is nan only if the last pair's score is, and a nan in between
    discards the pairs before it. Fewer than two hyperparameters give +inf
    (the minimum over no pairs). A value in [0, 1] otherwise, up to rounding
    (the 1e-12 inside the entropy lets a perfect measure score 1 + O(1e-12)).
    A tie counts as "not greater" in both orders, so where gaps tie the
    score is *not* invariant under negating the measure (robust CMI is); and
    where every bin holds one pair (two hyperparameters, one model per
    combination) every I and H is 0 up to the 1e-12, and the score is 0.

    Reference: Jiang et al., arXiv:2012.07976; the competition's
    ``scoring_program/mutual_information.py``.

    Two hyperparameters, one model per combination: each of the 16 bins holds one
    pair, so I = 0 and H = -log2(1 + 1e-12) in every bin, and the score is (-)0:

    >>> grid = Grid.from_levels([[0, 0], [0, 1], [1, 0], [1, 1]], names=["A", "B"])
    >>> official_score([1.0, 2.0, 4.0, 3.0], [0.1, 0.2, 0.3, 0.4], grid) == 0
    True
    """
    return fold_min(official_pair_scores(measure, gap, grid).values())
