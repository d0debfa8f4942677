"""Groups of models: replicate seeds, configurations, and the pairs that differ in one hyperparameter.

Ψ (`harness.scoring.ranking.granulated_kendall`), sign-error and the seed-resampled
intervals all read the grid through these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.scoring.grid import Grid

#: Hyperparameter names (lower case) that label replicate seeds rather than interventions.
SEED_NAMES = frozenset({"seed", "random_seed", "rng_seed", "trial", "replicate"})


def seed_axes(grid: Grid) -> list[int]:
    """Indices of the hyperparameters named like a seed (`SEED_NAMES`)."""
    return [h for h, name in enumerate(grid.names) if name.lower() in SEED_NAMES]


def row_ids(levels: np.ndarray) -> np.ndarray:
    """Consecutive ids of the distinct rows of ``levels``: equal rows, equal ids.

    >>> row_ids(np.array([[0, 1], [1, 0], [0, 1]])).tolist()
    [0, 1, 0]
    """
    n, k = levels.shape
    if k == 0 or n == 0:
        return np.zeros(n, dtype=np.intp)
    dims = levels.max(axis=0) + 1
    if math.prod(int(d) for d in dims) < 2 ** 62:
        codes = np.ravel_multi_index(levels.T, dims)
        return np.unique(codes, return_inverse=True)[1].ravel()
    return np.unique(levels, axis=0, return_inverse=True)[1].ravel()


def configurations(grid: Grid) -> np.ndarray:
    """Consecutive ids of the models' configurations: equal hyperparameters but seeds, equal ids."""
    return row_ids(np.delete(grid.levels, seed_axes(grid), axis=1))


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
        ids = row_ids(np.delete(grid.levels, drop, axis=1))
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
