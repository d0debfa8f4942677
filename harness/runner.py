"""Running a submission over a set of tasks: the ingestion half of the harness.

    >>> result = run_submission("my_measure/", "zoo/", "out/", RunConfig(workers=2))  # doctest: +SKIP
    >>> result.summaries()                                                           # doctest: +SKIP

`run_submission` hands every model of every task to a pool of long-lived
sandboxed workers (`harness.worker`, one per ``--workers`` slot or per GPU),
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
submission is `harness.keras_mode`'s choice (``keras``).

This module never reads reference data (``model_configs.json``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import queue
import statistics
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, Sequence

from harness.errors import HarnessError
from harness.keras_mode import LEGACY_KERAS_ENV, KerasChoice, KerasMode, KerasState
from harness.progress import RunProgress
from harness.records import (RUN_LOG, RunLog, RunRecord, atomic_write_text, read_run_log,
                             record_order, write_predict, write_run_log)
from harness import protocol
from harness.memory import WorkerCgroup, find_delegated_cgroup
from harness.sandbox import (LIB_DIR, SUBMISSION_DIR, Limits, LogBudget, Reply, SandboxLayout, TaskMount,
                             UidPool, WorkerLog, WorkerProcess, python_command, require_bwrap,
                             sandbox_task_dir, tree_usage, worker_command)
from harness.scratch import remove_tree, scratch_dir
from harness.submission import ENTRY_FILE, IntakeLimits, Submission, open_submission
from harness.task import Task, find_tasks

if TYPE_CHECKING:
    from harness.ray_executor import RayOptions, RayPool

SUBMISSION_INFO = "submission.json"
LOG_DIR = "logs"
#: ``--seeding``: ``model`` seeds Python's, numpy's and TensorFlow's generators per model with
#: `model_seed` (deterministic); ``kit`` seeds nothing and only clears the Keras session before
#: each model, as the 2020 ingestion program did, so that op-seeded code
#: (``tf.random.shuffle(x, seed=1)``) draws for every model what it drew there.
SEEDINGS = ("model", "kit")
#: Consecutive timeouts after which a task is stopped (unless ``keep_going``).
TIMEOUT_STREAK = 3
#: Where matplotlib may write its cache inside the sandbox (the private, size-capped /tmp).
SANDBOX_MPLCONFIGDIR = "/tmp/matplotlib"


class SubmissionImportError(HarnessError):
    """The submission cannot be imported (syntax error, missing module, too slow): the run ends at once.

    ``out_dir`` is the run's output folder (its ``run.jsonl`` holds no record of the failure).
    """

    def __init__(self, message: str, out_dir: Path) -> None:
        super().__init__(message)
        self.out_dir = out_dir


@dataclass(frozen=True)
class RunConfig:
    """How to run a submission.

    ``workers``: CPU worker processes (ignored when ``gpus`` is given: one
    worker per listed GPU). ``time_per_model``: wall seconds per model (also
    the limit on importing the submission). ``memory_mb``: resident memory of
    a worker's whole process tree. ``max_threads``: threads and processes in
    a worker's tree (the kernel counts threads against ``RLIMIT_NPROC``).
    ``sandbox=False`` runs workers without bubblewrap (trusted code only;
    limits still apply). ``keras``: ``"auto"``, ``"2"`` (``tf_keras``) or ``"3"``
    (`harness.keras_mode`). ``seeding``: ``"model"`` or ``"kit"`` (`SEEDINGS`).
    ``keep_going`` runs every model of a task even after `TIMEOUT_STREAK`
    consecutive timeouts.
    ``startup_seconds`` bounds a worker's start before the submission is
    imported (Python and TensorFlow). ``tmp_mb`` caps the worker's ``/tmp``
    and ``/dev/shm`` (each a tmpfs; what they hold counts as memory too).
    ``submission_mb`` caps the submission (a folder's files, a zip's expanded
    size) and the room its writable copy in the sandbox may grow by.
    ``log_mb`` caps the workers' logs of the whole run, ``model_log_mb``
    those of one model (output past a cap is cut, with a marker).
    ``tasks`` restricts the run to tasks of these names; ``models_per_task``
    to the first models of each task. ``progress`` shows progress bars.
    ``ray`` runs the models as units of work on a Ray cluster instead of in
    local workers (`harness.ray_executor`; ``workers`` and ``gpus`` are then
    ignored, and bubblewrap is needed on the Ray nodes, not here).
    """

    workers: int = 1
    gpus: tuple[int, ...] = ()
    time_per_model: float = 300.0
    memory_mb: int = 8192
    max_threads: int = 1024
    sandbox: bool = True
    keras: str = "auto"
    seeding: str = "model"
    keep_going: bool = False
    startup_seconds: float = 300.0
    tmp_mb: int = 1024
    submission_mb: int = 512
    log_mb: int = 64
    model_log_mb: int = 4
    tasks: tuple[str, ...] | None = None
    models_per_task: int | None = None
    progress: bool = False
    ray: RayOptions | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise HarnessError(f"--workers must be at least 1 (got {self.workers})")
        if not self.time_per_model > 0 or self.memory_mb < 1 or self.max_threads < 1:
            raise HarnessError("--time-per-model, --memory-mb and --max-threads must be positive")
        object.__setattr__(self, "keras", KerasMode.parse(self.keras).value)
        if self.seeding not in SEEDINGS:
            raise HarnessError(f"--seeding must be one of {', '.join(SEEDINGS)}. Received: {self.seeding!r}")
        for name in ("tmp_mb", "submission_mb", "log_mb", "model_log_mb"):
            if getattr(self, name) < 1:
                raise HarnessError(f"{name} must be positive. Received: {getattr(self, name)!r}")

    @property
    def slots(self) -> list[int | None]:
        """One entry per worker: its GPU index, or None for a CPU worker."""
        return list(self.gpus) if self.gpus else [None] * self.workers

    def threads_per_worker(self) -> int:
        """TensorFlow threads per worker, so that the workers share the CPU cores: ``max(1, cores // workers)``."""
        return max(1, len(os.sched_getaffinity(0)) // len(self.slots))

    def limits(self, seconds: float) -> Limits:
        """What one wait on a worker may use: ``seconds`` of wall time, and this run's memory and threads."""
        return Limits(seconds, self.memory_mb << 20, self.max_threads)

    def intake(self) -> IntakeLimits:
        """What a submission may hold (`harness.submission.IntakeLimits`) under this config."""
        return IntakeLimits(max_bytes=self.submission_mb << 20)


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


def model_seed(task: str, model: str) -> int:
    """The seed of one model's evaluation: the first 31 bits of SHA-256 of ``"<task>/<model>"``."""
    return int.from_bytes(hashlib.sha256(f"{task}/{model}".encode()).digest()[:4], "big") >> 1


def default_zoo() -> Path:
    """The zoo shipped in the repository (``model_zoo/default``); `HarnessError` if it is absent."""
    from model_zoo import DEFAULT_ZOO as path

    if not path.is_dir():
        raise HarnessError(f"the default zoo ({path}) is not in this checkout yet; pass --data ROOT")
    return path


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
    subset chosen by the caller, `harness.subset.covering_subset` say).

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
        context = _RunContext(sub, tasks, config, Path(scratch), out / LOG_DIR, progress=progress)
        context.keras = _resumed_keras(context.keras, done.values())
        with RunLog(out / RUN_LOG) as log, progress, _pool(context) as pool:
            progress.note(f"keras {context.keras.choice.describe()}")
            for task in tasks:
                todo = [m for m in ids[task.name] if (task.name, m) not in done]
                progress.start_task(task.name)
                streak = _TimeoutStreak(None if config.keep_going else TIMEOUT_STREAK)
                for record in pool.run([_Job(task.name, m) for m in todo]):
                    if (failure := context.import_failure()) is not None:
                        hint = "; raise --time-per-model" if failure.status == "timeout" else ""
                        raise SubmissionImportError(failure.message + hint, out)
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


class _TimeoutStreak:
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
        context = _RunContext(sub, [task], config, Path(scratch), logs)
        with _Session(context, slot=0, gpu=config.slots[0]) as session:
            record = session.run(_Job(task.name, ids[0]))
        started = session.started
        keras = context.keras.choice.describe()
        if started is None:
            return CheckReport(sub.name, config.sandbox, None, None, None, record, keras, config.seeding)
        return CheckReport(sub.name, config.sandbox, started.tensorflow_seconds, started.import_seconds,
                           started.plan, record, keras, config.seeding)


# --- internals ---------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    task: str
    model: str

    @property
    def name(self) -> str:
        return f"{self.task}/{self.model}"


@dataclass(frozen=True)
class _Started:
    tensorflow_seconds: float
    import_seconds: float
    plan: str


class _ImportFailure(Exception):
    """The submission cannot be imported; every model gets ``status`` and ``message``.

    ``keras3_error``: the import failed on a Keras 3 AttributeError (Keras 2 may do).
    """

    def __init__(self, status: str, message: str, keras3_error: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.keras3_error = status, message, keras3_error


@dataclass(frozen=True)
class _Attempt:
    """One try at a model: its record; whether it failed on a Keras 3 AttributeError; the import failure."""

    record: RunRecord
    keras3_error: bool = False
    import_failure: _ImportFailure | None = None


@dataclass
class _RunContext:
    """What every worker of a run shares (thread-safe where it is mutable)."""

    submission: Submission
    tasks: Sequence[Task]
    config: RunConfig
    scratch: Path
    log_dir: Path
    progress: RunProgress | None = None
    keras: KerasState | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    uids: UidPool = field(default_factory=UidPool)
    logs: LogBudget | None = None
    cgroup: Path | None = field(default_factory=find_delegated_cgroup)
    _serials: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _import_failure: _ImportFailure | None = None
    _skipped: dict[str, str] = field(default_factory=dict)
    imported: threading.Event = field(default_factory=threading.Event)  # some worker imported the submission

    def __post_init__(self) -> None:
        if self.keras is None:
            self.keras = KerasState.for_submission(self.config.keras, self.submission.root)
        if self.logs is None:
            self.logs = LogBudget(self.config.log_mb << 20, self.config.model_log_mb << 20)

    def next_serial(self) -> int:
        with self._lock:
            return next(self._serials)

    def import_failure(self, failure: _ImportFailure | None = None) -> _ImportFailure | None:
        """The run's import failure; the first one reported is kept."""
        with self._lock:
            if failure is not None and self._import_failure is None:
                self._import_failure = failure
            return self._import_failure

    def skip_task(self, task: str, message: str) -> None:
        """Run no more models of ``task``: the ones not yet sent to a worker get ``skipped`` with ``message``."""
        with self._lock:
            self._skipped[task] = message

    def skip_message(self, task: str) -> str | None:
        with self._lock:
            return self._skipped.get(task)

    def task_mounts(self) -> list[TaskMount]:
        return [TaskMount.of(t) for t in self.tasks]


class _Session:
    """One worker slot: starts its worker on demand, runs jobs, replaces the worker after a kill."""

    def __init__(self, context: _RunContext, slot: int, gpu: int | None) -> None:
        self.context, self.slot, self.gpu = context, slot, gpu
        self.worker: WorkerProcess | None = None
        self.started: _Started | None = None
        self.processes_at_start = 0
        self.worker_keras: str | None = None
        self.log_path = context.log_dir / f"worker-{slot}.log"
        self.log = WorkerLog(self.log_path, context.logs)
        self.copy: Path | None = None  # the worker's copy of the submission, without the sandbox

    def __enter__(self) -> "_Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, job: _Job) -> RunRecord:
        """Evaluate one model; never raises for anything the submission does.

        Under ``--keras auto``, a model that fails on a Keras 3 AttributeError
        switches the run to tf_keras and is run again; if it fails there too,
        the run goes back to Keras 3 and the first failure stands.
        """
        keras = self.context.keras
        if (skipped := self.context.skip_message(job.task)) is not None:
            return RunRecord(job.task, job.model, "skipped", None, 0.0, skipped)
        attempt = self._attempt(job)
        if attempt.keras3_error and (keras.may_fall_back() or keras.choice.version == "2"):
            before = keras.choice
            keras.fall_back(attempt.record.message)
            retry = self._attempt(job)
            if retry.record.status == "ok":
                if self.context.progress is not None and retry.record.keras_reason != before.reason:
                    self.context.progress.note(f"keras {keras.choice.describe()}")
                return retry.record
            keras.give_up_fallback(before, retry.record.message)
        if attempt.import_failure is not None and attempt.import_failure.status == "timeout" \
                and self.context.imported.is_set():
            # It imported before: a slow restart is this model's timeout (or, if its task was stopped
            # meanwhile, a skip), not the end of the run.
            if (skipped := self.context.skip_message(job.task)) is not None:
                return RunRecord(job.task, job.model, "skipped", None, 0.0, skipped)
            return attempt.record
        if attempt.import_failure is not None:
            failure = self.context.import_failure(attempt.import_failure)
            return replace(attempt.record, status=failure.status, message=failure.message)
        return attempt.record

    def _attempt(self, job: _Job) -> _Attempt:
        """Run ``job`` once under the run's current Keras (restarting the worker if it runs the other one)."""
        config = self.context.config
        choice = self.context.keras.choice
        if self.worker is not None and self.worker_keras != choice.version:
            self.stop()
        try:
            if self.worker is None:
                self._start(choice)
        except _ImportFailure as failure:
            record = RunRecord(job.task, job.model, failure.status, None, 0.0, failure.message, self.slot,
                               keras=choice.version, keras_reason=choice.reason)
            return _Attempt(record, failure.keras3_error, failure)
        if (skipped := self.context.skip_message(job.task)) is not None:  # stopped while the worker started
            return _Attempt(RunRecord(job.task, job.model, "skipped", None, 0.0, skipped))
        self.log.section(f"model {job.name}")
        sent = self.worker.send(protocol.Run(job.name, job.task, job.model, model_seed(job.task, job.model),
                                             config.time_per_model))
        reply = self.worker.receive(config.limits(config.time_per_model)) if sent else Reply("died", detail="its input pipe is closed")
        keras3_error = isinstance(reply.message, protocol.Result) and reply.message.keras3_attribute_error
        record = replace(self._record(job, reply), keras=choice.version, keras_reason=choice.reason)
        return _Attempt(record, keras3_error and record.status == "error")

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        if self.copy is not None:  # a sandboxed worker's copy is on a tmpfs that ends with it
            remove_tree(self.copy)
            self.copy = None

    def kill(self) -> None:
        worker = self.worker
        if worker is not None:
            worker.kill()

    def _record(self, job: _Job, reply: Reply) -> RunRecord:
        config = self.context.config
        msg = reply.message
        if reply.kind == "message" and not (isinstance(msg, protocol.Result) and msg.job == job.name):
            reply = Reply("protocol", detail=f"a {msg.OP!r} message out of turn", seconds=reply.seconds)
            self.worker.kill()
        if reply.kind != "message":
            self.stop()
            status, message = _failure(reply, "running the measure", config, self.log_path)
            return RunRecord(job.task, job.model, status, None, reply.seconds, message, self.slot)
        if tree_usage(self.worker.pid).processes > self.processes_at_start:
            self.stop()  # it left processes behind (a fork bomb's zombies, daemons): start afresh
        status, value = msg.status.value, usable_value(msg.value)
        message = self._host_paths(job.task, msg.message[:500])
        if status == "ok" and value is None:
            status, message = "invalid", f"returned {_shown(msg.value)}, not a finite number"
        return RunRecord(job.task, job.model, status, value if status == "ok" else None,
                         reply.seconds, message, self.slot, msg.measure_seconds, msg.load_seconds)

    def _host_paths(self, task: str, message: str) -> str:
        """``message`` with the sandbox's path of the task's input side replaced by the host's."""
        if not self.context.config.sandbox:
            return message
        host = next(t.input_dir for t in self.context.tasks if t.name == task)
        return message.replace(sandbox_task_dir(task), str(host))

    def _start(self, keras: KerasChoice) -> None:
        """Start a worker under ``keras`` and import the submission in it (`_ImportFailure` if that fails)."""
        context, config = self.context, self.context.config
        if (failure := context.import_failure()) is not None:
            raise failure
        if context.progress is not None:
            context.progress.worker_starting(self.slot)
        serial = context.next_serial()
        self.log.section(f"worker {serial} (slot {self.slot}) starting")
        self.worker = self._launch(serial, keras.version)
        self.worker_keras = keras.version
        if context.cancelled.is_set():  # the run ended while this worker was being launched
            self.stop()
            raise HarnessError("run cancelled")
        self.worker.send(self._init(keras.version))
        hello = self._expect(protocol.Hello, config.limits(config.startup_seconds))
        if hello.kind != "message":
            tail = " | ".join(self.worker.output_tail(3))
            self.stop()
            raise HarnessError(f"a worker could not start ({hello.detail}); its last output: {tail or 'none'} "
                               f"(full output in {self.log_path})")
        ready = self._expect(protocol.Ready, config.limits(config.time_per_model))
        if isinstance(ready.message, protocol.Ready):
            self.processes_at_start = tree_usage(self.worker.pid).processes
            self.started = _Started(hello.message.seconds, ready.message.seconds, ready.message.plan)
            context.imported.set()
            if context.progress is not None:
                context.progress.worker_ready(self.slot)
            return
        self.stop()
        if isinstance(ready.message, protocol.ImportFailed):
            raise _ImportFailure("error", f"{ENTRY_FILE} failed to import: {ready.message.message[:500]}",
                                 ready.message.keras3_attribute_error)
        status, message = _failure(ready, f"importing {ENTRY_FILE}", config, self.log_path)
        raise _ImportFailure(status, message)

    def _launch(self, serial: int, keras: str) -> WorkerProcess:
        """Start the worker process: sandboxed (bwrap, system-call filter, dropped privileges), or not."""
        context, config = self.context, self.context.config
        if not config.sandbox:
            self.copy = context.submission.copy_to(context.scratch / f"worker-{serial}")
            command = python_command(Path(__file__).resolve().parent.parent) + [
                "--parent-pid", str(os.getpid()), "--submission-dir", str(self.copy)]
            return WorkerProcess.start(command, self._env(keras), log=self.log)
        from harness.seccomp import compile_filter

        uid = context.uids.take() if os.geteuid() == 0 else None
        layout = SandboxLayout(context.submission.root, context.task_mounts(), uid=uid,
                               gpu=self.gpu is not None, tmp_mb=config.tmp_mb,
                               submission_mb=config.submission_mb + config.tmp_mb)
        command = worker_command(python_command(LIB_DIR), uid=uid, max_threads=config.max_threads)
        cgroup = None
        if context.cgroup is not None:
            cgroup = WorkerCgroup.create(context.cgroup, f"pgdl-{os.getpid()}-{serial}", config.memory_mb << 20)
        return WorkerProcess.start(command, self._env(keras), wrap=layout.bwrap_args(), seccomp=compile_filter(),
                                   log=self.log, cgroup=cgroup)

    def _init(self, keras: str) -> protocol.Init:
        context, config = self.context, self.context.config
        if config.sandbox:
            tasks = {t.name: sandbox_task_dir(t.name) for t in context.tasks}
            program_dir = SUBMISSION_DIR
        else:
            tasks = {t.name: str(t.input_dir) for t in context.tasks}
            program_dir = ""  # the worker was given its copy's folder on its command line
        return protocol.Init(program_dir, tasks, config.threads_per_worker(), keras == "2", config.seeding)

    def _expect(self, kind: type[protocol.Message], limits: Limits) -> Reply:
        reply = self.worker.receive(limits)
        allowed = (kind, protocol.ImportFailed) if kind is protocol.Ready else (kind,)
        if reply.kind == "message" and not isinstance(reply.message, allowed):
            self.worker.kill()
            return Reply("protocol", detail=f"a {reply.message.OP!r} message instead of {kind.OP!r}")
        return reply

    def _env(self, keras: str) -> dict[str, str]:
        config = self.context.config
        threads = str(config.threads_per_worker())
        env = {"TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads,
               "TF_NUM_INTEROP_THREADS": str(min(2, int(threads))), "MPLBACKEND": "Agg",
               "CUDA_VISIBLE_DEVICES": "" if self.gpu is None else str(self.gpu),
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
        if keras == "2":
            env[LEGACY_KERAS_ENV] = "1"
        if not config.sandbox:
            mpl = self.context.scratch / f"matplotlib-{self.slot}"
            return {**os.environ, **env, "MPLCONFIGDIR": str(mpl)}
        return {**env, "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
                "LANG": "C.UTF-8", "MPLCONFIGDIR": SANDBOX_MPLCONFIGDIR}


def usable_value(value: float | int | None) -> float | None:
    """``value`` as a finite float, or None when it is not one (``None``, NaN, infinite, too big)."""
    if value is None:
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _shown(value: float | int | None) -> str:
    if isinstance(value, int) and abs(value) >= 10 ** 30:
        return f"an integer of {len(str(abs(value)))} digits"
    return repr(value)


def _failure(reply: Reply, doing: str, config: RunConfig, log_path: Path) -> tuple[str, str]:
    """Status and message for a worker that was killed or died while ``doing`` something."""
    if reply.kind == "timeout":
        return "timeout", f"exceeded the {config.time_per_model:g} s time limit while {doing}"
    if reply.kind == "memory":
        return "memory", f"exceeded the memory limit while {doing}: {reply.detail}"
    if reply.kind == "threads":
        return "crashed", f"exceeded the thread limit while {doing}: {reply.detail}"
    if reply.kind == "protocol":
        return "crashed", f"protocol error while {doing}: the worker sent {reply.detail}"
    return "crashed", f"the worker died while {doing}: {reply.detail} (its output: {LOG_DIR}/{log_path.name})"


class _Pool:
    """Worker slots (one thread each) fed from one queue of jobs."""

    def __init__(self, context: _RunContext) -> None:
        self.context = context
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.results: queue.Queue[RunRecord | BaseException] = queue.Queue()
        self.sessions = [_Session(context, slot, gpu) for slot, gpu in enumerate(context.config.slots)]

        # A worker is started by its slot's thread and must stay with it: bwrap's
        # --die-with-parent kills the sandbox when the thread that started it ends.
        self.threads = [threading.Thread(target=self._serve, args=(s,), daemon=True) for s in self.sessions]

    def __enter__(self) -> "_Pool":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.context.cancelled.set()
        for session in self.sessions:
            session.kill()
            self.jobs.put(None)
        for thread in self.threads:
            thread.join(timeout=60)

    def skip_pending(self, task: str, message: str) -> None:
        """Skip ``task``'s jobs not started yet: each yields a ``skipped`` record with ``message``.

        Queued jobs are taken back now; one a worker slot has just taken is
        skipped by that slot before it is sent to a worker (`_Session.run`); running ones finish.
        """
        self.context.skip_task(task, message)
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                return
            if job is None:  # the pool is closing
                self.jobs.put(None)
                return
            self.results.put(RunRecord(job.task, job.model, "skipped", None, 0.0, message))

    def run(self, jobs: Sequence[_Job]) -> Iterator[RunRecord]:
        """Queue ``jobs``; yield their records as they complete."""
        for job in jobs:
            self.jobs.put(job)
        for _ in jobs:
            item = self.results.get()
            if isinstance(item, BaseException):
                raise item
            yield item

    def _serve(self, session: _Session) -> None:
        try:
            while (job := self.jobs.get()) is not None and not self.context.cancelled.is_set():
                try:
                    record = session.run(job)
                except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                    self.results.put(exc)
                    return
                if not self.context.cancelled.is_set():
                    self.results.put(record)
        finally:
            session.stop()


def _pool(context: _RunContext) -> _Pool | RayPool:
    """The run's workers: local worker slots, or units of work on Ray when ``config.ray`` is set."""
    if context.config.ray is None:
        return _Pool(context)
    from harness.ray_executor import RayPool

    return RayPool(context)


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
            raise HarnessError(f"{out}: holds results of another submission ({theirs.get('name')}); "
                               f"use another --out, or remove {out / RUN_LOG} to start over")
    atomic_write_text(info, json.dumps(mine, indent=1) + "\n")


def _model_ids(task: Task, config: RunConfig, only: Sequence[str] | None = None) -> list[str]:
    ids = task.model_ids()
    if only is not None:
        wanted = set(only)
        ids = [m for m in ids if m in wanted]
    return ids if config.models_per_task is None else ids[:config.models_per_task]
