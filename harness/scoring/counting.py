"""Counting ordered pairs of models by bin and type, for the official score and robust CMI.

Pairs are counted with ``np.bincount`` over integer bin codes, never with Python
loops over pairs, in row chunks so that 10,000 models (10^8 ordered pairs) need
bounded memory: the pair types (1 byte a pair, kept up to `TYPE_CACHE_PAIRS`
pairs, about 11,500 models), one chunk of bin codes, and count tables of up to
`TABLE_ENTRIES` entries (more only for a hyperparameter pair whose single
value of the first needs more: ``8 |V_a| |V_b|^2`` entries).

One pass (`count_pairs`) over the pairs of two columns feeds every
`PairConsumer` that wants them: the official score's bins and robust CMI's sums
are filled from the same counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator, Protocol, Sequence

import numpy as np

from harness.scoring.grid import Grid
from harness.scoring.inputs import round_gaps

#: Ordered pairs materialized at once (their int64 bin codes take 8 bytes each);
#: small enough for the codes to stay in cache between the passes over them.
PAIRS_PER_CHUNK = 1 << 18
#: Count-table entries per block of bins (int64).
TABLE_ENTRIES = 1 << 22
#: Up to this many ordered pairs, the pair-type matrix (1 byte a pair) is kept.
TYPE_CACHE_PAIRS = 1 << 27


@dataclass(frozen=True)
class Column:
    """One axis of the bins: the models' levels of the hyperparameters ``hparams``.

    A column of one hyperparameter has ``hparams == (h,)``; the constant column
    (every model at level 0, ``hparams == ()``) stands where a task has fewer
    than two hyperparameters to pair.
    """

    hparams: tuple[int, ...]
    levels: np.ndarray
    n_levels: int

    @classmethod
    def of(cls, grid: Grid, h: int) -> Column:
        return cls((h,), grid.levels[:, h], grid.n_levels[h])

    @classmethod
    def constant(cls, n_models: int) -> Column:
        return cls((), np.zeros(n_models, dtype=np.intp), 1)


class PairTypes:
    """The type of every ordered pair of models ``(i, j)``, as a uint8.

    ``type = 2 [g_i > g_j] + [m_i > m_j] + 4 [ĝ_i = ĝ_j or m_i = m_j]``: the low
    two bits are the 2020 scorer's (G, Q) on the raw gaps; bit 2 marks the pairs
    robust CMI excludes (ties, self-pairs among them), with gaps ``ĝ`` compared
    after `round_gaps` (for a pair untied after rounding, raw and rounded gaps
    are in the same order, so the low bits serve both). Kept whole up to
    `TYPE_CACHE_PAIRS` pairs, else computed per row chunk.
    """

    def __init__(self, measure: np.ndarray, gap: np.ndarray) -> None:
        self.m, self.g, self.rounded = measure, gap, round_gaps(gap)
        n = len(gap)
        self._all = None
        if n * n <= TYPE_CACHE_PAIRS:
            self._all = np.empty((n, n), dtype=np.uint8)
            step = max(1, PAIRS_PER_CHUNK // max(n, 1))
            for start in range(0, n, step):
                self._all[start:start + step] = self._compute(slice(start, start + step))

    @property
    def n_models(self) -> int:
        return len(self.g)

    def rows(self, index: slice | np.ndarray) -> np.ndarray:
        return self._all[index] if self._all is not None else self._compute(index)

    def _compute(self, index: slice | np.ndarray) -> np.ndarray:
        gi, mi = self.g[index, None], self.m[index, None]
        out = (gi > self.g).view(np.uint8) << 1
        out |= (mi > self.m).view(np.uint8)
        tied = self.rounded[index, None] == self.rounded
        tied |= mi == self.m
        out |= tied.view(np.uint8) << 2
        return out


@dataclass
class PairBlock:
    """Counts of ordered pairs by bin ``(a_i, a_j, b_i, b_j)`` and type, for ``x0 <= a_i < x1``.

    ``counts[x - x0, x', y, y', t]`` is the number of ordered pairs ``(i, j)`` with
    ``a_i = x, a_j = x', b_i = y, b_j = y'`` and type ``t`` (see `PairTypes`).
    """

    x0: int
    x1: int
    counts: np.ndarray
    first: Column = field(repr=False)
    second: Column = field(repr=False)

    @property
    def whole(self) -> bool:
        """Whether this block covers every level of the first column (the pass has one block)."""
        return (self.x0, self.x1) == (0, self.first.n_levels)

    @cached_property
    def any_ties(self) -> np.ndarray:
        """Counts by the low two bits only (ties kept): the 2020 scorer's (G, Q) table."""
        return self.counts[..., :4] + self.counts[..., 4:]

    @property
    def untied(self) -> np.ndarray:
        """Counts of the pairs robust CMI keeps (untied in rounded gap and in measure)."""
        return self.counts[..., :4]


class PairConsumer(Protocol):
    """Whatever reads the blocks of one pass: ``add`` per block, ``finish`` after the last."""

    def add(self, block: PairBlock) -> None: ...

    def finish(self) -> None: ...


def count_pairs(types: PairTypes, first: Column, second: Column, consumers: Sequence[PairConsumer]) -> None:
    """One pass over the ordered pairs, binned by ``first`` and ``second``, feeding every consumer."""
    for block in pair_blocks(types, first, second):
        for consumer in consumers:
            consumer.add(block)
    for consumer in consumers:
        consumer.finish()


def pair_blocks(types: PairTypes, first: Column, second: Column) -> Iterator[PairBlock]:
    """Count ordered pairs by bin ``(a_i, a_j, b_i, b_j)`` and type, in blocks of ``a_i``.

    The blocks come in increasing ``a_i``, so flattening their first four axes in
    C order lists the bins in the 2020 scorer's order for the ordered pair
    ``(a, b)``. One block normally covers everything; blocks keep the table near
    `TABLE_ENTRIES`.
    """
    la, na, lb, nb = first.levels, first.n_levels, second.levels, second.n_levels
    n = len(la)
    per_x = na * nb * nb * 8
    step = max(1, TABLE_ENTRIES // per_x)
    col = (la * (nb * nb) + lb) * 8
    chunk = max(1, PAIRS_PER_CHUNK // max(n, 1))
    if step >= na:
        order, bounds = None, [(0, na, 0, n)]
    else:
        order = np.argsort(la, kind="stable")
        starts = np.concatenate([[0], np.cumsum(np.bincount(la, minlength=na))])
        bounds = [(x0, min(x0 + step, na), int(starts[x0]), int(starts[min(x0 + step, na)]))
                  for x0 in range(0, na, step)]
    buffer = np.empty(min(chunk, n) * n, dtype=np.int64)
    for x0, x1, r0, r1 in bounds:
        size = (x1 - x0) * per_x
        counts = np.zeros(size, dtype=np.int64)
        for s in range(r0, r1, chunk):
            rows = slice(s, min(s + chunk, r1)) if order is None else order[s:min(s + chunk, r1)]
            head = ((la[rows] - x0) * (na * nb * nb) + lb[rows] * nb) * 8
            codes = buffer[:len(head) * n].reshape(len(head), n)
            np.add(head[:, None], col, out=codes)
            codes += types.rows(rows)
            counts += np.bincount(codes.ravel(), minlength=size)
        yield PairBlock(x0, x1, counts.reshape(x1 - x0, na, nb, nb, 8), first, second)


class RunningSum:
    """A left-to-right float64 sum, as a Python ``total += x`` loop adds."""

    def __init__(self) -> None:
        self.total = np.float64(0.0)

    def add(self, values: np.ndarray) -> None:
        if values.size:
            self.total = np.add.accumulate(np.concatenate([[self.total], values]))[-1]

    @classmethod
    def of(cls, values: np.ndarray) -> RunningSum:
        running = cls()
        running.add(values)
        return running
