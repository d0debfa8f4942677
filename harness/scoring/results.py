"""What scoring gives: a `TaskScore` per task and the `ScoreReport` of a run (SPEC §3, §4).

These are the live results, with every metric's own record; `harness.scoring.scores_file`
is what of them ``scores.json`` keeps, and reads back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.scoring.cmi import RobustCMI
from harness.scoring.environment import environment
from harness.scoring.inputs import finite_number
from harness.scoring.intervals import Interval
from harness.scoring.models_csv import ModelRow, rows_frame
from harness.scoring.null import NullSummary, TaskNull, overall_official_null
from harness.scoring.ranking import GranulatedKendall, SignError

if TYPE_CHECKING:
    import pandas

#: Why a task scored on a subset of its models (``limit``) has no official score; not a flag.
SUBSET_REASON = "a subset of the grid (limit): the official score needs the complete grid"


@dataclass(frozen=True)
class TaskScore:
    """Every metric of one task.

    ``official`` is the 2020 score in [0, 1], or None when the task cannot
    get one (``official_reason`` says why; it then counts 0). The other
    metrics are over the ``n_scored`` models with a finite prediction, None
    when fewer than two have one; nan inside them means undefined (see
    `harness.scoring`). ``flags`` are one-line problems naming the file.
    ``ci`` holds the valid intervals (`harness.scoring.intervals`), ``null`` the
    permutation null (`harness.scoring.null`; None with ``--permutations 0``).
    """

    task: str
    n_models: int
    n_scored: int
    official: float | None
    official_reason: str | None = None
    official_pairs: dict[tuple[str, str], float] = field(default_factory=dict)
    robust: RobustCMI | None = None
    kendall_tau: float | None = None
    granulated: GranulatedKendall | None = None
    sign_error: SignError | None = None
    ci: dict[str, Interval] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    null: TaskNull | None = None

    @property
    def n_missing(self) -> int:
        return self.n_models - self.n_scored

    @property
    def official_or_zero(self) -> float:
        return self.official if self.official is not None else 0.0

    def p_value(self, metric: str) -> float | None:
        """The null's p-value of ``metric`` (one of `NULL_METRICS`), None where there is none."""
        summary = self.null.summaries.get(metric) if self.null is not None else None
        return None if summary is None else finite_number(summary.p_value)


@dataclass(frozen=True)
class ScoreReport:
    """The scores of every task, and the overall official score.

    ``overall_official`` = 100 × the mean of the tasks' official scores, a
    task without one counting 0 (the 2020 leaderboard's number).
    """

    tasks: tuple[TaskScore, ...]
    warnings: tuple[str, ...] = ()
    bootstrap: int = 200
    seed: int = 0
    permutations: int | None = None
    #: One row per model of every task (`harness.scoring.models_csv.ModelRow`): ``models.csv``, `to_frame`.
    models: tuple[ModelRow, ...] = ()
    #: Lines about the run as a whole (a ``limit``, say): printed as notes, kept in ``scores.json``.
    notes: tuple[str, ...] = ()
    environment: dict[str, Any] = field(default_factory=environment, compare=False)

    @property
    def overall_official(self) -> float:
        return 100.0 * float(np.mean([t.official_or_zero for t in self.tasks])) if self.tasks else 0.0

    @property
    def overall_null(self) -> NullSummary | None:
        """The null of `overall_official`, tasks permuted independently (None without any task's)."""
        samples = [t.null.samples.get("official") if t.null is not None and t.official is not None else None
                   for t in self.tasks]
        return overall_official_null(self.overall_official, samples)

    @property
    def problems(self) -> list[str]:
        """Every task's flags: the lines `pgdl evaluate` prints as errors before exiting with 2."""
        return [flag for t in self.tasks for flag in t.flags]

    def to_frame(self) -> "pandas.DataFrame":
        """One row per model (the content of ``models.csv``): ``task, model, value, gap, status,
        seconds`` and one column per hyperparameter."""
        return rows_frame(self.models)

    def task(self, name: str) -> TaskScore:
        for score in self.tasks:
            if score.task == name:
                return score
        raise KeyError(name)
