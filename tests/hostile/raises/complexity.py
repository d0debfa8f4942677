"""Hostile: raises on model 1."""


def complexity(model, dataset, model_id):
    if model_id == "1":
        raise ValueError("hostile failure on purpose")
    return float(len(model.layers))
