"""Sharpness flatness 1 / alpha'^2.

alpha' is the largest half-width of a box |v_i| <= alpha around the weights
whose worst-case perturbation (projected sign-gradient ascent on the training
cross-entropy, `steps` steps) keeps the training accuracy within 0.1 of the
unperturbed one, found by bracketing and bisection.
Source: Jiang et al. 2020, App. C, 'sharpness.flatness'; Keskar et al. 2017.
Cost: about 10-15 bisection steps x (steps forward+backward passes + 1 forward pass)
over num_examples examples.
"""

from harness.measures import sample_examples, sharpness_flatness


def complexity(model, dataset, seed=0, num_examples=256, steps=10):
    x, y = sample_examples(dataset, num_examples, seed=seed)
    return sharpness_flatness(model, x, y, steps=steps)
