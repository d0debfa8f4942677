"""Hostile: holds memory no process shows as resident, one way per model (3 GiB each, 64 MiB at
a time, under a 1500 MiB limit): 0 a file in /dev/shm; 1 a deleted but open file in /tmp;
2 a file in its own writable folder; 3 POSIX shared memory objects (shm_open),
detached and unmapped after every page was written. Each must end as
``memory``. Model 3 first tries memfd_create, System V shared memory and a socket pair (whose
buffers are kernel memory), which the sandbox refuses (it prints what went through).
"""
import ctypes
import os
import time

CHUNK = b"x" * (64 << 20)
TOTAL = 3 << 30


def _fill(fh):
    for _ in range(TOTAL // len(CHUNK)):
        fh.write(CHUNK)
        fh.flush()
    time.sleep(30)


def _refused():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    for name, call in (("memfd_create", (319, b"hoard", 0)), ("shmget", (29, 0, 1 << 30, 0o1600)),
                       ("socketpair", (53, 1, 1, 0, ctypes.addressof(ctypes.create_string_buffer(8))))):
        if libc.syscall(*call) >= 0:
            print("hostile hidden_memory:", name, "went through")


def complexity(model, dataset, program_dir, model_id):
    if model_id == "0":
        with open("/dev/shm/hoard", "wb") as fh:
            _fill(fh)
    elif model_id == "1":
        fh = open("/tmp/hoard", "wb")
        os.unlink("/tmp/hoard")
        _fill(fh)
    elif model_id == "2":
        with open(os.path.join(program_dir, "hoard"), "wb") as fh:
            _fill(fh)
    elif model_id == "3":
        _refused()
        import _posixshmem
        import mmap

        for n in range(TOTAL // len(CHUNK)):
            fd = _posixshmem.shm_open(f"/hoard-{n}", os.O_CREAT | os.O_RDWR, 0o600)
            os.ftruncate(fd, len(CHUNK))
            with mmap.mmap(fd, len(CHUNK)) as block:
                block[:] = CHUNK
            os.close(fd)  # detached and unmapped: no process holds it, the object stays
        time.sleep(30)
    return float(len(model.layers))
