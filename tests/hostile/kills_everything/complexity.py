"""Hostile: on model 1, SIGKILLs its parent, then every process it is allowed to signal (but itself)."""
import os
import signal


def complexity(model, dataset, model_id):
    if model_id == "1":
        for target in (os.getppid(), 1):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError as exc:
                print("kill", target, exc)
        try:
            os.kill(-1, signal.SIGKILL)  # every process we may signal, except ourselves
        except OSError as exc:
            print("kill -1", exc)
        for pid in range(2, 4096):
            if not os.path.exists(f"/proc/self/task/{pid}"):  # a thread id would hit this process
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    return float(len(model.layers))
