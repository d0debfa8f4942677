"""Sensitivity of predictions to data augmentation.

mu = mean over augmentations and examples of 1 where the predicted class
changes, else the change of the top softmax probability. Images: flip, shift,
crop, erase, noise, contrast; vectors: noise, feature dropout.
Source: Aithal, Kashyap & Subramanyam 2021, Robustness to Augmentations as a
Generalization Metric (arXiv:2101.06459), the PGDL 2020 runner-up.
Cost: 1 + (number of augmentations) forward passes over num_examples examples.
"""

from harness.measures import sample_examples, augmentation_sensitivity


def complexity(model, dataset, seed=0, num_examples=1000):
    x, y = sample_examples(dataset, num_examples, seed=seed)
    return augmentation_sensitivity(model, x, seed=seed)
