"""How well a complexity measure predicts generalization: the metrics of SPEC §3.

Every metric compares, over pairs of models, the order of the measure ``m_i``
with the order of the generalization gap ``g_i = train_acc - test_acc``, and
uses the models' hyperparameters (a `Grid`) to condition or to group.

* `official_score` — the 2020 competition's conditional mutual information,
  reproduced exactly, quirks included (Jiang et al., "NeurIPS 2020 Competition:
  Predicting Generalization in Deep Learning", arXiv:2012.07976).
* `robust_cmi` — the same idea defined properly: ties excluded, bins weighted
  by their number of pairs, conditioning sets of size 0, 1 and 2, incomplete
  grids allowed.
* `kendall_tau` and `granulated_kendall` (Ψ) — Jiang et al., "Fantastic
  Generalization Measures and Where to Find Them", ICLR 2020, arXiv:1912.02178.
* `sign_error` — Dziugaite et al., "In Search of Robust Measures of
  Generalization", NeurIPS 2020, arXiv:2010.11924.
* `score_all` — all of the above, sharing the pair counts.

Nulls and intervals are in `harness.scoring`. Ties: every metric that counts or
excludes ties compares gaps after `round_gaps` (1e-9); the official score keeps the
2020 scorer's raw float comparisons.

Pure numpy: no TensorFlow and no scipy (``scipy.stats`` alone takes over a
second to import, and scoring must start in well under one). Pairs are counted
with ``np.bincount`` over integer bin codes, never with Python loops over pairs,
in row chunks so that 10,000 models (10^8 ordered pairs) need bounded memory:
the pair types (1 byte a pair, kept up to ``_TYPE_CACHE_PAIRS`` pairs, about
11,500 models), one chunk of bin codes, and count tables of up to
``_TABLE_ENTRIES`` entries (more only for a hyperparameter pair whose single
value of the first needs more: ``8 |V_a| |V_b|^2`` entries).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from harness.scoring.pairs import PairCounts

#: Ordered pairs materialized at once (their int64 bin codes take 8 bytes each);
#: small enough for the codes to stay in cache between the passes over them.
_PAIRS_PER_CHUNK = 1 << 18
#: Count-table entries per block of bins (int64).
_TABLE_ENTRIES = 1 << 22
#: Up to this many ordered pairs, the pair-type matrix (1 byte a pair) is kept.
_TYPE_CACHE_PAIRS = 1 << 27
#: The 2020 scorer's smoothing inside the entropy's logarithm.
_LOG_EPS = 1e-12
#: Label of a hyperparameter absent from a model's entry.
_ABSENT_LABEL = "<absent>"
#: Stands for an absent hyperparameter's value: equal to nothing but itself.
_ABSENT = object()


class InvalidGrid(ValueError):
    """The hyperparameter grid is not complete with each combination once.

    The official score is undefined on such a task (the 2020 scorer refused
    it); the robust metrics are still defined. The message says why, in one line.
    """


# --------------------------------------------------------------------------- grid


@dataclass(frozen=True, eq=False)
class Grid:
    """The hyperparameters of a set of models.

    Attributes:
        names: hyperparameter names, in the order of the first model's entry.
        possible_values: each hyperparameter's ``possible_values`` (from the
            first model's entry, as the 2020 scorer took them).
        levels: ``(n_models, n_hparams)`` integer array; ``levels[i, h]`` is the
            index of model ``i``'s value in ``possible_values[h]`` (first equal
            one, as ``list.index`` finds it), or ``len(possible_values[h]) + e``
            for the ``e``-th distinct value outside that list.
        labels: ``(n_models, n_hparams)`` integer array indexing
            ``label_strings[h]``: ``str()`` of the value as the model's entry
            spells it. The 2020 scorer keyed its bins on these strings, so
            ``1`` and ``1.0`` are one level but two labels.
        label_strings: per hyperparameter, the distinct ``str()`` spellings.
        ids: model ids, used in messages only.
    """

    names: tuple[str, ...]
    possible_values: tuple[tuple[Any, ...], ...]
    levels: np.ndarray
    labels: np.ndarray
    label_strings: tuple[tuple[str, ...], ...]
    ids: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        k = len(self.names)
        if len(self.possible_values) != k or len(self.label_strings) != k:
            raise ValueError("names, possible_values and label_strings need one entry per hyperparameter")
        for name, arr in (("levels", self.levels), ("labels", self.labels)):
            if arr.ndim != 2 or arr.shape[1] != k or not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"{name} must be an integer array of shape (n_models, {k}), got {arr.shape}")
            if arr.size and arr.min() < 0:
                raise ValueError(f"{name} must be non-negative")
        if self.levels.shape != self.labels.shape:
            raise ValueError("levels and labels must have the same shape")
        if self.ids is not None and len(self.ids) != self.levels.shape[0]:
            raise ValueError(f"{len(self.ids)} ids for {self.levels.shape[0]} models")

    @classmethod
    def from_hparams(cls, hparams: Sequence[Mapping[str, Any]],
                     possible_values: Mapping[str, Sequence[Any]],
                     ids: Sequence[str] | None = None) -> Grid:
        """Build a grid from each model's ``{name: current_value}``.

        ``possible_values`` gives the names (in order) and their possible
        values, normally those of the first model's entry. Values are matched
        with ``==`` (as ``list.index`` does); a model missing a hyperparameter
        gets a level of its own.
        """
        names = tuple(possible_values)
        n, k = len(hparams), len(names)
        levels = np.zeros((n, k), dtype=np.intp)
        labels = np.zeros((n, k), dtype=np.intp)
        label_strings = []
        for h, name in enumerate(names):
            known = list(possible_values[name])
            extra: list[Any] = []
            spellings: dict[str, int] = {}
            for i, entry in enumerate(hparams):
                if name in entry:
                    value = entry[name]
                    levels[i, h] = _find(known, value, extra)
                    text = str(value)
                else:
                    levels[i, h] = _find(known, _ABSENT, extra)
                    text = _ABSENT_LABEL
                labels[i, h] = spellings.setdefault(text, len(spellings))
            label_strings.append(tuple(spellings))
        return cls(names, tuple(tuple(possible_values[nm]) for nm in names), levels, labels,
                   tuple(label_strings), None if ids is None else tuple(ids))

    @classmethod
    def from_levels(cls, levels: Any, names: Sequence[str] | None = None,
                    possible_values: Sequence[Sequence[Any]] | None = None,
                    ids: Sequence[str] | None = None) -> Grid:
        """Build a grid from value indices, e.g. for synthetic tasks.

        ``possible_values`` defaults to ``range(n)`` per hyperparameter, ``n``
        one more than its largest level. Beware the 2020 scorer's string keys:
        integer values of different lengths (say 1 and 11) collide, and make
        the official score nan; ten values 0..9 are safe.
        """
        levels = np.asarray(levels)
        if levels.ndim != 2 or not np.issubdtype(levels.dtype, np.integer):
            raise ValueError(f"levels must be a 2-D integer array, got {levels.dtype} of shape {levels.shape}")
        levels = levels.astype(np.intp)
        k = levels.shape[1]
        names = tuple(names) if names is not None else tuple(f"h{h}" for h in range(k))
        if possible_values is None:
            top = levels.max(axis=0) + 1 if levels.size else np.ones(k, dtype=np.intp)
            possible_values = [range(int(t)) for t in top]
        possible = tuple(tuple(v) for v in possible_values)
        if len(names) != k or len(possible) != k:
            raise ValueError(f"levels has {k} columns but {len(names)} names and {len(possible)} value lists")
        for h in range(k):
            if levels.size and not 0 <= levels[:, h].min() <= levels[:, h].max() < len(possible[h]):
                raise ValueError(f"levels of {names[h]!r} must lie in [0, {len(possible[h])})")
        strings = tuple(tuple(str(v) for v in values) for values in possible)
        return cls(names, possible, levels, levels.copy(), strings, None if ids is None else tuple(ids))

    @property
    def n_models(self) -> int:
        return self.levels.shape[0]

    @property
    def n_hparams(self) -> int:
        return len(self.names)

    @property
    def n_levels(self) -> tuple[int, ...]:
        """Levels per hyperparameter: the possible values plus any outside them."""
        top = self.levels.max(axis=0) + 1 if self.n_models else np.zeros(self.n_hparams, dtype=np.intp)
        return tuple(max(len(p), int(t)) for p, t in zip(self.possible_values, top))

    def take(self, rows: Any) -> Grid:
        """The grid of a subset (or resample) of the models, in the order of ``rows``."""
        rows = np.asarray(rows)
        ids = None if self.ids is None else tuple(np.asarray(self.ids, dtype=object)[rows])
        return Grid(self.names, self.possible_values, self.levels[rows], self.labels[rows],
                    self.label_strings, ids)

    def problem(self) -> str | None:
        """Why `check_complete` rejects this grid, or None when it is valid."""
        try:
            self.check_complete()
        except InvalidGrid as exc:
            return str(exc)
        return None

    def check_complete(self) -> None:
        """Raise `InvalidGrid` unless every combination of possible values is present exactly once.

        Mirrors the 2020 scorer's validity check: a value outside its
        ``possible_values`` (or a missing hyperparameter) is an error, then an
        incomplete grid, then a duplicated one.
        """
        for h, name in enumerate(self.names):
            outside = np.flatnonzero(self.levels[:, h] >= len(self.possible_values[h]))
            if outside.size:
                i = int(outside[0])
                value = self.label_strings[h][self.labels[i, h]]
                if value == _ABSENT_LABEL:
                    raise InvalidGrid(f"model {self._id(i)}: no value for hyperparameter {name!r}")
                raise InvalidGrid(f"model {self._id(i)}: hyperparameter {name!r} = {value} "
                                  f"is not among its possible_values")
        total = math.prod(len(p) for p in self.possible_values)
        if self.n_hparams == 0:
            distinct, counts = (1, np.array([self.n_models])) if self.n_models else (0, np.array([]))
        else:
            uniq, counts = np.unique(self.levels, axis=0, return_counts=True)
            distinct = len(uniq)
        if distinct < total:
            raise InvalidGrid(f"incomplete grid: {total - distinct} of {total} "
                              f"hyperparameter combinations missing")
        repeated = int(np.sum(counts > 1))
        if repeated:
            raise InvalidGrid(f"duplicated grid: {repeated} hyperparameter combination(s) "
                              f"appear more than once ({self.n_models} models for {total} combinations)")

    def _id(self, i: int) -> str:
        return self.ids[i] if self.ids is not None else f"#{i}"

    def _canonical(self, h: int) -> bool:
        """Whether every model spells hyperparameter ``h`` as ``str()`` of its possible value."""
        pairs = np.unique(np.stack([self.levels[:, h], self.labels[:, h]], axis=1), axis=0)
        possible, spellings = self.possible_values[h], self.label_strings[h]
        return all(lv < len(possible) and spellings[lb] == str(possible[lv]) for lv, lb in pairs)


def _find(known: list[Any], value: Any, extra: list[Any]) -> int:
    """Index of ``value`` in ``known`` (by ``==``), else ``len(known)`` + its index in ``extra``
    (appended to it if new)."""
    for pool, offset in ((known, 0), (extra, len(known))):
        try:
            return offset + pool.index(value)
        except ValueError:
            continue
    extra.append(value)
    return len(known) + len(extra) - 1


# ----------------------------------------------------------------------- results


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


# ------------------------------------------------------------------ public API


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
    m, g = _check_inputs(measure, gap, grid)
    grid.check_complete()
    official, _ = _scan(m, g, grid, official=True, robust=False)
    return official


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
    return _fold_min(official_pair_scores(measure, gap, grid).values())


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
    m, g = _check_inputs(measure, gap, grid)
    _, robust = _scan(m, g, grid, official=False, robust=True)
    return robust


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
    m, g = _as_vectors(measure, gap)
    g = round_gaps(g)
    stats = _group_pair_stats(m, g, np.zeros(len(m), dtype=np.intp), None)
    return float(_tau_b(stats)[0]) if len(m) else math.nan


def granulated_kendall(measure: Any, gap: Any, grid: Grid) -> GranulatedKendall:
    """Granulated Kendall's coefficient Ψ, exactly as Jiang et al. define it (ICLR 2020, eq. 3-4).

    For hyperparameter ``k``, the models are grouped by the values of every
    *other* hyperparameter, so that each group ``T`` differs only in ``k``. Within
    a group, Kendall's τ with ties counting 0 (gaps compared after `round_gaps`)::

        τ(T) = Σ_{i≠j in T} sign(m_i - m_j) sign(g_i - g_j) / (|T| (|T| - 1))

        ψ_k = mean of τ(T) over every group T of at least two models
        Ψ   = mean of ψ_k over the hyperparameters k (those with such a group)

    Hyperparameters named like a seed (`SEED_NAMES`) are replicate labels, not
    interventions: they get no ψ and do not split groups. Jiang, Neyshabur,
    Mobahi, Krishnan, Bengio, "Fantastic Generalization Measures and Where to
    Find Them", ICLR 2020, arXiv:1912.02178.

    Two hyperparameters A, B in {0, 1}, one model each. ψ_A: the groups B = 0
    and B = 1 are both concordant (τ = 1); ψ_B: A = 0 concordant (1), A = 1
    discordant (-1), so ψ_B = 0 and Ψ = 0.5:

    >>> grid = Grid.from_levels([[0, 0], [0, 1], [1, 0], [1, 1]], names=["A", "B"])
    >>> result = granulated_kendall([1.0, 2.0, 4.0, 3.0], [0.1, 0.2, 0.3, 0.4], grid)
    >>> result.psi, result.per_hparam
    (0.5, {'A': 1.0, 'B': 0.0})
    """
    m, g = _check_inputs(measure, gap, grid)
    return _granulated(one_out_pairs(grid), m, round_gaps(g))


def _granulated(pairs: "OneOutPairs", m: np.ndarray, g: np.ndarray) -> GranulatedKendall:
    per = {}
    for name, tau in zip(pairs.names, pairs.group_taus(m[None, :], g)):
        tau = tau[0]
        per[name] = float(tau.mean()) if tau.size else math.nan
    defined = [v for v in per.values() if not math.isnan(v)]
    return GranulatedKendall(float(np.mean(defined)) if defined else math.nan, per)


def sign_error(measure: Any, gap: Any, grid: Grid, *, min_samples: int = 4) -> SignError:
    """Sign-error robustness (Dziugaite et al., NeurIPS 2020, arXiv:2010.11924, §3).

    An *environment* is a pair of configurations ``(c, c')`` that differ in exactly one
    hyperparameter ``k`` (hyperparameters named like a seed, `SEED_NAMES`, are
    replicate labels, not part of a configuration; so are repeated configurations).
    For models ``i`` of ``c`` and ``j`` of ``c'`` (gaps compared after `round_gaps`)::

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
    m, g = _check_inputs(measure, gap, grid)
    if min_samples < 1:
        raise ValueError(f"min_samples must be >= 1. Received: {min_samples}")
    return _sign_error(one_out_pairs(grid), m, round_gaps(g), min_samples)


def _sign_error(pairs: "OneOutPairs", m: np.ndarray, g: np.ndarray, min_samples: int) -> SignError:
    d = pairs.differs
    i, j, hparam, group, environment = pairs.i[d], pairs.j[d], pairs.hparam[d], pairs.group[d], pairs.environment[d]
    err = (1.0 - np.sign(m[i] - m[j]) * np.sign(g[i] - g[j])) / 2
    per = {}
    for h, name in enumerate(pairs.names):
        sel = hparam == h
        per[name] = _sign_summary(err[sel], group[sel], environment[sel], min_samples)
    overall = _sign_summary(err, group, environment, min_samples)
    return SignError(overall, per)


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


def score_all(measure: Any, gap: Any, grid: Grid, *, pair_counts: "PairCounts | None" = None) -> Metrics:
    """Every metric, counting the pairs once for official and robust CMI.

    The official score is None (with the reason) when the grid is invalid.
    ``pair_counts`` (`pair_counts_for`'s, of this gap and grid) counts the pairs on the
    product of the hyperparameter levels, the way the permutation null does, and can be
    shared with it; by default it is made when the grid is dense enough for it.
    """
    m, g = _check_inputs(measure, gap, grid)
    reason = grid.problem()
    if pair_counts is None:
        pair_counts = pair_counts_for(m, g, grid)
    if pair_counts is not None and (reason is not None or _all_fast(grid)):
        pairs, robust = _counted_scan(m, grid, pair_counts, official=reason is None)
    else:
        pairs, robust = _scan(m, g, grid, official=reason is None, robust=True)
    official = _fold_min(pairs.values()) if reason is None else None
    groups = one_out_pairs(grid)
    rounded = round_gaps(g)
    return Metrics(official, reason, pairs, robust, kendall_tau(m, g),
                   _granulated(groups, m, rounded), _sign_error(groups, m, rounded, 4))


def pair_counts_for(measure: np.ndarray, gap: np.ndarray, grid: Grid) -> "PairCounts | None":
    """`harness.scoring.pairs.PairCounts` of this gap and grid, for measures with the tie
    pattern of ``measure`` (and its permutations); None when the grid is too sparse for it
    (its product of levels more than twice the models)."""
    from harness.scoring.pairs import PairCounts, make_layout, subsets

    k = grid.n_hparams
    wants = subsets(k, min(2, k))
    if make_layout(grid.levels, wants).n_slots > 2 * max(grid.n_models, 8):
        return None
    return PairCounts(grid.levels, gap, round_gaps(gap), wants,
                      measure_ties=len(np.unique(measure)) < len(measure))


def _all_fast(grid: Grid) -> bool:
    """Whether every ordered pair's 2020 string keys are the grid's cells (no collision, no odd spelling)."""
    k = grid.n_hparams
    canonical = [grid._canonical(h) for h in range(k)]
    return all(canonical) and not any(_keys_collide(grid.possible_values[a], grid.possible_values[b])
                                      for a, b in itertools.permutations(range(k), 2))


def _counted_scan(m: np.ndarray, grid: Grid, counts: "PairCounts", *,
                  official: bool) -> tuple[dict[tuple[str, str], float], RobustCMI]:
    """Official score(a, b) and robust CMI from `PairCounts`' tables (same integers as `_scan`'s,
    the official arithmetic in the same order, so the same bits)."""
    tables = counts.tables(m[None, :], official=official)
    sums = _RobustSums()
    k = grid.n_hparams
    for u, table in tables["robust"].items():
        t = table[0]
        keys = [u] + [s for size in range(len(u) - 1, -1, -1) for s in itertools.combinations(u, size)]
        for key in keys:
            if key not in sums.keys:
                drop = tuple(a for a, h in enumerate(u) if h not in key)
                axes = drop + tuple(len(u) + a for a in drop)
                sums.add(key, t.sum(axis=axes) if axes else t)
    robust = _robust_result(grid, sums)
    out: dict[tuple[str, str], float] = {}
    if official and k >= 2:
        by_pair = {}
        for (a, b), table in tables["official"].items():
            t = table[0]
            by_pair[a, b] = np.transpose(t, (0, 2, 1, 3, 4))   # bins (a_i, a_j, b_i, b_j)
            by_pair[b, a] = np.transpose(t, (1, 3, 0, 2, 4))   # bins (b_i, b_j, a_i, a_j)
        for a, b in itertools.permutations(range(k), 2):
            mi, h = _official_bins(by_pair[a, b])
            out[grid.names[a], grid.names[b]] = _ratio_of_means(mi, h, mi.size)
    return out, robust


# ------------------------------------------------------------ seeds, groups, ties

#: Hyperparameter names (lower case) that label replicate seeds rather than interventions.
SEED_NAMES = frozenset({"seed", "random_seed", "rng_seed", "trial", "replicate"})
#: Gaps are compared after rounding to this many decimals wherever ties count or are excluded.
GAP_DECIMALS = 9


def round_gaps(gap: Any) -> np.ndarray:
    """Gaps rounded to 1e-9, so that float noise does not split ties.

    ``0.8 - 0.7`` and ``1.0 - 0.9`` are both a gap of 0.1, but differ in the
    last bits. Every metric that counts or excludes ties (robust CMI, τ, Ψ,
    sign-error, their nulls) compares rounded gaps; the official score keeps
    the 2020 scorer's raw comparisons, which are its specification.

    >>> bool((0.8 - 0.7) == (1.0 - 0.9)), bool(np.equal(*round_gaps([0.8 - 0.7, 1.0 - 0.9])))
    (False, True)
    """
    return np.round(np.asarray(gap, dtype=np.float64), GAP_DECIMALS)


def seed_axes(grid: Grid) -> list[int]:
    """Indices of the hyperparameters named like a seed (`SEED_NAMES`)."""
    return [h for h, name in enumerate(grid.names) if name.lower() in SEED_NAMES]


def configurations(grid: Grid) -> np.ndarray:
    """Consecutive ids of the models' configurations: equal hyperparameters but seeds, equal ids."""
    return _row_ids(np.delete(grid.levels, seed_axes(grid), axis=1))


@dataclass(frozen=True)
class OneOutPairs:
    """The unordered pairs ``i < j`` of models that differ in exactly one hyperparameter
    (seeds aside) or share their configuration within a group; per pair its ``hparam``
    (the one that varies), its ``group`` (an id of the values of the other
    hyperparameters) and its ``environment`` (an id of the pair of configurations).

    ``groups`` lists, per hyperparameter, the sizes of its groups, for Ψ.
    """

    names: tuple[str, ...]
    i: np.ndarray
    j: np.ndarray
    hparam: np.ndarray
    group: np.ndarray
    environment: np.ndarray
    differs: np.ndarray        # the pair's configurations differ (not two seeds of one configuration)
    group_sizes: tuple[np.ndarray, ...]
    group_offsets: tuple[int, ...]

    def group_sums(self, values: np.ndarray) -> np.ndarray:
        """Per group, the sum over its pairs of ``values`` ``(batch, n_pairs)``: ``(batch, n_groups)``."""
        out = np.zeros((len(values), self.group_offsets[-1]))
        if len(self.group):
            starts = np.flatnonzero(np.r_[True, self.group[1:] != self.group[:-1]])
            out[:, self.group[starts]] = np.add.reduceat(values, starts, axis=1)
        return out

    def group_taus(self, measures: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
        """Per hyperparameter, Jiang et al.'s τ(T) of each group of >= 2 models, for a batch
        ``(batch, n_models)`` of measures: arrays ``(batch, groups)``."""
        sign_g = np.sign(g[self.i] - g[self.j])
        sums = self.group_sums(np.sign(measures[:, self.i] - measures[:, self.j]) * sign_g)
        out = []
        for h, sizes in enumerate(self.group_sizes):
            lo, hi = self.group_offsets[h], self.group_offsets[h + 1]
            size = sizes.astype(np.float64)
            keep = size >= 2
            out.append(2 * sums[:, lo:hi][:, keep] / (size[keep] * (size[keep] - 1)))
        return out


def one_out_pairs(grid: Grid) -> OneOutPairs:
    """`OneOutPairs` of a grid: for each non-seed hyperparameter ``h``, every pair within a
    group of models that share every other non-seed hyperparameter."""
    seeds = set(seed_axes(grid))
    hs = [h for h in range(grid.n_hparams) if h not in seeds]
    config = configurations(grid)
    n_config = int(config.max()) + 1 if len(config) else 0
    parts: dict[str, list[np.ndarray]] = {key: [] for key in ("i", "j", "hparam", "group")}
    sizes, offsets = [], [0]
    for h in hs:
        drop = sorted(seeds | {h})
        ids = _row_ids(np.delete(grid.levels, drop, axis=1))
        size = np.bincount(ids) if len(ids) else np.zeros(0, dtype=np.intp)
        order = np.argsort(ids, kind="stable")
        starts = np.r_[0, np.cumsum(size)[:-1]].astype(np.intp)
        for s in np.unique(size[size >= 2]):
            members = order[starts[size == s][:, None] + np.arange(s)]
            a, b = np.triu_indices(s, 1)
            parts["i"].append(members[:, a].ravel())
            parts["j"].append(members[:, b].ravel())
            parts["group"].append(np.repeat(offsets[-1] + np.flatnonzero(size == s), len(a)))
            parts["hparam"].append(np.full(members.shape[0] * len(a), len(sizes)))
        sizes.append(size)
        offsets.append(offsets[-1] + len(size))
    arrays = {key: np.concatenate(v) if v else np.zeros(0, dtype=np.intp) for key, v in parts.items()}
    by_group = np.argsort(arrays["group"], kind="stable")   # runs of one group, for np.add.reduceat
    arrays = {key: v[by_group] for key, v in arrays.items()}
    ci, cj = config[arrays["i"]], config[arrays["j"]]
    environment = np.minimum(ci, cj) * max(n_config, 1) + np.maximum(ci, cj)
    environment = environment * max(len(hs), 1) + arrays["hparam"]
    return OneOutPairs(tuple(grid.names[h] for h in hs), arrays["i"], arrays["j"], arrays["hparam"],
                       arrays["group"], environment, ci != cj, tuple(sizes), tuple(offsets))


# ------------------------------------------------------------------ validation


def _as_vectors(measure: Any, gap: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        m = np.asarray(measure, dtype=np.float64)
        g = np.asarray(gap, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"measure and gap must be arrays of numbers ({exc})") from None
    if m.ndim != 1 or g.ndim != 1:
        raise ValueError(f"measure and gap must be 1-D, got shapes {m.shape} and {g.shape}")
    if len(m) != len(g):
        raise ValueError(f"measure has {len(m)} values but gap has {len(g)}")
    for name, arr in (("measure", m), ("gap", g)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ValueError(f"{name} has {bad.size} non-finite value(s), first at position {bad[0]}")
    return m, g


def _check_inputs(measure: Any, gap: Any, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    m, g = _as_vectors(measure, gap)
    if len(m) != grid.n_models:
        raise ValueError(f"{len(m)} measure values but the grid has {grid.n_models} models")
    return m, g


# ------------------------------------------------------------- pair counting


class _PairTypes:
    """The type of every ordered pair of models ``(i, j)``, as a uint8.

    ``type = 2 [g_i > g_j] + [m_i > m_j] + 4 [ĝ_i = ĝ_j or m_i = m_j]``: the low
    two bits are the 2020 scorer's (G, Q) on the raw gaps; bit 2 marks the pairs
    robust CMI excludes (ties, self-pairs among them), with gaps ``ĝ`` compared
    after `round_gaps` (for a pair untied after rounding, raw and rounded gaps
    are in the same order, so the low bits serve both). Kept whole up to
    ``_TYPE_CACHE_PAIRS`` pairs, else computed per row chunk.
    """

    def __init__(self, measure: np.ndarray, gap: np.ndarray) -> None:
        self.m, self.g, self.rounded = measure, gap, round_gaps(gap)
        n = len(gap)
        self._all = None
        if n * n <= _TYPE_CACHE_PAIRS:
            self._all = np.empty((n, n), dtype=np.uint8)
            step = max(1, _PAIRS_PER_CHUNK // max(n, 1))
            for start in range(0, n, step):
                self._all[start:start + step] = self._compute(slice(start, start + step))

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


def _pair_blocks(types: _PairTypes, la: np.ndarray, na: int, lb: np.ndarray,
                 nb: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Count ordered pairs by bin ``(a_i, a_j, b_i, b_j)`` and type, in blocks of ``a_i``.

    Yields ``(x0, x1, counts)`` with ``counts[x - x0, x', y, y', t]`` the number
    of ordered pairs ``(i, j)`` with ``a_i = x, a_j = x', b_i = y, b_j = y'`` and
    type ``t`` (see `_PairTypes`), for ``x0 <= x < x1``. The blocks come in
    increasing ``x``, so flattening their first four axes in C order lists the
    bins in the 2020 scorer's order for the ordered pair ``(a, b)``. One block
    normally covers everything; blocks keep the table near ``_TABLE_ENTRIES``.
    """
    n = len(la)
    per_x = na * nb * nb * 8
    step = max(1, _TABLE_ENTRIES // per_x)
    col = (la * (nb * nb) + lb) * 8
    chunk = max(1, _PAIRS_PER_CHUNK // max(n, 1))
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
        yield x0, x1, counts.reshape(x1 - x0, na, nb, nb, 8)


class _Running:
    """A left-to-right float64 sum, as a Python ``total += x`` loop adds."""

    def __init__(self) -> None:
        self.total = np.float64(0.0)

    def add(self, values: np.ndarray) -> None:
        if values.size:
            self.total = np.add.accumulate(np.concatenate([[self.total], values]))[-1]


def _official_bins(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
        h = -(p1 * np.log2(p1 + _LOG_EPS) + p0 * np.log2(p0 + _LOG_EPS))
    return mi, h


def _robust_bins(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


class _RobustSums:
    """``sum_b n_b I_b`` and ``sum_b n_b H_b`` per conditioning set, from count tables.

    Tables are buffered and reduced together (one vectorized pass for many
    small tables), flushing when the buffer passes ``_TABLE_ENTRIES``.
    """

    def __init__(self) -> None:
        self.sums: dict[tuple[int, ...], list[float]] = {}
        self.keys: set[tuple[int, ...]] = set()   # every set added so far
        self._keys: list[tuple[int, ...]] = []
        self._tables: list[np.ndarray] = []
        self._size = 0

    def add(self, key: tuple[int, ...], counts: np.ndarray) -> None:
        table = counts.reshape(-1, 4)
        self.keys.add(key)
        self._keys.append(key)
        self._tables.append(table)
        self._size += table.size
        if self._size > _TABLE_ENTRIES:
            self.flush()

    def flush(self) -> None:
        if not self._tables:
            return
        info, entropy = _robust_bins(np.concatenate(self._tables))
        starts = np.cumsum([0] + [len(t) for t in self._tables[:-1]])
        for key, i_, h_ in zip(self._keys, np.add.reduceat(info, starts),
                               np.add.reduceat(entropy, starts)):
            total = self.sums.setdefault(key, [0.0, 0.0])
            total[0] += float(i_)
            total[1] += float(h_)
        self._keys, self._tables, self._size = [], [], 0

    def ratio(self, key: tuple[int, ...]) -> float:
        """``I(G; Q | U) / H(G | U)``; mathematically in [0, 1], clipped against rounding."""
        self.flush()
        info, entropy = self.sums[key]
        return float(np.clip(info / entropy, 0.0, 1.0)) if entropy > 0 else math.nan


def _xlog2(x: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """``x * log2(ratio)``, 0 where ``x`` is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, x * np.log2(np.where(x > 0, ratio, 1.0)), 0.0)


def _fold_min(scores: Iterable[float]) -> float:
    """``best = min(score, best)`` from ``best = inf``, with Python's ``min`` (see `official_score`)."""
    best = math.inf
    for score in scores:
        best = min(score, best)
    return float(best)


def _keys_collide(values_a: Sequence[Any], values_b: Sequence[Any]) -> bool:
    """Whether two of the 2020 scorer's bin keys for the ordered pair (a, b) are equal strings.

    The keys are ``s + t`` with ``s`` in ``A = [str(v)+str(w) for v, w in V_a^2]``
    and ``t`` in ``B`` likewise. Two keys ``s + t = s' + t'`` with ``s != s'``
    need ``s'`` to be a proper prefix of ``s`` (or the reverse), ``s = s' + u``,
    and ``u + t = t'``; checked without building all ``|A| |B|`` keys.
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


def _official_by_keys(types: _PairTypes, grid: Grid, a: int, b: int) -> float:
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
    counts = np.concatenate([c for _, _, c in _pair_blocks(types, inverse, len(cells),
                                                          np.zeros_like(inverse), 1)])
    by_cell_pair = (counts[..., :4] + counts[..., 4:]).reshape(-1, 4)
    keep = target >= 0
    per_bin = np.zeros((len(keys), 4))
    for t in range(4):
        per_bin[:, t] = np.bincount(target[keep], weights=by_cell_pair[keep, t], minlength=len(keys))
    mi, h = _official_bins(per_bin)
    return _ratio_of_means(mi, h, len(keys))


def _ratio_of_means(mi: np.ndarray | _Running, h: np.ndarray | _Running, n_bins: int) -> float:
    """``(sum I / n_bins) / (sum H / n_bins)`` with left-to-right sums, as the 2020 code divided."""
    sums = []
    for part in (mi, h):
        if isinstance(part, np.ndarray):
            running = _Running()
            running.add(part)
            part = running
        sums.append(part.total)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((sums[0] / n_bins) / (sums[1] / n_bins))


def _scan(m: np.ndarray, g: np.ndarray, grid: Grid, *, official: bool,
          robust: bool) -> tuple[dict[tuple[str, str], float], RobustCMI | None]:
    """Count the pairs once per unordered pair of hyperparameters; derive official and robust CMI.

    ``official`` requires a complete grid (checked by the caller). The
    official score(a, b) takes the fast path (counting by value indices) when
    the 2020 string keys are in one-to-one correspondence with them, else
    `_official_by_keys`.
    """
    types = _PairTypes(m, g)
    k = grid.n_hparams
    fast: dict[tuple[int | None, int | None], bool] = {}
    if official:
        canonical = [grid._canonical(h) for h in range(k)]
        for a, b in itertools.permutations(range(k), 2):
            fast[a, b] = (canonical[a] and canonical[b]
                          and not _keys_collide(grid.possible_values[a], grid.possible_values[b]))
    pairs: list[tuple[int | None, int | None]] = list(itertools.combinations(range(k), 2))
    if robust and k < 2:   # a placeholder hyperparameter with one value gives sizes 0 and 1
        pairs = [(0, None)] if k == 1 else [(None, None)]
    scores: dict[tuple[int | None, int | None], float] = {}
    sums = _RobustSums() if robust else None
    for a, b in pairs:
        if robust or fast.get((a, b)) or fast.get((b, a)):
            scores.update(_scan_pair(types, grid, a, b, fast, sums))
    official_scores = {}
    if official:
        for a, b in itertools.permutations(range(k), 2):
            value = scores[a, b] if fast[a, b] else _official_by_keys(types, grid, a, b)
            official_scores[grid.names[a], grid.names[b]] = value
    return official_scores, (_robust_result(grid, sums) if sums is not None else None)


def _scan_pair(types: _PairTypes, grid: Grid, a: int | None, b: int | None,
               fast: Mapping[tuple[int | None, int | None], bool],
               sums: _RobustSums | None) -> dict[tuple[int | None, int | None], float]:
    """One pass over the pairs for hyperparameters ``a`` and ``b`` (None: a placeholder).

    Returns the official score(a, b) and score(b, a) where ``fast`` asks for
    them; adds the robust sums of the sets {a, b}, {a}, {b} and {} (each once).
    """
    (la, na), (lb, nb) = (_column(grid, h) for h in (a, b))
    want_ab, want_ba = fast.get((a, b), False), fast.get((b, a), False)
    mi_ab, h_ab, mi_ba, h_ba = _Running(), _Running(), _Running(), _Running()
    one_block = True
    first_a = np.zeros((na, na, 4), dtype=np.int64)
    first_b = np.zeros((nb, nb, 4), dtype=np.int64)
    for x0, x1, counts in _pair_blocks(types, la, na, lb, nb):
        one_block = one_block and (x0, x1) == (0, na)
        if want_ab or want_ba:
            merged = counts[..., :4] + counts[..., 4:]   # the 2020 scorer ignores ties
            if want_ab:
                _add_bins(merged, mi_ab, h_ab)
            if want_ba and one_block:   # (b, a) lists the same bins in another order
                _add_bins(merged.transpose(2, 3, 0, 1, 4), mi_ba, h_ba)
        if sums is not None:
            valid = counts[..., :4]
            if a is not None and b is not None:
                sums.add((a, b), valid)
            first_a[x0:x1] += valid.sum(axis=(2, 3))
            first_b += valid.sum(axis=(0, 1))
    if want_ba and not one_block:
        for _, _, counts in _pair_blocks(types, lb, nb, la, na):
            _add_bins(counts[..., :4] + counts[..., 4:], mi_ba, h_ba)
    if sums is not None:
        if () not in sums.keys:
            sums.add((), first_a.sum(axis=(0, 1)))
        for h, table in ((a, first_a), (b, first_b)):
            if h is not None and (h,) not in sums.keys:
                sums.add((h,), table)
    n_bins = (na * nb) ** 2
    out = {}
    if want_ab:
        out[a, b] = _ratio_of_means(mi_ab, h_ab, n_bins)
    if want_ba:
        out[b, a] = _ratio_of_means(mi_ba, h_ba, n_bins)
    return out


def _column(grid: Grid, h: int | None) -> tuple[np.ndarray, int]:
    """Levels of hyperparameter ``h`` and their number; one level for the placeholder None."""
    if h is None:
        return np.zeros(grid.n_models, dtype=np.intp), 1
    return grid.levels[:, h], grid.n_levels[h]


def _add_bins(counts: np.ndarray, mi: _Running, h: _Running) -> None:
    bin_mi, bin_h = _official_bins(counts)
    mi.add(bin_mi)
    h.add(bin_h)


def _robust_result(grid: Grid, sums: _RobustSums) -> RobustCMI:
    """`RobustCMI` from the sums of every conditioning set (keys: tuples of hyperparameter indices)."""
    sums.flush()
    by_set = {tuple(grid.names[h] for h in key): sums.ratio(key)
              for key in sorted(sums.sums, key=lambda key: (len(key), key))}
    size = min(2, grid.n_hparams)
    candidates = [v for s, v in by_set.items() if len(s) == size and not math.isnan(v)]
    return RobustCMI(min(candidates) if candidates else math.nan, by_set)


# ----------------------------------------------------------- groups of models


def _row_ids(levels: np.ndarray) -> np.ndarray:
    """Consecutive ids of the distinct rows of ``levels``: equal rows, equal ids."""
    n, k = levels.shape
    if k == 0 or n == 0:
        return np.zeros(n, dtype=np.intp)
    dims = levels.max(axis=0) + 1
    if math.prod(int(d) for d in dims) < 2 ** 62:
        codes = np.ravel_multi_index(levels.T, dims)
        return np.unique(codes, return_inverse=True)[1].ravel()
    return np.unique(levels, axis=0, return_inverse=True)[1].ravel()


def _group_pair_stats(m: np.ndarray, g: np.ndarray, groups: np.ndarray,
                      level: np.ndarray | None) -> dict[str, np.ndarray]:
    """Sums over the unordered pairs ``i < j`` within each group, vectorized by group size.

    Returns per group: ``size``, ``s`` = sum sign(Δm) sign(Δg), ``tie_m``,
    ``tie_g`` (pairs tied in m, in g); with ``level`` also ``n_diff`` (pairs
    whose level differs) and ``err`` (their summed sign-error).
    """
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    size = np.bincount(groups, minlength=n_groups)
    out = {key: np.zeros(n_groups) for key in ("s", "tie_m", "tie_g", "err", "n_diff")}
    out["size"] = size
    order = np.argsort(groups, kind="stable")
    starts = np.concatenate([[0], np.cumsum(size)])[:-1]
    for s in np.unique(size[size >= 2]):
        ids = np.flatnonzero(size == s)
        members = order[starts[ids][:, None] + np.arange(s)]
        rows = min(s, max(1, _PAIRS_PER_CHUNK // s))
        batch = max(1, _PAIRS_PER_CHUNK // (rows * s))
        for b0 in range(0, len(ids), batch):
            cols = members[b0:b0 + batch]
            for r0 in range(0, s, rows):
                _add_group_block(out, ids[b0:b0 + batch], cols, r0, min(r0 + rows, s), m, g, level)
    return out


def _add_group_block(out: dict[str, np.ndarray], ids: np.ndarray, cols: np.ndarray, r0: int,
                     r1: int, m: np.ndarray, g: np.ndarray, level: np.ndarray | None) -> None:
    rows = cols[:, r0:r1]
    upper = np.arange(cols.shape[1])[None, None, :] > np.arange(r0, r1)[None, :, None]
    dm = _sign(m[rows][:, :, None], m[cols][:, None, :])
    dg = _sign(g[rows][:, :, None], g[cols][:, None, :])
    prod = dm * dg
    out["s"][ids] += np.sum(prod * upper, axis=(1, 2))
    out["tie_m"][ids] += np.sum((dm == 0) & upper, axis=(1, 2))
    out["tie_g"][ids] += np.sum((dg == 0) & upper, axis=(1, 2))
    if level is not None:
        diff = (level[rows][:, :, None] != level[cols][:, None, :]) & upper
        n_diff = np.sum(diff, axis=(1, 2))
        out["n_diff"][ids] += n_diff
        out["err"][ids] += (n_diff - np.sum(prod * diff, axis=(1, 2))) / 2


def _sign(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sign(x - y) as int8, by comparison (no rounding in a subtraction)."""
    return (x > y).view(np.int8) - (x < y).view(np.int8)


def _tau_b(stats: dict[str, np.ndarray]) -> np.ndarray:
    """τ_b per group from `_group_pair_stats` (nan for groups of < 2 models or a constant variable)."""
    size = stats["size"].astype(np.float64)
    n0 = size * (size - 1) / 2
    denom = (n0 - stats["tie_m"]) * (n0 - stats["tie_g"])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, stats["s"] / np.sqrt(denom), np.nan)
