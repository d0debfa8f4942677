"""Label variation on the latent geometry graph.

mu = share of the edge weight of a 10-nearest-neighbour cosine-similarity graph
of penultimate-layer representations that joins examples of different classes,
on a class-balanced sample.
Source: Lassance, Bethune, Bontonou, Hamidouche & Gripon 2020, Ranking Deep Learning
Generalization using Label Variation in Latent Geometry Graphs (arXiv:2011.12737).
Cost: one forward pass over num_examples examples.
"""

from harness.measures import sample_examples, latent_label_variation


def complexity(model, dataset, seed=0, num_examples=500):
    x, y = sample_examples(dataset, num_examples, seed=seed, balanced=True)
    return latent_label_variation(model, x, y)
