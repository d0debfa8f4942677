"""Flatness measures: how far the weights can move before training accuracy drops.

Both searches look for the largest perturbation scale whose perturbed network
keeps its accuracy on the training sample within ``max_drop`` (0.1, as in
Jiang et al. 2020, "Fantastic Generalization Measures", App. C) of the
unperturbed accuracy:

* PAC-Bayes ``sigma'``: random Gaussian perturbations ``u ~ N(0, sigma^2 I)``
  of every trainable parameter; the accuracy under noise is the Monte Carlo
  mean over ``draws`` noise samples. The magnitude-aware version draws
  ``u_i ~ N(0, sigma^2 w_i^2 + eps^2)`` (``eps = 1e-3``).
* Sharpness ``alpha'``: the worst perturbation in the box ``|v_i| <= alpha``
  (magnitude-aware: ``|v_i| <= alpha |w_i| + eps``), found by projected
  gradient ascent on the training cross-entropy (sign-gradient steps,
  projected back onto the box after each step, starting from ``v = 0``).

The flatness measures are ``1 / sigma'^2`` and ``1 / alpha'^2`` (Jiang et al.
2020, App. C: ``pacbayes.flatness``, ``pacbayes.mag.flatness``,
``sharpness.flatness``, ``sharpness.mag.flatness``; after Keskar et al. 2017
and Neyshabur et al. 2017, "Exploring generalization in deep learning").

The search: starting from ``start``, the scale is doubled (or halved) until a
passing and a failing scale bracket the boundary, then bisected until the
bracket is narrower than ``rtol`` times its upper end. The Monte Carlo noise
directions are fixed per draw (common random numbers, seeded by ``seed``), so
the estimated accuracy is a deterministic function of ``sigma`` and the
bisection is reproducible. Every search restores the original weights.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf

from harness.measures.data import accuracy, forward_fn, predict_logits

MAX_DROP = 0.1
MAGNITUDE_EPS = 1e-3


@contextmanager
def _restored_weights(model) -> Iterator[tuple[list, list[np.ndarray]]]:
    """Yields the trainable variables and a copy of their values; puts the values back on exit."""
    variables = list(model.trainable_variables)
    saved = [np.array(v.numpy()) for v in variables]
    try:
        yield variables, saved
    finally:
        for v, w in zip(variables, saved):
            v.assign(w)


def largest_passing(passes: Callable[[float], bool], start: float, *, rtol: float = 0.02,
                    low: float = 1e-8, high: float = 1e4, max_evals: int = 60) -> float:
    """Largest scale ``s`` with ``passes(s)`` true, assuming ``passes`` is
    (essentially) monotone: true for small scales, false for large ones.

    Doubling/halving from ``start`` brackets the boundary, bisection narrows
    it to ``rtol`` (relative); returns the bracket's midpoint, ``low`` if even
    ``low`` fails and ``high`` if even ``high`` passes.
    """
    evals = 1
    if passes(start):
        lo, hi = start, 2 * start
        while hi < high and passes(hi):
            lo, hi, evals = hi, 2 * hi, evals + 1
        if hi >= high:
            return high
    else:
        lo, hi = start / 2, start
        while lo > low and not passes(lo):
            lo, hi, evals = lo / 2, lo, evals + 1
        if lo <= low:
            return low
    while hi - lo > rtol * hi and evals < max_evals:
        mid = (lo + hi) / 2
        if passes(mid):
            lo = mid
        else:
            hi = mid
        evals += 1
    return (lo + hi) / 2


def noise_std(weights: list[np.ndarray], sigma: float, magnitude_aware: bool,
              eps: float = MAGNITUDE_EPS) -> list[np.ndarray | float]:
    """Per-parameter noise standard deviation: ``sigma``, or
    ``sqrt(sigma^2 w^2 + eps^2)`` when magnitude-aware."""
    if not magnitude_aware:
        return [sigma] * len(weights)
    return [np.sqrt(sigma ** 2 * np.square(w) + eps ** 2) for w in weights]


def noisy_accuracy(model, x: np.ndarray, y: np.ndarray, sigma: float, *, draws: int = 8,
                   seed: int = 0, magnitude_aware: bool = False,
                   eps: float = MAGNITUDE_EPS) -> float:
    """Monte Carlo estimate of ``E_u[acc(w + u)]`` on ``(x, y)``.

    Draw ``k`` uses the standard-normal directions of
    ``numpy.random.default_rng([seed, k])``. Cost: ``draws`` forward passes.
    """
    with _restored_weights(model) as (variables, weights):
        return _noisy_accuracy(model, variables, weights, x, y,
                               sigma, draws, seed, magnitude_aware, eps, forward_fn(model))


def _noisy_accuracy(model, variables, weights, x, y, sigma, draws, seed,
                    magnitude_aware, eps, forward) -> float:
    stds = noise_std(weights, sigma, magnitude_aware, eps)
    total = 0.0
    for k in range(draws):
        rng = np.random.default_rng([seed, k])
        for v, w, s in zip(variables, weights, stds):
            v.assign((w + s * rng.standard_normal(w.shape, dtype=np.float32)).astype(w.dtype))
        total += accuracy(predict_logits(model, x, forward=forward), y)
    return total / draws


def pacbayes_sigma(model, x: np.ndarray, y: np.ndarray, *, magnitude_aware: bool = False,
                   max_drop: float = MAX_DROP, draws: int = 8, seed: int = 0,
                   start: float | None = None, rtol: float = 0.02, max_evals: int = 40,
                   eps: float = MAGNITUDE_EPS) -> float:
    """PAC-Bayes ``sigma'``: the largest noise scale whose Monte Carlo accuracy
    on ``(x, y)`` stays within ``max_drop`` of the unperturbed accuracy.

    Cost: about ``(log2 bracket + log2(1/rtol)) * draws`` forward passes over
    the sample (typically 10-15 evaluations of ``draws`` passes).
    """
    forward = forward_fn(model)
    target = accuracy(predict_logits(model, x, forward=forward), y) - max_drop
    with _restored_weights(model) as (variables, weights):

        def passes(sigma: float) -> bool:
            acc = _noisy_accuracy(model, variables, weights, x, y, sigma, draws, seed,
                                  magnitude_aware, eps, forward)
            return acc >= target

        default_start = 0.5 if magnitude_aware else 0.05
        return largest_passing(passes, start or default_start, rtol=rtol, max_evals=max_evals)


def sharpness_alpha(model, x: np.ndarray, y: np.ndarray, *, magnitude_aware: bool = False,
                    max_drop: float = MAX_DROP, steps: int = 10, start: float | None = None,
                    rtol: float = 0.02, max_evals: int = 40, eps: float = MAGNITUDE_EPS) -> float:
    """Sharpness ``alpha'``: the largest box half-width whose worst-case
    perturbation (found by ``steps`` projected sign-gradient ascent steps on
    the cross-entropy of ``(x, y)``, step ``2 * bound / steps``) keeps the
    accuracy on ``(x, y)`` within ``max_drop`` of the unperturbed one.

    Cost: per evaluated ``alpha``, ``steps`` forward+backward passes and one
    forward pass over the sample (typically 10-15 evaluations).
    """
    forward = forward_fn(model)
    target = accuracy(predict_logits(model, x, forward=forward), y) - max_drop
    with _restored_weights(model) as (variables, weights):
        ascend = _ascent_step(model, variables, x, y)

        def passes(alpha: float) -> bool:
            bounds = [alpha * np.abs(w) + eps if magnitude_aware
                      else np.full_like(w, alpha) for w in weights]
            lower = [tf.constant(w - b) for w, b in zip(weights, bounds)]
            upper = [tf.constant(w + b) for w, b in zip(weights, bounds)]
            sizes = [tf.constant(2.0 * b / steps) for b in bounds]
            for v, w in zip(variables, weights):
                v.assign(w)
            for _ in range(steps):
                ascend(sizes, lower, upper)
            return accuracy(predict_logits(model, x, forward=forward), y) >= target

        default_start = 0.1 if magnitude_aware else 0.01
        return largest_passing(passes, start or default_start, rtol=rtol, max_evals=max_evals)


def _ascent_step(model, variables, x, y):
    """A compiled projected sign-gradient ascent step on the mean cross-entropy."""
    x, y = tf.constant(x), tf.constant(y)

    @tf.function
    def step(sizes, lower, upper):
        with tf.GradientTape() as tape:
            logits = model(x, training=False)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        grads = tape.gradient(loss, variables)
        for v, g, s, lo, hi in zip(variables, grads, sizes, lower, upper):
            if g is not None:
                v.assign(tf.clip_by_value(v + s * tf.sign(g), lo, hi))
        return loss

    return step


def pacbayes_flatness(model, x: np.ndarray, y: np.ndarray, **search) -> float:
    """``mu = 1 / sigma'^2`` (Jiang et al. 2020, App. C, ``pacbayes.flatness``)."""
    return 1.0 / pacbayes_sigma(model, x, y, **search) ** 2


def pacbayes_mag_flatness(model, x: np.ndarray, y: np.ndarray, **search) -> float:
    """``mu = 1 / sigma'^2`` with magnitude-aware noise
    (Jiang et al. 2020, App. C, ``pacbayes.mag.flatness``)."""
    return 1.0 / pacbayes_sigma(model, x, y, magnitude_aware=True, **search) ** 2


def sharpness_flatness(model, x: np.ndarray, y: np.ndarray, **search) -> float:
    """``mu = 1 / alpha'^2`` (Jiang et al. 2020, App. C, ``sharpness.flatness``)."""
    return 1.0 / sharpness_alpha(model, x, y, **search) ** 2


def sharpness_mag_flatness(model, x: np.ndarray, y: np.ndarray, **search) -> float:
    """``mu = 1 / alpha'^2`` with the magnitude-aware box
    (Jiang et al. 2020, App. C, ``sharpness.mag.flatness``)."""
    return 1.0 / sharpness_alpha(model, x, y, magnitude_aware=True, **search) ** 2
