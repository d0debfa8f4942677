"""Distance from initialization, in the 2020 style: model.initial_weights, program_dir, and the
starting kit's hooks (model(x, tape=tape), layer._last_seen_input, a functional sub-model)."""
import os

import numpy as np
import tensorflow as tf
from tensorflow import keras


def complexity(model, dataset, program_dir):
    assert os.path.isfile(os.path.join(program_dir, "complexity.py"))
    x, _ = next(iter(dataset.batch(8)))
    with tf.GradientTape() as tape:
        logits = model(x, tape=tape)
    input_gradient = tape.gradient(logits, x)
    assert input_gradient is not None and input_gradient.shape == x.shape
    assert all(layer._last_seen_input is not None for layer in model.layers)
    features = keras.Model(model.inputs, [layer.output for layer in model.layers])(x)
    assert len(features) == len(model.layers)
    return float(sum(np.sum(np.square(w - w0)) for w, w0 in zip(model.get_weights(), model.initial_weights)))
