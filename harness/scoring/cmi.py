"""Robust conditional mutual information: the official score's idea, defined properly.

Ties excluded, bins weighted by their number of pairs, conditioning sets of size
0, 1 and 2, incomplete grids allowed (Jiang et al., "Fantastic Generalization
Measures and Where to Find Them", ICLR 2020, arXiv:1912.02178, §6.2).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.params import InstanceOf, validate_params
from harness.scoring.counting import TABLE_ENTRIES, Column, PairBlock, PairTypes, count_pairs
from harness.scoring.grid import Grid
from harness.scoring.inputs import check_inputs

if TYPE_CHECKING:
    from harness.scoring.pairs import PairTables

#: A conditioning set: sorted hyperparameter indices.
HparamSet = tuple[int, ...]


@dataclass(frozen=True)
class RobustCMI:
    """Robust conditional mutual information, per conditioning set and as a headline.

    ``by_set`` maps each conditioning set (a tuple of hyperparameter names:
    ``()``, every single name, every pair) to its value in [0, 1], nan where
    undefined (no pair whose gap order is left uncertain by the set).
    ``headline`` is the minimum over the defined size-2 sets (over the largest
    size available when there are fewer than two hyperparameters).
    """

    headline: float
    by_set: dict[tuple[str, ...], float]


def robust_bins(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per bin ``n_b I_b`` and ``n_b H_b`` in bits, from counts ``(bins, 4)`` by type ``2G + Q``."""
    c = counts.astype(np.float64)
    n = c.sum(axis=1)
    ng = np.stack([c[:, 0] + c[:, 1], c[:, 2] + c[:, 3]], axis=1)   # G = 0, 1
    nq = np.stack([c[:, 0] + c[:, 2], c[:, 1] + c[:, 3]], axis=1)   # Q = 0, 1
    with np.errstate(divide="ignore", invalid="ignore"):   # empty bins: masked by _xlog2
        ratio = c * n[:, None] / (ng[:, [0, 0, 1, 1]] * nq[:, [0, 1, 0, 1]])
        info = _xlog2(c, ratio).sum(axis=1)
        entropy = -_xlog2(ng, ng / n[:, None]).sum(axis=1)
    return info, entropy


def _xlog2(x: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """``x * log2(ratio)``, 0 where ``x`` is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, x * np.log2(np.where(x > 0, ratio, 1.0)), 0.0)


class RobustSums:
    """``sum_b n_b I_b`` and ``sum_b n_b H_b`` per conditioning set, from count tables.

    Tables are buffered and reduced together (one vectorized pass for many
    small tables), flushing when the buffer passes `TABLE_ENTRIES`.
    """

    def __init__(self) -> None:
        self.sums: dict[HparamSet, list[float]] = {}
        self.keys: set[HparamSet] = set()   # every set added so far
        self._keys: list[HparamSet] = []
        self._tables: list[np.ndarray] = []
        self._size = 0

    def add(self, key: HparamSet, counts: np.ndarray) -> None:
        table = counts.reshape(-1, 4)
        self.keys.add(key)
        self._keys.append(key)
        self._tables.append(table)
        self._size += table.size
        if self._size > TABLE_ENTRIES:
            self.flush()

    def add_once(self, key: HparamSet, counts: np.ndarray) -> None:
        """`add` unless ``key`` was added before (a marginal that several passes give)."""
        if key not in self.keys:
            self.add(key, counts)

    def flush(self) -> None:
        if not self._tables:
            return
        info, entropy = robust_bins(np.concatenate(self._tables))
        starts = np.cumsum([0] + [len(t) for t in self._tables[:-1]])
        for key, i_, h_ in zip(self._keys, np.add.reduceat(info, starts),
                               np.add.reduceat(entropy, starts)):
            total = self.sums.setdefault(key, [0.0, 0.0])
            total[0] += float(i_)
            total[1] += float(h_)
        self._keys, self._tables, self._size = [], [], 0

    def ratio(self, key: HparamSet) -> float:
        """``I(G; Q | U) / H(G | U)``; mathematically in [0, 1], clipped against rounding."""
        self.flush()
        info, entropy = self.sums[key]
        return float(np.clip(info / entropy, 0.0, 1.0)) if entropy > 0 else math.nan

    def result(self, grid: Grid) -> RobustCMI:
        """`RobustCMI` of every set added, named by ``grid``'s hyperparameters."""
        self.flush()
        by_set = {tuple(grid.names[h] for h in key): self.ratio(key)
                  for key in sorted(self.sums, key=lambda key: (len(key), key))}
        size = min(2, grid.n_hparams)
        candidates = [v for s, v in by_set.items() if len(s) == size and not math.isnan(v)]
        return RobustCMI(min(candidates) if candidates else math.nan, by_set)


class RobustPairSums:
    """What one pass over columns ``first`` and ``second`` adds to `RobustSums`: the joint set
    (when both are hyperparameters), then each column's set and the empty set (each once)."""

    def __init__(self, sums: RobustSums, first: Column, second: Column) -> None:
        self.sums, self.first, self.second = sums, first, second
        self.first_table = np.zeros((first.n_levels, first.n_levels, 4), dtype=np.int64)
        self.second_table = np.zeros((second.n_levels, second.n_levels, 4), dtype=np.int64)

    def add(self, block: PairBlock) -> None:
        untied = block.untied
        if self.first.hparams and self.second.hparams:
            self.sums.add(self.first.hparams + self.second.hparams, untied)
        self.first_table[block.x0:block.x1] += untied.sum(axis=(2, 3))
        self.second_table += untied.sum(axis=(0, 1))

    def finish(self) -> None:
        self.sums.add_once((), self.first_table.sum(axis=(0, 1)))
        for column, table in ((self.first, self.first_table), (self.second, self.second_table)):
            if column.hparams:
                self.sums.add_once(column.hparams, table)


def column_pairs(grid: Grid) -> list[tuple[Column, Column]]:
    """The passes robust CMI needs: every pair of hyperparameters; with fewer than two, the
    constant column in their place (one hyperparameter gives sets of sizes 0 and 1)."""
    k = grid.n_hparams
    if k >= 2:
        return [(Column.of(grid, a), Column.of(grid, b)) for a, b in itertools.combinations(range(k), 2)]
    constant = Column.constant(grid.n_models)
    return [(Column.of(grid, 0) if k == 1 else constant, constant)]


def robust_of_tables(tables: PairTables, grid: Grid) -> RobustCMI:
    """`RobustCMI` from `harness.scoring.pairs.PairCounts`' robust tables of one measure."""
    sums = RobustSums()
    for u, table in tables.robust.items():
        t = table[0]
        keys = [u] + [s for size in range(len(u) - 1, -1, -1) for s in itertools.combinations(u, size)]
        for key in keys:
            drop = tuple(a for a, h in enumerate(u) if h not in key)
            axes = drop + tuple(len(u) + a for a in drop)
            if key not in sums.keys:
                sums.add(key, t.sum(axis=axes) if axes else t)
    return sums.result(grid)


@validate_params({"grid": [InstanceOf(Grid)]})
def robust_cmi(measure: Any, gap: Any, grid: Grid) -> RobustCMI:
    """Conditional mutual information between the orders of measure and gap, done properly.

    Over ordered pairs of *distinct* models ``(i, j)`` with ``g_i != g_j`` and
    ``m_i != m_j`` (pairs tied in either are excluded;
    gaps compared after `round_gaps`), ``G = [g_i > g_j]``,
    ``Q = [m_i > m_j]``. For a conditioning set ``S`` of hyperparameters, the
    bin of a pair is ``U = (θ_S(i), θ_S(j))``; each unordered pair is counted
    once in each orientation, which gives the same value as counting it once
    in a canonical orientation (mirror bins have equal I and H). With ``n_b``
    the pairs in bin ``b`` (empty bins contribute nothing)::

        CMI_S = I(G; Q | U) / H(G | U)
              = sum_b n_b I_b / sum_b n_b H_b        (in [0, 1])

    with ``I_b`` and ``H_b`` the mutual information and the entropy of G in
    the bin (plain ``0 log 0 = 0``, no smoothing). nan where ``H(G | U) = 0``.
    Sets of size 0, 1 and 2 are all reported; the headline is the minimum over
    size 2, as in Jiang et al., arXiv:1912.02178 (the minimum over pairs of
    hyperparameters of the normalized conditional mutual information). Defined on
    incomplete grids. Unchanged by any strictly monotone transform of the
    measure, including negation.

    Four models, gaps 0.1 .. 0.4, the measure swapping the last two: with no
    conditioning, of the 6 unordered pairs 5 are concordant and 1 discordant, so the
    table of (G, Q) over the 12 ordered pairs is symmetric, I = 1 - h(1/6), H(G) = 1:

    >>> grid = Grid.from_levels([[0, 0], [0, 1], [1, 0], [1, 1]], names=["A", "B"])
    >>> round(robust_cmi([1.0, 2.0, 4.0, 3.0], [0.1, 0.2, 0.3, 0.4], grid).by_set[()], 6)
    0.349978
    """
    m, g = check_inputs(measure, gap, grid)
    types, sums = PairTypes(m, g), RobustSums()
    for first, second in column_pairs(grid):
        count_pairs(types, first, second, [RobustPairSums(sums, first, second)])
    return sums.result(grid)
