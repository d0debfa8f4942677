"""Running a submission on a Ray cluster: ``pgdl predict/score --executor ray``.

    >>> config = RunConfig(ray=RayOptions(address="head-node:6379", gpus=1))  # doctest: +SKIP
    >>> run_submission("my_measure/", "zoo/", "out/", config)                # doctest: +SKIP

The driver (the process running `harness.run.run_submission`) cuts each
task's models into *units* of ``models_per_unit`` models. A unit is one Ray
task asking for ``cpus`` CPUs and ``gpus`` GPUs; on whatever node it lands, it
starts the same sandboxed worker as a local run (`harness.run.Session`),
evaluates its models one after another and returns their records. The
driver writes them exactly as a local run does (``run.jsonl`` as units
complete, ``<task>.predict`` when a task is done, the worker's output in
``logs/worker-<unit>.log``), so resuming and scoring do not depend on the
executor, and neither do the predictions: each model's seed depends only on
its task and id.

Data. With ``data="ship"`` (the default) the task's input side travels through
Ray's object store: an uncompressed tar of the model folders being run and
``dataset_1/train`` (never ``model_configs.json`` nor a test split), unpacked
once per node into a cache keyed by its SHA-256 (`node_cache`). With
``data="shared"`` only paths travel: every node must see ``--data`` at the same
path as the driver (an NFS mount, say). The submission always travels through
the object store (it is small), cached per node by its digest.

Faults. A Ray worker process or node that dies while running a unit: Ray runs
the unit again, elsewhere if need be, up to ``max_retries`` times (for system
failures only: ``retry_exceptions`` stays off); after that the unit's models
are recorded as ``crashed``. Whatever the submission does (raise, time out,
run out of memory, crash its sandboxed worker) is recorded by the unit as in a
local run and never retried; an import failure is recorded for every model of
the run, and the units not yet done are cancelled. A driver that is
interrupted takes its running units with it (Ray ends the tasks of a job
whose driver is gone); started again with the same output folder, it resumes
like a local run.

The tests' `helpers.loopback.LoopbackCluster` starts a throwaway multi-node
cluster on this machine. See ``docs/ray.md``.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import logging
import math
import os
import tarfile
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Sequence

from harness import __version__
from harness.errors import HarnessError, ParameterError, one_line
from harness.run.config import RayOptions, RunConfig
from harness.run.context import LOG_DIR, ImportFailure, Job, RunContext
from harness.run.session import Session
from harness.submission.package import Submission
from harness.task import RunRecord, Task
from harness.task.visible import visible_paths

INSTALL_HINT = "pip install 'pgdl-harness[ray]'"
CACHE_ENV = "PGDL_RAY_CACHE"
AUTO_UNIT_CAP = 16
_LOG_LIMIT = 1 << 20


@dataclass(frozen=True)
class Unit:
    """A unit of work: some models of one task, run one after another by one sandboxed worker.

    ``index`` numbers the units of a run; it names the unit's log
    (``logs/worker-<index>.log``) and is the ``worker`` of its records.
    """

    index: int
    task: str
    models: tuple[str, ...]

    @property
    def name(self) -> str:
        """The Ray task's name (and its worker's process title, ``ray::<name>``)."""
        return f"pgdl {self.task} {','.join(self.models)}"


@dataclass(frozen=True)
class UnitResult:
    """What a unit returns to the driver: its records, the run's import failure if it hit one
    (``(status, message)``), the tail of its worker's output, the node and Ray worker process it ran in."""

    records: tuple[RunRecord, ...]
    import_failure: tuple[str, str] | None
    log: bytes
    node: str
    pid: int | None = None


@dataclass(frozen=True)
class _Payload:
    """What every unit of a run gets: the run's settings and the shipped submission."""

    config: RunConfig
    submission_name: str
    submission_digest: str
    submission: list[Any]  # [ObjectRef of the tar]: nested, so that Ray does not fetch it eagerly
    harness_version: str


@dataclass(frozen=True)
class _TaskSource:
    """Where a unit finds its task's input side: at the absolute path ``shared``, or in the
    shipped tar (``key``, ``box``). ``origin`` is its path as the driver names it, for messages."""

    name: str
    origin: str
    shared: str | None = None
    key: str | None = None
    box: list[Any] | None = None


def require_ray() -> ModuleType:
    """The ``ray`` module; `HarnessError` saying how to install it when it is missing."""
    try:
        import ray
    except ImportError:
        raise HarnessError(f"the Ray executor needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def connect(address: str | None) -> None:
    """Join the Ray cluster at ``address`` (see `RayOptions`), unless this process already has."""
    ray = require_ray()
    if ray.is_initialized():
        return
    if address not in (None, "auto", "local"):
        _check_reachable(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network at run time: no usage report
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
        where = address or "the local Ray instance"
        raise HarnessError(f"cannot connect to Ray at {where}: {one_line(exc)}") from None


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """`HarnessError` unless something listens at ``host:port`` (``ray://`` prefix allowed).

    Without this check ``ray.init`` retries an unreachable address for many
    minutes before it gives up.
    """
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ParameterError("RayOptions.address", "must be HOST:PORT (or auto, or ray://HOST:PORT)", address)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise HarnessError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}): "
                           f"is `ray start --head` running there?") from None


def unit_size(n_models: int, slots: int, requested: int | None) -> int:
    """Models per unit: ``requested``, else ``min(16, ceil(n / (2 * slots)))`` (at least 1).

    Two units per slot balance the load when models take uneven times; the
    cap keeps the work lost to a dying node small.
    """
    if requested is not None:
        return requested
    return max(1, min(AUTO_UNIT_CAP, math.ceil(n_models / (2 * max(1, slots)))))


def plan_units(task: str, models: Sequence[str], size: int, first_index: int) -> list[Unit]:
    """``models`` of ``task`` cut in order into units of ``size``, numbered from ``first_index``."""
    chunks = [tuple(models[i:i + size]) for i in range(0, len(models), size)]
    return [Unit(first_index + n, task, chunk) for n, chunk in enumerate(chunks)]


def pack_task_input(task: Task, models: Sequence[str]) -> bytes:
    """The input side a unit needs, as an uncompressed tar: ``model_<id>/`` for ``models`` and
    ``dataset_1/train/`` (`harness.task.visible`). Never ``model_configs.json`` nor ``dataset_1/test``."""
    return pack_trees([(p.host, p.inside) for p in visible_paths(task, models)])


def pack_trees(entries: Sequence[tuple[Path, str]]) -> bytes:
    """An uncompressed tar of each folder ``source`` at ``name``, deterministic in content and names.

    Files are added in sorted order with their times and owners cleared, so
    that the same files always give the same bytes (and the same cache key).
    Symbolic links are kept as links.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for source, name in entries:
            if not source.is_dir():
                raise HarnessError(f"{source}: not a folder")
            for dirpath, dirnames, filenames in os.walk(source):  # does not follow links
                dirnames.sort()
                folder = Path(dirpath)
                arcdir = "/".join((name, *folder.relative_to(source).parts))
                tar.add(folder, arcname=arcdir, filter=_normalized, recursive=False)
                for fname in sorted(filenames + [d for d in dirnames if (folder / d).is_symlink()]):
                    tar.add(folder / fname, arcname=f"{arcdir}/{fname}", filter=_normalized,
                            recursive=False)
    return buffer.getvalue()


def node_cache() -> Path:
    """The folder where a node keeps shipped submissions and task data: ``$PGDL_RAY_CACHE``,
    else ``<system temp>/pgdl-ray-cache``. Safe to delete between runs."""
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / "pgdl-ray-cache")


def unpack_cached(kind: str, key: str, box: list[Any]) -> Path:
    """The folder ``node_cache()/<kind>/<key>``, unpacked from the tar in ``box[0]`` by the
    first unit on this node that needs it (the others wait on a lock, then reuse it)."""
    root = node_cache() / kind
    target = root / key
    if target.is_dir():  # complete: it appears only by an atomic rename
        return target
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_dir():
            import ray

            data = ray.get(box[0])
            partial = Path(tempfile.mkdtemp(dir=root, prefix=f".{key}."))
            partial.chmod(0o755)
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(partial, filter="tar")
            os.rename(partial, target)
    return target


def run_unit(unit: Unit, payload: _Payload, source: _TaskSource) -> UnitResult:
    """Evaluate ``unit`` on this node with a sandboxed worker, as a local run would (the Ray task body)."""
    import ray

    node = ray.util.get_node_ip_address()
    if payload.harness_version != __version__:
        raise HarnessError(f"pgdl-harness {__version__} is installed here, the driver has "
                           f"{payload.harness_version}: install the same version on every node")
    root = unpack_cached("submissions", payload.submission_digest, payload.submission) / "submission"
    submission = Submission(root, payload.submission_name, payload.submission_digest)
    input_dir = _task_input(source)
    task = Task(source.name, input_dir, None)
    gpus = [int(g) for g in ray.get_gpu_ids()]
    cores = len(os.sched_getaffinity(0))
    # The runner gives each of `workers` workers cores // workers threads: ask for the unit's share.
    config = replace(payload.config, workers=max(1, cores // payload.config.ray.threads), gpus=(),
                     ray=None, progress=False)
    with tempfile.TemporaryDirectory(prefix="pgdl-unit-") as scratch:
        logs = Path(scratch) / LOG_DIR
        logs.mkdir()
        context = RunContext(submission, [task], config, Path(scratch), logs)
        with Session(context, slot=unit.index, gpu=gpus[0] if gpus else None) as session:
            records = tuple(session.run(Job(unit.task, model)) for model in unit.models)
        failure = context.import_failure()
        log = session.log_path.read_bytes()[-_LOG_LIMIT:] if session.log_path.is_file() else b""
    if str(input_dir) != source.origin:  # messages name the driver's paths, as in a local run
        records = tuple(replace(r, message=r.message.replace(str(input_dir), source.origin)) for r in records)
    return UnitResult(records, (failure.status, failure.message) if failure else None, log, node, os.getpid())


def _task_input(source: _TaskSource) -> Path:
    if source.box is not None:
        return unpack_cached("tasks", source.key, source.box)
    path = Path(source.shared)
    if not (path / "dataset_1" / "train").is_dir():
        raise HarnessError(f"task {source.name} is not at {path} here: with "
                           f"data='shared' (RayOptions) every node must see the tasks at the driver's path "
                           f"(or ship them: data='ship')")
    return path


class RayExecutor:
    """The Ray counterpart of the runner's local pool: ``run(jobs)`` yields their records.

    Used as a context manager around a run: entering joins the cluster and
    ships the submission; leaving cancels the units still running.
    """

    def __init__(self, context: RunContext) -> None:
        if context.config.ray is None:
            raise ValueError("RayExecutor needs RunConfig.ray")
        self.context = context
        self.options: RayOptions = context.config.ray
        self._pending: dict[Any, Unit] = {}
        self._next_index = 0
        self._skip: str | None = None

    def __enter__(self) -> "RayExecutor":
        self.ray = require_ray()
        connect(self.options.address)
        sub = self.context.submission
        shipped = pack_trees([(sub.copy_to(self.context.scratch / "ship"), "submission")])
        config = replace(self.context.config, progress=False)
        self.payload = _Payload(config, sub.name, sub.digest, [self.ray.put(shipped)], __version__)
        self.remote = self.ray.remote(run_unit)
        return self

    def __exit__(self, *exc: object) -> None:
        self._cancel_pending()

    def skip_pending(self, task: str, message: str) -> None:
        """Cancel ``task``'s units not finished yet: their models get ``skipped`` records with ``message``."""
        self._skip = message

    def run(self, jobs: Sequence[Job]) -> Iterator[RunRecord]:
        """Run ``jobs`` (models of one or more tasks) as units; yield records as units complete."""
        by_task: dict[str, list[str]] = {}
        for job in jobs:
            by_task.setdefault(job.task, []).append(job.model)
        for task_name, models in by_task.items():
            yield from self._run_task(self._task(task_name), models)

    def _run_task(self, task: Task, models: list[str]) -> Iterator[RunRecord]:
        if (failure := self.context.import_failure()) is not None:
            yield from _failed(task.name, models, failure.status, failure.message, None)
            return
        size = unit_size(len(models), self._slots(), self.options.models_per_unit)
        units = plan_units(task.name, models, size, self._next_index)
        self._next_index += len(units)
        source = self._source(task, models)
        self._pending = {self._submit(unit, source): unit for unit in units}
        self._skip = None
        while self._pending:
            ready, _ = self.ray.wait(list(self._pending), num_returns=1)
            unit = self._pending.pop(ready[0])
            result = self._result(ready[0], unit)
            self._write_log(unit, result)
            if result.import_failure is not None:  # known before its records arrive, which end the run
                self.context.import_failure(ImportFailure(*result.import_failure))
            yield from result.records
            if self._skip is not None:
                for rest in self._cancel_pending():
                    yield from _failed(task.name, rest.models, "skipped", self._skip, rest.index)
            if result.import_failure is not None:
                status, message = result.import_failure
                for rest in self._cancel_pending():
                    yield from _failed(task.name, rest.models, status, message, rest.index)

    def _task(self, name: str) -> Task:
        return next(t for t in self.context.tasks if t.name == name)

    def _slots(self) -> int:
        """How many units the cluster can run at once, by its CPUs and GPUs."""
        total = self.ray.cluster_resources()
        slots = int(total.get("CPU", 0) // self.options.cpus)
        if self.options.gpus > 0:
            slots = min(slots, int(total.get("GPU", 0) // self.options.gpus))
        return max(1, slots)

    def _source(self, task: Task, models: Sequence[str]) -> _TaskSource:
        if self.options.data == "shared":
            return _TaskSource(task.name, str(task.input_dir), shared=str(task.input_dir.resolve()))
        data = pack_task_input(task, models)
        return _TaskSource(task.name, str(task.input_dir), key=hashlib.sha256(data).hexdigest(),
                           box=[self.ray.put(data)])

    def _submit(self, unit: Unit, source: _TaskSource) -> Any:
        options = self.options
        return self.remote.options(name=unit.name, num_cpus=options.cpus, num_gpus=options.gpus,
                                   max_retries=options.max_retries, retry_exceptions=False
                                   ).remote(unit, self.payload, source)

    def _result(self, ref: Any, unit: Unit) -> UnitResult:
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, HarnessError):
                raise HarnessError(f"Ray node {exc.ip}: {cause}") from None
            raise HarnessError(f"unit {unit.index} ({unit.name}) failed on the cluster: "
                               f"{type(cause).__name__}: {one_line(cause)}") from exc
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.OutOfMemoryError,
                exceptions.ObjectLostError) as exc:
            message = (f"its unit of work failed on the Ray cluster {self.options.max_retries + 1} time(s) "
                       f"({type(exc).__name__}: {one_line(exc)})")
            return UnitResult(tuple(_failed(unit.task, unit.models, "crashed", message, unit.index)),
                              None, b"", "")
        except exceptions.RayError as exc:
            raise HarnessError(f"Ray could not run unit {unit.index} ({unit.name}): "
                               f"{type(exc).__name__}: {one_line(exc)}") from None

    def _write_log(self, unit: Unit, result: UnitResult) -> None:
        header = (f"=== unit {unit.index} ({unit.name}) on Ray node {result.node or '?'} "
                  f"(Ray worker pid {result.pid}) ===\n").encode()
        with open(self.context.log_dir / f"worker-{unit.index}.log", "ab") as log:
            log.write(header + result.log)

    def _cancel_pending(self) -> list[Unit]:
        pending, self._pending = self._pending, {}
        for ref in pending:
            self.ray.cancel(ref, force=True)
        return list(pending.values())


def _failed(task: str, models: Sequence[str], status: str, message: str,
            worker: int | None) -> Iterator[RunRecord]:
    for model in models:
        yield RunRecord(task, model, status, None, 0.0, message, worker)


def _normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info
