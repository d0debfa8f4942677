"""Inverse squared output margin.

mu = 1 / gamma^2, gamma the 10th percentile of the training margins
f(x)[y] - max_{j != y} f(x)[j] over a seeded sample of training examples.
Source: Jiang et al. 2020, App. C, 'inverse.margin'.
Cost: one forward pass over num_examples examples.
"""

from harness.measures import sample_examples, inverse_margin


def complexity(model, dataset, seed=0, num_examples=2000):
    x, y = sample_examples(dataset, num_examples, seed=seed)
    return inverse_margin(model, x, y)
