"""The original starting kit's default measure, written as 2020 submissions were: sum of squared weights."""
import numpy as np
import tensorflow as tf  # noqa: F401 - 2020 submissions imported it whether they used it or not


def complexity(model, ds):
    return np.sum([np.sum(np.square(w)) for w in model.get_weights()])
