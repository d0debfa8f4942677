"""Sum of squared weights (the original starting kit's default sample submission).

mu = sum over model.get_weights() of ||w||_2^2, computed exactly as the kit did.
Source: PGDL 2020 starting kit, sample_code_submission/complexity.py; cf. Jiang et al.
2020, App. C, 'param.norm'.
Cost: no forward pass.
"""

from harness.measures import sum_of_squares


def complexity(model, dataset):
    return sum_of_squares(model)
