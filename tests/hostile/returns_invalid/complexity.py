"""Hostile: returns NaN, inf, a string and None (models 0 to 3), never a finite number."""

RESULTS = {"0": float("nan"), "1": float("inf"), "2": "1.5", "3": None}


def complexity(model, dataset, model_id):
    return RESULTS.get(model_id, float(len(model.layers)))
