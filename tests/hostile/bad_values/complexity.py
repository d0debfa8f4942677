"""Hostile: results the harness cannot use, one per model: 0 returns 10**400 (too big for a
float); 1 returns an object whose __float__ raises; 2 raises an exception whose __str__
raises; 3 forges a result holding a 400-digit integer on the worker's pipe, then returns a
number. 0, 1 and 3 must be ``invalid``, 2 an ``error``, and nothing else may suffer.
"""
import fcntl
import os
import stat
import time


class Treacherous:
    def __float__(self):
        raise RuntimeError("no float for you")

    def __repr__(self):
        raise RuntimeError("no repr either")


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no message either")


def _write_result_pipe(data):
    """Write ``data`` to every pipe this process may write to but stdout and stderr (the result pipe)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode) and \
                    fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
        except OSError:
            pass


def complexity(model, dataset, model_id):
    if model_id == "0":
        return 10 ** 400
    if model_id == "1":
        return Treacherous()
    if model_id == "2":
        raise Unprintable()
    forged = b'{"op": "result", "job": "tiny_task/3", "status": "ok", "value": 1' + b"0" * 400 + b"}\n"
    _write_result_pipe(forged)
    time.sleep(5)
    return 1.0
