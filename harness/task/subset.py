"""A seeded subset of a task's models that still covers every hyperparameter value (``--limit``).

A quick look at a measure need not run every model: `covering_subset` picks
``limit`` models, at random but reproducibly, such that every value each
hyperparameter takes in the task is held by at least one chosen model. The
robust metrics are defined on such a subset; the official 2020 score is not
(it needs the complete grid), so a limited run reports none.

    >>> from harness.task import ModelRecord, Reference
    >>> records = {str(i): ModelRecord(str(i), {"w": i % 2, "d": i // 2}, 1.0, 0.5) for i in range(4)}
    >>> reference = Reference(records, {"w": [0, 1], "d": [0, 1]})
    >>> chosen = covering_subset(reference, 2, seed=0)
    >>> sorted({records[i].hparams["w"] for i in chosen}), sorted({records[i].hparams["d"] for i in chosen})
    ([0, 1], [0, 1])
"""

from __future__ import annotations

import numpy as np

from harness.errors import ParameterError
from harness.task.reference import Reference, natural_key


def covering_subset(reference: Reference, limit: int, *, seed: int = 0) -> list[str]:
    """``limit`` model ids of ``reference`` (all of them if it has no more), in natural order, that
    cover every value of every hyperparameter.

    Greedy cover over a seeded shuffle: take the model holding the most values
    not yet covered (the earliest in the shuffle on ties) until every value is
    covered, then the next models of the shuffle. Raises `ParameterError` when
    ``limit`` is below 1 or below the size of that cover.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ParameterError("limit", "must be a positive whole number of models per task", limit)
    ids = reference.ids
    if limit >= len(ids):
        return sorted(ids, key=natural_key)
    order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
    holds = {i: {(name, repr(value)) for name, value in reference.records[i].hparams.items()
                 if name in reference.grid} for i in ids}
    uncovered = set().union(*holds.values())
    chosen: list[str] = []
    while uncovered:
        best = max(order, key=lambda i: len(holds[i] & uncovered))  # max keeps the first of equals
        chosen.append(best)
        order.remove(best)
        uncovered -= holds[best]
    if len(chosen) > limit:
        raise ParameterError("limit", f"must be at least {len(chosen)} for {reference.path or 'this task'} "
                             f"(models that cover every value of every hyperparameter)", limit)
    chosen += order[:limit - len(chosen)]
    return sorted(chosen, key=natural_key)
