"""Magnitude-aware sharpness flatness 1 / alpha'^2.

As sharpness_flatness, with the box |v_i| <= alpha |w_i| + 1e-3.
Source: Jiang et al. 2020, App. C, 'sharpness.mag.flatness'.
Cost: about 10-15 bisection steps x (steps forward+backward passes + 1 forward pass)
over num_examples examples.
"""

from harness.measures import sample_examples, sharpness_mag_flatness


def complexity(model, dataset, seed=0, num_examples=256, steps=10):
    x, y = sample_examples(dataset, num_examples, seed=seed)
    return sharpness_mag_flatness(model, x, y, steps=steps)
