"""Hostile: never returns on model 1."""


def complexity(model, dataset, model_id):
    if model_id == "1":
        while True:
            pass
    return float(len(model.layers))
