"""Sum of squared weights, taking a second per model: gives a test time to interrupt a run."""
import time

import numpy as np


def complexity(model, dataset):
    time.sleep(1.0)
    return float(np.sum([np.sum(np.square(w)) for w in model.get_weights()]))
