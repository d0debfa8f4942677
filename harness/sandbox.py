"""Where a submission runs: a bubblewrap sandbox, and the harness-side watch over it.

`SandboxLayout.bwrap_args` builds the bubblewrap (``bwrap``) command line of one
worker (SPEC §2). The worker sees, read-only: ``/usr`` and the few ``/etc``
files the dynamic loader and Python need, the Python installation and the
virtual environment, the ``harness`` package alone (at ``/pgdl/lib``, never the
repository checkout: an editable install would otherwise put the checkout,
the shipped zoo's reference data included, on the import path), the run's
checked copy of the submission (``/pgdl/source``) and each task's input side,
bound path by path as `harness.visible` defines it (so that a combined-layout
task's ``model_configs.json`` and test split stay out of view). Writable, each
on a size-capped tmpfs of its own that vanishes with the sandbox: ``/tmp``,
``/dev/shm`` and ``/pgdl/submission``, where the worker's private copy of the
submission is made before Python starts. ``/proc/sys`` and the other kernel
knobs under ``/proc`` are read-only; the root itself is remounted read-only.
New PID, IPC, UTS, network and cgroup namespaces; the sandbox dies with the
harness; a system-call filter (`harness.seccomp`) refuses what a measure never
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

`WorkerProcess` starts a worker, exchanges `harness.protocol` messages with
it over two pipes, and watches it while it works: wall time, memory
(`harness.memory`: a delegated cgroup's ``memory.max``, or the resident memory
of its whole process tree plus its tmpfs files, read from ``/proc``) and the
number of threads in its tree. Going over a limit kills the whole tree.
"""

from __future__ import annotations

import os
import random
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal, Mapping, Sequence

from harness import protocol
from harness.errors import HarnessError
from harness.memory import MemoryUsage, ProcMemoryWatch, WorkerCgroup
from harness.task import Task
from harness.visible import visible_paths

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
_TAIL_BYTES = 8192
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


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
    """A task's input side on the host: what a worker may see of it (`harness.visible`)."""

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
    harness_dir: Path = field(default_factory=lambda: Path(__file__).resolve().parent)

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
    boot = f"import sys; sys.path.insert(0, {str(lib_dir)!r}); from harness.worker import main; main()"
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


# --- watching a worker's process tree ----------------------------------------


@dataclass(frozen=True)
class TreeUsage:
    """Resident memory, threads and processes of a process and all its descendants."""

    rss_bytes: int
    threads: int
    processes: int
    pids: tuple[int, ...] = ()


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (via ``/proc/<pid>/task/<tid>/children``), parents first."""
    pids, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        pids.append(current)
        try:
            tids = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as fh:
                    frontier.extend(int(child) for child in fh.read().split())
            except OSError:
                continue
    return pids


def tree_usage(pid: int) -> TreeUsage:
    """Sum of the resident set sizes and thread counts over the tree of ``pid``.

    Pages shared between processes of the tree are counted once per process,
    which errs on the side of the limit.
    """
    rss = threads = processes = 0
    pids = tree_pids(pid)
    for p in pids:
        fields = proc_stat(p)
        if fields is None:
            continue
        # fields[0] is field 3 of proc(5) (state): num_threads is field 20, rss field 24.
        threads += int(fields[17])
        rss += int(fields[21]) * PAGE_SIZE
        processes += 1
    return TreeUsage(rss, threads, processes, tuple(pids))


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every descendant (a sandbox's PID namespace dies with its first process)."""
    for p in tree_pids(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


# --- worker output: capped logs ------------------------------------------------


class LogBudget:
    """What a run's worker logs may still take: ``run_bytes`` in all, ``section_bytes`` per model
    (or per worker start). Shared by the run's `WorkerLog` files; thread-safe."""

    def __init__(self, run_bytes: int = 64 << 20, section_bytes: int = 4 << 20) -> None:
        self.run_bytes, self.section_bytes = run_bytes, section_bytes
        self._left = run_bytes
        self._lock = threading.Lock()

    def take(self, wanted: int) -> int:
        """Up to ``wanted`` bytes from the run's allowance; how many were granted."""
        with self._lock:
            granted = min(wanted, self._left)
            self._left -= granted
            return granted


class WorkerLog:
    """One worker slot's log file: sections (a worker's start, a model) capped by a `LogBudget`.

    Output over a cap is dropped, and a line saying so marks where it was cut.
    Written by the thread that copies the worker's output, sectioned by the
    slot's thread: thread-safe.
    """

    def __init__(self, path: Path, budget: LogBudget) -> None:
        self.path, self.budget = path, budget
        self._lock = threading.Lock()
        self._section_left = budget.section_bytes
        self._cut = False

    def section(self, title: str) -> None:
        """Start a section: a header line, and a fresh per-section allowance."""
        with self._lock:
            self._section_left = self.budget.section_bytes
            self._cut = False
            self._append(f"=== {title} ===\n".encode())

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._cut:
                return
            wanted = min(len(data), self._section_left)
            granted = self.budget.take(wanted)
            self._section_left -= granted
            self._append(data[:granted])
            if granted < len(data):
                limit = (f"the {self.budget.section_bytes >> 20} MiB per-model" if granted == wanted
                         else f"the run's {self.budget.run_bytes >> 20} MiB")
                self._append(f"\n[pgdl: output cut here: over {limit} log limit]\n".encode())
                self._cut = True

    def _append(self, data: bytes) -> None:
        if data:
            with open(self.path, "ab") as fh:
                fh.write(data)


# --- the harness side of one worker ------------------------------------------


@dataclass(frozen=True)
class Limits:
    """What one wait on a worker may use: wall seconds, bytes of memory, threads in the tree."""

    seconds: float
    memory_bytes: int
    max_threads: int


@dataclass(frozen=True)
class Reply:
    """Outcome of waiting for a worker's next message.

    ``kind`` is ``"message"`` (``message`` holds it), or why there is none:
    ``"timeout"``, ``"memory"``, ``"threads"`` (a limit was exceeded and the
    worker killed), ``"died"`` (it exited or closed its pipe) or
    ``"protocol"`` (it wrote something that is not a valid message; killed).
    ``detail`` describes it in words.
    """

    kind: Literal["message", "timeout", "memory", "threads", "died", "protocol"]
    message: protocol.Message | None = None
    detail: str = ""
    seconds: float = 0.0


class WorkerProcess:
    """A running worker: ``command`` started with two extra pipes for `harness.protocol` messages.

    The worker's stdout and stderr (the submission's prints, TensorFlow's
    logs) go to ``log`` (capped); their last lines are kept for error
    messages. ``cgroup``, when given, is the worker's delegated cgroup (the
    kernel enforces its memory limit); otherwise its memory is counted from
    /proc, tmpfs mounts ``mounts`` included. Not thread-safe, except `kill`.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], *, pipes: tuple[int, int],
                 pass_fds: Sequence[int], launchers: int, log: WorkerLog | None,
                 cgroup: WorkerCgroup | None = None, mounts: Sequence[str] = ()) -> None:
        """Start ``argv``; ``pipes`` are this side's ``(send, receive)`` ends, ``pass_fds`` the worker's.

        ``launchers`` counts the processes of the tree that are not the
        worker's to count against its thread limit (bwrap's own).
        """
        self.proc = subprocess.Popen(list(argv), env=dict(env), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     pass_fds=tuple(pass_fds), start_new_session=True)
        self._send_fd, self._recv_fd = pipes
        self._tail = b""
        self.launchers = launchers
        self.cgroup = cgroup
        self.watch = ProcMemoryWatch(tuple(mounts))
        self._log = threading.Thread(target=self._copy_output, args=(log,), daemon=True)
        self._log.start()
        self._buffer = b""

    @classmethod
    def start(cls, command: Sequence[str], env: Mapping[str, str], *, wrap: Sequence[str] | None = None,
              seccomp: bytes | None = None, log: WorkerLog | None = None,
              cgroup: WorkerCgroup | None = None) -> "WorkerProcess":
        """Start ``command`` (the worker's command line without its pipe arguments).

        ``wrap``, when given, holds bwrap's options (see
        `SandboxLayout.bwrap_args`); they are passed on a memfd (``--args``)
        so that tasks of thousands of models fit on the command line.
        ``seccomp`` is the compiled system-call filter (`harness.seccomp`),
        passed to bwrap on a descriptor of its own.
        """
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        argv = list(command) + ["--fd-in", str(to_worker_r), "--fd-out", str(from_worker_w)]
        extra: list[int] = []
        if wrap is not None:
            from harness.seccomp import filter_fd

            options = list(wrap[:-1]) if wrap and wrap[-1] == "--" else list(wrap)
            if seccomp is not None:
                extra.append(filter_fd(seccomp))
                options += ["--seccomp", str(extra[-1])]
            args_fd = os.memfd_create("bwrap-args", 0)
            os.write(args_fd, b"".join(a.encode() + b"\0" for a in options))
            os.lseek(args_fd, 0, os.SEEK_SET)
            extra.append(args_fd)
            argv = [require_bwrap(), "--args", str(args_fd), "--", *argv]
        if cgroup is not None:
            argv = cgroup.launcher() + argv
        try:
            # bwrap's own two processes (outside and pid 1 inside) are not the worker's to count.
            return cls(argv, env, pipes=(to_worker_w, from_worker_r), pass_fds=(to_worker_r, from_worker_w, *extra),
                       launchers=2 if wrap is not None else 0, log=log, cgroup=cgroup,
                       mounts=TMPFS_MOUNTS if wrap is not None else ())
        finally:
            for fd in (to_worker_r, from_worker_w, *extra):
                os.close(fd)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, message: protocol.Message) -> bool:
        """Write one message; False if the worker is gone."""
        data = protocol.encode(message)
        try:
            while data:
                data = data[os.write(self._send_fd, data):]
            return True
        except OSError:
            return False

    def memory(self, usage: TreeUsage) -> MemoryUsage:
        """The worker's memory now: its cgroup's charge, or its tree's resident memory plus tmpfs files."""
        if self.cgroup is not None:
            return MemoryUsage(self.cgroup.current())
        return self.watch.usage(usage.pids, usage.rss_bytes)

    def receive(self, limits: Limits, *, poll: float = 0.05) -> Reply:
        """Wait for the next message, watching the limits every ``poll`` seconds."""
        start = time.monotonic()
        deadline = start + limits.seconds
        while True:
            line = self._pop_line()
            if line is not None:
                return self._parse(line, time.monotonic() - start)
            now = time.monotonic()
            if now >= deadline:
                self.kill()
                return Reply("timeout", detail=f"took longer than {limits.seconds:g} s", seconds=now - start)
            usage = tree_usage(self.pid)
            memory = self.memory(usage)
            if memory.total > limits.memory_bytes:
                self.kill()
                return Reply("memory", detail=f"used {memory.describe()}, over the "
                                              f"{limits.memory_bytes >> 20} MiB limit", seconds=now - start)
            if usage.threads - self.launchers > limits.max_threads:
                self.kill()
                return Reply("threads", detail=f"ran {usage.threads - self.launchers} threads and processes, "
                                               f"over the limit of {limits.max_threads}", seconds=now - start)
            ready, _, _ = select.select([self._recv_fd], [], [], min(poll, deadline - now))
            if ready and not self._read_more():
                self._reap()
                if self.cgroup is not None and self.cgroup.oom_killed():
                    return Reply("memory", detail=f"reached the {limits.memory_bytes >> 20} MiB limit "
                                                  f"(its cgroup's memory.max)", seconds=time.monotonic() - start)
                return Reply("died", detail=self.exit_description(), seconds=time.monotonic() - start)
            if len(self._buffer) > protocol.MAX_LINE and b"\n" not in self._buffer:
                self.kill()
                return Reply("protocol", detail=f"a line of more than {protocol.MAX_LINE} bytes",
                             seconds=now - start)

    def kill(self) -> None:
        """Kill the worker and everything it started (safe from any thread)."""
        if self.proc.poll() is None:
            kill_tree(self.proc.pid)

    def close(self) -> None:
        """Kill the worker if it still runs, reap it and release its pipes (and its cgroup)."""
        self.kill()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self._send_fd, self._recv_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.join(timeout=5)
        if self.cgroup is not None:
            self.cgroup.remove()

    def _reap(self, grace: float = 5.0) -> None:
        """Wait for a worker whose pipe closed to exit by itself (its status tells why), else kill it."""
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()

    def exit_description(self) -> str:
        """``"exit status 3"`` or ``"killed by signal 11 (SIGSEGV)"``."""
        code = self.proc.poll()
        if code is None:
            return "still running"
        # bwrap reports a child killed by signal N as exit status 128 + N.
        number = -code if code < 0 else code - 128 if 128 < code < 160 else None
        if number is not None:
            try:
                return f"killed by signal {number} ({signal.Signals(number).name})"
            except ValueError:
                pass
        return f"exit status {code}"

    def _pop_line(self) -> bytes | None:
        newline = self._buffer.find(b"\n")
        if newline < 0:
            return None
        line, self._buffer = self._buffer[:newline], self._buffer[newline + 1:]
        return line

    def _read_more(self) -> bool:
        try:
            chunk = os.read(self._recv_fd, 1 << 16)
        except OSError:
            chunk = b""
        self._buffer += chunk
        return bool(chunk)

    def output_tail(self, lines: int = 5) -> list[str]:
        """The last ``lines`` non-empty lines the worker wrote to stdout or stderr."""
        text = self._tail.decode(errors="replace").splitlines()
        return [line for line in text if line.strip()][-lines:]

    def _parse(self, line: bytes, seconds: float) -> Reply:
        try:
            return Reply("message", message=protocol.decode(line), seconds=seconds)
        except protocol.ProtocolError as exc:
            self.kill()
            return Reply("protocol", detail=str(exc), seconds=seconds)

    def _copy_output(self, log: WorkerLog | None) -> None:
        try:
            while chunk := self.proc.stdout.read1(1 << 16):
                self._tail = (self._tail + chunk)[-_TAIL_BYTES:]
                if log is not None:
                    log.write(chunk)
        finally:
            self.proc.stdout.close()
