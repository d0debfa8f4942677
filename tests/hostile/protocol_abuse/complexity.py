"""Hostile: writes on the worker's result pipe itself (found in /proc/self/fd),
one attack per model: 0 a line of JSON nested 100,000 deep; 1 a result whose fields have the
wrong types; 2 a line that is not UTF-8; 3 2 MiB without a newline. Each must make that model
``crashed`` with a protocol error, and the run go on.
"""
import fcntl
import os
import stat
import time

ATTACKS = {
    "0": b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "1": b'{"op": "result", "job": "tiny_task/1", "status": "ok", "value": "1.5", "message": 7}\n',
    "2": b'{"op": "result", "job": "tiny_task/2", "status": "ok", "value": 1.5, "message": "\xff\xfe"}\n',
    "3": b" " * (2 << 20),
}


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
    _write_result_pipe(ATTACKS[model_id])
    time.sleep(5)  # the harness reads the attack before the real result
    return float(len(model.layers))
