"""Percentile intervals, only where they are valid.

* **Models resampled** (the default, a zoo with one model per configuration):
  intervals for Kendall's τ and Ψ only. A resample draws ``n`` models with
  replacement; τ and Ψ of a resample are computed from the multiplicities ``w``
  (``Σ_{i<j} w_i w_j s_ij`` over the fixed sign products ``s_ij``), so no
  resampled task is built. Copies of one model are tied pairs, which τ_b and
  Jiang et al.'s τ handle as ties. `tests/test_intervals.py` simulates grids with a
  known τ and checks that a 95% interval covers it at least 90% of the time.
  The robust CMI gets no such interval (copies are ties, which it drops, and the
  plug-in CMI is biased upward on the smaller effective sample, so its
  percentile interval misses its own estimate), nor does the official score (a
  resample is not a complete grid, on which it is undefined).
* **Seeds resampled** (every configuration has replicate seeds: repeated
  configurations, or a hyperparameter named like a seed): within each
  configuration the seeds are drawn with replacement, each drawn model taking a
  slot of the configuration, so the grid stays complete and the official score,
  τ and Ψ all get intervals.

Every interval is the ``(1 - confidence)/2`` and ``(1 + confidence)/2``
percentiles of the defined resampled values (Efron & Tibshirani, "An
Introduction to the Bootstrap", 1993, ch. 13), widened where needed to contain
the point estimate (a percentile interval can miss it on small, skewed samples;
the widening only makes it more conservative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.params import InstanceOf, Interval as Within, validate_params
from harness.scoring.grid import Grid
from harness.scoring.groups import configurations, one_out_pairs
from harness.scoring.inputs import check_inputs, compare, round_gaps
from harness.scoring.metrics import Metrics, score_all

#: Rows of the sign-product matrix formed at once (rows × models float32).
_ROWS_PER_BLOCK = 1 << 8
#: Pairs × resamples of Ψ's groups handled at once.
_PSI_PAIRS_PER_BLOCK = 1 << 22
#: Above this many ordered pairs × resamples, τ's resamples use the linear approximation.
_EXACT_TAU_PAIRS = 2e9
#: Ordered pairs × resamples allowed when the seeds are resampled (each resample is a full scoring).
_SEED_BUDGET = 2e8


@dataclass(frozen=True)
class Interval:
    """A percentile interval: ``method`` is ``models`` or ``seeds`` (what was resampled);
    ``n_defined`` counts the resamples where the statistic was defined."""

    low: float
    high: float
    confidence: float
    n_resamples: int
    n_defined: int
    method: str


def has_replicates(grid: Grid) -> bool:
    """Whether every configuration (hyperparameters but seeds) holds at least two models."""
    if not grid.n_models:
        return False
    return bool(np.bincount(configurations(grid)).min() >= 2)


@validate_params({"grid": [InstanceOf(Grid)], "n_resamples": [Within(int, 1, None)], "confidence": [Within(float, 0, 1, "neither")],
                  "seed": [Within(int, 0, None)]})
def resampled_intervals(measure: Any, gap: Any, grid: Grid, *, n_resamples: int = 200,
                        confidence: float = 0.95, seed: int = 0,
                        observed: Metrics | None = None) -> dict[str, Interval]:
    """Percentile intervals of the headline metrics that have a valid one (module docstring).

    Keys: ``kendall_tau`` and ``psi``, plus ``official`` where seeds are
    resampled and the grid is valid. ``observed`` (`score_all`'s result) gives
    the point estimates each interval is made to contain.

    >>> grid = Grid.from_levels([[a, b] for a in range(4) for b in range(4)])
    >>> gap = np.arange(16) / 16
    >>> ci = resampled_intervals(gap, gap, grid, n_resamples=50)
    >>> ci["kendall_tau"].low <= 1.0 <= ci["kendall_tau"].high, sorted(ci)
    (True, ['kendall_tau', 'psi'])
    """
    m, g = check_inputs(measure, gap, grid)
    observed = observed if observed is not None else score_all(m, g, grid)
    rng = np.random.default_rng(seed)
    if has_replicates(grid):
        draws, method = _seed_draws(m, g, grid, rng, n_resamples), "seeds"
    else:
        draws, method = _model_draws(m, g, grid, rng, n_resamples), "models"
    estimates = {"official": observed.official, "kendall_tau": observed.kendall_tau,
                 "psi": observed.granulated.psi}
    return {key: _percentile(values, estimates[key], confidence, method)
            for key, values in draws.items() if estimates[key] is not None}


def _percentile(values: np.ndarray, estimate: float, confidence: float, method: str) -> Interval:
    defined = values[~np.isnan(values)]
    if not defined.size or math.isnan(estimate):
        return Interval(math.nan, math.nan, confidence, len(values), int(defined.size), method)
    low, high = np.percentile(defined, [100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2])
    return Interval(float(min(low, estimate)), float(max(high, estimate)), confidence, len(values),
                    int(defined.size), method)


def _model_draws(m: np.ndarray, g: np.ndarray, grid: Grid, rng: np.random.Generator,
                 n_resamples: int) -> dict[str, np.ndarray]:
    """τ_b and Ψ of ``n_resamples`` resamples of the models, from their multiplicities."""
    n = len(m)
    weights = rng.multinomial(n, np.full(n, 1 / n), size=n_resamples).astype(np.float64)
    rounded = round_gaps(g)
    return {"kendall_tau": _weighted_tau_b(m, rounded, weights),
            "psi": _weighted_psi(m, rounded, grid, weights)}


def _weighted_tau_b(m: np.ndarray, g: np.ndarray, w: np.ndarray, *, linear: bool | None = None) -> np.ndarray:
    """τ_b of each resample with multiplicities ``w`` (rows): copies of a model are tied pairs.

    ``S* = Σ_{i<j} w_i w_j s_ij`` exactly, or, for large tasks (``linear``; by default when
    resamples × n^2 exceeds `_EXACT_TAU_PAIRS`), its linear part ``S + Σ_i (w_i - 1) r_i`` with
    ``r_i = Σ_j s_ij`` (Efron's linear bootstrap approximation; the quadratic remainder
    ``½ (w - 1)ᵀ s (w - 1)`` is O(n) against the linear term's O(n^1.5)). The tie
    corrections are exact either way.
    """
    n = len(m)
    linear = len(w) * n * n > _EXACT_TAU_PAIRS if linear is None else linear
    s = np.zeros(len(w))
    w32 = w.astype(np.float32)
    rowsum = np.zeros(n)
    for r0 in range(0, n, _ROWS_PER_BLOCK):
        rows = slice(r0, min(n, r0 + _ROWS_PER_BLOCK))
        signs = compare(m[rows, None], m[None, :]) * compare(g[rows, None], g[None, :])
        if linear:
            rowsum[rows] = signs.sum(axis=1, dtype=np.int64)
        else:
            s += np.einsum("bi,bi->b", w32[:, rows], w32 @ signs.T.astype(np.float32), dtype=np.float64)
    s = rowsum.sum() / 2 + (w - 1) @ rowsum if linear else s / 2   # each unordered pair counted twice
    n0 = n * (n - 1) / 2
    tie_m, tie_g = _weighted_ties(m, w), _weighted_ties(g, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = np.sqrt((n0 - tie_m) * (n0 - tie_g))
        return np.where(denom > 0, s / denom, np.nan)


def _weighted_ties(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Tied pairs of each resample: ``Σ_v C(W_v, 2)`` with ``W_v`` the copies of value ``v``."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    totals = np.add.reduceat(w[:, order], starts, axis=1)
    return np.sum(totals * (totals - 1) / 2, axis=1)


def _weighted_psi(m: np.ndarray, g: np.ndarray, grid: Grid, w: np.ndarray) -> np.ndarray:
    """Ψ of each resample with multiplicities ``w`` (rows).

    Per group, τ over the pairs of *distinct* models drawn, each pair weighted by
    the product of their multiplicities: ``Σ_{i<j} w_i w_j s_ij / Σ_{i<j} w_i w_j``
    (a group with fewer than two distinct models drawn is undefined). Pairs of copies
    of one model are left out: counted as ties (0) they would shrink every group's τ
    towards 0 (a group of three drawn with replacement is all copies half the time),
    which makes the intervals miss the true Ψ. The U-statistic bootstrap leaves the
    diagonal out for the same reason.
    """
    pairs = one_out_pairs(grid)
    batch = len(w)
    n_groups = pairs.group_offsets[-1]
    if not n_groups or not len(pairs.i):
        return np.full(batch, math.nan)
    prod = (np.sign(m[pairs.i] - m[pairs.j]) * np.sign(g[pairs.i] - g[pairs.j])).astype(np.float32)
    step = max(1, _PSI_PAIRS_PER_BLOCK // len(pairs.i))
    sums, norm = np.zeros((batch, n_groups)), np.zeros((batch, n_groups))
    for b0 in range(0, batch, step):   # blocks of resamples bound the memory (small integers: float32 is exact)
        w32 = w[b0:b0 + step].astype(np.float32)
        both = w32[:, pairs.i] * w32[:, pairs.j]
        norm[b0:b0 + step] = pairs.group_sums(both)
        both *= prod
        sums[b0:b0 + step] = pairs.group_sums(both)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = np.where(norm > 0, sums / norm, np.nan)
    per_k = []
    for h in range(len(pairs.names)):
        block = tau[:, pairs.group_offsets[h]:pairs.group_offsets[h + 1]]
        counts = np.sum(~np.isnan(block), axis=1)
        per_k.append(np.where(counts > 0, np.nansum(block, axis=1) / np.maximum(counts, 1), np.nan))
    stacked = np.stack(per_k)
    counts = np.sum(~np.isnan(stacked), axis=0)
    return np.where(counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan)


def _seed_draws(m: np.ndarray, g: np.ndarray, grid: Grid, rng: np.random.Generator,
                n_resamples: int) -> dict[str, np.ndarray]:
    """Official score, τ_b and Ψ of resamples that redraw the seeds within each configuration."""
    config = configurations(grid)
    order = np.argsort(config, kind="stable")
    sizes = np.bincount(config)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    n = len(m)
    count = max(1, min(n_resamples, int(_SEED_BUDGET // max(n * n, 1))))
    draws: dict[str, list[float]] = {"official": [], "kendall_tau": [], "psi": []}
    for _ in range(count):
        offsets = np.floor(rng.random(n) * sizes[config[order]]).astype(np.intp)
        rows = np.empty(n, dtype=np.intp)
        rows[order] = order[starts[config[order]] + offsets]
        result = score_all(m[rows], g[rows], grid)
        draws["official"].append(math.nan if result.official is None else result.official)
        draws["kendall_tau"].append(result.kendall_tau)
        draws["psi"].append(result.granulated.psi)
    return {key: np.asarray(v) for key, v in draws.items()}
