"""One worker slot of a run: `Session` starts its sandboxed worker on demand, runs jobs, replaces a killed worker.

Every executor runs models through sessions: the local one keeps one per
worker slot, the Ray one starts one per unit of work on a node.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path

import harness.sandbox.protocol as protocol
from harness.errors import HarnessError
from harness.run.config import RunConfig
from harness.run.context import LOG_DIR, Attempt, ImportFailure, Job, RunContext, Started, model_seed
from harness.sandbox.layout import (LIB_DIR, SUBMISSION_DIR, SandboxLayout, python_command, sandbox_task_dir,
                                    worker_command)
from harness.sandbox.memory import WorkerCgroup
from harness.sandbox.process import Limits, Reply, WorkerLog, WorkerProcess, tree_usage
from harness.run.scratch import remove_tree
from harness.submission.keras_mode import LEGACY_KERAS_ENV, KerasChoice
from harness.submission.package import ENTRY_FILE
from harness.task import RunRecord

#: Where matplotlib may write its cache inside the sandbox (the private, size-capped /tmp).
SANDBOX_MPLCONFIGDIR = "/tmp/matplotlib"
#: The folder holding the ``harness`` package, for a worker run without the sandbox.
PACKAGE_PARENT = Path(__file__).resolve().parents[2]


class Session:
    """One worker slot: starts its worker on demand, runs jobs, replaces the worker after a kill."""

    def __init__(self, context: RunContext, slot: int, gpu: int | None) -> None:
        self.context, self.slot, self.gpu = context, slot, gpu
        self.worker: WorkerProcess | None = None
        self.started: Started | None = None
        self.processes_at_start = 0
        self.worker_keras: str | None = None
        self.log_path = context.log_dir / f"worker-{slot}.log"
        self.log = WorkerLog(self.log_path, context.logs)
        self.copy: Path | None = None  # the worker's copy of the submission, without the sandbox

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, job: Job) -> RunRecord:
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

    def _attempt(self, job: Job) -> Attempt:
        """Run ``job`` once under the run's current Keras (restarting the worker if it runs the other one)."""
        config = self.context.config
        choice = self.context.keras.choice
        if self.worker is not None and self.worker_keras != choice.version:
            self.stop()
        try:
            if self.worker is None:
                self._start(choice)
        except ImportFailure as failure:
            record = RunRecord(job.task, job.model, failure.status, None, 0.0, failure.message, self.slot,
                               keras=choice.version, keras_reason=choice.reason)
            return Attempt(record, failure.keras3_error, failure)
        if (skipped := self.context.skip_message(job.task)) is not None:  # stopped while the worker started
            return Attempt(RunRecord(job.task, job.model, "skipped", None, 0.0, skipped))
        self.log.section(f"model {job.name}")
        sent = self.worker.send(protocol.Run(job.name, job.task, job.model, model_seed(job.task, job.model),
                                             config.time_per_model))
        reply = self.worker.receive(config.limits(config.time_per_model)) if sent else Reply("died", detail="its input pipe is closed")
        keras3_error = isinstance(reply.message, protocol.Result) and reply.message.keras3_attribute_error
        record = replace(self._record(job, reply), keras=choice.version, keras_reason=choice.reason)
        return Attempt(record, keras3_error and record.status == "error")

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

    def _record(self, job: Job, reply: Reply) -> RunRecord:
        config = self.context.config
        msg = reply.message
        if reply.kind == "message" and not (isinstance(msg, protocol.Result) and msg.job == job.name):
            reply = Reply("protocol", detail=f"a {msg.OP!r} message out of turn", seconds=reply.seconds)
            self.worker.kill()
        if reply.kind != "message":
            self.stop()
            status, message = failure_status(reply, "running the measure", config, self.log_path)
            return RunRecord(job.task, job.model, status, None, reply.seconds, message, self.slot)
        if tree_usage(self.worker.pid).processes > self.processes_at_start:
            self.stop()  # it left processes behind (a fork bomb's zombies, daemons): start afresh
        status, value = msg.status.value, usable_value(msg.value)
        message = self._host_paths(job.task, msg.message[:500])
        if status == "ok" and value is None:
            status, message = "invalid", f"returned {shown_value(msg.value)}, not a finite number"
        return RunRecord(job.task, job.model, status, value if status == "ok" else None,
                         reply.seconds, message, self.slot, msg.measure_seconds, msg.load_seconds)

    def _host_paths(self, task: str, message: str) -> str:
        """``message`` with the sandbox's path of the task's input side replaced by the host's."""
        if not self.context.config.sandbox:
            return message
        host = next(t.input_dir for t in self.context.tasks if t.name == task)
        return message.replace(sandbox_task_dir(task), str(host))

    def _start(self, keras: KerasChoice) -> None:
        """Start a worker under ``keras`` and import the submission in it (`ImportFailure` if that fails)."""
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
            self.started = Started(hello.message.seconds, ready.message.seconds, ready.message.plan)
            context.imported.set()
            if context.progress is not None:
                context.progress.worker_ready(self.slot)
            return
        self.stop()
        if isinstance(ready.message, protocol.ImportFailed):
            raise ImportFailure("error", f"{ENTRY_FILE} failed to import: {ready.message.message[:500]}",
                                 ready.message.keras3_attribute_error)
        status, message = failure_status(ready, f"importing {ENTRY_FILE}", config, self.log_path)
        raise ImportFailure(status, message)

    def _launch(self, serial: int, keras: str) -> WorkerProcess:
        """Start the worker process: sandboxed (bwrap, system-call filter, dropped privileges), or not."""
        context, config = self.context, self.context.config
        if not config.sandbox:
            self.copy = context.submission.copy_to(context.scratch / f"worker-{serial}")
            command = python_command(PACKAGE_PARENT) + [
                "--parent-pid", str(os.getpid()), "--submission-dir", str(self.copy)]
            return WorkerProcess.start(command, self._env(keras), log=self.log)
        from harness.sandbox.seccomp import compile_filter

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


def shown_value(value: float | int | None) -> str:
    if isinstance(value, int) and abs(value) >= 10 ** 30:
        return f"an integer of {len(str(abs(value)))} digits"
    return repr(value)


def failure_status(reply: Reply, doing: str, config: RunConfig, log_path: Path) -> tuple[str, str]:
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
