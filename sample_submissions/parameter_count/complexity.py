"""Number of trainable parameters.

mu = number of trainable parameters.
Source: Jiang et al. 2020, Fantastic Generalization Measures and Where to Find Them
(ICLR), App. C, 'params'.
Cost: no forward pass.
"""

from harness.measures import parameter_count


def complexity(model, dataset):
    return parameter_count(model)
