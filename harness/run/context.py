"""What every worker of a run shares: the run's context, its jobs and the seed of each model.

`RunContext` is handed to every `harness.run.session.Session` (one per worker
slot) and to the executor that schedules them; `Job` is one model to run;
`ImportFailure` is the run-ending failure to import the submission.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from harness.run.config import RunConfig
from harness.run.progress import RunProgress
from harness.sandbox.layout import TaskMount, UidPool
from harness.sandbox.memory import find_delegated_cgroup
from harness.sandbox.process import LogBudget
from harness.submission.keras_mode import KerasState
from harness.submission.package import Submission
from harness.task import RunRecord, Task

#: The run's output folder: what the submission was (`harness.run.runner`), the workers' logs.
SUBMISSION_INFO = "submission.json"
LOG_DIR = "logs"


def model_seed(task: str, model: str) -> int:
    """The seed of one model's evaluation: the first 31 bits of SHA-256 of ``"<task>/<model>"``."""
    return int.from_bytes(hashlib.sha256(f"{task}/{model}".encode()).digest()[:4], "big") >> 1


@dataclass(frozen=True)
class Job:
    """One model to run: model ``model`` of task ``task``."""

    task: str
    model: str

    @property
    def name(self) -> str:
        return f"{self.task}/{self.model}"


@dataclass(frozen=True)
class Started:
    """How a worker's start went: seconds to Python and TensorFlow, to the submission's import; its call plan."""

    tensorflow_seconds: float
    import_seconds: float
    plan: str


class ImportFailure(Exception):
    """The submission cannot be imported; every model gets ``status`` and ``message``.

    ``keras3_error``: the import failed on a Keras 3 AttributeError (Keras 2 may do).
    """

    def __init__(self, status: str, message: str, keras3_error: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.keras3_error = status, message, keras3_error


@dataclass(frozen=True)
class Attempt:
    """One try at a model: its record; whether it failed on a Keras 3 AttributeError; the import failure."""

    record: RunRecord
    keras3_error: bool = False
    import_failure: ImportFailure | None = None


@dataclass
class RunContext:
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
    _import_failure: ImportFailure | None = None
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

    def import_failure(self, failure: ImportFailure | None = None) -> ImportFailure | None:
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
