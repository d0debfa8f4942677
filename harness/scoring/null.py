"""The permutation null of a task's headline metrics: does the measure beat chance?

The null hypothesis is that the measure carries no information about the gap:
its values are exchangeable across the task's models. Each permutation assigns
the measure's values to the models in a random order (the measure's own values and
ties are kept, the gaps, hyperparameters and grid are not touched) and recomputes
the metric. For each of the official score, the robust CMI headline, Kendall's τ
and Ψ this gives the null's mean, its 95th percentile and the one-sided p-value

    p = (1 + #{permutations with a null value >= the observed value}) / (N + 1)

(Phipson & Smyth, "Permutation p-values should never be zero", 2010): the
probability, were the measure uninformative, of scoring at least as well as it did.
"Better" is larger for all four. For τ and Ψ that means a measure that grows with
the gap: their sign is the measure's author's choice, so a measure meant to fall
with the gap should be negated (a strongly negative τ gets p ≈ 1). The robust CMI
ignores the sign entirely, and the official score ignores it except through ties
(a tie counts as "not greater" both ways), so for them negating a measure changes
nothing or little. A null value within 1e-9 (relative) of the observed one counts
as "at least as good" (the observed and the permuted values are computed by
different code paths, which may round differently).

How many permutations: `auto_permutations` chooses 999 (p-values resolved to
0.001) for tasks up to about 500 models, and fewer as the quadratic cost of each
permutation grows, down to 19 at 10,000 models (resolution 0.05, the smallest
p-value that can then be reported). Kendall's τ has an exact null variance
(Kendall 1945, with ties), so below 999 permutations its p-value and 95th
percentile come from the normal approximation instead, which at those sizes is
accurate to far better than the permutations' resolution.

The counts of every permutation come from `harness.scoring.pairs.PairCounts`,
which reuses everything on the gap side; Ψ's groups are small and are summed
directly.
"""

from __future__ import annotations

import math
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Iterable, Sequence

import numpy as np

from harness.params import InstanceOf, Interval, validate_params
from harness.scoring.cmi import robust_bins
from harness.scoring.grid import Grid
from harness.scoring.groups import one_out_pairs
from harness.scoring.inputs import check_inputs, round_gaps
from harness.scoring.metrics import Metrics, score_all
from harness.scoring.official import all_keys_are_cells, official_bins
from harness.scoring.pairs import PairCounts, PairTables, Subset, make_layout, subsets

#: The headline metrics that get a null, in the order they are reported.
NULL_METRICS = ("official", "robust_cmi", "kendall_tau", "psi")
#: Permutation counts `auto_permutations` chooses from (p-values resolved to 1 / (N + 1)).
PERMUTATION_LADDER = (999, 499, 199, 99, 49, 19)
#: Ordered pairs of models × permutations that the automatic choice allows.
_PAIR_BUDGET = 2.5e8
#: Relative tolerance when comparing a null value with the observed one.
_TOLERANCE = 1e-9
#: One-sided 95% point of the standard normal.
_Z95 = 1.6448536269514722
#: A grid whose product of levels exceeds this many slots per model gets a null of Ψ only.
_MAX_SLOTS_PER_MODEL = 16
#: Threads counting permutations at once (numpy releases the GIL in its loops).
_MAX_WORKERS = 2
#: Ordered pairs × permutations per batch (a batch is one step of the progress bar).
_BATCH_PAIRS = 1 << 24

Progress = Callable[[Sequence[int]], ContextManager[Iterable[int]]]


@dataclass(frozen=True)
class NullSummary:
    """A metric against its null: the null's mean and 95th percentile, the p-value."""

    mean: float
    q95: float
    p_value: float


@dataclass(frozen=True)
class TaskNull:
    """The permutation null of one task.

    ``summaries`` holds a `NullSummary` per metric of `NULL_METRICS` that is
    defined on the task (the official score only on a valid grid); ``samples``
    the null values themselves (for the overall official score); ``methods``
    how each p-value was obtained (``permutation`` or ``normal approximation``).
    ``official_pairs_q95`` and ``psi_per_hparam_q95`` are the null's 95th
    percentiles of the official score(a, b) and of ψ_k, for the plots.
    """

    n_permutations: int
    seed: int
    summaries: dict[str, NullSummary]
    samples: dict[str, np.ndarray] = field(repr=False)
    methods: dict[str, str]
    official_pairs_q95: dict[tuple[str, str], float]
    psi_per_hparam_q95: dict[str, float]


@dataclass(frozen=True)
class NullBatch:
    """The metrics of a batch of permuted measures, one value per permutation.

    ``headlines`` holds each metric of `NULL_METRICS` that was computed; ``official_pairs``
    score(a, b) by hyperparameter indices; ``psi_per_hparam`` ψ_h by the index of the
    hyperparameter among the grid's `OneOutPairs` names.
    """

    headlines: dict[str, np.ndarray]
    official_pairs: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    psi_per_hparam: dict[int, np.ndarray] = field(default_factory=dict)

    @classmethod
    def concatenate(cls, batches: Sequence[NullBatch]) -> NullBatch:
        """The batches one after the other (every batch of a null computes the same metrics)."""
        def join(key: Callable[[NullBatch], dict[Any, np.ndarray]]) -> dict[Any, np.ndarray]:
            return {k: np.concatenate([key(b)[k] for b in batches]) for k in key(batches[0])}
        return cls(join(lambda b: b.headlines), join(lambda b: b.official_pairs), join(lambda b: b.psi_per_hparam))


def auto_permutations(n_models: int) -> int:
    """The default number of permutations: the largest of `PERMUTATION_LADDER` whose cost
    ``N n^2`` stays within the budget, at least 19 (999 up to ~500 models, 19 at 10,000).

    >>> auto_permutations(243), auto_permutations(1000), auto_permutations(10000)
    (999, 199, 19)
    """
    for n in PERMUTATION_LADDER:
        if n * n_models ** 2 <= _PAIR_BUDGET:
            return n
    return PERMUTATION_LADDER[-1]


def task_seed(seed: int, task: str) -> int:
    """The seed of a task's permutations: ``seed`` and the task's name, so that tasks are
    permuted independently and a task's null does not depend on the other tasks."""
    return int(np.random.SeedSequence([seed, zlib.crc32(task.encode())]).generate_state(1)[0])


def p_value(observed: float, null: np.ndarray) -> float:
    """``(1 + #{null >= observed}) / (N + 1)``, "at least as good" up to a relative 1e-9.

    >>> p_value(0.9, np.array([0.1, 0.2, 0.95, 0.3]))
    0.4
    """
    null = np.asarray(null, dtype=np.float64)
    tol = _TOLERANCE * max(1.0, abs(observed))
    return float((1 + np.count_nonzero(null >= observed - tol)) / (len(null) + 1))


def summarize(observed: float, null: np.ndarray) -> NullSummary:
    """Mean, 95th percentile and p-value of the defined (non-nan) null values; nan if none."""
    values = np.asarray(null, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not values.size or math.isnan(observed):
        return NullSummary(math.nan, math.nan, math.nan)
    return NullSummary(float(values.mean()), float(np.percentile(values, 95)), p_value(observed, values))


@validate_params({"grid": [InstanceOf(Grid)], "n_permutations": [Interval(int, 1, None), None]})
def permutation_null(measure: Any, gap: Any, grid: Grid, *, n_permutations: int | None = None,
                     seed: int = 0, observed: Metrics | None = None, progress: Progress | None = None,
                     pair_counts: PairCounts | None = None) -> TaskNull:
    """The permutation null of the official score, robust CMI headline, Kendall's τ and Ψ.

    ``n_permutations`` defaults to `auto_permutations`; ``seed`` seeds
    ``numpy.random.default_rng``. ``observed`` (`score_all`'s result) saves
    recomputing the observed values. ``progress`` wraps the list of batch
    sizes (``click.progressbar`` fits). The official score gets a null only
    where it is defined and the 2020 scorer's bins are the grid's cells.
    ``pair_counts`` (`harness.scoring.metrics.pair_counts_for`'s) shares the gap side's counts
    with `score_all`.

    A measure equal to the gap on a 3 x 3 x 3 grid: none of 99 permutations does as
    well, so p = 1 / 100, the smallest p-value 99 permutations can give:

    >>> grid = Grid.from_levels([[a, b, c] for a in range(3) for b in range(3) for c in range(3)])
    >>> gap = np.arange(27) / 100
    >>> null = permutation_null(gap, gap, grid, n_permutations=99, seed=1)
    >>> null.summaries["official"].p_value, null.summaries["psi"].p_value
    (0.01, 0.01)
    """
    m, g = check_inputs(measure, gap, grid)
    n = len(m)
    n_perm = auto_permutations(n) if n_permutations is None else n_permutations
    observed = observed if observed is not None else score_all(m, g, grid, pair_counts=pair_counts)
    rng = np.random.default_rng(seed)
    engine = NullEngine(m, g, grid, official=observed.official is not None and official_has_null(grid),
                         pair_counts=pair_counts)
    per_batch = max(1, min(n_perm, _BATCH_PAIRS // max(1, n * n)))
    batches = [min(per_batch, n_perm - b) for b in range(0, n_perm, per_batch)]
    drawn = [rng.permuted(np.tile(m, (size, 1)), axis=1) for size in batches]
    collected: list[NullBatch] = []
    with (progress or nullcontext)(batches) as items, ThreadPoolExecutor(_workers(len(batches))) as pool:
        pending: list[Any] = []
        for b, _ in enumerate(items):
            if b == 0:   # alone first: it fills the engine's caches, which the threads then share
                result = engine.batch(drawn[0])
                # numpy's loops release the GIL, so the threads count batches on every core
                pending = [pool.submit(engine.batch, perms) for perms in drawn[1:]]
            else:
                result = pending[b - 1].result()
            collected.append(result)
    return _summaries(observed, NullBatch.concatenate(collected), engine, n_perm, seed, m, g)


def _workers(n_batches: int) -> int:
    """Threads for the batches after the first (which runs alone, filling the engine's caches)."""
    return max(1, min(_MAX_WORKERS, os.cpu_count() or 1, n_batches - 1))



def official_has_null(grid: Grid) -> bool:
    """Whether the official score gets a null on ``grid``: two hyperparameters or more, and the
    2020 scorer's string keys are the grid's cells (else its score may be nan)."""
    return grid.n_hparams >= 2 and all_keys_are_cells(grid)


def _summaries(observed: Metrics, samples: NullBatch, engine: NullEngine, n_perm: int,
               seed: int, m: np.ndarray, g: np.ndarray) -> TaskNull:
    obs = {"official": observed.official, "robust_cmi": observed.robust.headline,
           "kendall_tau": observed.kendall_tau, "psi": observed.granulated.psi}
    summaries, methods = {}, {}
    for metric in NULL_METRICS:
        if metric not in samples.headlines or obs[metric] is None:
            continue
        summaries[metric] = summarize(obs[metric], samples.headlines[metric])
        methods[metric] = "permutation"
    if n_perm < PERMUTATION_LADDER[0] and "kendall_tau" in summaries:
        summaries["kendall_tau"] = _tau_normal(observed.kendall_tau, m, round_gaps(g))
        methods["kendall_tau"] = "normal approximation"
    names = engine.names
    pairs_q95 = {(names[a], names[b]): _q95(samples.official_pairs[a, b])
                 for a in range(len(names)) for b in range(len(names))
                 if a != b and (a, b) in samples.official_pairs}
    psi_names = engine.psi.pairs.names
    psi_q95 = {psi_names[h]: _q95(values) for h, values in sorted(samples.psi_per_hparam.items())}
    return TaskNull(n_perm, seed, summaries, dict(samples.headlines), methods, pairs_q95, psi_q95)


def _q95(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(np.percentile(values, 95)) if values.size else math.nan


def _tau_normal(tau: float, m: np.ndarray, g: np.ndarray) -> NullSummary:
    """τ_b's null from the exact permutation variance of S = Σ_{i<j} sign Δm sign Δg (Kendall 1945,
    ties included) and the normal approximation; S and τ_b differ by a permutation-invariant factor."""
    n = len(m)
    if n < 3 or math.isnan(tau):
        return NullSummary(math.nan, math.nan, math.nan)
    t = np.unique(m, return_counts=True)[1].astype(np.float64)
    u = np.unique(g, return_counts=True)[1].astype(np.float64)
    v0 = n * (n - 1) * (2 * n + 5)
    vt, vu = np.sum(t * (t - 1) * (2 * t + 5)), np.sum(u * (u - 1) * (2 * u + 5))
    v1 = np.sum(t * (t - 1)) * np.sum(u * (u - 1)) / (2 * n * (n - 1))
    v2 = np.sum(t * (t - 1) * (t - 2)) * np.sum(u * (u - 1) * (u - 2)) / (9 * n * (n - 1) * (n - 2))
    var_s = (v0 - vt - vu) / 18 + v1 + v2
    n0 = n * (n - 1) / 2
    denom = math.sqrt((n0 - np.sum(t * (t - 1)) / 2) * (n0 - np.sum(u * (u - 1)) / 2))
    if var_s <= 0 or denom <= 0:
        return NullSummary(math.nan, math.nan, math.nan)
    sd_tau = math.sqrt(var_s) / denom
    z = tau / sd_tau
    return NullSummary(0.0, _Z95 * sd_tau, 0.5 * math.erfc(z / math.sqrt(2)))


class NullEngine:
    """Everything that stays fixed across permutations, and the metrics of a batch of them."""

    def __init__(self, m: np.ndarray, g: np.ndarray, grid: Grid, *, official: bool,
                 pair_counts: PairCounts | None = None) -> None:
        self.names = grid.names
        self.official = official
        k = grid.n_hparams
        rounded = round_gaps(g)
        wants = subsets(k, min(2, k))
        sparse = make_layout(grid.levels, wants).n_slots > _MAX_SLOTS_PER_MODEL * max(len(m), 64)
        self.counts = pair_counts if pair_counts is not None or sparse else \
            PairCounts(grid.levels, g, rounded, wants, measure_ties=len(np.unique(m)) < len(m))
        self.official = official and self.counts is not None
        self.wants = wants
        self.psi = _PsiPairs(grid, rounded)
        t = np.unique(m, return_counts=True)[1].astype(np.float64)
        u = np.unique(rounded, return_counts=True)[1].astype(np.float64)
        n0 = len(m) * (len(m) - 1) / 2
        self.tau_denom = math.sqrt(max(0.0, (n0 - np.sum(t * (t - 1)) / 2) * (n0 - np.sum(u * (u - 1)) / 2)))

    def batch(self, perms: np.ndarray) -> NullBatch:
        """The metrics of each row of ``perms`` ``(batch, n_models)``."""
        psi, psi_per_hparam = self.psi.batch(perms)
        headlines = {} if psi is None else {"psi": psi}
        if self.counts is None:   # a grid too sparse for the product layout: Ψ only
            return NullBatch(headlines, {}, psi_per_hparam)
        tables = self.counts.tables(perms, official=self.official)
        headlines["robust_cmi"] = self._robust(tables.robust)
        u0 = self.wants[0]
        d1, d2 = tables.d1[u0], tables.d2[u0]
        s = d1.reshape(len(perms), -1).sum(axis=1) - d2.reshape(len(perms), -1).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            headlines["kendall_tau"] = s / self.tau_denom if self.tau_denom > 0 else np.full(len(perms), math.nan)
        pairs: dict[tuple[int, int], np.ndarray] = {}
        if self.official:
            headlines["official"], pairs = self._official(tables)
        return NullBatch(headlines, pairs, psi_per_hparam)

    def _robust(self, tables: dict[Subset, np.ndarray]) -> np.ndarray:
        best = None
        for table in tables.values():
            b = len(table)
            info, entropy = robust_bins(table.reshape(-1, 4))
            info, entropy = info.reshape(b, -1).sum(axis=1), entropy.reshape(b, -1).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.where(entropy > 0, np.clip(info / entropy, 0.0, 1.0), np.nan)
            best = value if best is None else np.fmin(best, value)
        return best

    def _official(self, tables: PairTables) -> tuple[np.ndarray, dict[tuple[int, int], np.ndarray]]:
        """score(a, b) per ordered pair and their minimum, folded as the 2020 scorer did."""
        scores: dict[tuple[int, int], np.ndarray] = {}
        for (a, b), table in (tables.official or {}).items():
            for pair, axes in (((a, b), (0, 1, 3, 2, 4, 5)), ((b, a), (0, 2, 4, 1, 3, 5))):
                ordered = np.transpose(table, axes)
                batch = len(ordered)
                mi, h = official_bins(ordered.reshape(-1, 4))
                n_bins = mi.size // batch
                with np.errstate(divide="ignore", invalid="ignore"):
                    scores[pair] = (mi.reshape(batch, -1).sum(axis=1) / n_bins) / \
                        (h.reshape(batch, -1).sum(axis=1) / n_bins)
        k = len(self.names)
        best = np.full(len(next(iter(scores.values()))), math.inf)
        for a in range(k):
            for b in range(k):
                if a != b:
                    best = np.where(best < scores[a, b], best, scores[a, b])   # Python's min(score, best)
        return best, scores


class _PsiPairs:
    """Ψ of a batch of measures from the grid's `OneOutPairs` (the pairs are fixed)."""

    def __init__(self, grid: Grid, rounded: np.ndarray) -> None:
        self.pairs = one_out_pairs(grid)
        self.rounded = rounded

    def batch(self, perms: np.ndarray) -> tuple[np.ndarray | None, dict[int, np.ndarray]]:
        """Ψ of each permutation (None when no hyperparameter has a group) and ψ_h where defined."""
        per = {h: tau.mean(axis=1) for h, tau in enumerate(self.pairs.group_taus(perms, self.rounded))
               if tau.shape[1]}
        return (np.mean(list(per.values()), axis=0) if per else None), per


def overall_official_null(observed: float, samples: Sequence[np.ndarray | None]) -> NullSummary | None:
    """The null of the overall official score (100 × the mean over tasks), tasks permuted
    independently: the k-th null value averages every task's k-th; a task without an official
    null (None) counts 0, as it does in the observed score. None when no task has one."""
    have = [s for s in samples if s is not None]
    if not have:
        return None
    n = min(len(s) for s in have)
    stacked = np.stack([s[:n] if s is not None else np.zeros(n) for s in samples])
    return summarize(observed, 100.0 * stacked.mean(axis=0))
