"""Hostile: dereferences a null pointer on model 1."""
import ctypes


def complexity(model, dataset, model_id):
    if model_id == "1":
        ctypes.string_at(0)
    return float(len(model.layers))
