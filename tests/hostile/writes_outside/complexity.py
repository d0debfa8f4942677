"""Hostile: try to change the task data, the harness, the Python environment and the host's /tmp.

Returns how many of those writes went through on paths other than its own
folder and its private /tmp (0 when the sandbox holds). Also drops a canary
file in /tmp, which must not appear on the host.
"""
import os
import shutil
import sys

CANARY = "/tmp/pgdl-hostile-canary-writes-outside"


def _attempt(action):
    try:
        action()
        return 1
    except OSError:
        return 0


def _targets():
    paths = []
    for dirpath, dirnames, filenames in os.walk("/pgdl/data"):
        paths.append(dirpath)
        paths.extend(os.path.join(dirpath, f) for f in filenames)
    import harness
    paths.append(os.path.dirname(harness.__file__))
    paths.append(os.path.join(os.path.dirname(harness.__file__), "__init__.py"))
    paths.extend([sys.prefix, sys.base_prefix, "/usr", "/etc", "/", "/pgdl", "/pgdl/lib", "/dev"])
    return paths


def complexity(model, dataset, model_id):
    if model_id != "1":
        return float(len(model.layers))
    with open(CANARY, "w") as fh:
        fh.write("escaped\n")
    done = 0
    for path in _targets():
        if os.path.isdir(path):
            done += _attempt(lambda: open(os.path.join(path, "hostile.txt"), "w").close())
            done += _attempt(lambda: os.mkdir(os.path.join(path, "hostile_dir")))
        else:
            done += _attempt(lambda: open(path, "a").write("hostile"))
            done += _attempt(lambda: os.chmod(path, 0o777))
            done += _attempt(lambda: os.rename(path, path + ".moved"))
            done += _attempt(lambda: os.unlink(path))
    done += _attempt(lambda: shutil.rmtree("/pgdl/data"))
    print("hostile writes_outside: writes that went through:", done)
    return float(done)
