"""Log product of spectral norms.

mu = log prod_i ||W_i||_2^2 over the kernels (conv kernels reshaped to
(k_h k_w c_in) x c_out matrices).
Source: Jiang et al. 2020, App. C, 'log.prod.of.spec'; Bartlett et al. 2017.
Cost: one SVD per kernel.
"""

from harness.measures import log_prod_spectral


def complexity(model, dataset):
    return log_prod_spectral(model)
