"""Where a submission runs: the bubblewrap sandbox of one worker, and the command inside it.

`SandboxLayout.bwrap_args` builds the bubblewrap (``bwrap``) command line of one
worker (SPEC §2). The worker sees, read-only: ``/usr`` and the few ``/etc``
files the dynamic loader and Python need, the Python installation and the
virtual environment, the ``harness`` package alone (at ``/pgdl/lib``, never the
repository checkout: an editable install would otherwise put the checkout,
the shipped zoo's reference data included, on the import path), the run's
checked copy of the submission (``/pgdl/source``) and each task's input side,
bound path by path as `harness.task.visible` defines it (so that a combined-layout
task's ``model_configs.json`` and test split stay out of view). Writable, each
on a size-capped tmpfs of its own that vanishes with the sandbox: ``/tmp``,
``/dev/shm`` and ``/pgdl/submission``, where the worker's private copy of the
submission is made before Python starts. ``/proc/sys`` and the other kernel
knobs under ``/proc`` are read-only; the root itself is remounted read-only.
New PID, IPC, UTS, network and cgroup namespaces; the sandbox dies with the
harness; a system-call filter (`harness.sandbox.seccomp`) refuses what a measure never
needs.

Nothing of the submission runs with privileges: `worker_command` puts
``prlimit`` and, when the harness runs as root, ``setpriv`` (util-linux) in
front of the interpreter, so that the process limit (``RLIMIT_NPROC``, which
the kernel ignores for root), an otherwise unused user id with no groups, an
empty capability bounding set and ``no_new_privs`` are in place before Python
starts. Python itself starts isolated (``-I``: no current folder, environment
variables or user site on ``sys.path``) in ``/``; the worker adds the
submission's folder to the end of ``sys.path`` only after importing all it
needs. Without root the sandbox uses an unprivileged user namespace
(``--unshare-all``), where the caller has no privileges to drop.
The process a layout runs is watched by `harness.sandbox.process`.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from harness.errors import HarnessError
from harness.task import Task
from harness.task.visible import visible_paths

LIB_DIR = "/pgdl/lib"
SOURCE_DIR = "/pgdl/source"
SUBMISSION_DIR = "/pgdl/submission"
DATA_DIR = "/pgdl/data"
#: The sandbox's writable mounts, each a size-capped tmpfs: what the memory watch adds up.
TMPFS_MOUNTS = ("/tmp", "/dev/shm", SUBMISSION_DIR)
#: Kernel knobs under /proc, made read-only inside the sandbox (what container engines mask too).
_PROC_READ_ONLY = ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs")
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group",
              "nsswitch.conf", "alternatives", "fonts")
_TOP_LEVEL_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_UID_RANGE = (2_000_000, 2_000_000_000)
_MAX_FILES = 1024  # open files per process: also bounds the kernel memory in pipe buffers (sockets are refused)


def find_bwrap() -> str | None:
    """Path of the ``bwrap`` executable, or None."""
    return shutil.which("bwrap")


def require_bwrap() -> str:
    """Path of ``bwrap``; `HarnessError` saying how to install it when it is missing."""
    path = find_bwrap()
    if path is None:
        raise HarnessError("bubblewrap (bwrap) is not installed, and submissions are untrusted code: "
                           "install it (apt-get install bubblewrap), or pass --no-sandbox for trusted code")
    return path


def sandbox_task_dir(task_name: str) -> str:
    """Where a task's input side appears inside the sandbox."""
    return f"{DATA_DIR}/{task_name}"


def uids_in_use(proc: Path = Path("/proc")) -> set[int]:
    """Every user id (real, effective, saved, file system) of a process on this machine now."""
    used: set[int] = set()
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(entry / "status") as fh:
                line = next((line for line in fh if line.startswith("Uid:")), "")
        except OSError:
            continue
        used.update(int(uid) for uid in line.split()[1:])
    return used


class UidPool:
    """Fresh user ids for a run's workers: from a random base per run, skipping ids in use.

    Each worker gets an id no process on the machine has, and no other
    run is likely to draw, so that per-user kernel state (the count of
    threads behind ``RLIMIT_NPROC``, keyrings, ``/dev/shm`` ownership) is never
    shared with an earlier worker or another run. Thread-safe.
    """

    def __init__(self, proc: Path = Path("/proc"), rng: random.Random | None = None) -> None:
        rng = rng or random.SystemRandom()
        self._next = rng.randrange(*_UID_RANGE)
        self._proc = proc
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            used = uids_in_use(self._proc)
            while self._next in used:
                self._next += 1
            uid, self._next = self._next, self._next + 1
            return uid


def gpu_device_nodes() -> list[Path]:
    """The NVIDIA device nodes of this machine (``/dev/nvidia*``), for GPU workers."""
    return sorted(Path("/dev").glob("nvidia*"))


@dataclass(frozen=True)
class TaskMount:
    """A task's input side on the host: what a worker may see of it (`harness.task.visible`)."""

    name: str
    model_dirs: Mapping[str, Path]
    train_dir: Path

    @classmethod
    def of(cls, task: Task) -> "TaskMount":
        """What a worker may see of ``task``: every model folder and the training split, nothing else."""
        paths = visible_paths(task)
        return cls(task.name, {p.model: p.host for p in paths if p.model is not None},
                   next(p.host for p in paths if p.model is None))

    def binds(self) -> Iterator[tuple[Path, str]]:
        """(host path, path inside the sandbox) of everything visible."""
        base = sandbox_task_dir(self.name)
        for model_id, host in self.model_dirs.items():
            yield host, f"{base}/model_{model_id}"
        yield self.train_dir, f"{base}/dataset_1/train"


@dataclass(frozen=True)
class SandboxLayout:
    """Everything one sandboxed worker sees; `bwrap_args` turns it into a command line.

    ``source_dir`` is the host folder of the run's checked copy of the
    submission (bound read-only; the worker's writable copy is made from it
    on a tmpfs of ``submission_mb`` MiB); ``tasks`` the tasks' input sides;
    ``uid`` the user id the worker runs as (root only; None keeps the
    caller's id, in a user namespace); ``gpu`` makes the NVIDIA device nodes
    visible; ``tmp_mb`` caps ``/tmp`` and ``/dev/shm``.
    """

    source_dir: Path
    tasks: Sequence[TaskMount]
    uid: int | None = None
    gpu: bool = False
    tmp_mb: int = 1024
    submission_mb: int = 1024
    harness_dir: Path = field(default_factory=lambda: Path(__file__).resolve().parents[1])

    def bwrap_args(self) -> list[str]:
        """bwrap's options (the command to run follows them, after ``--``)."""
        b = _ArgBuilder()
        b.add(*self._namespaces(), "--die-with-parent", "--new-session")
        b.add("--ro-bind", "/usr", "/usr")
        for name in _TOP_LEVEL_LINKS:
            path = Path("/") / name
            if path.is_symlink():
                b.add("--symlink", os.readlink(path), str(path))
            elif path.is_dir():
                b.add("--ro-bind", str(path), str(path))
        for name in _ETC_FILES:
            if (Path("/etc") / name).exists():
                b.bind("/etc/" + name, "/etc/" + name)
        b.add("--proc", "/proc")
        for knob in _PROC_READ_ONLY:
            b.add("--ro-bind-try", knob, knob)
        b.add("--dev", "/dev")
        if self.gpu:
            for node in gpu_device_nodes():
                b.add("--dev-bind", str(node), str(node))
            b.bind("/sys", "/sys")
        size = str(self.tmp_mb << 20)
        b.add("--perms", "1777", "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev")
        b.add("--perms", "1777", "--size", size, "--tmpfs", "/tmp")
        for path in python_dirs():
            b.bind(str(path), str(path))
        b.bind(str(self.harness_dir), f"{LIB_DIR}/harness")
        b.bind(str(self.source_dir), SOURCE_DIR)
        b.tmpfs(SUBMISSION_DIR, self.submission_mb << 20)
        for task in self.tasks:
            for host, inside in task.binds():
                b.bind(str(host), inside)
        b.add("--remount-ro", "/", "--chdir", "/")
        if self.uid is not None:  # setpriv needs these three to switch ids and empty the bounding set
            b.add("--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                  "--cap-add", "CAP_SETPCAP")
        elif os.geteuid() == 0:  # unprivileged bwrap grants no capabilities in the first place
            b.add("--cap-drop", "ALL")
        return b.args

    def _namespaces(self) -> list[str]:
        if self.uid is None:
            return ["--unshare-all"]
        # As root: no user namespace, so that the worker can take a real unprivileged id.
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]


def worker_command(python: Sequence[str], *, uid: int | None, max_threads: int) -> list[str]:
    """What bwrap runs: the launchers that drop everything, the copy of the submission, then ``python``.

    ``python`` is the worker's interpreter command line (`python_command`).
    ``prlimit`` sets the open-file limit and, with ``uid``, the process limit
    of that user; ``setpriv`` switches to ``uid`` with no groups, no
    capabilities (bounding set included) and ``no_new_privs``; then the
    worker's private copy of the submission is made on its tmpfs, as the
    worker's own user, and the interpreter replaces the shell.
    """
    limits = ["--core=0:0", f"--nofile={_MAX_FILES}:{_MAX_FILES}"]
    if uid is not None:
        limits.append(f"--nproc={max_threads}:{max_threads}")
    chain = ["/usr/bin/prlimit", *limits, "--"]
    if uid is not None:
        chain += ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                  "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    copy = f'cp -R -P -- {SOURCE_DIR}/. {SUBMISSION_DIR}/ && exec "$@"'
    return chain + ["/bin/sh", "-c", copy, "pgdl-worker", *python]


def python_command(lib_dir: str | Path) -> list[str]:
    """The worker's interpreter: isolated (``-I``; ``-B``, as ``-I`` ignores PYTHONDONTWRITEBYTECODE),
    importing ``harness`` from ``lib_dir`` alone."""
    boot = f"import sys; sys.path.insert(0, {str(lib_dir)!r}); from harness.sandbox.worker import main; main()"
    return [sys.executable, "-I", "-B", "-c", boot]


class _ArgBuilder:
    """Collects bwrap arguments; creates each mount point's parents world-traversable (0755)."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self._dirs: set[str] = {"/"}

    def add(self, *args: str) -> None:
        self.args.extend(args)

    def bind(self, source: str, dest: str, *, writable: bool = False) -> None:
        self._parents(dest)
        self.add("--bind" if writable else "--ro-bind", source, dest)

    def _parents(self, dest: str) -> None:
        parents = []
        for parent in Path(dest).parents:
            if str(parent) in self._dirs:
                break
            parents.append(str(parent))
        for parent in reversed(parents):
            self.add("--perms", "0755", "--dir", parent)
            self._dirs.add(parent)

    def tmpfs(self, dest: str, size: int) -> None:
        """A world-writable tmpfs of ``size`` bytes at ``dest`` (its parents made as for `bind`)."""
        self._parents(dest)
        self.add("--perms", "0777", "--size", str(size), "--tmpfs", dest)


def python_dirs() -> list[Path]:
    """The Python installation and virtual environment the worker runs from (real paths)."""
    dirs: list[Path] = []
    for path in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))):
        real = Path(os.path.realpath(path))
        if not any(real == d or d in real.parents for d in dirs):
            dirs = [d for d in dirs if real not in d.parents] + [real]
    return dirs
