"""Where a submission runs: a bubblewrap sandbox, and the harness-side watch over it.

`SandboxLayout.bwrap_args` builds the bubblewrap (``bwrap``) command line of one
worker (SPEC §2). The worker sees, read-only: ``/usr`` and the few ``/etc``
files the dynamic loader and Python need, the Python installation and the
virtual environment, the ``harness`` package alone (at ``/pgdl/lib``, never the
repository checkout: an editable install would otherwise put the checkout,
the shipped zoo's reference data included, on the import path), and each
task's input side, bound model folder by model folder plus
``dataset_1/train`` (so that a combined-layout task's ``model_configs.json`` and
test split stay out of view). Writable: a private copy of the submission at
``/pgdl/submission`` and size-capped tmpfs mounts at ``/tmp`` and ``/dev/shm``;
the root itself is remounted read-only. New PID, IPC, UTS, network and cgroup
namespaces; no capabilities; the sandbox dies with the harness.

When the harness runs as root, the worker switches to an unused user id of
its own right after start (`worker_uid`) and gets ``RLIMIT_NPROC``: the kernel
then caps its processes and threads, which it does not do for root, and file
permissions apply to it as to any unprivileged user. Otherwise the sandbox uses
an unprivileged user namespace (``--unshare-all``).

`WorkerProcess` starts a worker, talks JSON lines with it over two pipes, and
watches it while it works: wall time, the resident memory of its whole process
tree (read from ``/proc``; the machine's cgroups are not ours to use) and the
number of threads in that tree. Going over a limit kills the whole tree.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from harness.errors import HarnessError
from harness.task import Task

LIB_DIR = "/pgdl/lib"
SUBMISSION_DIR = "/pgdl/submission"
DATA_DIR = "/pgdl/data"
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group",
              "nsswitch.conf", "alternatives", "fonts")
_TOP_LEVEL_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_UID_BASE = 2_000_000
_MAX_MESSAGE = 1 << 20
_TAIL_BYTES = 8192
_LOG_BYTES = 20 << 20  # of a worker's output copied to its log file
_PAGE = os.sysconf("SC_PAGE_SIZE")


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


def worker_uid(serial: int) -> int:
    """An otherwise unused user id for the ``serial``-th worker started by this harness process.

    Each worker gets a fresh one, so that the kernel's per-user count of
    threads (``RLIMIT_NPROC``) starts from zero even while an earlier worker's
    processes are still being torn down.
    """
    return _UID_BASE + (os.getpid() % 100_000) * 100 + serial % 100


def gpu_device_nodes() -> list[Path]:
    """The NVIDIA device nodes of this machine (``/dev/nvidia*``), for GPU workers."""
    return sorted(Path("/dev").glob("nvidia*"))


@dataclass(frozen=True)
class TaskMount:
    """A task's input side on the host: its model folders and training split."""

    name: str
    model_dirs: Mapping[str, Path]
    train_dir: Path

    @classmethod
    def of(cls, task: Task) -> "TaskMount":
        """What a worker may see of ``task``: every model folder and the training split, nothing else."""
        return cls(task.name, {m: task.model_dir(m) for m in task.model_ids()}, task.train_dir)


@dataclass(frozen=True)
class SandboxLayout:
    """Everything one sandboxed worker sees; `bwrap_args` turns it into a command line.

    ``submission_dir`` is the host folder of the worker's private copy of the
    submission; ``tasks`` the tasks' input sides; ``uid`` the user id the
    worker switches to (root only; None keeps the caller's id, in a user
    namespace); ``gpu`` makes the NVIDIA device nodes visible.
    """

    submission_dir: Path
    tasks: Sequence[TaskMount]
    uid: int | None = None
    gpu: bool = False
    tmp_mb: int = 1024
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
        b.add("--proc", "/proc", "--dev", "/dev")
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
        b.bind(str(self.submission_dir), SUBMISSION_DIR, writable=True)
        for task in self.tasks:
            base = sandbox_task_dir(task.name)
            for model_id, host in task.model_dirs.items():
                b.bind(str(host), f"{base}/model_{model_id}")
            b.bind(str(task.train_dir), f"{base}/dataset_1/train")
        b.add("--remount-ro", "/", "--chdir", SUBMISSION_DIR)
        if self.uid is not None:  # kept only until the worker has switched to its own user id
            b.add("--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID")
        elif os.geteuid() == 0:  # unprivileged bwrap grants no capabilities in the first place
            b.add("--cap-drop", "ALL")
        return b.args

    def _namespaces(self) -> list[str]:
        if self.uid is None:
            return ["--unshare-all"]
        # As root: no user namespace, so that the worker can take a real unprivileged id.
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]


class _ArgBuilder:
    """Collects bwrap arguments; creates each mount point's parents world-traversable (0755)."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self._dirs: set[str] = {"/"}

    def add(self, *args: str) -> None:
        self.args.extend(args)

    def bind(self, source: str, dest: str, *, writable: bool = False) -> None:
        parents = []
        for parent in Path(dest).parents:
            if str(parent) in self._dirs:
                break
            parents.append(str(parent))
        for parent in reversed(parents):
            self.add("--perms", "0755", "--dir", parent)
            self._dirs.add(parent)
        self.add("--bind" if writable else "--ro-bind", source, dest)


def python_dirs() -> list[Path]:
    """The Python installation and virtual environment the worker runs from (real paths)."""
    dirs: list[Path] = []
    for path in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))):
        real = Path(os.path.realpath(path))
        if not any(real == d or d in real.parents for d in dirs):
            dirs = [d for d in dirs if real not in d.parents] + [real]
    return dirs


def prepare_private_copy(dest: Path, uid: int | None) -> None:
    """Give the worker's user id ownership of its private submission copy."""
    if uid is None:
        return
    for dirpath, dirnames, filenames in os.walk(dest):
        os.lchown(dirpath, uid, uid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, uid)


# --- watching a worker's process tree ----------------------------------------


@dataclass(frozen=True)
class TreeUsage:
    """Resident memory, threads and processes of a process and all its descendants."""

    rss_bytes: int
    threads: int
    processes: int


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
    for p in tree_pids(pid):
        fields = proc_stat(p)
        if fields is None:
            continue
        # fields[0] is field 3 of proc(5) (state): num_threads is field 20, rss field 24.
        threads += int(fields[17])
        rss += int(fields[21]) * _PAGE
        processes += 1
    return TreeUsage(rss, threads, processes)


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


# --- the harness side of one worker ------------------------------------------


@dataclass(frozen=True)
class Limits:
    """What one wait on a worker may use: wall seconds, bytes resident, threads in the tree."""

    seconds: float
    memory_bytes: int
    max_threads: int


@dataclass(frozen=True)
class Reply:
    """Outcome of waiting for a worker's next message.

    ``kind`` is ``"message"`` (``message`` holds it), or why there is none:
    ``"timeout"``, ``"memory"``, ``"threads"`` (a limit was exceeded and the
    worker killed), ``"died"`` (it exited or closed its pipe) or
    ``"protocol"`` (it wrote something that is not a message; killed).
    ``detail`` describes it in words.
    """

    kind: Literal["message", "timeout", "memory", "threads", "died", "protocol"]
    message: dict[str, Any] | None = None
    detail: str = ""
    seconds: float = 0.0


class WorkerProcess:
    """A running worker: ``command`` started with two extra pipes for JSON-line messages.

    The worker's stdout and stderr (the submission's prints, TensorFlow's
    logs) are copied to ``log_path`` up to `_LOG_BYTES` bytes; their last
    lines are kept for error messages. Not thread-safe, except `kill`.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], *, pipes: tuple[int, int],
                 pass_fds: Sequence[int], launchers: int, log_path: Path | None) -> None:
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
        self._log = threading.Thread(target=self._copy_output, args=(log_path, _LOG_BYTES), daemon=True)
        self._log.start()
        self._buffer = b""

    @classmethod
    def start(cls, command: Sequence[str], env: Mapping[str, str], *, wrap: Sequence[str] | None = None,
              log_path: Path | None = None) -> "WorkerProcess":
        """Start ``command`` (a ``python -m harness.worker`` line without its pipe arguments).

        ``wrap``, when given, holds bwrap's options (see
        `SandboxLayout.bwrap_args`); they are passed on a memfd (``--args``)
        so that tasks of thousands of models fit on the command line.
        """
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        argv = list(command) + ["--fd-in", str(to_worker_r), "--fd-out", str(from_worker_w)]
        extra: list[int] = []
        if wrap is not None:
            options = list(wrap[:-1]) if wrap and wrap[-1] == "--" else list(wrap)
            args_fd = os.memfd_create("bwrap-args", 0)
            os.write(args_fd, b"".join(a.encode() + b"\0" for a in options))
            os.lseek(args_fd, 0, os.SEEK_SET)
            extra.append(args_fd)
            argv = [require_bwrap(), "--args", str(args_fd), "--", *argv]
        try:
            # bwrap's own two processes (outside and pid 1 inside) are not the worker's to count.
            return cls(argv, env, pipes=(to_worker_w, from_worker_r), pass_fds=(to_worker_r, from_worker_w, *extra),
                       launchers=2 if wrap is not None else 0, log_path=log_path)
        finally:
            for fd in (to_worker_r, from_worker_w, *extra):
                os.close(fd)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, message: Mapping[str, Any]) -> bool:
        """Write one message; False if the worker is gone."""
        data = (json.dumps(message) + "\n").encode()
        try:
            while data:
                data = data[os.write(self._send_fd, data):]
            return True
        except OSError:
            return False

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
            if usage.rss_bytes > limits.memory_bytes:
                self.kill()
                return Reply("memory", detail=f"used {usage.rss_bytes >> 20} MiB, over the "
                                              f"{limits.memory_bytes >> 20} MiB limit", seconds=now - start)
            if usage.threads - self.launchers > limits.max_threads:
                self.kill()
                return Reply("threads", detail=f"ran {usage.threads - self.launchers} threads and processes, "
                                               f"over the limit of {limits.max_threads}", seconds=now - start)
            ready, _, _ = select.select([self._recv_fd], [], [], min(poll, deadline - now))
            if ready and not self._read_more():
                self._reap()
                return Reply("died", detail=self.exit_description(), seconds=time.monotonic() - start)
            if len(self._buffer) > _MAX_MESSAGE:
                self.kill()
                return Reply("protocol", detail="wrote an over-long message", seconds=now - start)

    def kill(self) -> None:
        """Kill the worker and everything it started (safe from any thread)."""
        if self.proc.poll() is None:
            kill_tree(self.proc.pid)

    def close(self) -> None:
        """Kill the worker if it still runs, reap it and release its pipes."""
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
            message = json.loads(line)
            if isinstance(message, dict) and isinstance(message.get("op"), str):
                return Reply("message", message=message, seconds=seconds)
        except (ValueError, UnicodeDecodeError):
            pass
        self.kill()
        return Reply("protocol", detail="wrote something that is not a harness message", seconds=seconds)

    def _copy_output(self, log_path: Path | None, limit: int) -> None:
        log = open(log_path, "ab") if log_path is not None else None
        written = 0
        try:
            while chunk := self.proc.stdout.read1(1 << 16):
                self._tail = (self._tail + chunk)[-_TAIL_BYTES:]
                if log is not None and written < limit:
                    log.write(chunk[:limit - written])
                    log.flush()
                    written += len(chunk)
        finally:
            if log is not None:
                log.close()
            self.proc.stdout.close()
