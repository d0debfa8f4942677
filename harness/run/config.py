"""How a run goes: `RunConfig` (workers, limits, sandbox, Keras, seeding) and `RayOptions`.

The limit defaults live here once (`TIME_PER_MODEL`, `MEMORY_MB`,
`MAX_THREADS`); the CLI's options read them. A bad value raises
`ParameterError` naming the field (``workers must be at least 1. Received:
workers=0``); the CLI shows it under its option's name.

    >>> RunConfig(workers=2).slots
    [None, None]
    >>> RunConfig(workers=0)
    Traceback (most recent call last):
    ...
    harness.errors.ParameterError: workers must be at least 1. Received: workers=0
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from typing import Literal

from harness.errors import ParameterError
from harness.params import Options, check_param
from harness.sandbox.process import Limits
from harness.sandbox.protocol import SEEDINGS
from harness.submission.keras_mode import KerasMode
from harness.submission.package import IntakeLimits

#: Wall seconds per model (and for importing the submission), by default.
TIME_PER_MODEL = 300.0
#: Resident memory of a worker's whole process tree, in MiB, by default.
MEMORY_MB = 8192
#: Threads and processes of a worker's tree, by default.
MAX_THREADS = 1024
#: Consecutive timeouts after which a task is stopped (unless ``keep_going``).
TIMEOUT_STREAK = 3
RAY_DATA = ("ship", "shared")

__all__ = ["TIME_PER_MODEL", "MEMORY_MB", "MAX_THREADS", "TIMEOUT_STREAK", "RAY_DATA",
           "SEEDINGS", "RayOptions", "RunConfig"]


def _at_least(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ParameterError(name, f"must be at least {low}", value)


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ParameterError(name, "must be positive", value)


@dataclass(frozen=True)
class RayOptions:
    """How a run uses Ray (``RunConfig.ray``; None there runs locally).

    ``address``: the cluster to join (``"host:6379"``, ``"auto"``, or
    ``"ray://host:10001"`` for Ray Client); None does what ``ray.init()``
    does: join the cluster named by ``$RAY_ADDRESS`` or started on this
    machine, else start a local Ray instance. ``data``: ``"ship"`` or
    ``"shared"`` (see `harness.run.ray_executor`). ``cpus``/``gpus``: what each unit
    asks Ray for (its worker runs TensorFlow on ``max(1, int(cpus))`` threads
    and sees one GPU when ``gpus`` > 0; a fraction such as 0.5 packs two
    units per GPU). ``models_per_unit``: None picks
    ``min(16, ceil(n / (2 * slots)))`` for a task of ``n`` models on a
    cluster with room for ``slots`` units at once. ``max_retries``: how often
    Ray reruns a unit whose worker process or node died. Errors name the
    field as ``RayOptions.<field>``.
    """

    address: str | None = None
    data: Literal["ship", "shared"] = "ship"
    cpus: float = 1.0
    gpus: float = 0.0
    models_per_unit: int | None = None
    max_retries: int = 3

    def __post_init__(self) -> None:
        check_param("RayOptions.data", self.data, [Options(RAY_DATA)])
        _positive("RayOptions.cpus", self.cpus)
        if not 0 <= self.gpus <= 1:
            raise ParameterError("RayOptions.gpus", "must be between 0 and 1: a unit's worker uses one GPU",
                                 self.gpus)
        if self.models_per_unit is not None:
            _at_least("RayOptions.models_per_unit", self.models_per_unit, 1)
        _at_least("RayOptions.max_retries", self.max_retries, 0)

    @property
    def threads(self) -> int:
        return max(1, int(self.cpus))


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
    (`harness.submission.keras_mode`). ``seeding``: ``"model"`` or ``"kit"`` (`SEEDINGS`:
    ``model`` seeds Python's, numpy's and TensorFlow's generators per model
    with `harness.run.context.model_seed`; ``kit`` seeds nothing and only clears the Keras
    session before each model, as the 2020 ingestion program did).
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
    local workers (`harness.run.ray_executor`; ``workers`` and ``gpus`` are then
    ignored, and bubblewrap is needed on the Ray nodes, not here).
    """

    workers: int = 1
    gpus: tuple[int, ...] = ()
    time_per_model: float = TIME_PER_MODEL
    memory_mb: int = MEMORY_MB
    max_threads: int = MAX_THREADS
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
        _at_least("workers", self.workers, 1)
        _positive("time_per_model", self.time_per_model)
        for name in ("memory_mb", "max_threads", "tmp_mb", "submission_mb", "log_mb", "model_log_mb"):
            _at_least(name, getattr(self, name), 1)
        object.__setattr__(self, "keras", KerasMode.parse(self.keras).value)
        check_param("seeding", self.seeding, [Options(SEEDINGS)])

    @property
    def executor(self) -> str:
        """The name of the executor that runs the models (`harness.run.executors.EXECUTORS`): ``"ray"`` with
        `ray` options, else ``"local"``."""
        return "local" if self.ray is None else "ray"

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
