"""Hostile: look everywhere for reference data and, if found, return the true gap.

Walks the whole file system the sandbox shows (and a few host paths) for
model_configs.json, reference_data/ and a dataset_1/test split. Finding
nothing, it returns the same constant for every model.
"""
import json
import os

_FOUND = None
_HOST_GUESSES = ["/work/main/model_zoo", "/work/shared", "/work/main", "/root", "/home", "/proc/1/root/work"]


def _search():
    found = []
    roots = ["/"] + _HOST_GUESSES
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            if dirpath in ("/proc", "/sys", "/dev"):
                dirnames[:] = []
                continue
            if "model_configs.json" in filenames:
                found.append(os.path.join(dirpath, "model_configs.json"))
            if os.path.basename(dirpath) == "reference_data":
                found.append(dirpath)
            if os.path.basename(dirpath) == "dataset_1" and "test" in dirnames:
                found.append(os.path.join(dirpath, "test"))
    return found


def complexity(model, dataset, model_id):
    global _FOUND
    if _FOUND is None:
        _FOUND = _search()
        print("hostile reads_reference found:", _FOUND)
    for path in _FOUND:
        if path.endswith("model_configs.json"):
            with open(path) as fh:
                metrics = json.load(fh)[model_id]["metrics"]
            return metrics["train_acc"] - metrics["test_acc"]
    if _FOUND:
        return 1000.0 + len(_FOUND)
    return 1.0
