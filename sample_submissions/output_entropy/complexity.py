"""Entropy of the predicted distribution.

mu = mean over a seeded sample of training examples of the entropy of softmax(f(x)).
Source: Jiang et al. 2020, App. C, 'entropy'; Pereyra et al. 2017.
Cost: one forward pass over num_examples examples.
"""

from harness.measures import sample_examples, output_entropy


def complexity(model, dataset, seed=0, num_examples=2000):
    x, y = sample_examples(dataset, num_examples, seed=seed)
    return output_entropy(model, x)
