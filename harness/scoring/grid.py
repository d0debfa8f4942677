"""The hyperparameters of a task's models, as every metric reads them: a `Grid` record.

Levels (indices into each hyperparameter's ``possible_values``) are what the
metrics condition and group on; labels (the ``str()`` spellings) are kept for
the 2020 scorer, which keyed its bins on strings. Whether a grid is valid for
that scorer is its rule, not the grid's: see `harness.scoring.official.check_complete`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

#: Label of a hyperparameter absent from a model's entry.
ABSENT_LABEL = "<absent>"
#: Stands for an absent hyperparameter's value: equal to nothing but itself.
_ABSENT = object()


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

    >>> grid = Grid.from_hparams([{"lr": 0.1, "depth": 2}, {"lr": 0.01, "depth": 2}],
    ...                          {"lr": [0.1, 0.01], "depth": [2, 3]})
    >>> grid.levels.tolist(), grid.n_levels
    ([[0, 0], [1, 0]], (2, 2))
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
                    text = ABSENT_LABEL
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

    def model_id(self, i: int) -> str:
        """Model ``i``'s id, or ``#i`` for a grid without ids (for messages)."""
        return self.ids[i] if self.ids is not None else f"#{i}"

    def label(self, i: int, h: int) -> str:
        """How model ``i``'s entry spells hyperparameter ``h`` (`ABSENT_LABEL` when it has none)."""
        return self.label_strings[h][self.labels[i, h]]


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
