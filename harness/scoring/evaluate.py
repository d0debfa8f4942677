"""Scoring predictions against reference data: the 2020 scoring program's half (SPEC §3, §4).

Predictions are ``<task>.predict`` files, JSON objects ``{"model_<id>": value}``
as the original ingestion wrote them (bare ids ``"<id>"`` are accepted too).
Every task under the reference root (or the tasks named) is scored with
every metric of `harness.scoring`; the results go to ``scores.json`` (with
the `harness.scoring.environment.environment`), to ``scores.txt`` in the original
line format and to ``models.csv`` (one row per model, `ScoreReport.to_frame`).
The records are in `harness.scoring.results`, the files' schemas in
`harness.scoring.scores_file` and `harness.scoring.models_csv`.

What is an error and what is flagged:

* **Errors** (`HarnessError`, nothing is scored or written, and the scores
  an earlier run left in the output folder are removed): a ``.predict`` file
  that is not a JSON object, is larger than its task can need, gives a model
  id twice or an id that is not in the task's reference data; reference data
  that `harness.task.read_model_configs` refuses, a reference folder without
  ``model_configs.json``, no reference data under the root, an output folder
  that is a file or cannot be written.
* **Flagged** (the task is scored and written, its official score counts 0,
  and ``ScoreReport.problems`` gets one line naming the file; `pgdl evaluate`
  then exits with status 2): no ``.predict`` file for a task; models without a
  finite number (absent from the file, ``"EXCEEDED"``, NaN, inf, a string,
  ``null``), as the competition gave a submission with a failed model no score
  on that task, while the robust metrics use the models that have one; a
  hyperparameter grid that is not complete with each combination once (the
  2020 scorer refused the task; robust metrics use every model); an official
  score that the 2020 code would have returned as nan or inf.

This module never imports TensorFlow.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, Mapping, Sequence

import numpy as np

from harness.errors import HarnessError, ParameterError
from harness.params import Interval, validate_params
from harness.task.records import PREDICT_SUFFIX, RUN_LOG, RunRecord, atomic_write_text, prepare_out_dir, read_run_log
from harness.scoring.grid import Grid
from harness.scoring.intervals import resampled_intervals
from harness.scoring.metrics import Metrics, pair_counts_for, score_all
from harness.scoring.models_csv import MODELS_CSV, model_rows, models_csv
from harness.scoring.null import Progress as NullProgress, TaskNull, auto_permutations, permutation_null, task_seed
from harness.scoring.official import grid_problem
from harness.scoring.predictions import normalize_predictions, predict_size_limit, read_prediction_file
from harness.scoring.results import SUBSET_REASON, ScoreReport, TaskScore
from harness.scoring.scores_file import SCORES_JSON, ScoresFile
from harness.task import MODEL_CONFIGS, Reference, Task, find_tasks, natural_key

SCORES_TXT = "scores.txt"
#: Every file `write_scores` writes; a scoring run removes them first, so a failed run leaves none.
SCORE_FILES = (SCORES_JSON, SCORES_TXT, MODELS_CSV)
#: A null over more ordered pairs × permutations than this shows a progress bar (about a second).
_SLOW_NULL_PAIRS = 5e8
#: Shown for the ids of failed models, at most this many.
_MAX_IDS_SHOWN = 5

Progress = Callable[[Sequence[Task]], ContextManager[Iterable[Task]]]


# ------------------------------------------------------------------ scoring


#: The constraints of the options every scoring entry point takes (declared once).
OPTION_CONSTRAINTS = {"bootstrap": [Interval(int, 0, None)], "seed": [Interval(int, 0, None)],
                      "permutations": [Interval(int, 0, None), None]}


@dataclass(frozen=True)
class ScoringOptions:
    """How a run scores each task: ``bootstrap`` resamples (0: no intervals) and ``permutations`` of
    the null (None: automatic; 0: none), seeded with ``seed``; ``progress`` wraps the task list,
    ``null_progress(task)`` a task's null batches."""

    bootstrap: int = 200
    seed: int = 0
    permutations: int | None = None
    progress: Progress | None = None
    null_progress: Callable[[str], NullProgress | None] | None = None


@validate_params(OPTION_CONSTRAINTS)
def evaluate_predictions(predictions: Mapping[str, Mapping[str, Any]], reference_root: Path | str,
                         *, tasks: Sequence[str] | None = None, models: Mapping[str, Sequence[str]] | None = None,
                         bootstrap: int = 200, seed: int = 0, permutations: int | None = None,
                         progress: Progress | None = None,
                         null_progress: Callable[[str], NullProgress | None] | None = None) -> ScoreReport:
    """Score ``predictions`` (task -> {bare model id -> value}) against every task under ``reference_root``.

    ``reference_root`` is anything `harness.task.find_tasks` accepts that holds
    reference data (a split root, a ``reference_data`` folder, a combined task
    folder). ``tasks`` scores only the tasks of these names (the overall over
    them); ``models`` maps a task to the subset of its models to score (see
    `harness.task.subset.covering_subset`: such a task gets no official score,
    and is not flagged for it). A task missing from ``predictions`` is scored
    as having no predictions (flagged); values that are not finite numbers
    mark failed models. ``bootstrap`` resamples per task (0: no intervals) and
    ``permutations`` of the null (None: automatic; 0: none), seeded with
    ``seed``. ``progress`` wraps the task list for display, as a context
    manager (``click.progressbar`` fits); ``null_progress(task)`` gives the
    wrapper of a task's null batches (or None).
    """
    chosen = reference_tasks(reference_root, tasks)
    known = {t.name for t in find_tasks(reference_root)}
    warnings = _ignored(set(predictions) - known, lambda name: f"predictions for task {name}")
    options = ScoringOptions(bootstrap, seed, permutations, progress, null_progress)
    return _evaluate(predictions, {t.name: t.read_reference() for t in chosen}, models, None, warnings, {}, options)


@validate_params(OPTION_CONSTRAINTS)
def evaluate_dir(pred_dir: str | Path, reference_root: str | Path, out_dir: str | Path, *,
                 tasks: Sequence[str] | None = None, models: Mapping[str, Sequence[str]] | None = None,
                 bootstrap: int = 200, seed: int = 0, permutations: int | None = None,
                 progress: Progress | None = None,
                 null_progress: Callable[[str], NullProgress | None] | None = None) -> ScoreReport:
    """Read ``pred_dir/<task>.predict``, score them (`evaluate_predictions`), write ``out_dir``'s scores.

    ``out_dir``'s earlier scores are removed first and the new ones written at
    the end, so a run that fails leaves none. Each ``.predict`` is refused
    unread when it is larger than its task can need (`predict_size_limit`).
    ``pred_dir/run.jsonl``, where the run left one, gives ``models.csv`` each
    model's status and time.
    """
    pred_dir, out_dir = Path(pred_dir), prepare_out_dir(out_dir, create=False)
    clear_scores(out_dir)
    references = {t.name: t.read_reference() for t in reference_tasks(reference_root, tasks)}
    if not pred_dir.is_dir():
        raise HarnessError(f"{pred_dir}: not a directory")
    known = {t.name for t in find_tasks(reference_root)}
    files = {p.name[:-len(PREDICT_SUFFIX)]: str(p) for p in pred_dir.glob(f"*{PREDICT_SUFFIX}")}
    warnings = _ignored(set(files) - known, files.__getitem__)
    sources = {name: str(pred_dir / f"{name}{PREDICT_SUFFIX}") for name in references}
    predictions = {name: read_prediction_file(path, max_bytes=predict_size_limit(len(references[name].records)))
                   for name, path in sources.items() if Path(path).is_file()}
    report = _evaluate(predictions, references, models, sources, warnings, read_run_log(pred_dir / RUN_LOG),
                       ScoringOptions(bootstrap, seed, permutations, progress, null_progress))
    write_scores(report, out_dir)
    return report


def reference_tasks(reference_root: str | Path, names: Sequence[str] | None = None) -> list[Task]:
    """The tasks under ``reference_root`` that have reference data (only those in ``names``, if given).

    A reference folder without ``model_configs.json`` (``reference_data/<task>/``
    holding something else) is an error, not a task left out of the overall.
    """
    found = find_tasks(reference_root)
    broken = [t for t in found if t.reference_dir is not None and not t.has_reference()]
    if broken:
        raise HarnessError(f"{broken[0].reference_dir}: no {MODEL_CONFIGS} in this reference folder")
    tasks = [t for t in found if t.has_reference()]
    if not tasks:
        raise HarnessError(f"{reference_root}: no reference data ({MODEL_CONFIGS}) found")
    if names is None:
        return tasks
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in {t.name for t in tasks}]
    if unknown or not names:
        raise ParameterError("tasks", f"must name tasks with reference data under {reference_root} "
                             f"({', '.join(t.name for t in tasks)})", tuple(unknown or names))
    return [t for t in tasks if t.name in set(names)]


def subset_reference(reference: Reference, ids: Sequence[str]) -> Reference:
    """``reference`` with only the models ``ids`` (the grid unchanged); `ParameterError` for an unknown id."""
    unknown = [i for i in ids if i not in reference.records]
    if unknown:
        raise ParameterError("models", f"must be model ids of {reference.path or 'the task'}", tuple(unknown))
    wanted = set(ids)
    return replace(reference, records={i: r for i, r in reference.records.items() if i in wanted})


def _ignored(names: Iterable[str], label: Callable[[str], str]) -> tuple[str, ...]:
    return tuple(f"{label(name)}: no task {name} in the reference data; ignored"
                 for name in sorted(names, key=natural_key))


@validate_params(OPTION_CONSTRAINTS)
def score_task(name: str, reference: Reference, predictions: Mapping[str, Any] | None, *,
               bootstrap: int = 200, seed: int = 0, source: str | None = None,
               subset: bool = False, permutations: int | None = None,
               null_progress: NullProgress | None = None) -> TaskScore:
    """Every metric of one task; ``predictions`` None means the task has none.

    ``source`` names the predictions in flags (the ``.predict`` path).
    ``subset``: ``reference`` holds a chosen subset of the task's models, so
    an incomplete grid means no official score but is not flagged.
    ``permutations``: of the null (None: `harness.scoring.null.auto_permutations`; 0: no
    null); ``bootstrap``: resamples of the intervals (0: none); both seeded from ``seed``
    and the task's name. ``null_progress`` wraps the null's batches.
    Raises `HarnessError` for ids that are not in ``reference``.
    """
    source = source or f"predictions for task {name}"
    ids = reference.ids
    if predictions is None:
        return TaskScore(name, len(ids), 0, None, "no predictions", flags=(f"{source}: not found",))
    task = _TaskData.of(reference, normalize_predictions(predictions, source), source)
    invalid = grid_problem(task.grid)
    subset_reason = SUBSET_REASON if invalid and subset else None
    invalid = None if subset_reason else invalid
    failed = [i for i, good in zip(ids, task.ok) if not good]
    flags: list[str] = []
    if failed:
        flags.append(f"{source}: {len(failed)} of {len(ids)} models have no finite prediction "
                     f"({_show(failed)}); official score 0")
    if invalid:
        flags.append(f"{reference.path or name}: {invalid}; official score 0")
    rows = np.flatnonzero(task.ok)
    if len(rows) < 2:
        return TaskScore(name, len(ids), len(rows), None, invalid or subset_reason or
                         "fewer than two models scored", flags=tuple(flags))
    m, g, grid = task.measure[rows], task.gap[rows], task.grid.take(rows)
    counts = pair_counts_for(m, g, grid) if permutations != 0 else None
    metrics = score_all(m, g, grid, pair_counts=counts)
    if invalid or failed or subset_reason:
        official, reason = None, invalid or subset_reason or f"{len(failed)} model(s) without a finite prediction"
    else:
        official, reason = _finite_official(metrics.official)
        if reason:
            flags.append(f"{reference.path or name}: {reason}; official score 0")
    stream = task_seed(seed, name)
    ci = resampled_intervals(m, g, grid, n_resamples=bootstrap, seed=stream, observed=metrics) if bootstrap else {}
    if official is None:
        ci.pop("official", None)
    null = _null(m, g, grid, metrics, permutations, stream, null_progress, counts)
    return TaskScore(name, len(ids), len(rows), official, reason,
                     metrics.official_pairs, metrics.robust, metrics.kendall_tau,
                     metrics.granulated, metrics.sign_error, ci, tuple(flags), null)


@dataclass(frozen=True)
class _TaskData:
    """One task's models as the metrics take them: the grid, the gaps, the measure (nan for a
    model without a finite prediction) and which models have one."""

    grid: Grid
    gap: np.ndarray
    measure: np.ndarray
    ok: np.ndarray

    @classmethod
    def of(cls, reference: Reference, values: Mapping[str, float], source: str) -> _TaskData:
        _check_ids(values, reference, source)
        ids = reference.ids
        records = [reference.records[i] for i in ids]
        grid = Grid.from_hparams([r.hparams for r in records], reference.grid, ids=ids)
        gap = np.array([r.gap for r in records], dtype=np.float64)
        measure = np.array([values.get(i, math.nan) for i in ids], dtype=np.float64)
        return cls(grid, gap, measure, np.isfinite(measure))


def _null(m: np.ndarray, g: np.ndarray, grid: Grid, observed: Metrics, permutations: int | None, seed: int,
          progress: NullProgress | None, counts: Any) -> TaskNull | None:
    """The task's permutation null (None with ``permutations`` 0); a progress bar only when it is slow."""
    if permutations == 0:
        return None
    count = auto_permutations(len(m)) if permutations is None else permutations
    slow = count * len(m) ** 2 > _SLOW_NULL_PAIRS
    return permutation_null(m, g, grid, n_permutations=count, seed=seed, observed=observed,
                            progress=progress if slow else None, pair_counts=counts)


def _finite_official(value: float) -> tuple[float | None, str | None]:
    """The official score to report, or None and why: the 2020 code could return nan or inf."""
    if math.isnan(value):
        return None, ("the 2020 scorer gives nan: some bins are empty (hyperparameter value "
                      "strings that collide, or spelled unlike possible_values)")
    if math.isinf(value):
        return None, "the 2020 scorer gives inf: fewer than two hyperparameters"
    return value, None


def _evaluate(predictions: Mapping[str, Mapping[str, Any]], references: Mapping[str, Reference],
              models: Mapping[str, Sequence[str]] | None, sources: Mapping[str, str] | None,
              warnings: tuple[str, ...], run_records: Mapping[tuple[str, str], RunRecord],
              options: ScoringOptions) -> ScoreReport:
    label = (lambda name: sources[name]) if sources else (lambda name: f"predictions for task {name}")
    chosen = {name: subset_reference(ref, (models or {}).get(name, ref.ids)) for name, ref in references.items()}
    values = {}
    for name, reference in references.items():   # fail on bad input before any long work
        if name in predictions:
            values[name] = normalize_predictions(predictions[name], label(name))
            _check_ids(values[name], reference, label(name))
            values[name] = {i: v for i, v in values[name].items() if i in chosen[name].records}
    scores, rows = [], []
    with (options.progress or nullcontext)(list(references)) as items:
        for name in items:
            subset = len(chosen[name].records) < len(references[name].records)
            scores.append(score_task(name, chosen[name], values.get(name), bootstrap=options.bootstrap,
                                     seed=options.seed, source=label(name), subset=subset,
                                     permutations=options.permutations,
                                     null_progress=options.null_progress(name) if options.null_progress else None))
            rows.extend(model_rows(name, chosen[name], values.get(name, {}), run_records))
    return ScoreReport(tuple(scores), warnings, options.bootstrap, options.seed, permutations=options.permutations,
                       models=tuple(rows), notes=_subset_notes(references, chosen))


def _subset_notes(references: Mapping[str, Reference], chosen: Mapping[str, Reference]) -> tuple[str, ...]:
    parts = [f"{name} {len(chosen[name].records)}/{len(ref.records)}" for name, ref in references.items()
             if len(chosen[name].records) < len(ref.records)]
    if not parts:
        return ()
    return (f"scored a subset of the models ({', '.join(parts)}) that covers every hyperparameter value: "
            f"the official score needs the complete grid (none given), the robust metrics do not",)


def _check_ids(values: Mapping[str, float], reference: Reference, source: str) -> None:
    unknown = [i for i in values if i not in reference.records]  # file order: no sort of a huge list
    if unknown:
        raise HarnessError(f"{source}: unknown model id(s) {_show(unknown)} "
                           f"(not in {reference.path or 'the reference data'})")


def _show(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_MAX_IDS_SHOWN])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > _MAX_IDS_SHOWN else "")


# ------------------------------------------------------------------ writing


def write_scores(report: ScoreReport, out_dir: str | Path) -> None:
    """Write ``out_dir/scores.json``, ``scores.txt`` and ``models.csv``, each atomically."""
    out_dir = prepare_out_dir(out_dir)
    atomic_write_text(out_dir / MODELS_CSV, models_csv(report.models))
    atomic_write_text(out_dir / SCORES_TXT, scores_txt(report))
    ScoresFile.of(report).write(out_dir / SCORES_JSON)


def clear_scores(out_dir: str | Path) -> None:
    """Remove the score files (`SCORE_FILES`) an earlier run left in ``out_dir``."""
    for name in SCORE_FILES:
        try:
            (Path(out_dir) / name).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise HarnessError(f"{Path(out_dir) / name}: cannot remove the earlier scores ({exc.strerror})") from None


def scores_txt(report: ScoreReport) -> str:
    """The 2020 scoring program's ``scores.txt``: ``task_<task>_score`` per task (raw, 0..1),
    then ``task_average_score`` (100 × mean), each ``%0.12f``."""
    lines = [f"task_{t.task}_score: {t.official_or_zero:0.12f}" for t in report.tasks]
    lines.append(f"task_average_score: {report.overall_official:0.12f}")
    return "\n".join(lines) + "\n"
