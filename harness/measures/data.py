"""Data and forward-pass helpers shared by the measures.

Measures take NumPy arrays, not datasets: a submission draws its (seeded)
sample once with `sample_examples` and hands the arrays to the building
blocks, so every measure sees the same examples for a given seed and its cost
is bounded by the sample size, not by the size of the training set.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from harness.errors import HarnessError

#: Examples read at most from the dataset before subsampling (the whole
#: training set of every original competition task fits under it).
DEFAULT_POOL = 60_000


def sample_examples(dataset: tf.data.Dataset, n: int, seed: int = 0, *,
                    balanced: bool = False, pool: int | None = DEFAULT_POOL
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random sample of ``n`` training examples as ``(x, y)`` arrays.

    Reads the first ``pool`` examples of the (unbatched) dataset, then draws
    ``n`` of them without replacement with ``numpy.random.default_rng(seed)``;
    when the pool holds ``n`` or fewer, all of it is returned in dataset order.
    With ``balanced=True`` the sample has ``n // k`` examples of each of the
    ``k`` classes present (fewer for a class that has fewer).
    """
    x, y = read_arrays(dataset, pool)
    rng = np.random.default_rng(seed)
    if balanced:
        classes = np.unique(y)
        per_class = max(1, n // len(classes))
        picks = [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in classes]
        index = np.sort(np.concatenate(picks))
    elif len(y) <= n:
        index = np.arange(len(y))
    else:
        index = np.sort(rng.choice(len(y), size=n, replace=False))
    return x[index], y[index]


def read_arrays(dataset: tf.data.Dataset, limit: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` (all when None) examples of an unbatched
    ``(inputs, label)`` dataset as float32 inputs and int32 labels."""
    if limit is not None:
        dataset = dataset.take(limit)
    xs, ys = [], []
    for xb, yb in dataset.batch(4096).as_numpy_iterator():
        xs.append(np.asarray(xb, np.float32))
        ys.append(np.asarray(yb, np.int32).reshape(-1))
    if not xs:
        raise HarnessError("the training dataset is empty")
    return np.concatenate(xs), np.concatenate(ys)


def forward_fn(model) -> Callable[[np.ndarray], tf.Tensor]:
    """A compiled inference pass ``x -> logits`` (``training=False``).

    The model's variables are captured by reference, so assigning new values
    to them (as the flatness searches do) needs no retracing.
    """
    return tf.function(lambda x: model(x, training=False), reduce_retracing=True)


def predict_logits(model, x: np.ndarray, batch_size: int = 512,
                   forward: Callable | None = None) -> np.ndarray:
    """Logits of ``model`` on ``x`` in batches, as a float64 array."""
    forward = forward or forward_fn(model)
    out = [np.asarray(forward(tf.constant(x[i:i + batch_size])))
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float64)


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Fraction of examples whose arg-max logit is the label."""
    return float(np.mean(np.argmax(logits, axis=1) == y))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def num_classes(model) -> int:
    """Number of outputs (classes) of the network's logit layer."""
    return int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) \
        else int(model.layers[-1].units)
