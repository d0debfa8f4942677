"""Predict and evaluate in one call: what ``pgdl score`` does.

    >>> result = score_submission("my_measure/", "zoo/", "out/", RunConfig(tasks=("mnist",)), limit=8)  # doctest: +SKIP
    >>> result.report.to_frame()                                                                     # doctest: +SKIP

The reference data is read and checked before any model runs (bad reference
data costs no run), and the scores an earlier run left in the output folder
are removed first: a run that fails leaves no ``scores.json`` claiming a
score. With ``limit``, each task runs a seeded subset of its models that
covers every hyperparameter value (`harness.task.subset.covering_subset`): the
robust metrics are defined on it, the official score is not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.task.records import prepare_out_dir
from harness.run import RunConfig, RunResult, run_submission
from harness.params import validate_params
from harness.scoring.evaluate import OPTION_CONSTRAINTS, clear_scores, evaluate_dir, reference_tasks
from harness.scoring.results import ScoreReport
from harness.task.subset import covering_subset


@dataclass(frozen=True)
class ScoreResult:
    """What `score_submission` did: the run, its scores, and the models each task ran (all: None)."""

    run: RunResult
    report: ScoreReport
    models: dict[str, list[str]] | None = None

    @property
    def flagged(self) -> bool:
        """Whether a task was flagged (a failed model, an invalid grid): the scores are written, but
        that task's official score counts 0."""
        return bool(self.report.problems)


@validate_params(OPTION_CONSTRAINTS)
def score_submission(submission: str | Path, data_root: str | Path, out_dir: str | Path,
                     config: RunConfig = RunConfig(), *, limit: int | None = None, bootstrap: int = 200,
                     seed: int = 0, permutations: int | None = None, progress: Any = None,
                     null_progress: Any = None) -> ScoreResult:
    """Run ``submission`` on the tasks of ``data_root`` (``config.tasks``: only those) and score it.

    Writes what `run_submission` writes, then ``scores.json``, ``scores.txt``
    and ``models.csv`` (`evaluate_dir`) to ``out_dir``. ``limit``: models per
    task, a subset seeded with ``seed`` (which also seeds the bootstrap and the
    permutation null); ``permutations`` and ``null_progress`` as for `evaluate_dir`.
    """
    out = prepare_out_dir(out_dir, create=False)
    clear_scores(out)
    tasks = reference_tasks(data_root, config.tasks)
    models = None
    if limit is not None:
        models = {t.name: covering_subset(t.read_reference(), limit, seed=seed) for t in tasks}
    else:
        for task in tasks:   # reference data checked before the long run, not after it
            task.read_reference()
    names = tuple(t.name for t in tasks)
    run = run_submission(submission, data_root, out, dataclasses.replace(config, tasks=names), models=models)
    report = evaluate_dir(out, data_root, out, tasks=names, models=models, bootstrap=bootstrap, seed=seed,
                          permutations=permutations, progress=progress, null_progress=null_progress)
    return ScoreResult(run, report, models)
