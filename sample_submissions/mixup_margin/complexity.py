"""Margin summary on same-class mixup inputs.

mu = -mean(lower whisker, quartiles, upper whisker) of the output margins on
inputs mixed half-and-half from two training examples of the same class.
Source: Natekar & Sharma 2020 (arXiv:2012.02775), margin summary on mixup-augmented data.
Cost: one forward pass over 100 mixed inputs per class.
"""

from harness.measures import sample_examples, mixup_margin


def complexity(model, dataset, seed=0, num_examples=2000):
    x, y = sample_examples(dataset, num_examples, seed=seed)
    return mixup_margin(model, x, y, seed=seed)
