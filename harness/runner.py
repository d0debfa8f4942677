"""Running a submission over a set of tasks: the ingestion half of the harness.

    >>> result = run_submission("my_measure/", "zoo/", "out/", RunConfig(workers=2))  # doctest: +SKIP
    >>> result.summaries()                                                           # doctest: +SKIP

`run_submission` hands every model of every task to a pool of long-lived
sandboxed workers (`harness.worker`, one per ``--workers`` slot or per GPU),
one model at a time from a shared queue, task after task. Each model's
outcome is appended to ``OUT/run.jsonl`` as it arrives; each task's
``OUT/<task>.predict`` is written when the task is done. A worker that goes
over a limit (time, memory, threads) or dies is killed and replaced; the run
goes on. A submission that cannot be imported is recorded as failed for every
model, with the reason, without retrying it model after model.

Runs are resumable: started again with the same output folder, a run skips
the models ``run.jsonl`` already holds, and ends with the same files as an
uninterrupted run (``run.jsonl`` is rewritten in task/model order at the end).
Each model gets a seed derived from its task and id (`model_seed`), and
workers keep no state that changes results, so predictions do not depend on
the number of workers.

This module never reads reference data (``model_configs.json``).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import queue
import statistics
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from harness.errors import HarnessError
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


@dataclass(frozen=True)
class RunConfig:
    """How to run a submission.

    ``workers``: CPU worker processes (ignored when ``gpus`` is given: one
    worker per listed GPU). ``time_per_model``: wall seconds per model (also
    the limit on importing the submission). ``memory_mb``: resident memory of
    a worker's whole process tree. ``max_threads``: threads and processes in
    a worker's tree (the kernel counts threads against ``RLIMIT_NPROC``).
    ``sandbox=False`` runs workers without bubblewrap (trusted code only;
    limits still apply). ``keras2`` runs the submission under ``tf_keras``.
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
    keras2: bool = False
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
            seconds = [r.seconds for r in mine]
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
                   config: RunConfig = RunConfig()) -> RunResult:
    """Run ``submission`` on every model of the tasks under ``data_root``; write ``out_dir``.

    Writes ``out_dir/run.jsonl``, ``out_dir/<task>.predict``,
    ``out_dir/submission.json`` (name and SHA-256 of the submission, so that a
    resumed run cannot mix two submissions) and the workers' output in
    ``out_dir/logs/``. Raises `HarnessError` for unusable input (no such
    submission, no tasks, bubblewrap missing) or a worker that cannot start at
    all (which is not the submission's fault).
    """
    if config.sandbox and config.ray is None:
        require_bwrap()
    tasks = input_tasks(data_root, config.tasks)
    out = Path(out_dir)
    with scratch_dir("pgdl-run-") as scratch:
        sub = open_submission(submission, scratch, config.intake())
        (out / LOG_DIR).mkdir(parents=True, exist_ok=True)
        _claim_output(out, sub)
        done = read_run_log(out / RUN_LOG)
        write_run_log(out / RUN_LOG, done.values())
        resumed = len(done)
        ids = {task.name: _model_ids(task, config) for task in tasks}
        context = _RunContext(sub, tasks, config, Path(scratch), out / LOG_DIR)
        with RunLog(out / RUN_LOG) as log, _pool(context) as pool:
            for task in tasks:
                todo = [m for m in ids[task.name] if (task.name, m) not in done]
                total = len(ids[task.name])
                with _progress(task.name, total, total - len(todo), config.progress) as bar:
                    for record in pool.run([_Job(task.name, m) for m in todo]):
                        log.append(record)
                        done[record.key] = record
                        bar.advance(record.status != "ok")
                write_predict(out, task.name, done.values())
    write_run_log(out / RUN_LOG, done.values())
    wanted = {(name, m) for name, models in ids.items() for m in models}
    chosen = tuple(sorted((r for key, r in done.items() if key in wanted), key=record_order))
    return RunResult(out, tuple(t.name for t in tasks), chosen, resumed)


@dataclass(frozen=True)
class CheckReport:
    """What `check_submission` found: worker start, import, signature, one model's outcome."""

    submission: str
    sandboxed: bool
    tensorflow_seconds: float | None
    import_seconds: float | None
    plan: str | None
    record: RunRecord

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
        if started is None:
            return CheckReport(sub.name, config.sandbox, None, None, None, record)
        return CheckReport(sub.name, config.sandbox, started.tensorflow_seconds, started.import_seconds,
                           started.plan, record)


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
    """The submission cannot be imported; every model gets ``status`` and ``message``."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class _RunContext:
    """What every worker of a run shares (thread-safe where it is mutable)."""

    submission: Submission
    tasks: Sequence[Task]
    config: RunConfig
    scratch: Path
    log_dir: Path
    cancelled: threading.Event = field(default_factory=threading.Event)
    uids: UidPool = field(default_factory=UidPool)
    logs: LogBudget | None = None
    cgroup: Path | None = field(default_factory=find_delegated_cgroup)
    _serials: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _import_failure: _ImportFailure | None = None

    def __post_init__(self) -> None:
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

    def task_mounts(self) -> list[TaskMount]:
        return [TaskMount.of(t) for t in self.tasks]


class _Session:
    """One worker slot: starts its worker on demand, runs jobs, replaces the worker after a kill."""

    def __init__(self, context: _RunContext, slot: int, gpu: int | None) -> None:
        self.context, self.slot, self.gpu = context, slot, gpu
        self.worker: WorkerProcess | None = None
        self.started: _Started | None = None
        self.processes_at_start = 0
        self.log_path = context.log_dir / f"worker-{slot}.log"
        self.log = WorkerLog(self.log_path, context.logs)
        self.copy: Path | None = None  # the worker's copy of the submission, without the sandbox

    def __enter__(self) -> "_Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, job: _Job) -> RunRecord:
        """Evaluate one model; never raises for anything the submission does."""
        config = self.context.config
        try:
            if self.worker is None:
                self._start()
        except _ImportFailure as failure:
            failure = self.context.import_failure(failure)
            return RunRecord(job.task, job.model, failure.status, None, 0.0, failure.message, self.slot)
        self.log.section(f"model {job.name}")
        sent = self.worker.send(protocol.Run(job.name, job.task, job.model, model_seed(job.task, job.model),
                                             config.time_per_model))
        reply = self.worker.receive(config.limits(config.time_per_model)) if sent else Reply("died", detail="its input pipe is closed")
        return self._record(job, reply)

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

    def _start(self) -> None:
        """Start a worker and import the submission in it (`_ImportFailure` if that fails)."""
        context, config = self.context, self.context.config
        if (failure := context.import_failure()) is not None:
            raise failure
        serial = context.next_serial()
        self.log.section(f"worker {serial} (slot {self.slot}) starting")
        self.worker = self._launch(serial)
        if context.cancelled.is_set():  # the run ended while this worker was being launched
            self.stop()
            raise HarnessError("run cancelled")
        self.worker.send(self._init())
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
            return
        self.stop()
        if isinstance(ready.message, protocol.ImportFailed):
            raise _ImportFailure("error", f"{ENTRY_FILE} failed to import: {ready.message.message[:500]}")
        status, message = _failure(ready, f"importing {ENTRY_FILE}", config, self.log_path)
        raise _ImportFailure(status, message)

    def _launch(self, serial: int) -> WorkerProcess:
        """Start the worker process: sandboxed (bwrap, system-call filter, dropped privileges), or not."""
        context, config = self.context, self.context.config
        if not config.sandbox:
            self.copy = context.submission.copy_to(context.scratch / f"worker-{serial}")
            command = python_command(Path(__file__).resolve().parent.parent) + [
                "--parent-pid", str(os.getpid()), "--submission-dir", str(self.copy)]
            return WorkerProcess.start(command, self._env(), log=self.log)
        from harness.seccomp import compile_filter

        uid = context.uids.take() if os.geteuid() == 0 else None
        layout = SandboxLayout(context.submission.root, context.task_mounts(), uid=uid,
                               gpu=self.gpu is not None, tmp_mb=config.tmp_mb,
                               submission_mb=config.submission_mb + config.tmp_mb)
        command = worker_command(python_command(LIB_DIR), uid=uid, max_threads=config.max_threads)
        cgroup = None
        if context.cgroup is not None:
            cgroup = WorkerCgroup.create(context.cgroup, f"pgdl-{os.getpid()}-{serial}", config.memory_mb << 20)
        return WorkerProcess.start(command, self._env(), wrap=layout.bwrap_args(), seccomp=compile_filter(),
                                   log=self.log, cgroup=cgroup)

    def _init(self) -> protocol.Init:
        context, config = self.context, self.context.config
        if config.sandbox:
            tasks = {t.name: sandbox_task_dir(t.name) for t in context.tasks}
            program_dir = SUBMISSION_DIR
        else:
            tasks = {t.name: str(t.input_dir) for t in context.tasks}
            program_dir = ""  # the worker was given its copy's folder on its command line
        return protocol.Init(program_dir, tasks, config.threads_per_worker(), config.keras2)

    def _expect(self, kind: type[protocol.Message], limits: Limits) -> Reply:
        reply = self.worker.receive(limits)
        allowed = (kind, protocol.ImportFailed) if kind is protocol.Ready else (kind,)
        if reply.kind == "message" and not isinstance(reply.message, allowed):
            self.worker.kill()
            return Reply("protocol", detail=f"a {reply.message.OP!r} message instead of {kind.OP!r}")
        return reply

    def _env(self) -> dict[str, str]:
        config = self.context.config
        threads = str(config.threads_per_worker())
        env = {"TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads,
               "TF_NUM_INTEROP_THREADS": str(min(2, int(threads))), "MPLBACKEND": "Agg",
               "CUDA_VISIBLE_DEVICES": "" if self.gpu is None else str(self.gpu),
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
        if config.keras2:
            env["TF_USE_LEGACY_KERAS"] = "1"
        if not config.sandbox:
            return {**os.environ, **env}
        return {**env, "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
                "LANG": "C.UTF-8"}


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
        if theirs.get("sha256") != submission.digest and (out / RUN_LOG).is_file():
            raise HarnessError(f"{out}: holds results of another submission ({theirs.get('name')}); "
                               f"use another --out, or remove {out / RUN_LOG} to start over")
    atomic_write_text(info, json.dumps(mine, indent=1) + "\n")


def _model_ids(task: Task, config: RunConfig) -> list[str]:
    ids = task.model_ids()
    return ids if config.models_per_task is None else ids[:config.models_per_task]


class _Bar:
    def __init__(self, bar: Any) -> None:
        self.bar, self.failed = bar, 0

    def advance(self, failed: bool) -> None:
        self.failed += failed
        if self.bar is not None:
            self.bar.update(1, self.failed)


@contextlib.contextmanager
def _progress(label: str, total: int, done: int, show: bool) -> Iterator[_Bar]:
    """A per-task progress bar with ETA and a live count of failed models (or nothing)."""
    if not show:
        yield _Bar(None)
        return
    import click

    with click.progressbar(length=total, label=f"{label:<20}", show_eta=True, show_pos=True,
                           item_show_func=lambda failed: f"{failed or 0} failed",
                           file=sys.stderr) as bar:
        bar.update(done, 0)
        yield _Bar(bar)
