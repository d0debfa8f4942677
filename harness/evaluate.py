"""Scoring predictions against reference data: the 2020 scoring program's half (SPEC §3, §4).

Predictions are ``<task>.predict`` files, JSON objects ``{"model_<id>": value}``
as the original ingestion wrote them (bare ids ``"<id>"`` are accepted too).
Every task under the reference root (or the tasks named) is scored with
every metric of `harness.metrics`; the results go to ``scores.json`` (with
the `harness.provenance.environment`), to ``scores.txt`` in the original
line format and to ``models.csv`` (one row per model, `ScoreReport.to_frame`).

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

import json
import math
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterable, Mapping, Sequence

import numpy as np

from harness.errors import HarnessError, ParameterError
from harness.metrics import GranulatedKendall, Grid, RobustCMI, SignError, pair_counts_for, score_all
from harness.provenance import environment
from harness.task.records import PREDICT_SUFFIX, RUN_LOG, RunRecord, atomic_write_text, prepare_out_dir, read_run_log
from harness.scoring.intervals import Interval, resampled_intervals
from harness.scoring.null import NULL_METRICS, NullSummary, Progress as NullProgress, TaskNull, \
    auto_permutations, overall_official_null, permutation_null, task_seed
from harness.tables import MODELS_CSV, ModelRow, model_rows, models_csv, rows_frame
from harness.task import MODEL_CONFIGS, Reference, Task, bare_model_id, find_tasks, natural_key, read_json

if TYPE_CHECKING:
    import pandas

SCORES_JSON = "scores.json"
SCORES_TXT = "scores.txt"
#: Every file `write_scores` writes; a scoring run removes them first, so a failed run leaves none.
SCORE_FILES = (SCORES_JSON, SCORES_TXT, MODELS_CSV)
#: Why a task scored on a subset of its models (``limit``) has no official score; not a flag.
SUBSET_REASON = "a subset of the grid (limit): the official score needs the complete grid"
#: A null over more ordered pairs × permutations than this shows a progress bar (about a second).
_SLOW_NULL_PAIRS = 5e8
#: Shown for the ids of failed models, at most this many.
_MAX_IDS_SHOWN = 5

Progress = Callable[[Sequence[Task]], ContextManager[Iterable[Task]]]


@dataclass(frozen=True)
class TaskScore:
    """Every metric of one task.

    ``official`` is the 2020 score in [0, 1], or None when the task cannot
    get one (``official_reason`` says why; it then counts 0). The other
    metrics are over the ``n_scored`` models with a finite prediction, None
    when fewer than two have one; nan inside them means undefined (see
    `harness.metrics`). ``flags`` are one-line problems naming the file.
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

    def to_dict(self) -> dict[str, Any]:
        sign = self.sign_error
        return {
            "n_models": self.n_models,
            "n_scored": self.n_scored,
            "n_missing": self.n_missing,
            "official": _num(self.official),
            "official_reason": self.official_reason,
            "official_pairs": [{"hparams": list(pair), "score": _num(v)}
                               for pair, v in self.official_pairs.items()],
            "robust_cmi": None if self.robust is None else {
                "headline": _num(self.robust.headline),
                "by_set": [{"hparams": list(s), "value": _num(v)} for s, v in self.robust.by_set.items()]},
            "kendall_tau": _num(self.kendall_tau),
            "granulated_kendall": None if self.granulated is None else {
                "psi": _num(self.granulated.psi),
                "per_hparam": {k: _num(v) for k, v in self.granulated.per_hparam.items()}},
            "sign_error": None if sign is None else {
                **_summary(sign.overall),
                "per_hparam": {k: _summary(v) for k, v in sign.per_hparam.items()}},
            "ci": {k: {"low": _num(v.low), "high": _num(v.high), "confidence": v.confidence,
                       "n_resamples": v.n_resamples, "n_defined": v.n_defined, "resampled": v.method}
                   for k, v in self.ci.items()},
            "null": None if self.null is None else _null_dict(self.null),
            "flags": list(self.flags),
        }

    def p_value(self, metric: str) -> float | None:
        """The null's p-value of ``metric`` (one of `NULL_METRICS`), None where there is none."""
        summary = self.null.summaries.get(metric) if self.null is not None else None
        return None if summary is None else _num(summary.p_value)


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
    #: One row per model of every task (`harness.tables.ModelRow`): ``models.csv``, `to_frame`.
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall_official": self.overall_official,
            "n_tasks": len(self.tasks),
            "n_models": sum(t.n_models for t in self.tasks),
            "n_scored": sum(t.n_scored for t in self.tasks),
            "n_missing": sum(t.n_missing for t in self.tasks),
            "tasks": {t.task: t.to_dict() for t in self.tasks},
            "null_overall": {"official": _summary_dict(self.overall_null)},
            "problems": self.problems,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "environment": self.environment,
            "null_method": {
                "n_permutations": "auto" if self.permutations is None else self.permutations, "seed": self.seed,
                "p_value": "(1 + #{null >= observed}) / (n_permutations + 1), one-sided: larger is better for "
                           "every metric (for tau and Psi, a measure that grows with the gap)",
                "null": "the measure's values permuted across each task's models; the overall official score "
                        "permutes every task independently"},
            "intervals": {
                "n_resamples": self.bootstrap, "seed": self.seed,
                "note": "percentile intervals, widened to contain the estimate: tau and Psi from models "
                        "resampled; with replicate seeds, seeds resampled within each configuration (then the "
                        "official score too); never for robust CMI, nor for the official score from "
                        "resampled models"},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"


# ------------------------------------------------------------------ reading


def predict_size_limit(n_models: int) -> int:
    """The most bytes a ``.predict`` for ``n_models`` models may hold: 1 MiB + 1 KiB per model
    (a value per model takes a few dozen), so that a huge file is refused before it is parsed."""
    return (1 << 20) + 1024 * n_models


#: The size cap of a ``.predict`` read without knowing its task (enough for 100,000 models).
MAX_PREDICT_BYTES = predict_size_limit(100_000)


def read_prediction_file(path: str | Path, *, max_bytes: int = MAX_PREDICT_BYTES) -> dict[str, float]:
    """``{bare id: value}`` from one ``.predict`` file; nan where the value is not a finite number.

    Raises `HarnessError` naming the file when it cannot be read, is larger
    than ``max_bytes``, is not a JSON object, or gives a model twice
    (``"model_3"`` and ``"3"``).
    """
    path = Path(path)
    raw = read_json(path, max_bytes=max_bytes)
    if not isinstance(raw, dict):
        raise HarnessError(f"{path}: expected a JSON object mapping model ids to numbers, "
                           f"got {type(raw).__name__}")
    return _normalize(raw, str(path))


def read_predictions(pred_dir: str | Path) -> dict[str, dict[str, float]]:
    """Every ``<task>.predict`` in ``pred_dir``: task name -> {bare id -> value (nan if not a number)}."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise HarnessError(f"{pred_dir}: not a directory")
    files = sorted(pred_dir.glob(f"*{PREDICT_SUFFIX}"), key=lambda p: natural_key(p.name))
    return {path.name[:-len(PREDICT_SUFFIX)]: read_prediction_file(path) for path in files}


def _normalize(raw: Mapping[str, Any], source: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in raw.items():
        mid = bare_model_id(str(key))
        if mid in out:
            raise HarnessError(f"{source}: model {mid} is given twice")
        out[mid] = _as_number(value)
    return out


def _as_number(value: Any) -> float:
    """``float(value)`` for an int or float (not a bool), else nan."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.nan


# ------------------------------------------------------------------ scoring


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
    return _evaluate(predictions, {t.name: t.read_reference() for t in chosen}, models, None, warnings, {},
                     bootstrap=bootstrap, seed=seed, permutations=permutations, progress=progress,
                     null_progress=null_progress)


def evaluate_dir(pred_dir: str | Path, reference_root: str | Path, out_dir: str | Path, *,
                 tasks: Sequence[str] | None = None, models: Mapping[str, Sequence[str]] | None = None,
                 **kwargs: Any) -> ScoreReport:
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
    known = {t.name for t in find_tasks(reference_root)}
    files = {p.name[:-len(PREDICT_SUFFIX)]: str(p) for p in pred_dir.glob(f"*{PREDICT_SUFFIX}")}
    warnings = _ignored(set(files) - known, files.__getitem__)
    return evaluate_references(pred_dir, references, out_dir, models=models, warnings=warnings, **kwargs)


def evaluate_references(pred_dir: str | Path, references: Mapping[str, Reference], out_dir: str | Path, *,
                        models: Mapping[str, Sequence[str]] | None = None, warnings: tuple[str, ...] = (),
                        **kwargs: Any) -> ScoreReport:
    """`evaluate_dir` for references already read (task name -> `Reference`): score
    ``pred_dir/<task>.predict`` for each, write ``out_dir``'s scores (the earlier ones removed first)."""
    pred_dir, out_dir = Path(pred_dir), prepare_out_dir(out_dir, create=False)
    clear_scores(out_dir)
    if not pred_dir.is_dir():
        raise HarnessError(f"{pred_dir}: not a directory")
    sources = {name: str(pred_dir / f"{name}{PREDICT_SUFFIX}") for name in references}
    predictions = {name: read_prediction_file(path, max_bytes=predict_size_limit(len(references[name].records)))
                   for name, path in sources.items() if Path(path).is_file()}
    report = _evaluate(predictions, references, models, sources, warnings, read_run_log(pred_dir / RUN_LOG),
                       **kwargs)
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
    records = [reference.records[i] for i in ids]
    grid = Grid.from_hparams([r.hparams for r in records], reference.grid, ids=ids)
    gap = np.array([r.gap for r in records], dtype=np.float64)
    values = _normalize(predictions, source)
    _check_ids(values, reference, source)
    measure = np.array([values.get(i, math.nan) for i in ids], dtype=np.float64)
    ok = np.isfinite(measure)
    failed = [i for i, good in zip(ids, ok) if not good]
    invalid = grid.problem()
    if invalid and subset:
        invalid, subset_reason = None, SUBSET_REASON
    else:
        subset_reason = None
    flags: list[str] = []
    if failed:
        flags.append(f"{source}: {len(failed)} of {len(ids)} models have no finite prediction "
                     f"({_show(failed)}); official score 0")
    if invalid:
        flags.append(f"{reference.path or name}: {invalid}; official score 0")
    if ok.sum() < 2:
        return TaskScore(name, len(ids), int(ok.sum()), None, invalid or subset_reason or
                         "fewer than two models scored", flags=tuple(flags))
    rows = np.flatnonzero(ok)
    sub = grid.take(rows)
    counts = pair_counts_for(measure[rows], gap[rows], sub) if permutations != 0 else None
    metrics = score_all(measure[rows], gap[rows], sub, pair_counts=counts)
    if invalid or failed or subset_reason:
        official, reason = None, invalid or subset_reason or f"{len(failed)} model(s) without a finite prediction"
    else:
        official, reason = _finite_official(metrics.official)
        if reason:
            flags.append(f"{reference.path or name}: {reason}; official score 0")
    stream = task_seed(seed, name)
    ci = resampled_intervals(measure[rows], gap[rows], sub, n_resamples=bootstrap, seed=stream,
                             observed=metrics) if bootstrap else {}
    if official is None:
        ci.pop("official", None)
    null = None
    if permutations != 0:
        count = auto_permutations(len(rows)) if permutations is None else permutations
        slow = count * len(rows) ** 2 > _SLOW_NULL_PAIRS
        null = permutation_null(measure[rows], gap[rows], sub, n_permutations=count, seed=stream,
                                observed=metrics, progress=null_progress if slow else None, pair_counts=counts)
    return TaskScore(name, len(ids), len(rows), official, reason,
                     metrics.official_pairs, metrics.robust, metrics.kendall_tau,
                     metrics.granulated, metrics.sign_error, ci, tuple(flags), null)


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
              warnings: tuple[str, ...], run_records: Mapping[tuple[str, str], RunRecord], *,
              bootstrap: int = 200, seed: int = 0, permutations: int | None = None,
              progress: Progress | None = None,
              null_progress: Callable[[str], NullProgress | None] | None = None) -> ScoreReport:
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0:
        raise ParameterError("bootstrap", "must be a whole number >= 0", bootstrap)
    if permutations is not None and (isinstance(permutations, bool) or not isinstance(permutations, int)
                                     or permutations < 0):
        raise ParameterError("permutations", "must be a whole number >= 0 or None", permutations)
    label = (lambda name: sources[name]) if sources else (lambda name: f"predictions for task {name}")
    chosen = {name: subset_reference(ref, (models or {}).get(name, ref.ids)) for name, ref in references.items()}
    values = {}
    for name, reference in references.items():   # fail on bad input before any long work
        if name in predictions:
            values[name] = _normalize(predictions[name], label(name))
            _check_ids(values[name], reference, label(name))
            values[name] = {i: v for i, v in values[name].items() if i in chosen[name].records}
    scores, rows = [], []
    with (progress or nullcontext)(list(references)) as items:
        for name in items:
            subset = len(chosen[name].records) < len(references[name].records)
            scores.append(score_task(name, chosen[name], values.get(name), bootstrap=bootstrap, seed=seed,
                                     source=label(name), subset=subset, permutations=permutations,
                                     null_progress=null_progress(name) if null_progress else None))
            rows.extend(model_rows(name, chosen[name], values.get(name, {}), run_records))
    return ScoreReport(tuple(scores), warnings, bootstrap, seed, permutations=permutations, models=tuple(rows),
                       notes=_subset_notes(references, chosen))


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
    atomic_write_text(out_dir / SCORES_JSON, report.to_json())


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


def format_table(report: ScoreReport) -> str:
    """A readable table: one row per task (each headline with its null p-value, τ and Ψ with
    their intervals), then the overall official score with its null."""
    header = ("task", "models", "official", "p", "robust CMI", "p", "tau [95% CI]", "p", "Psi [95% CI]", "p",
              "sign err")
    rows = [header]
    for t in report.tasks:
        psi = None if t.granulated is None else t.granulated.psi
        rows.append((t.task, f"{t.n_scored}/{t.n_models}",
                     format_score(t.official) + ("" if t.official is not None or t.official_reason == SUBSET_REASON
                                                 else " (0)"),
                     format_p(t.p_value("official")),
                     "-" if t.robust is None else format_score(t.robust.headline), format_p(t.p_value("robust_cmi")),
                     _with_interval(t.kendall_tau, t.ci.get("kendall_tau")), format_p(t.p_value("kendall_tau")),
                     _with_interval(psi, t.ci.get("psi")), format_p(t.p_value("psi")),
                     "-" if t.sign_error is None else format_score(t.sign_error.overall.mean)))
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if c == 0 else cell.rjust(w)
                       for c, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    null = report.overall_null
    against = "" if null is None else \
        f"; null mean {null.mean:.4f}, 95th percentile {null.q95:.4f}, p = {format_p(null.p_value)}"
    if report.tasks and all(t.official_reason == SUBSET_REASON for t in report.tasks):
        lines.append("overall official score: - (a subset of each grid; the official score needs the complete grid)")
    else:
        lines.append(f"overall official score: {report.overall_official:.4f} (100 x mean over "
                     f"{len(report.tasks)} task{'s' if len(report.tasks) != 1 else ''}{against})")
    if any(t.null is not None for t in report.tasks):
        counts = sorted({t.null.n_permutations for t in report.tasks if t.null is not None})
        lines.append(f"p: one-sided permutation p-value ({', '.join(map(str, counts))} permutations; "
                     f"the smallest possible is 1/(N+1)); larger is better for every score")
    return "\n".join(lines)


def format_p(value: float | None) -> str:
    """A p-value as the tables show it: 3 significant digits, ``<0.0001`` below that, ``-`` for none."""
    if value is None or math.isnan(value):
        return "-"
    return "<0.0001" if value < 1e-4 else f"{value:.3g}"


def _with_interval(value: float | None, interval: Interval | None) -> str:
    text = format_score(value)
    if interval is not None and value is not None:
        text += f" [{format_score(interval.low)}, {format_score(interval.high)}]"
    return text


def format_score(value: float | None) -> str:
    """A score as the tables show it: 4 decimals, ``nan``, or ``-`` for none."""
    if value is None:
        return "-"
    return "nan" if math.isnan(value) else f"{value:.4f}"


def _num(value: float | None) -> float | None:
    """A JSON-safe number: None for None, nan and inf."""
    return None if value is None or not math.isfinite(value) else float(value)


def _summary(s: Any) -> dict[str, Any]:
    return {"mean": _num(s.mean), "worst_environment": _num(s.worst_environment),
            "worst_group": _num(s.worst_group), "n_pairs": s.n_pairs, "n_environments": s.n_environments}


def _summary_dict(summary: NullSummary | None) -> dict[str, float | None] | None:
    if summary is None:
        return None
    return {"mean": _num(summary.mean), "q95": _num(summary.q95), "p_value": _num(summary.p_value)}


def _null_dict(null: TaskNull) -> dict[str, Any]:
    """``tasks.<task>.null`` of ``scores.json``: per metric mean, q95, p-value (None where the
    metric has no null), the permutations, the seed, and the 95th percentiles for the plots."""
    out: dict[str, Any] = {metric: _summary_dict(null.summaries.get(metric)) for metric in NULL_METRICS}
    out["n_permutations"] = null.n_permutations
    out["seed"] = null.seed
    out["methods"] = dict(null.methods)
    out["official_pairs_q95"] = [{"hparams": list(pair), "q95": _num(v)} for pair, v in null.official_pairs_q95.items()]
    out["psi_per_hparam_q95"] = {k: _num(v) for k, v in null.psi_per_hparam_q95.items()}
    return out
