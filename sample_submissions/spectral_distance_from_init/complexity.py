"""Spectral distance from initialization.

mu = sum_i ||W_i - W_i^0||_2^2 over the kernels (largest singular value of the
reshaped kernel difference).
Source: Jiang et al. 2020, App. C, 'dist.spec.init'.
Cost: one SVD per kernel; needs weights_init.hdf5.
"""

from harness.measures import spectral_distance_from_init


def complexity(model, dataset):
    return spectral_distance_from_init(model)
