"""Hostile: ends the interpreter outright on model 1 (no exception, no cleanup)."""
import os


def complexity(model, dataset, model_id):
    if model_id == "1":
        os._exit(3)
    return float(len(model.layers))
