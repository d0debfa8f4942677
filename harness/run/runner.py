"""Running a submission over a set of tasks: the ingestion half of the harness.

    >>> result = run_submission("my_measure/", "zoo/", "out/", RunConfig(workers=2))  # doctest: +SKIP
    >>> result.summaries()                                                           # doctest: +SKIP

`run_submission` hands every model of every task to a pool of long-lived
sandboxed workers (`harness.sandbox.worker`, one per ``--workers`` slot or per GPU),
one model at a time from a shared queue, task after task. Each model's
outcome is appended to ``OUT/run.jsonl`` as it arrives; each task's
``OUT/<task>.predict`` is written when the task is done. A worker that goes
over a limit (time, memory, threads) or dies is killed and replaced; the run
goes on. A submission that cannot be imported ends the run at once
(`SubmissionImportError`, one line naming the file and line); a task whose
models time out three times in a row is stopped, its other models recorded
``skipped`` (unless ``keep_going``).

Runs are resumable: started again with the same output folder, a run skips
the models ``run.jsonl`` already holds (except ``skipped`` ones), and ends
with the same files as an uninterrupted run (``run.jsonl`` is rewritten in task/model order at the end).
Each model gets a seed derived from its task and id (`model_seed`), and
workers keep no state that changes results, so predictions do not depend on
the number of workers. With ``seeding="kit"`` nothing is seeded (the 2020
ingestion program's behaviour: see `SEEDINGS`). Which Keras runs the
submission is `harness.submission.keras_mode`'s choice (``keras``).

This module never reads reference data (``model_configs.json``).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from harness.errors import HarnessError, ParameterError
from harness.run.config import TIMEOUT_STREAK, RunConfig
from harness.run.context import LOG_DIR, SUBMISSION_INFO, Job, RunContext
from harness.run.executors import make_executor
from harness.run.progress import RunProgress
from harness.run.scratch import scratch_dir
from harness.run.session import Session
from harness.sandbox.layout import require_bwrap
from harness.submission.keras_mode import KerasChoice, KerasState
from harness.submission.package import Submission, open_submission
from harness.task import (RUN_LOG, RunLog, RunRecord, Task, atomic_write_text, find_tasks, read_run_log,
                          record_order, write_predict, write_run_log)


class SubmissionImportError(HarnessError):
    """The submission cannot be imported (syntax error, missing module, too slow): the run ends at once.

    ``out_dir`` is the run's output folder (its ``run.jsonl`` holds no record of the failure);
    ``raise_param`` the parameter to raise for another try (``time_per_model`` after a timeout), if any:
    the message ends ``; raise <it>`` (the CLI names its option instead).
    """

    def __init__(self, message: str, out_dir: Path, raise_param: str | None = None) -> None:
        self.reason, self.out_dir, self.raise_param = message, out_dir, raise_param
        super().__init__(self.shown_as(raise_param) if raise_param else message)

    def shown_as(self, name: str) -> str:
        """The message with ``name`` (a command-line option, say) as what to raise."""
        return f"{self.reason}; raise {name}"


@dataclass(frozen=True)
class TaskSummary:
    """One task's line of the end-of-run table."""

    task: str
    models: int
    ok: int
    failed: dict[str, int]
    median_seconds: float | None


@dataclass(frozen=True)
class RunResult:
    """What `run_submission` did: every record (sorted), and how many were resumed from an earlier run."""

    out_dir: Path
    tasks: tuple[str, ...]
    records: tuple[RunRecord, ...]
    resumed: int
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(r.status != "ok" for r in self.records)

    def summaries(self) -> list[TaskSummary]:
        rows = []
        for task in self.tasks:
            mine = [r for r in self.records if r.task == task]
            failed: dict[str, int] = {}
            for r in mine:
                if r.status != "ok":
                    failed[r.status] = failed.get(r.status, 0) + 1
            seconds = [r.seconds for r in mine if r.status != "skipped"]
            rows.append(TaskSummary(task, len(mine), len(mine) - sum(failed.values()), failed,
                                    statistics.median(seconds) if seconds else None))
        return rows



def input_tasks(data_root: str | Path, names: Sequence[str] | None = None) -> list[Task]:
    """The tasks under ``data_root`` that have an input side (optionally only those named)."""
    tasks = [t for t in find_tasks(data_root) if t.input_dir is not None]
    if names is not None:
        unknown = sorted(set(names) - {t.name for t in tasks})
        if unknown:
            raise HarnessError(f"{data_root}: no task named {', '.join(unknown)}")
        tasks = [t for t in tasks if t.name in names]
    if not tasks:
        raise HarnessError(f"{data_root}: no task with model folders (input data) found")
    return tasks


def run_submission(submission: str | Path, data_root: str | Path, out_dir: str | Path,
                   config: RunConfig = RunConfig(), *, models: Mapping[str, Sequence[str]] | None = None) -> RunResult:
    """Run ``submission`` on every model of the tasks under ``data_root``; write ``out_dir``.

    ``models`` maps a task's name to the only model ids to run of it (a
    subset chosen by the caller, `harness.task.subset.covering_subset` say).

    Writes ``out_dir/run.jsonl``, ``out_dir/<task>.predict``,
    ``out_dir/submission.json`` (name and SHA-256 of the submission, so that a
    resumed run cannot mix two submissions) and the workers' output in
    ``out_dir/logs/``. Raises `SubmissionImportError` as soon as the
    submission fails to import (nothing is recorded for its models), and
    `HarnessError` for unusable input (no such submission, no tasks,
    bubblewrap missing) or a worker that cannot start at all (which is not the
    submission's fault).
    """
    if config.sandbox and config.ray is None:
        require_bwrap()
    tasks = input_tasks(data_root, config.tasks)
    out = Path(out_dir)
    started = time.monotonic()
    with scratch_dir("pgdl-run-") as scratch:
        sub = open_submission(submission, scratch, config.intake())
        (out / LOG_DIR).mkdir(parents=True, exist_ok=True)
        _claim_output(out, sub)
        done = {key: r for key, r in read_run_log(out / RUN_LOG).items() if r.status != "skipped"}
        write_run_log(out / RUN_LOG, done.values())
        ids = {task.name: _model_ids(task, config, (models or {}).get(task.name)) for task in tasks}
        resumed = sum((name, m) in done for name, models in ids.items() for m in models)
        progress = RunProgress({name: len(models) for name, models in ids.items()},
                               {name: sum((name, m) in done for m in models) for name, models in ids.items()},
                               enabled=config.progress)
        context = RunContext(sub, tasks, config, Path(scratch), out / LOG_DIR, progress=progress)
        context.keras = _resumed_keras(context.keras, done.values())
        with RunLog(out / RUN_LOG) as log, progress, make_executor(config.executor, context) as pool:
            progress.note(f"keras {context.keras.choice.describe()}")
            for task in tasks:
                todo = [m for m in ids[task.name] if (task.name, m) not in done]
                progress.start_task(task.name)
                streak = TimeoutStreak(None if config.keep_going else TIMEOUT_STREAK)
                for record in pool.run([Job(task.name, m) for m in todo]):
                    if (failure := context.import_failure()) is not None:
                        raise SubmissionImportError(failure.message, out,
                                                    "time_per_model" if failure.status == "timeout" else None)
                    log.append(record)
                    done[record.key] = record
                    progress.advance(record)
                    if streak.add(record):
                        message = _stopped_message(config)
                        progress.note(f"{task.name}: {message}")
                        pool.skip_pending(task.name, message)
                progress.end_task()
                write_predict(out, task.name, done.values())
    write_run_log(out / RUN_LOG, done.values())
    wanted = {(name, m) for name, models in ids.items() for m in models}
    chosen = tuple(sorted((r for key, r in done.items() if key in wanted), key=record_order))
    return RunResult(out, tuple(t.name for t in tasks), chosen, resumed, time.monotonic() - started)


class TimeoutStreak:
    """Counts a task's consecutive timeouts; `add` is True once, when they reach ``limit`` (None: never)."""

    def __init__(self, limit: int | None) -> None:
        self.limit, self.count, self.fired = limit, 0, False

    def add(self, record: RunRecord) -> bool:
        if record.status == "skipped":
            return False
        self.count = self.count + 1 if record.status == "timeout" else 0
        if self.limit is None or self.fired or self.count < self.limit:
            return False
        self.fired = True
        return True


def _stopped_message(config: RunConfig) -> str:
    return (f"not run: {TIMEOUT_STREAK} models in a row exceeded the {config.time_per_model:g} s time limit; "
            f"raise --time-per-model, or pass --keep-going to run every model anyway")


def _resumed_keras(state: KerasState, records: Iterable[RunRecord]) -> KerasState:
    """The Keras state of a resumed run: an earlier fallback to tf_keras (in ``records``) holds."""
    fallback = next((r for r in records if r.keras == "2" and (r.keras_reason or "").startswith("auto: re-run")),
                    None)
    if fallback is None or not state.may_fall_back():
        return state
    return KerasState(state.mode, KerasChoice("2", fallback.keras_reason))


@dataclass(frozen=True)
class CheckReport:
    """What `check_submission` found: worker start, import, signature, one model's outcome."""

    submission: str
    sandboxed: bool
    tensorflow_seconds: float | None
    import_seconds: float | None
    plan: str | None
    record: RunRecord
    keras: str = ""
    seeding: str = "model"

    @property
    def ok(self) -> bool:
        return self.record.status == "ok"


def check_submission(submission: str | Path, data_root: str | Path,
                     config: RunConfig = RunConfig(time_per_model=60.0)) -> CheckReport:
    """Import ``submission`` in a worker, check its signature, run it on the first model of the first task."""
    if config.sandbox:
        require_bwrap()
    task = input_tasks(data_root, config.tasks)[0]
    ids = task.model_ids()
    if not ids:
        raise HarnessError(f"{task.input_dir}: no model folders")
    with scratch_dir("pgdl-check-") as scratch:
        sub = open_submission(submission, scratch, config.intake())
        logs = Path(scratch) / LOG_DIR
        logs.mkdir()
        context = RunContext(sub, [task], config, Path(scratch), logs)
        with Session(context, slot=0, gpu=config.slots[0]) as session:
            record = session.run(Job(task.name, ids[0]))
        started = session.started
        keras = context.keras.choice.describe()
        if started is None:
            return CheckReport(sub.name, config.sandbox, None, None, None, record, keras, config.seeding)
        return CheckReport(sub.name, config.sandbox, started.tensorflow_seconds, started.import_seconds,
                           started.plan, record, keras, config.seeding)



def _claim_output(out: Path, submission: Submission) -> None:
    """Record which submission ``out`` belongs to; refuse to mix results of two submissions."""
    info = out / SUBMISSION_INFO
    mine = {"name": submission.name, "sha256": submission.digest}
    if info.is_file():
        try:
            theirs = json.loads(info.read_text())
        except ValueError:
            theirs = {}
        if theirs.get("sha256") != submission.digest and read_run_log(out / RUN_LOG):
            raise ParameterError("out_dir", f"holds results of another submission ({theirs.get('name')}); "
                                 f"use another folder, or remove {out / RUN_LOG} to start over", str(out))
    atomic_write_text(info, json.dumps(mine, indent=1) + "\n")


def _model_ids(task: Task, config: RunConfig, only: Sequence[str] | None = None) -> list[str]:
    ids = task.model_ids()
    if only is not None:
        wanted = set(only)
        ids = [m for m in ids if m in wanted]
    return ids if config.models_per_task is None else ids[:config.models_per_task]
