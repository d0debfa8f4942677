"""Path-norm over squared margin.

mu = path_norm / gamma^2 (gamma: 10th percentile of the training margins).
Source: Jiang et al. 2020, App. C, 'path.norm.over.margin'.
Cost: one forward pass over num_examples examples, one of a single input.
"""

from harness.measures import sample_examples, path_norm_over_margin


def complexity(model, dataset, seed=0, num_examples=2000):
    x, y = sample_examples(dataset, num_examples, seed=seed)
    return path_norm_over_margin(model, x, y)
