"""Magnitude-aware PAC-Bayes flatness 1 / sigma'^2.

As pacbayes_flatness, with noise u_i ~ N(0, sigma^2 w_i^2 + 1e-6) scaled by
each parameter's magnitude.
Source: Jiang et al. 2020, App. C, 'pacbayes.mag.flatness'.
Cost: about 10-15 bisection steps x draws forward passes over num_examples examples.
"""

from harness.measures import sample_examples, pacbayes_mag_flatness


def complexity(model, dataset, seed=0, num_examples=500, draws=8):
    x, y = sample_examples(dataset, num_examples, seed=seed)
    return pacbayes_mag_flatness(model, x, y, draws=draws, seed=seed)
