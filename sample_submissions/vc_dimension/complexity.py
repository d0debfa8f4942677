"""VC-dimension style parameter count (the original starting kit's vc_dim baseline).

mu = d + 2 d log(22 d 32^2) * sum_i |W_i| over the d Dense/conv kernels W_i.
Source: PGDL 2020 starting kit, sample_code_submission/vc_dim; Bartlett et al. 2019 (JMLR).
Cost: no forward pass.
"""

from harness.measures import vc_dimension_bound


def complexity(model, dataset):
    return vc_dimension_bound(model)
