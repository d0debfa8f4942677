"""Hostile: is not valid Python."""


def complexity(model, dataset)
    return 0.0
