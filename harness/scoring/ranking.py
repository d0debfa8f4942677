"""Rank agreement between measure and gap: Kendall's τ_b, granulated Kendall's Ψ, sign-error.

* `kendall_tau` and `granulated_kendall` (Ψ) — Jiang et al., "Fantastic
  Generalization Measures and Where to Find Them", ICLR 2020, arXiv:1912.02178.
* `sign_error` — Dziugaite et al., "In Search of Robust Measures of
  Generalization", NeurIPS 2020, arXiv:2010.11924.

Each compares gaps after `harness.scoring.inputs.round_gaps`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.params import InstanceOf, Interval, validate_params
from harness.scoring.grid import Grid
from harness.scoring.groups import OneOutPairs, one_out_pairs
from harness.scoring.inputs import as_vectors, check_inputs, compare, round_gaps

#: Ordered pairs compared at once by `Concordance.of` (one block of rows).
PAIRS_PER_BLOCK = 1 << 18


@dataclass(frozen=True)
class GranulatedKendall:
    """Granulated Kendall's Ψ: ``psi`` overall and ψ_k ``per_hparam`` (nan where undefined)."""

    psi: float
    per_hparam: dict[str, float]


@dataclass(frozen=True)
class SignErrorSummary:
    """Sign-error over the pairs of models that differ in one hyperparameter (see `sign_error`).

    ``mean`` over every such pair; ``worst_environment`` the largest expected
    error of an environment (a pair of configurations) with at least
    ``min_samples`` seed pairs, nan when none has that many (one seed per
    configuration); ``worst_group`` the largest mean error of a group of models
    sharing every other hyperparameter (the form that needs no seeds).
    """

    mean: float
    worst_environment: float
    worst_group: float
    n_pairs: int
    n_environments: int


@dataclass(frozen=True)
class SignError:
    """Sign-error robustness: ``overall`` and ``per_hparam`` summaries."""

    overall: SignErrorSummary
    per_hparam: dict[str, SignErrorSummary]


@dataclass(frozen=True)
class Concordance:
    """Sums over the unordered pairs ``i < j`` of models: ``s = Σ sign(Δm) sign(Δg)`` and the
    pairs tied in the measure and in the gap (exact integers)."""

    n_models: int
    s: int
    tied_measure: int
    tied_gap: int

    @classmethod
    def of(cls, m: np.ndarray, g: np.ndarray) -> Concordance:
        """The sums of measure ``m`` and gap ``g``, compared in blocks of rows (bounded memory)."""
        n = len(m)
        s = tied_m = tied_g = 0
        rows = max(1, min(n, PAIRS_PER_BLOCK // max(n, 1)))
        for r0 in range(0, n, rows):
            r1 = min(r0 + rows, n)
            upper = np.arange(n)[None, :] > np.arange(r0, r1)[:, None]
            dm, dg = compare(m[r0:r1, None], m[None, :]), compare(g[r0:r1, None], g[None, :])
            s += int(np.sum(dm * dg * upper))
            tied_m += int(np.sum((dm == 0) & upper))
            tied_g += int(np.sum((dg == 0) & upper))
        return cls(n, s, tied_m, tied_g)

    @property
    def tau_b(self) -> float:
        """``s / sqrt((n0 - t_m)(n0 - t_g))``; nan for fewer than two models or a constant variable."""
        n0 = self.n_models * (self.n_models - 1) / 2
        denom = (n0 - float(self.tied_measure)) * (n0 - float(self.tied_gap))
        return float(float(self.s) / np.sqrt(denom)) if denom > 0 else math.nan


def kendall_tau(measure: Any, gap: Any) -> float:
    """Kendall's rank correlation τ_b between measure and gap over all models.

    Over unordered pairs ``i < j`` with ``n0 = n(n-1)/2``::

        τ_b = sum sign(m_i - m_j) sign(g_i - g_j) / sqrt((n0 - t_m)(n0 - t_g))

    where ``t_m`` and ``t_g`` count the pairs tied in measure and in gap
    (the same as ``scipy.stats.kendalltau``'s default variant ``'b'``), gaps
    compared after `round_gaps`. nan when either variable is constant. Kendall,
    "The treatment of ties in ranking problems", Biometrika 1945.

    Three models, one pair tied in the measure: S = (+1) + (+1) + 0 = 2,
    τ_b = 2 / sqrt((3 - 1)(3 - 0)):

    >>> round(kendall_tau([1.0, 2.0, 2.0], [0.1, 0.2, 0.3]), 6)
    0.816497
    """
    m, g = as_vectors(measure, gap)
    return Concordance.of(m, round_gaps(g)).tau_b


@validate_params({"grid": [InstanceOf(Grid)]})
def granulated_kendall(measure: Any, gap: Any, grid: Grid) -> GranulatedKendall:
    """Granulated Kendall's coefficient Ψ, exactly as Jiang et al. define it (ICLR 2020, eq. 3-4).

    For hyperparameter ``k``, the models are grouped by the values of every
    *other* hyperparameter, so that each group ``T`` differs only in ``k``. Within
    a group, Kendall's τ with ties counting 0 (gaps compared after `round_gaps`)::

        τ(T) = Σ_{i≠j in T} sign(m_i - m_j) sign(g_i - g_j) / (|T| (|T| - 1))

        ψ_k = mean of τ(T) over every group T of at least two models
        Ψ   = mean of ψ_k over the hyperparameters k (those with such a group)

    Hyperparameters named like a seed (`harness.scoring.groups.SEED_NAMES`) are
    replicate labels, not interventions: they get no ψ and do not split groups.
    Jiang, Neyshabur, Mobahi, Krishnan, Bengio, "Fantastic Generalization Measures
    and Where to Find Them", ICLR 2020, arXiv:1912.02178.

    Two hyperparameters A, B in {0, 1}, one model each. ψ_A: the groups B = 0
    and B = 1 are both concordant (τ = 1); ψ_B: A = 0 concordant (1), A = 1
    discordant (-1), so ψ_B = 0 and Ψ = 0.5:

    >>> grid = Grid.from_levels([[0, 0], [0, 1], [1, 0], [1, 1]], names=["A", "B"])
    >>> result = granulated_kendall([1.0, 2.0, 4.0, 3.0], [0.1, 0.2, 0.3, 0.4], grid)
    >>> result.psi, result.per_hparam
    (0.5, {'A': 1.0, 'B': 0.0})
    """
    m, g = check_inputs(measure, gap, grid)
    return granulated_of_pairs(one_out_pairs(grid), m, round_gaps(g))


def granulated_of_pairs(pairs: OneOutPairs, m: np.ndarray, rounded: np.ndarray) -> GranulatedKendall:
    """Ψ from a grid's `OneOutPairs` (shared with `sign_error_of_pairs`), gaps already rounded."""
    per = {}
    for name, tau in zip(pairs.names, pairs.group_taus(m[None, :], rounded)):
        tau = tau[0]
        per[name] = float(tau.mean()) if tau.size else math.nan
    defined = [v for v in per.values() if not math.isnan(v)]
    return GranulatedKendall(float(np.mean(defined)) if defined else math.nan, per)


@validate_params({"grid": [InstanceOf(Grid)], "min_samples": [Interval(int, 1, None)]})
def sign_error(measure: Any, gap: Any, grid: Grid, *, min_samples: int = 4) -> SignError:
    """Sign-error robustness (Dziugaite et al., NeurIPS 2020, arXiv:2010.11924, §3).

    An *environment* is a pair of configurations ``(c, c')`` that differ in exactly one
    hyperparameter ``k`` (hyperparameters named like a seed are replicate labels, not
    part of a configuration; so are repeated configurations). For models ``i`` of
    ``c`` and ``j`` of ``c'`` (gaps compared after `round_gaps`)::

        err(i, j) = (1 - sign(m_i - m_j) sign(g_i - g_j)) / 2

    (0 when measure and gap move the same way, 1 when opposite, 1/2 on a tie). The
    environment's error is the expected ``err`` over its seed pairs ``(i, j)``.
    Per ``k``: ``mean`` over all its pairs, ``worst_environment`` the maximum over the
    environments with at least ``min_samples`` seed pairs (the paper's robust
    sign-error, a worst case over environments, kept to environments with enough
    samples), and ``worst_group``, the maximum over groups of models sharing every
    other hyperparameter of their mean error: with one seed per configuration every
    environment has a single sample, so the group form is the one to read.
    ``overall`` summarizes every k together. 0 is perfect.

    Two hyperparameters A, B in {0, 1}, one model each: pairs differing only in B are
    (00, 01), concordant, and (10, 11), discordant: mean 1/2, worst group (A = 1) 1;
    no environment has 4 samples:

    >>> grid = Grid.from_levels([[0, 0], [0, 1], [1, 0], [1, 1]], names=["A", "B"])
    >>> b = sign_error([1.0, 2.0, 4.0, 3.0], [0.1, 0.2, 0.3, 0.4], grid).per_hparam["B"]
    >>> b.mean, b.worst_group, b.worst_environment, b.n_pairs
    (0.5, 1.0, nan, 2)
    """
    m, g = check_inputs(measure, gap, grid)
    return sign_error_of_pairs(one_out_pairs(grid), m, round_gaps(g), min_samples)


def sign_error_of_pairs(pairs: OneOutPairs, m: np.ndarray, rounded: np.ndarray,
                        min_samples: int) -> SignError:
    """`sign_error` from a grid's `OneOutPairs`, gaps already rounded."""
    d = pairs.differs
    i, j, hparam, group, environment = pairs.i[d], pairs.j[d], pairs.hparam[d], pairs.group[d], pairs.environment[d]
    err = (1.0 - np.sign(m[i] - m[j]) * np.sign(rounded[i] - rounded[j])) / 2
    per = {}
    for h, name in enumerate(pairs.names):
        sel = hparam == h
        per[name] = _sign_summary(err[sel], group[sel], environment[sel], min_samples)
    return SignError(_sign_summary(err, group, environment, min_samples), per)


def _sign_summary(err: np.ndarray, group: np.ndarray, environment: np.ndarray,
                  min_samples: int) -> SignErrorSummary:
    if not err.size:
        return SignErrorSummary(math.nan, math.nan, math.nan, 0, 0)
    counts = np.unique(environment, return_counts=True)[1]
    return SignErrorSummary(float(err.mean()), _worst(err, environment, min_samples), _worst(err, group, 1),
                            int(err.size), int(np.sum(counts >= min_samples)))


def _worst(err: np.ndarray, key: np.ndarray, min_samples: int) -> float:
    """The largest mean of ``err`` over the values of ``key`` with at least ``min_samples`` entries."""
    _, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.ravel()
    counts = np.bincount(inverse)
    sums = np.bincount(inverse, weights=err)
    kept = counts >= min_samples
    return float((sums[kept] / counts[kept]).max()) if kept.any() else math.nan
