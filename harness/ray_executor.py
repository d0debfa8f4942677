"""Running a submission on a Ray cluster: ``pgdl predict/score --executor ray``.

    >>> config = RunConfig(ray=RayOptions(address="head-node:6379", gpus=1))  # doctest: +SKIP
    >>> run_submission("my_measure/", "zoo/", "out/", config)                # doctest: +SKIP

The driver (the process running `harness.runner.run_submission`) cuts each
task's models into *units* of ``models_per_unit`` models. A unit is one Ray
task asking for ``cpus`` CPUs and ``gpus`` GPUs; on whatever node it lands, it
starts the same sandboxed worker as a local run (`harness.runner._Session`),
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

`LoopbackCluster` starts a throwaway multi-node cluster on this machine, for
the tests, the benchmark and trying the executor out. See ``docs/ray.md``.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import io
import logging
import math
import os
import tarfile
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Literal, Sequence

from harness import __version__
from harness.errors import HarnessError, one_line
from harness.records import RunRecord
from harness.runner import LOG_DIR, RunConfig, _ImportFailure, _Job, _RunContext, _Session
from harness.sandbox import proc_stat, tree_pids
from harness.submission import Submission
from harness.task import Task
from harness.visible import visible_paths

INSTALL_HINT = "pip install 'pgdl-harness[ray]'"
CACHE_ENV = "PGDL_RAY_CACHE"
AUTO_UNIT_CAP = 16
_LOG_LIMIT = 1 << 20


@dataclass(frozen=True)
class RayOptions:
    """How a run uses Ray (``RunConfig.ray``; None there runs locally).

    ``address``: the cluster to join (``"host:6379"``, ``"auto"``, or
    ``"ray://host:10001"`` for Ray Client); None does what ``ray.init()``
    does: join the cluster named by ``$RAY_ADDRESS`` or started on this
    machine, else start a local Ray instance. ``data``: ``"ship"`` or
    ``"shared"`` (see the module docstring). ``cpus``/``gpus``: what each unit
    asks Ray for (its worker runs TensorFlow on ``max(1, int(cpus))`` threads
    and sees one GPU when ``gpus`` > 0; a fraction such as 0.5 packs two
    units per GPU). ``models_per_unit``: None picks
    ``min(16, ceil(n / (2 * slots)))`` for a task of ``n`` models on a
    cluster with room for ``slots`` units at once. ``max_retries``: how often
    Ray reruns a unit whose worker process or node died.
    """

    address: str | None = None
    data: Literal["ship", "shared"] = "ship"
    cpus: float = 1.0
    gpus: float = 0.0
    models_per_unit: int | None = None
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.data not in ("ship", "shared"):
            raise HarnessError(f"--ray-data must be 'ship' or 'shared', not {self.data!r}")
        if not self.cpus > 0:
            raise HarnessError(f"--ray-cpus must be positive (got {self.cpus:g})")
        if not 0 <= self.gpus <= 1:
            raise HarnessError(f"--ray-gpus must be between 0 and 1: a unit's worker uses one GPU "
                               f"(got {self.gpus:g})")
        if self.models_per_unit is not None and self.models_per_unit < 1:
            raise HarnessError(f"--models-per-unit must be at least 1 (got {self.models_per_unit})")
        if self.max_retries < 0:
            raise HarnessError(f"--ray-retries must be 0 or more (got {self.max_retries})")

    @property
    def threads(self) -> int:
        return max(1, int(self.cpus))


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
        raise HarnessError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from None
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
        raise HarnessError(f"--ray-address {address}: expected HOST:PORT (or auto, or ray://HOST:PORT)")
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
    ``dataset_1/train/`` (`harness.visible`). Never ``model_configs.json`` nor ``dataset_1/test``."""
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
        context = _RunContext(submission, [task], config, Path(scratch), logs)
        with _Session(context, slot=unit.index, gpu=gpus[0] if gpus else None) as session:
            records = tuple(session.run(_Job(unit.task, model)) for model in unit.models)
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
                           f"--ray-data shared every node must see --data at the driver's path "
                           f"(or use --ray-data ship)")
    return path


class RayPool:
    """The Ray counterpart of the runner's local pool: ``run(jobs)`` yields their records.

    Used as a context manager around a run: entering joins the cluster and
    ships the submission; leaving cancels the units still running.
    """

    def __init__(self, context: _RunContext) -> None:
        if context.config.ray is None:
            raise ValueError("RayPool needs RunConfig.ray")
        self.context = context
        self.options: RayOptions = context.config.ray
        self._pending: dict[Any, Unit] = {}
        self._next_index = 0
        self._skip: str | None = None

    def __enter__(self) -> "RayPool":
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

    def run(self, jobs: Sequence[_Job]) -> Iterator[RunRecord]:
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
                self.context.import_failure(_ImportFailure(*result.import_failure))
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


# --- a throwaway cluster on loopback addresses (tests, benchmarks, trying it out) ---


class LoopbackCluster:
    """A Ray cluster of ``nodes`` nodes on this machine, node ``i`` on loopback address ``127.0.0.<i + 2>``.

    Started with ``ray start`` (a head, then the other nodes joining it), each
    node in a process group of its own with its own ports, temporary folder
    and ``cpus_per_node`` CPUs; the nodes share a cache (`node_cache`) under
    ``root``. `stop` ends exactly the cluster's processes (never ``ray stop``,
    which would end every Ray process on the machine).
    ``127.0.0.1`` itself is avoided because Ray replaces it by the machine's
    network address; every connection stays on loopback.

        >>> with LoopbackCluster(tmp_path, nodes=2) as cluster:       # doctest: +SKIP
        ...     run_submission(sub, data, out, RunConfig(ray=RayOptions(address=cluster.address)))
    """

    def __init__(self, root: str | Path, nodes: int = 2, cpus_per_node: int = 1,
                 object_store_mb: int = 100, start_seconds: float = 180.0) -> None:
        self.root = Path(root)
        self.nodes, self.cpus_per_node, self.object_store_mb = nodes, cpus_per_node, object_store_mb
        self.start_seconds = start_seconds
        self.port = _free_port()
        self.groups: list[int] = []

    @property
    def address(self) -> str:
        return f"{self.node_ip(0)}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for the nodes and for drivers joining them: no usage report, and no token
        authentication (every connection is on loopback; a token in ``~/.ray`` would otherwise
        switch it on for some processes and not others)."""
        return {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}

    @staticmethod
    def node_ip(index: int) -> str:
        return f"127.0.0.{index + 2}"

    def start(self) -> "LoopbackCluster":
        try:
            for index in range(self.nodes):
                self._start_node(index)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM every process of the cluster, then SIGKILL what is left after 3 seconds."""
        import signal
        import time

        pids = self.pids()
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3  # gcs_server and raylet may ignore SIGTERM
        while time.monotonic() < deadline and any(_running(pid) for pid in pids):
            time.sleep(0.2)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        self.groups = []

    def pids(self) -> list[int]:
        """The cluster's processes: those of the nodes' process groups and their descendants
        (Ray puts each worker process in a group of its own)."""
        leaders = [pid for pid, (_, group) in _process_table().items() if group in self.groups]
        return sorted({p for pid in leaders for p in tree_pids(pid)})

    def __enter__(self) -> "LoopbackCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_node(self, index: int) -> None:
        import subprocess
        import sys

        ip = self.node_ip(index)
        temp = self.root / f"node{index}"
        temp.mkdir(parents=True, exist_ok=True)
        first_worker_port = _free_port_range(100)
        args = [sys.executable, "-m", "ray.scripts.scripts", "start", "--node-ip-address", ip,
                "--num-cpus", str(self.cpus_per_node), "--num-gpus", "0",
                "--object-store-memory", str(self.object_store_mb << 20), "--temp-dir", str(temp),
                "--disable-usage-stats", "--node-manager-port", str(_free_port()),
                "--object-manager-port", str(_free_port()),
                "--dashboard-agent-listen-port", str(_free_port()),
                "--dashboard-agent-grpc-port", str(_free_port()),
                "--runtime-env-agent-port", str(_free_port()), "--metrics-export-port", str(_free_port()),
                "--min-worker-port", str(first_worker_port), "--max-worker-port", str(first_worker_port + 99)]
        if index == 0:
            args += ["--head", "--port", str(self.port), "--include-dashboard", "false"]
            if importlib.util.find_spec("grpc") is not None:  # else no Ray Client server (port 10001)
                args += ["--ray-client-server-port", str(_free_port())]
        else:
            args += ["--address", self.address]
        env = {**os.environ, **self.env, CACHE_ENV: str(self.root / "cache")}
        with open(temp / "ray-start.log", "wb") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
            self.groups.append(proc.pid)
            try:
                code = proc.wait(timeout=self.start_seconds)
            except subprocess.TimeoutExpired:
                code = None
        if code != 0:
            tail = (temp / "ray-start.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise HarnessError(f"ray start of node {ip} failed ({'timed out' if code is None else code}): "
                               + " | ".join(tail))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_port_range(count: int) -> int:
    """The first of ``count`` consecutive ports that are all free now, below Linux's ephemeral
    ports (32768 and up, where `_free_port` finds the others): Ray's worker processes use them."""
    import random
    import socket

    bases = list(range(20000, 32768 - count, count))
    random.shuffle(bases)  # two clusters started at once are unlikely to race for the same range
    for base in bases:
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("", port))
        except OSError:
            continue
        return base
    raise HarnessError(f"no {count} consecutive free ports between 20000 and 32767")


def _process_table() -> dict[int, tuple[str, int]]:
    """Every process of this machine: pid -> (state, process group), from ``/proc/<pid>/stat``."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = proc_stat(stat.parent.name)  # state, ppid, pgrp, ...
        if fields is not None:
            table[int(stat.parent.name)] = (fields[0], int(fields[2]))
    return table


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting to be reaped does not)."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] != "Z"
