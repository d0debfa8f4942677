"""Hostile: allocates memory without bound on model 1 (64 MiB at a time, every page written)."""


def complexity(model, dataset, model_id):
    if model_id == "1":
        hoard = []
        while True:
            hoard.append(b"x" * (64 << 20))
    return float(len(model.layers))
