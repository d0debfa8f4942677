"""Log product of Frobenius norms.

mu = log prod_i ||W_i||_F^2 over the kernels.
Source: Jiang et al. 2020, App. C, 'log.prod.of.fro'; Neyshabur et al. 2015.
Cost: no forward pass.
"""

from harness.measures import log_prod_frobenius


def complexity(model, dataset):
    return log_prod_frobenius(model)
