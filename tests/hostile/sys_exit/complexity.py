"""Hostile: asks the interpreter to exit on model 1 (raises SystemExit)."""
import sys


def complexity(model, dataset, model_id):
    if model_id == "1":
        sys.exit(2)
    return float(len(model.layers))
