"""Sum of stable ranks (Frobenius over spectral).

mu = sum_i ||W_i||_F^2 / ||W_i||_2^2 over the kernels.
Source: Jiang et al. 2020, App. C, 'fro.over.spec'.
Cost: one SVD per kernel.
"""

from harness.measures import fro_over_spec


def complexity(model, dataset):
    return fro_over_spec(model)
