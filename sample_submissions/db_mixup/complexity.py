"""Davies-Bouldin index of early features x (1 - same-class mixup accuracy).

The Davies-Bouldin index of the first Dense/conv layer's (max-pooled)
features, clustered by label, times the error on inputs mixed half-and-half
from two training examples of the same class. The winning entry of PGDL 2020.
Source: Natekar & Sharma 2020, Representation Based Complexity Measures for Predicting
Generalization in Deep Learning (arXiv:2012.02775).
Cost: one pass through the first layer over num_examples examples, one forward pass
over 100 mixed inputs per class.
"""

from harness.measures import sample_examples, db_mixup


def complexity(model, dataset, seed=0, num_examples=2000):
    x, y = sample_examples(dataset, num_examples, seed=seed)
    return db_mixup(model, x, y, seed=seed)
