"""Measures computed from the network's outputs on training examples.

The output margin of example ``(x, y)`` is ``f(x)[y] - max_{j != y} f(x)[j]``
(logits). Following Jiang et al. 2020 ("Fantastic Generalization Measures",
App. C), the margin ``gamma`` of a network is the 10th percentile of its
training margins, which is robust to a few mislabelled or hard examples.

Cost of every measure here: one forward pass over the sample.
"""

from __future__ import annotations

import math

import numpy as np

from harness.measures.data import predict_logits, softmax
from harness.measures.norms import log_prod_spectral, path_norm

#: Below this margin the inverse-square is extended linearly (see `inverse_square`).
MIN_MARGIN = 1e-6


def margins(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-example output margin ``z_y - max_{j != y} z_j`` (negative when wrong)."""
    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(y))
    correct = logits[rows, y]
    others = logits.copy()
    others[rows, y] = -np.inf
    return correct - others.max(axis=1)


def margin_quantile(model, x: np.ndarray, y: np.ndarray, q: float = 10.0) -> float:
    """``gamma``: the ``q``-th percentile of the training margins."""
    return float(np.percentile(margins(predict_logits(model, x), y), q))


def inverse_square(gamma: float) -> float:
    """``1 / gamma^2`` for ``gamma >= MIN_MARGIN``, extended below it as
    ``(1 + MIN_MARGIN - gamma) / MIN_MARGIN^2`` so the result stays finite and
    keeps decreasing in ``gamma`` (a network whose 10th-percentile margin is
    negative misclassifies over 10% of its training sample and ranks as the
    most complex)."""
    if gamma >= MIN_MARGIN:
        return 1.0 / gamma ** 2
    return (1.0 + MIN_MARGIN - gamma) / MIN_MARGIN ** 2


def inverse_margin(model, x: np.ndarray, y: np.ndarray, q: float = 10.0) -> float:
    """``mu = 1 / gamma^2``. Jiang et al. 2020, App. C, ``inverse.margin``."""
    return inverse_square(margin_quantile(model, x, y, q))


def cross_entropy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Mean training cross-entropy ``-(1/m) sum_i log softmax(f(x_i))[y_i]``.

    Jiang et al. 2020, App. C, ``cross.entropy``.
    """
    logits = predict_logits(model, x)
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(y)), y]))


def output_entropy(model, x: np.ndarray) -> float:
    """Mean entropy of the predicted distribution, in nats:
    ``-(1/m) sum_i sum_j p_ij log p_ij`` with ``p_i = softmax(f(x_i))``.

    Jiang et al. 2020, App. C, ``entropy`` (Pereyra et al. 2017).
    """
    p = softmax(predict_logits(model, x))
    return float(-np.mean(np.sum(p * np.log(np.clip(p, 1e-300, None)), axis=1)))


def path_norm_over_margin(model, x: np.ndarray, y: np.ndarray, q: float = 10.0) -> float:
    """``mu = path_norm / gamma^2`` (see `harness.measures.norms.path_norm`).

    Jiang et al. 2020, App. C, ``path.norm.over.margin``.
    """
    return path_norm(model) * inverse_margin(model, x, y, q)


def spectral_over_margin(model, x: np.ndarray, y: np.ndarray, q: float = 10.0) -> float:
    """``mu = log(prod_i ||W_i||_2^2 / gamma^2)``.

    Jiang et al. 2020, App. C, ``log.prod.of.spec.over.margin`` (Bartlett et
    al. 2017, spectrally-normalized margin bounds).
    """
    return log_prod_spectral(model) + math.log(inverse_margin(model, x, y, q))
