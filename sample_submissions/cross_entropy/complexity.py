"""Training cross-entropy.

mu = mean over a seeded sample of training examples of -log softmax(f(x))[y].
Source: Jiang et al. 2020, App. C, 'cross.entropy'.
Cost: one forward pass over num_examples examples.
"""

from harness.measures import sample_examples, cross_entropy


def complexity(model, dataset, seed=0, num_examples=2000):
    x, y = sample_examples(dataset, num_examples, seed=seed)
    return cross_entropy(model, x, y)
