"""The sandbox's system-call filter, compiled by libseccomp and handed to bubblewrap (``--seccomp FD``).

A complexity measure computes on a network and its data: it never needs to
create namespaces, mount file systems, trace or read other processes, load
kernel modules or BPF programs, use the kernel's keyrings, io_uring,
``perf_event_open`` or ``userfaultfd`` (the usual ways into kernel bugs), and
it never needs memory that no process shows as its own (``memfd_create``,
System V shared memory, the buffers of sockets, which the sandbox's empty
network namespace gives nothing to connect to), which the harness's memory
watch could not see (`harness.sandbox.memory`). `REFUSED` lists those calls; each fails with ``EPERM``.
``clone`` is refused only when it asks for a new namespace (threads and
``fork`` use it too); ``clone3``, whose flags the filter cannot read, fails
with ``ENOSYS``, so that the C library falls back to ``clone``. Everything
else is allowed; system calls of another architecture (32-bit ``int 0x80``
calls on x86-64) kill the process, libseccomp's default.

The filter is compiled by libseccomp (Debian package ``libseccomp2``, loaded
with ctypes): `compile_filter` returns the BPF program, `filter_fd` a
descriptor holding it for bubblewrap.

    >>> program = compile_filter()  # doctest: +SKIP
    >>> len(program) % 8            # doctest: +SKIP
    0
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from dataclasses import dataclass
from typing import Sequence

from harness.errors import HarnessError

#: Refused outright (EPERM); names unknown to the installed libseccomp are skipped.
REFUSED = (
    # namespaces, mounts, root changes
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    # other processes' memory and state
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    # kernel attack surface a measure never needs
    "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at", "fanotify_init",
    "lookup_dcookie", "uselib", "acct", "swapon", "swapoff", "reboot", "quotactl", "vhangup",
    "iopl", "ioperm", "syslog",
    # memory that belongs to no process (not seen by the memory watch): memfds, System V shared
    # memory, socket buffers (the sandbox's network namespace has nothing to reach anyway)
    "memfd_create", "memfd_secret", "shmget", "shmat", "socket", "socketpair",
)
#: ``clone`` flags that make a new namespace (linux/sched.h; CLONE_NEWTIME exists for ``unshare`` and
#: ``clone3`` only: in ``clone``'s flags its bit is part of the exit signal).
NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}

_ACT_ALLOW = 0x7FFF0000
_CMP_MASKED_EQ = 7


def _act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    """``struct scmp_arg_cmp`` of seccomp.h."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


@dataclass(frozen=True)
class Rule:
    """One refusal: ``syscall`` fails with ``errno`` (only when ``arg0 & mask == mask``, if ``mask``)."""

    syscall: str
    errno: int = errno.EPERM
    mask: int | None = None


def rules() -> list[Rule]:
    """Every refusal of the sandbox's filter."""
    refused = [Rule(name) for name in REFUSED]
    clones = [Rule("clone", mask=flag) for flag in NAMESPACE_FLAGS.values()]
    return refused + clones + [Rule("clone3", errno=errno.ENOSYS)]


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        raise HarnessError("libseccomp is not installed, and the sandbox's system-call filter needs it: "
                           "install it (apt-get install libseccomp2), or pass --no-sandbox for trusted code"
                           ) from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def compile_filter(refusals: Sequence[Rule] | None = None) -> bytes:
    """The BPF program (``struct sock_filter`` array) of ``refusals`` (default: `rules`), by libseccomp."""
    lib = _library()
    ctx = lib.seccomp_init(_ACT_ALLOW)
    if not ctx:
        raise HarnessError("libseccomp could not create a filter")
    try:
        for rule in rules() if refusals is None else refusals:
            number = lib.seccomp_syscall_resolve_name(rule.syscall.encode())
            if number < 0:  # not a system call of this architecture or libseccomp version
                continue
            args = (_ArgCmp * 1)(_ArgCmp(0, _CMP_MASKED_EQ, rule.mask, rule.mask)) if rule.mask else None
            status = lib.seccomp_rule_add_array(ctx, _act_errno(rule.errno), number, 1 if rule.mask else 0, args)
            if status < 0:
                raise HarnessError(f"libseccomp refused the rule for {rule.syscall}: {os.strerror(-status)}")
        fd = os.memfd_create("pgdl-seccomp-export", 0)
        try:
            status = lib.seccomp_export_bpf(ctx, fd)
            if status < 0:
                raise HarnessError(f"libseccomp could not export the filter: {os.strerror(-status)}")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)


def filter_fd(program: bytes) -> int:
    """A new descriptor (a memfd, at offset 0) holding ``program``, for ``bwrap --seccomp FD``."""
    fd = os.memfd_create("pgdl-seccomp", 0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
