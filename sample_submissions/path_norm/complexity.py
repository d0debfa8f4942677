"""Squared path-norm.

mu = sum_j f_{w^2}(1)[j]: square every kernel entry, drop biases, make
activations the identity and push an all-ones input through.
Source: Jiang et al. 2020, App. C, 'path.norm'; Neyshabur et al. 2015.
Cost: one forward pass of a single input.
"""

from harness.measures import path_norm


def complexity(model, dataset):
    return path_norm(model)
