"""Squared distance from initialization (the original starting kit's baseline).

mu = sum over model.get_weights() of ||w - w_0||_2^2, computed exactly as the kit did.
Source: PGDL 2020 starting kit, sample_code_submission/distance_from_init; Jiang et al.
2020, App. C, 'frob.distance'.
Cost: no forward pass; needs weights_init.hdf5.
"""

from harness.measures import distance_from_init


def complexity(model, dataset):
    return distance_from_init(model)
