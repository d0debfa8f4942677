"""PAC-Bayes flatness 1 / sigma'^2.

sigma' is the largest standard deviation of Gaussian noise added to every
trainable parameter that keeps the Monte Carlo training accuracy (draws noise
samples) within 0.1 of the unperturbed one, found by bracketing and bisection.
Source: Jiang et al. 2020, App. C, 'pacbayes.flatness'; Neyshabur et al. 2017.
Cost: about 10-15 bisection steps x draws forward passes over num_examples examples.
"""

from harness.measures import sample_examples, pacbayes_flatness


def complexity(model, dataset, seed=0, num_examples=500, draws=8):
    x, y = sample_examples(dataset, num_examples, seed=seed)
    return pacbayes_flatness(model, x, y, draws=draws, seed=seed)
