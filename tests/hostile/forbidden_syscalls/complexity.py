"""Hostile: on model 1, makes every system call the sandbox's filter refuses, with arguments an
unfiltered kernel would accept or at least answer with another error (EINVAL, EFAULT, ...).

Returns the number of calls that did not fail with the filter's errno (EPERM; ENOSYS for
clone3): 0 when the filter holds. Threads and fork must still work (they use clone).
"""
import ctypes
import errno
import os
import threading

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, SIGCHLD = 0x10000000, 0x00020000, 0x40000000, 17
# x86-64 system call numbers
CALLS = {
    "unshare(NEWUSER)": (272, CLONE_NEWUSER),
    "unshare(NEWNS)": (272, CLONE_NEWNS),
    "clone(NEWUSER)": (56, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0),
    "clone(NEWNET)": (56, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0),
    "setns": (308, 0, 0),
    "mount": (165, b"none", b"/tmp", b"tmpfs", 0, 0),
    "umount2": (166, b"/tmp", 0),
    "pivot_root": (155, b"/tmp", b"/tmp"),
    "chroot": (161, b"/tmp"),
    "fsopen": (430, b"tmpfs", 0),
    "open_tree": (428, -100, b"/tmp", 0),
    "io_uring_setup": (425, 8, 0),
    "keyctl": (250, 0, -3, 0),
    "add_key": (248, b"user", b"pgdl", b"x", 1, -4),
    "request_key": (249, b"user", b"pgdl", 0, -4),
    "ptrace(TRACEME)": (101, 0, 0, 0, 0),
    "process_vm_readv": (310, 1, 0, 0, 0, 0, 0),
    "bpf": (321, 0, 0, 0),
    "perf_event_open": (298, 0, 0, -1, -1, 0),
    "userfaultfd": (323, 0),
    "kexec_load": (246, 0, 0, 0, 0),
    "init_module": (175, 0, 0, b""),
    "finit_module": (313, -1, b"", 0),
    "delete_module": (176, b"pgdl", 0),
    "memfd_create": (319, b"hoard", 0),
    "shmget": (29, 0, 1 << 20, 0o1600),
    "shmat": (30, 0, 0, 0),
    "pidfd_getfd": (438, 0, 0, 0),
    "kcmp": (312, 1, 1, 0, 0, 0),
    "open_by_handle_at": (304, -100, 0, 0),
    "socket(AF_INET)": (41, 2, 1, 0),
    "socket(AF_UNIX)": (41, 1, 1, 0),
    "socketpair(AF_UNIX)": (53, 1, 1, 0, 0),
}


def complexity(model, dataset, model_id):
    if model_id != "1":
        return float(len(model.layers))
    passed = 0
    for name, (number, *args) in CALLS.items():
        ctypes.set_errno(0)
        result = libc.syscall(number, *args)
        if result == 0 and name.startswith("clone"):  # the child of a clone that went through
            os._exit(0)
        code = ctypes.get_errno()
        if result != -1 or code != errno.EPERM:
            passed += 1
            print("hostile forbidden_syscalls: went through or not refused:", name, result, os.strerror(code))
    result = libc.syscall(435, 0, 0)  # clone3: ENOSYS, so that the C library falls back to clone
    if result != -1 or ctypes.get_errno() != errno.ENOSYS:
        passed += 1
        print("hostile forbidden_syscalls: clone3 not refused", result)
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return float(passed)
