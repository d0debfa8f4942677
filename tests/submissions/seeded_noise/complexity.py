"""Uses every global random generator, the data and the layers' names: a probe for determinism."""
import random
import zlib

import numpy as np
import tensorflow as tf


def complexity(model, dataset, seed):
    total = float(sum(float(tf.reduce_sum(x)) for x, _ in dataset))
    names = zlib.crc32(",".join(layer.name for layer in model.layers).encode())
    return (total + random.random() + float(np.random.rand()) + float(tf.random.uniform(()))
            + names % 1000 + seed % 1000)
