"""How much memory a worker holds, as the harness counts it against ``--memory-mb``.

Two ways, chosen per run:

* **A delegated cgroup** (cgroup v2), when the harness is given one: a folder
  of the cgroup file system it may write, whose ``cgroup.subtree_control``
  enables the ``memory`` controller, named by ``$PGDL_CGROUP`` or, failing
  that, the harness's own cgroup (`find_delegated_cgroup`). Each worker then
  runs in a child cgroup of its own with ``memory.max`` set to the limit and
  swap off (`WorkerCgroup`): the kernel counts everything the worker's
  processes charge (anonymous memory, page tables, tmpfs and shared memory,
  socket buffers) and kills the worker's processes when the limit is reached.
  A container that hands its cgroup over, or ``systemd-run --scope -p
  Delegate=yes``, provides one. The harness never creates cgroups outside
  such a folder.
* **Otherwise, from /proc** (`ProcMemoryWatch`): the resident set sizes of
  the worker's whole process tree plus the bytes stored in the sandbox's
  tmpfs mounts (``/tmp``, ``/dev/shm``, the writable submission copy), read
  with ``statvfs`` through ``/proc/<pid>/root``, so that files a worker wrote
  there (or deleted but keeps open) count although no process shows them as
  resident. Memory that belongs to no process and no file system
  (``memfd_create``, System V shared memory) is refused by the sandbox's
  system-call filter (`harness.sandbox.seccomp`) instead of counted.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

CGROUP_ENV = "PGDL_CGROUP"


@dataclass(frozen=True)
class MemoryUsage:
    """A worker's memory, in bytes: resident in its processes, and stored in its tmpfs mounts."""

    resident: int
    tmpfs: int = 0

    @property
    def total(self) -> int:
        return self.resident + self.tmpfs

    def describe(self) -> str:
        """``"1200 MiB"`` or ``"1200 MiB (of which 900 MiB in tmpfs files)"``."""
        text = f"{self.total >> 20} MiB"
        return text + f" (of which {self.tmpfs >> 20} MiB in tmpfs files)" if self.tmpfs else text


def tmpfs_bytes(pid: int, mounts: Sequence[str]) -> int:
    """Bytes used in each file system ``mounts`` (paths inside the mount namespace of ``pid``)."""
    total = 0
    for mount in mounts:
        try:
            st = os.statvfs(f"/proc/{pid}/root{mount}")
        except OSError:
            continue
        total += (st.f_blocks - st.f_bfree) * st.f_frsize
    return total


@dataclass(frozen=True)
class ProcMemoryWatch:
    """The /proc way: resident memory of a process tree plus its sandbox's tmpfs usage.

    ``mounts`` are the sandbox's tmpfs mount points; they are read through
    the first process of the tree that is inside the sandbox (the launcher
    itself, bwrap's outer process, sees the host's file systems).
    """

    mounts: tuple[str, ...] = ()

    def usage(self, pids: Sequence[int], resident: int) -> MemoryUsage:
        """``resident`` bytes of the tree ``pids`` (root first), plus what its sandbox's tmpfs mounts hold."""
        inside = sandboxed_pid(pids[1:]) if self.mounts else None
        return MemoryUsage(resident, 0 if inside is None else tmpfs_bytes(inside, self.mounts))


def sandboxed_pid(pids: Sequence[int]) -> int | None:
    """The first of ``pids`` whose root folder is not this process's (it sees the sandbox's mounts)."""
    try:
        own = os.stat("/")
    except OSError:
        return None
    for pid in pids:
        try:
            root = os.stat(f"/proc/{pid}/root")
        except OSError:
            continue
        if (root.st_dev, root.st_ino) != (own.st_dev, own.st_ino):
            return pid
    return None


# --- delegated cgroups ---------------------------------------------------------


def cgroup2_mount(mountinfo: str) -> Path | None:
    """The mount point of the cgroup v2 file system in a ``/proc/<pid>/mountinfo`` text, or None."""
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if sep and right.split(" ", 1)[0] == "cgroup2":
            return Path(left.split()[4].replace("\\040", " "))
    return None


def own_cgroup(cgroup_text: str) -> str | None:
    """The cgroup v2 path (``0::/path``) in a ``/proc/<pid>/cgroup`` text, or None."""
    for line in cgroup_text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip()
    return None


def is_delegated(folder: Path) -> bool:
    """Whether ``folder`` is a cgroup v2 folder this process may create children in, with ``memory``
    enabled for them (listed in its ``cgroup.subtree_control``)."""
    try:
        controls = (folder / "cgroup.subtree_control").read_text().split()
    except OSError:
        return False
    return "memory" in controls and os.access(folder, os.W_OK | os.X_OK)


def handed_over(folder: Path) -> bool:
    """Whether ``folder`` was delegated to this user: it owns it (what delegation does), or systemd marked
    it so (the ``trusted.delegate``/``user.delegate`` attribute)."""
    try:
        if folder.stat().st_uid == os.geteuid() and os.geteuid() != 0:
            return True
        names = os.listxattr(folder)
    except OSError:
        return False
    return any(name in ("trusted.delegate", "user.delegate") for name in names)


def find_delegated_cgroup(proc: Path = Path("/proc"), env: Mapping[str, str] | None = None) -> Path | None:
    """The delegated cgroup folder the harness may use for its workers, or None (use /proc accounting).

    ``$PGDL_CGROUP`` names it explicitly; otherwise the harness's own cgroup
    (from ``proc/self/cgroup`` and the cgroup2 mount in
    ``proc/self/mountinfo``) is used when it was handed over (`handed_over`)
    and `is_delegated`. The root cgroup, and any cgroup merely writable by
    root, are never used unasked: they belong to the machine.
    """
    env = os.environ if env is None else env
    if env.get(CGROUP_ENV):
        folder = Path(env[CGROUP_ENV])
        return folder if is_delegated(folder) else None
    try:
        mount = cgroup2_mount((proc / "self" / "mountinfo").read_text())
        path = own_cgroup((proc / "self" / "cgroup").read_text())
    except OSError:
        return None
    if mount is None or path is None:
        return None
    if path == "/":
        return None
    folder = mount / path.lstrip("/")
    return folder if handed_over(folder) and is_delegated(folder) else None


@dataclass(frozen=True)
class WorkerCgroup:
    """One worker's child cgroup in a delegated folder: ``memory.max`` = the limit, no swap."""

    path: Path

    @classmethod
    def create(cls, parent: Path, name: str, limit_bytes: int) -> "WorkerCgroup":
        path = parent / name
        path.mkdir()
        (path / "memory.max").write_text(f"{limit_bytes}\n")
        for knob, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
            try:
                (path / knob).write_text(value + "\n")
            except OSError:  # no swap accounting, or an older kernel
                pass
        return cls(path)

    def launcher(self) -> list[str]:
        """A command prefix that moves itself into this cgroup, then runs the rest of the command line."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs")]

    def current(self) -> int:
        """``memory.current``: bytes charged to the worker now (0 if unreadable)."""
        try:
            return int((self.path / "memory.current").read_text())
        except (OSError, ValueError):
            return 0

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this cgroup for going over ``memory.max``."""
        try:
            events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
        except (OSError, ValueError):
            return False
        return any(int(events.get(key, 0)) > 0 for key in ("oom_kill", "oom_group_kill"))

    def remove(self, wait: float = 5.0) -> None:
        """Remove the cgroup once its processes are gone (the kernel refuses while any is left)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.05)
