"""Pair counts by bin for many measures at once, with the gap side fixed (the permutation null's engine).

For every conditioning set ``U`` of one or two hyperparameters (or none), the
official score and robust CMI need, per bin ``(θ_U(i), θ_U(j))``, counts of
ordered pairs of models by the order of their gaps and of their measures. Under
a permutation of the measure the gaps, the bins and every gap-only count stay
fixed; only counts that involve ``Q = [m_i > m_j]`` change. Those are

* ``D1 = Σ [ĝ_i > ĝ_j] Q_ij`` (gaps rounded to 1e-9, see `harness.scoring.inputs.round_gaps`),
* ``D2 = Σ [ĝ_i < ĝ_j] Q_ij`` — for a measure without ties this is ``Lt(S, T) - D1(T, S)``
  with the fixed ``Lt = Σ [ĝ_i < ĝ_j]``, so it is counted only for a measure with ties,
* ``EQ = Σ [ĝ_i = ĝ_j, i ≠ j] Q_ij`` and ``SPLIT = Σ [g_i > g_j, ĝ_i = ĝ_j] Q_ij`` (the raw
  order of gaps equal after rounding, which the 2020 score still uses), on the usually few
  pairs with tied gaps.

Models are laid out on the product of their hyperparameter levels (plus a replicate axis
for repeated configurations), so a count over a conditioning set is a sum of a dense 0/1
tensor over the other axes: no bin codes, no ``bincount`` over 10^8 pairs. The sums are
nested (a marginal over three hyperparameters serves three pairs) and done per block of
rows, so that the tensors stay in cache.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Elements of one dense block (permutations × rows × columns), about 8 MB of bytes.
_BLOCK_ELEMENTS = 1 << 23
#: Masks of up to this many slot pairs are kept between permutations.
_MASK_CACHE = 1 << 27
#: Tied-gap pairs are handled as a pair list when they are at most this share of all pairs.
_SPARSE_SHARE = 1 / 16

Subset = tuple[int, ...]


@dataclass(frozen=True)
class Layout:
    """Where each model sits on the product of its (compressed) hyperparameter levels.

    ``order`` lists the hyperparameters in layout order (outermost first); the
    replicate axis (``reps`` entries, for models sharing a configuration) is last.
    ``slot[i]`` is model ``i``'s flat position; ``dims`` the axis lengths in layout order.
    """

    order: tuple[int, ...]
    dims: tuple[int, ...]
    reps: int
    slot: np.ndarray
    levels: np.ndarray   # (n_models, n_hparams), compressed to 0..V_h - 1, natural order

    @property
    def n_slots(self) -> int:
        return math.prod(self.dims) * self.reps


def make_layout(levels: np.ndarray, wants: Sequence[Subset]) -> Layout:
    """The layout of models with these levels, its innermost hyperparameter one that the
    nested sums drop late (summing over the innermost axis is the slow case in numpy)."""
    n, k = levels.shape
    compressed = np.zeros_like(levels)
    sizes = []
    for h in range(k):
        values, inverse = np.unique(levels[:, h], return_inverse=True)
        compressed[:, h] = inverse.ravel()
        sizes.append(len(values))
    first = {h for h, _ in _plan(tuple(range(k)), list(wants))}
    late = [h for h in range(k) if h not in first]
    inner = late[-1] if late else (k - 1 if k else None)
    order = tuple([h for h in range(k) if h != inner] + ([inner] if inner is not None else []))
    dims = tuple(sizes[h] for h in order)
    cells = np.ravel_multi_index(compressed[:, list(order)].T, dims) if k else np.zeros(n, dtype=np.intp)
    rep = _occurrence(cells)
    reps = int(rep.max()) + 1 if n else 1
    slot = cells * reps + rep
    return Layout(order, dims, reps, slot.astype(np.intp), compressed)


def _occurrence(cells: np.ndarray) -> np.ndarray:
    """How many earlier models share each model's cell (0 for the first)."""
    order = np.argsort(cells, kind="stable")
    sorted_cells = cells[order]
    starts = np.flatnonzero(np.r_[True, sorted_cells[1:] != sorted_cells[:-1]])
    run = np.arange(len(cells)) - np.repeat(starts, np.diff(np.r_[starts, len(cells)]))
    out = np.empty_like(run)
    out[order] = run
    return out


def _plan(hs: tuple[int, ...], wants: list[Subset]) -> list[tuple[int, list[Subset]]]:
    """The greedy order of nested sums: which hyperparameter to drop first and for which subsets.

    Drops the hyperparameter that most of the remaining subsets lack (ties: the lowest
    index), serves those subsets from that marginal, and repeats for the rest.
    """
    rest = [u for u in wants if set(u) != set(hs)]
    steps = []
    while rest:
        h = max(hs, key=lambda c: (sum(c not in u for u in rest), -c))
        steps.append((h, [u for u in rest if h not in u]))
        rest = [u for u in rest if h in u]
    return steps


@dataclass(frozen=True)
class PairTables:
    """The count tables of a batch of measures, per conditioning set ``U``.

    ``d1`` and ``d2`` are ``D1`` and ``D2`` ``(batch, *i-levels of U, *j-levels of U)``;
    ``robust`` and ``official`` add a last axis of 4 by pair type ``2G + Q``: ``robust`` over
    the pairs untied in rounded gap and in measure, ``official`` over every ordered pair
    (self-pairs included) with the raw gaps, as the 2020 scorer counted (None when not asked for).
    """

    d1: dict[Subset, np.ndarray]
    d2: dict[Subset, np.ndarray]
    robust: dict[Subset, np.ndarray]
    official: dict[Subset, np.ndarray] | None


class PairCounts:
    """Counts by bin of the pairs of one task, for a batch of measures at a time.

    ``wants`` are the conditioning sets (sorted tuples of hyperparameter
    indices, every one of the same size). `fixed` gives the gap-only counts; `count`
    gives ``D1``, ``D2``, ``EQ`` and ``SPLIT`` for each measure of a batch, as arrays
    ``(batch, *i-levels of U, *j-levels of U)`` per subset ``U``.
    """

    def __init__(self, levels: np.ndarray, gap: np.ndarray, rounded: np.ndarray,
                 wants: Sequence[Subset], *, measure_ties: bool) -> None:
        self.wants = list(wants)
        self.layout = lay = make_layout(levels, self.wants)
        ns = lay.n_slots
        self.present = np.zeros(ns, dtype=bool)
        self.present[lay.slot] = True
        self.raw = np.zeros(ns)
        self.raw[lay.slot] = gap
        self.rounded = np.zeros(ns)
        self.rounded[lay.slot] = rounded
        self.measure_ties = measure_ties
        self._masks: dict[str, np.ndarray] = {}
        self._bins_cache = None
        self._fixed: dict[str, dict[Subset, np.ndarray]] | None = None
        self.sparse = self._tied_pairs(len(gap) ** 2 * _SPARSE_SHARE)
        self.dense_fields = ["gt"] + (["lt"] if measure_ties else []) + \
            ([] if self.sparse is not None else ["eq", "split"])

    # ------------------------------------------------------------ fixed

    def tables(self, measures: np.ndarray, *, official: bool = True) -> PairTables:
        """Count tables per subset ``U`` for a batch of measures (see `PairTables`); the official
        ones only when asked for."""
        fixed = self.fixed()
        c = self.count(measures)
        d1 = c["gt"]
        d2 = c["lt"] if "lt" in c else {u: fixed["lt"][u][None] - swap(d1[u]) for u in self.wants}
        robust = {u: np.stack([swap(d1[u]), d2[u], swap(d2[u]), d1[u]], axis=-1) for u in self.wants}
        by_official = None
        if official:
            by_official = {}
            for u in self.wants:
                gq, q1 = d1[u] + c["split"][u], d1[u] + d2[u] + c["eq"][u]
                g1, total = fixed["gt_raw"][u][None], fixed["all"][u][None]
                by_official[u] = np.stack([total - g1 - q1 + gq, q1 - gq, g1 - gq, gq], axis=-1)
        return PairTables(d1, d2, robust, by_official)

    def fixed(self) -> dict[str, dict[Subset, np.ndarray]]:
        """Gap-only counts per subset: ``all`` ordered pairs of present models (self-pairs
        included), ``gt`` (rounded ``ĝ_i > ĝ_j``), ``lt`` and ``gt_raw`` (raw ``g_i > g_j``)."""
        if self._fixed is None:
            self._fixed = self._compute_fixed()
        return self._fixed

    def _compute_fixed(self) -> dict[str, dict[Subset, np.ndarray]]:
        ones = np.ones((1, len(self.layout.slot)))
        gt = self._dense(np.zeros((1, self.layout.n_slots)), ["gt"], compare=False)["gt"]
        split = (self._sparse_counts(np.zeros((1, self.layout.n_slots)), always=True)["split"]
                 if self.sparse is not None
                 else self._dense(np.zeros((1, self.layout.n_slots)), ["split"], compare=False)["split"])
        out: dict[str, dict[Subset, np.ndarray]] = {"all": {}, "gt": {}, "lt": {}, "gt_raw": {}}
        cells = self._cell_counts(ones[0])
        for u in self.wants:
            out["all"][u] = np.multiply.outer(cells[u], cells[u]).astype(np.int64)
            out["gt"][u] = gt[u][0]
            out["lt"][u] = swap(gt[u])[0]
            out["gt_raw"][u] = gt[u][0] + split[u][0]
        return out

    def _cell_counts(self, weights: np.ndarray) -> dict[Subset, np.ndarray]:
        lay = self.layout
        out = {}
        for u in self.wants:
            sizes = [lay.dims[lay.order.index(h)] for h in u]
            code = np.ravel_multi_index(tuple(lay.levels[:, list(u)].T), sizes) if u else \
                np.zeros(len(lay.slot), dtype=np.intp)
            out[u] = np.bincount(code, weights=weights, minlength=math.prod(sizes)).reshape(sizes)
        return out

    # ------------------------------------------------------------ per batch

    def count(self, measures: np.ndarray) -> dict[str, dict[Subset, np.ndarray]]:
        """``D1``, ``D2`` (when the measure has ties), ``EQ`` and ``SPLIT`` for a batch
        ``(batch, n_models)`` of measures (the rows of `fixed`'s counts, per measure)."""
        lay = self.layout
        slotted = np.zeros((len(measures), lay.n_slots))
        slotted[:, lay.slot] = measures
        out = self._dense(slotted, self.dense_fields, compare=True)
        if self.sparse is not None:
            out.update(self._sparse_counts(slotted))
        return out

    def _mask(self, name: str, rows: slice, *, cache: bool) -> np.ndarray:
        if not cache or self.layout.n_slots ** 2 > _MASK_CACHE:
            return self._compute_mask(name, rows)
        if name not in self._masks:
            self._masks[name] = self._compute_mask(name, slice(None))
        return self._masks[name][rows]

    def _compute_mask(self, name: str, rows: slice) -> np.ndarray:
        present = self.present[rows, None] & self.present[None, :]
        r, c = self.rounded[rows, None], self.rounded[None, :]
        if name == "gt":
            return present & (r > c)
        if name == "lt":
            return present & (r < c)
        if name == "gt_raw":
            return present & (self.raw[rows, None] > self.raw[None, :])
        if name == "all":
            return present
        if name == "eq":
            idx = np.arange(self.layout.n_slots)
            return present & (r == c) & (idx[rows, None] != idx[None, :])
        if name == "split":
            return present & (r == c) & (self.raw[rows, None] > self.raw[None, :])
        raise KeyError(name)

    def _dense(self, slotted: np.ndarray, fields: list[str], *,
               compare: bool) -> dict[str, dict[Subset, np.ndarray]]:
        """Sum ``mask_f & [m_i > m_j]`` (or the mask alone) over the axes outside each subset."""
        lay = self.layout
        ns, batch = lay.n_slots, len(slotted)
        outer = lay.dims[0] if lay.dims else 1
        per_outer = ns // outer
        rows_per_block = min(ns, max(per_outer, (_BLOCK_ELEMENTS // ns) // per_outer * per_outer))
        step = max(1, min(batch, _BLOCK_ELEMENTS // max(1, rows_per_block * ns)))
        results: dict[str, dict[Subset, np.ndarray]] = {f: {} for f in fields}
        for b0 in range(0, batch, step):
            part = slotted[b0:b0 + step]
            sums: dict[str, dict[Subset, np.ndarray]] = {f: {} for f in fields}
            for r0 in range(0, ns, rows_per_block):
                rows = slice(r0, min(ns, r0 + rows_per_block))
                q = part[:, rows, None] > part[:, None, :] if compare else None
                for f in fields:
                    mask = self._mask(f, rows, cache=True)
                    x = (q & mask) if compare else np.broadcast_to(mask, (len(part),) + mask.shape)
                    x0, x1 = (r0 // per_outer, (r0 + x.shape[1]) // per_outer) if lay.dims else (0, 1)
                    for u, table in self._marginals(x, x1 - x0).items():
                        self._accumulate(sums[f], u, table, x0, x1, len(part))
            for f in fields:
                for u, table in sums[f].items():
                    results[f].setdefault(u, []).append(table)
        return {f: {u: np.concatenate(parts) for u, parts in by.items()} for f, by in results.items()}

    def _marginals(self, x: np.ndarray, outer_rows: int) -> dict[Subset, np.ndarray]:
        """Per wanted subset, ``x`` summed over every other axis, axes ``(batch, i of U, j of U)``."""
        lay = self.layout
        batch = x.shape[0]
        shape = (batch,) + ((outer_rows,) + lay.dims[1:] if lay.dims else ()) + (lay.reps,) \
            + lay.dims + (lay.reps,)
        k = len(lay.order)
        t = x.reshape(shape).view(np.uint8)
        bound = lay.reps ** 2
        t = t.sum(axis=(1 + k, 2 + 2 * k), dtype=_holding(bound)) if lay.reps > 1 else \
            t.reshape(tuple(d for a, d in enumerate(shape) if a not in (1 + k, 2 + 2 * k)))
        labels = [("i", h) for h in lay.order] + [("j", h) for h in lay.order]
        out: dict[Subset, np.ndarray] = {}
        self._nested(t, labels, tuple(sorted(lay.order)), self.wants, out, bound)
        return out

    def _nested(self, t: np.ndarray, labels: list[tuple[str, int]], hs: tuple[int, ...],
                wants: list[Subset], out: dict[Subset, np.ndarray], bound: int) -> None:
        """Serve ``wants`` from ``t`` (entries at most ``bound``) by nested sums; the sums run
        in the smallest unsigned type that holds them (no casting of the big first tensor)."""
        for u in wants:
            if set(u) == set(hs):
                out[u] = _canonical(t, labels, u)
        for h, served in _plan(hs, wants):
            ai, aj = (1 + labels.index((side, h)) for side in ("i", "j"))
            reduced_bound = bound * t.shape[ai] * t.shape[aj]
            kind = _holding(reduced_bound)
            # the row side first (long contiguous runs), then the column side on 1/V of the data
            reduced = t.sum(axis=ai, dtype=kind).sum(axis=aj - 1, dtype=kind)
            rest = [lab for lab in labels if lab[1] != h]
            self._nested(reduced, rest, tuple(c for c in hs if c != h), served, out, reduced_bound)

    def _accumulate(self, sums: dict[Subset, np.ndarray], u: Subset, table: np.ndarray, x0: int, x1: int,
                    batch: int) -> None:
        lay = self.layout
        outer_h = lay.order[0] if lay.order else None
        if u not in sums:
            sizes = [lay.dims[lay.order.index(h)] for h in u]
            sums[u] = np.zeros((batch, *sizes, *sizes), dtype=np.int64)
        if outer_h is not None and outer_h in u:
            index = [slice(None)] * sums[u].ndim
            index[1 + u.index(outer_h)] = slice(x0, x1)
            sums[u][tuple(index)] += table
        else:
            sums[u] += table

    # ------------------------------------------------------------ tied gaps

    def _tied_pairs(self, limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Ordered pairs of distinct models with equal rounded gaps, as slot indices, and whether
        their raw gaps order them (``g_i > g_j``); None when there are more than ``limit``."""
        slots = np.flatnonzero(self.present)
        values = self.rounded[slots]
        order = np.argsort(values, kind="stable")
        sorted_values = values[order]
        starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
        sizes = np.diff(np.r_[starts, len(values)])
        if float(np.sum(sizes.astype(np.float64) * (sizes - 1))) > limit:
            return None
        firsts, seconds = [], []
        for s in np.unique(sizes[sizes > 1]):
            groups = slots[order][starts[sizes == s][:, None] + np.arange(s)]   # (groups, s)
            a, b = np.nonzero(~np.eye(s, dtype=bool))
            firsts.append(groups[:, a].ravel())
            seconds.append(groups[:, b].ravel())
        si = np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.intp)
        sj = np.concatenate(seconds) if seconds else np.zeros(0, dtype=np.intp)
        return si, sj, self.raw[si] > self.raw[sj]

    def _sparse_counts(self, slotted: np.ndarray, *, always: bool = False) -> dict[str, dict[Subset, np.ndarray]]:
        """``EQ`` and ``SPLIT`` over the tied-gap pairs (``always``: count them whatever ``Q``)."""
        si, sj, split = self.sparse
        q = np.ones((len(slotted), len(si)), dtype=bool) if always else slotted[:, si] > slotted[:, sj]
        out: dict[str, dict[Subset, np.ndarray]] = {"eq": {}, "split": {}}
        batch = len(slotted)
        for u, (order, starts, bins, shape) in self._sparse_bins().items():
            for name, weights in (("eq", q), ("split", q & split[None, :])):
                table = np.zeros((batch, math.prod(shape)), dtype=np.int64)
                if len(order):
                    table[:, bins] = np.add.reduceat(weights[:, order].astype(np.int64), starts, axis=1)
                out[name][u] = table.reshape((batch, *shape))
        return out

    def _sparse_bins(self) -> dict[Subset, tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]]:
        """Per subset, the tied-gap pairs sorted by bin: (order, run starts, the runs' bins, table shape)."""
        if getattr(self, "_bins_cache", None) is None:
            si, sj, _ = self.sparse
            lay = self.layout
            natural = np.zeros((lay.n_slots, lay.levels.shape[1]), dtype=np.intp)
            natural[lay.slot] = lay.levels
            cache = {}
            for u in self.wants:
                sizes = tuple(lay.dims[lay.order.index(h)] for h in u)
                if u:
                    code = np.ravel_multi_index(tuple(natural[si][:, list(u)].T) + tuple(natural[sj][:, list(u)].T),
                                                sizes + sizes)
                else:
                    code = np.zeros(len(si), dtype=np.intp)
                order = np.argsort(code, kind="stable")
                sorted_code = code[order]
                starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1]]) if len(code) else \
                    np.zeros(0, dtype=np.intp)
                cache[u] = (order, starts, sorted_code[starts], sizes + sizes)
            self._bins_cache = cache
        return self._bins_cache


def _holding(bound: int) -> type:
    """The smallest unsigned integer type that holds values up to ``bound``."""
    for kind in (np.uint8, np.uint16, np.uint32):
        if bound <= np.iinfo(kind).max:
            return kind
    return np.int64


def _canonical(t: np.ndarray, labels: list[tuple[str, int]], u: Subset) -> np.ndarray:
    """``t`` with its axes ordered ``(batch, i of u..., j of u...)``."""
    want = [("i", h) for h in u] + [("j", h) for h in u]
    return np.transpose(t, [0] + [1 + labels.index(lab) for lab in want])


def swap(table: np.ndarray) -> np.ndarray:
    """The table of the reversed pairs: ``(batch, i..., j...)`` -> ``(batch, j..., i...)``."""
    half = (table.ndim - 1) // 2
    return np.transpose(table, [0] + list(range(1 + half, 1 + 2 * half)) + list(range(1, 1 + half)))


def subsets(k: int, size: int) -> list[Subset]:
    return list(itertools.combinations(range(k), size))
