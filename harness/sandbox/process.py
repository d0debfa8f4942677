"""The harness-side watch over a sandboxed worker: its process tree, its capped logs, its limits.

`WorkerProcess` starts a worker, exchanges `harness.sandbox.protocol` messages with
it over two pipes, and watches it while it works: wall time, memory
(`harness.sandbox.memory`: a delegated cgroup's ``memory.max``, or the resident memory
of its whole process tree plus its tmpfs files, read from ``/proc``) and the
number of threads in its tree. Going over a limit kills the whole tree.
"""


from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, Sequence

import harness.sandbox.protocol as protocol
from harness.sandbox.layout import TMPFS_MOUNTS, require_bwrap
from harness.sandbox.memory import MemoryUsage, ProcMemoryWatch, WorkerCgroup


_TAIL_BYTES = 8192
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


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
    """A running worker: ``command`` started with two extra pipes for `harness.sandbox.protocol` messages.

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
        ``seccomp`` is the compiled system-call filter (`harness.sandbox.seccomp`),
        passed to bwrap on a descriptor of its own.
        """
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        argv = list(command) + ["--fd-in", str(to_worker_r), "--fd-out", str(from_worker_w)]
        extra: list[int] = []
        if wrap is not None:
            from harness.sandbox.seccomp import filter_fd

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
