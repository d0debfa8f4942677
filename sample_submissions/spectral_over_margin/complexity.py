"""Log product of spectral norms over squared margin.

mu = log(prod_i ||W_i||_2^2 / gamma^2) (gamma: 10th percentile of the training margins).
Source: Jiang et al. 2020, App. C, 'log.prod.of.spec.over.margin'; Bartlett et al. 2017.
Cost: one forward pass over num_examples examples, one SVD per kernel.
"""

from harness.measures import sample_examples, spectral_over_margin


def complexity(model, dataset, seed=0, num_examples=2000):
    x, y = sample_examples(dataset, num_examples, seed=seed)
    return spectral_over_margin(model, x, y)
