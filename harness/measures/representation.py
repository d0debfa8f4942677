"""Representation-based measures: the approaches of the PGDL 2020 winners.

* Natekar & Sharma 2020, "Representation Based Complexity Measures for
  Predicting Generalization in Deep Learning" (arXiv:2012.02775; 1st place):
  Davies-Bouldin index of early-layer features, accuracy on same-class mixup,
  and margin summaries of augmented data.
* Aithal, Kashyap & Subramanyam 2021, "Robustness to Augmentations as a
  Generalization Metric" (arXiv:2101.06459; 2nd place): how much predictions
  change under data augmentation.
* Lassance, Béthune, Bontonou, Hamidouche & Gripon 2020, "Ranking Deep Learning
  Generalization using Label Variation in Latent Geometry Graphs"
  (arXiv:2011.12737; 3rd place): label variation on a k-nearest-neighbour
  graph of penultimate-layer representations.

Activations are computed by running the layers one by one in inference mode.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from harness.errors import HarnessError
from harness.measures.data import accuracy, predict_logits, softmax
from harness.measures.margins import margins


def layer_outputs(model, x: np.ndarray, indices: list[int], batch_size: int = 512
                  ) -> list[np.ndarray]:
    """Outputs of ``model.layers[i]`` for each ``i`` in ``indices``, as float64
    arrays. Cost: one forward pass up to the deepest requested layer."""
    indices = [i % len(model.layers) for i in indices]
    last = max(indices)
    chunks: dict[int, list] = {i: [] for i in indices}
    for start in range(0, len(x), batch_size):
        h = tf.constant(x[start:start + batch_size])
        for i, layer in enumerate(model.layers[:last + 1]):
            h = layer(h, training=False)
            if i in chunks:
                chunks[i].append(np.asarray(h, dtype=np.float64))
    return [np.concatenate(chunks[i]) for i in indices]


def first_kernel_layer(model) -> int:
    """Index of the first Dense or convolution layer."""
    return next(i for i, layer in enumerate(model.layers) if hasattr(layer, "kernel"))


_POINTWISE = ("BatchNormalization", "Activation", "ReLU", "LeakyReLU")


def early_features(model, x: np.ndarray, pool: int = 4) -> np.ndarray:
    """Flattened output of the first Dense/convolution layer, taken after the
    BatchNormalization and Activation layers that directly follow it (so a
    ``Conv2D -> BatchNormalization -> Activation`` block counts as one layer).
    Feature maps are max-pooled over ``pool x pool`` windows (the whole map
    when smaller), as Natekar & Sharma do."""
    index = first_kernel_layer(model)
    while index + 1 < len(model.layers) and type(model.layers[index + 1]).__name__ in _POINTWISE:
        index += 1
    (h,) = layer_outputs(model, x, [index])
    if h.ndim == 4:
        size = min(pool, h.shape[1], h.shape[2])
        h = tf.nn.max_pool2d(h, ksize=size, strides=size, padding="VALID").numpy()
    return h.reshape(len(h), -1)


def davies_bouldin(features: np.ndarray, labels: np.ndarray) -> float:
    """Davies-Bouldin index of the clusters given by ``labels``.

    ``DB = (1/k) sum_i max_{j != i} (s_i + s_j) / ||c_i - c_j||``, with ``c_i``
    the centroid of cluster ``i`` and ``s_i`` the mean Euclidean distance of
    its points to ``c_i`` (Davies & Bouldin 1979). Identical centroids count
    as infinitely far apart (their ratio is skipped); returns 0 when every
    cluster is a single point or all centroids coincide.
    """
    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    classes = np.unique(labels)
    centroids = np.stack([features[labels == c].mean(axis=0) for c in classes])
    spread = np.array([np.linalg.norm(features[labels == c] - centroids[i], axis=1).mean()
                       for i, c in enumerate(classes)])
    dist = np.linalg.norm(centroids[:, None, :] - centroids[None, :, :], axis=-1)
    if np.allclose(spread, 0) or np.allclose(dist, 0):
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (spread[:, None] + spread[None, :]) / dist
    ratio[dist == 0] = 0.0
    return float(np.mean(ratio.max(axis=1)))


def same_class_pairs(y: np.ndarray, per_class: int, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)``, ``i != j``, of examples of the same class:
    ``per_class`` random pairs of each class with two or more examples."""
    first, second = [], []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        if len(members) < 2:
            continue
        i = rng.integers(0, len(members), per_class)
        j = (i + rng.integers(1, len(members), per_class)) % len(members)
        first.append(members[i])
        second.append(members[j])
    if not first:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(first), np.concatenate(second)


def mixup_inputs(x: np.ndarray, y: np.ndarray, *, per_class: int = 100, lam: float = 0.5,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Same-class mixup ``lam x_i + (1 - lam) x_j`` of random pairs of each
    class, with the pair's (shared) label (Zhang et al. 2018, "mixup")."""
    i, j = same_class_pairs(y, per_class, np.random.default_rng(seed))
    if len(i) == 0:
        raise HarnessError("mixup needs two training examples of one class; the sample has none")
    return (lam * x[i] + (1 - lam) * x[j]).astype(np.float32), y[i]


def mixup_accuracy(model, x: np.ndarray, y: np.ndarray, *, per_class: int = 100,
                   lam: float = 0.5, seed: int = 0) -> float:
    """Accuracy on same-class mixup inputs (Natekar & Sharma 2020).
    Cost: one forward pass over ``per_class * k`` mixed inputs."""
    xm, ym = mixup_inputs(x, y, per_class=per_class, lam=lam, seed=seed)
    return accuracy(predict_logits(model, xm), ym)


def db_mixup(model, x: np.ndarray, y: np.ndarray, *, per_class: int = 100,
             seed: int = 0) -> float:
    """``mu = DB(early features) * (1 - mixup accuracy)``, the winning
    combination of Natekar & Sharma 2020.

    Cost: two forward passes (the first layer over the sample, the network
    over the mixed inputs).
    """
    db = davies_bouldin(early_features(model, x), y)
    return db * (1.0 - mixup_accuracy(model, x, y, per_class=per_class, seed=seed))


def five_number_summary(values: np.ndarray) -> np.ndarray:
    """Tukey's summary: lower whisker, quartiles, upper whisker (the most
    extreme values within 1.5 IQR of the quartiles)."""
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    iqr = q3 - q1
    inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
    return np.array([inside.min(), q1, q2, q3, inside.max()])


def mixup_margin(model, x: np.ndarray, y: np.ndarray, *, per_class: int = 100,
                 seed: int = 0) -> float:
    """``mu = -mean(five_number_summary(margins on same-class mixup inputs))``.

    The margin summary of Natekar & Sharma 2020 computed on mixup-
    augmented data (their ``augment='mixup'`` variant); negated so that small
    margins mean high complexity. Cost: one forward pass over the mixed inputs.
    """
    xm, ym = mixup_inputs(x, y, per_class=per_class, seed=seed)
    return -float(np.mean(five_number_summary(margins(predict_logits(model, xm), ym))))


def augment(x: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """One augmentation of a batch.

    Images (``NHWC``): ``flip`` (left-right), ``shift`` (2 pixels, random
    direction per example, zero fill), ``crop`` (central 90% resized back),
    ``erase`` (a random rectangle of 2-20% of the area set to zero), ``noise``
    (Gaussian, 0.1 of the batch's standard deviation), ``contrast`` (pixel
    deviations from the image mean scaled by 0.7).
    Vectors: ``noise`` and ``dropout`` (10% of the features set to zero).
    """
    x = np.asarray(x, dtype=np.float32)
    if kind == "noise":
        return x + 0.1 * x.std() * rng.standard_normal(x.shape).astype(np.float32)
    if kind == "dropout":
        return x * (rng.random(x.shape) >= 0.1)
    if kind == "flip":
        return x[:, :, ::-1, :].copy()
    if kind == "shift":
        return _shift(x, rng)
    if kind == "crop":
        h, w = x.shape[1:3]
        cropped = tf.image.central_crop(x, 0.9)
        return tf.image.resize(cropped, (h, w)).numpy()
    if kind == "erase":
        return _erase(x, rng)
    if kind == "contrast":
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        return mean + 0.7 * (x - mean)
    raise ValueError(f"unknown augmentation {kind!r}")


def _shift(x: np.ndarray, rng: np.random.Generator, pixels: int = 2) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (pixels, pixels), (pixels, pixels), (0, 0)))
    h, w = x.shape[1:3]
    out = np.empty_like(x)
    offsets = rng.integers(0, 2 * pixels + 1, size=(len(x), 2))
    for n, (dy, dx) in enumerate(offsets):
        out[n] = padded[n, dy:dy + h, dx:dx + w]
    return out


def _erase(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = x.copy()
    h, w = x.shape[1:3]
    for n in range(len(x)):
        area = rng.uniform(0.02, 0.2) * h * w
        eh = int(np.clip(round(np.sqrt(area)), 1, h))
        ew = int(np.clip(round(area / eh), 1, w))
        top, left = rng.integers(0, h - eh + 1), rng.integers(0, w - ew + 1)
        out[n, top:top + eh, left:left + ew, :] = 0.0
    return out


IMAGE_AUGMENTATIONS = ("flip", "shift", "crop", "erase", "noise", "contrast")
VECTOR_AUGMENTATIONS = ("noise", "dropout")


def augmentation_sensitivity(model, x: np.ndarray, *, seed: int = 0,
                             kinds: tuple[str, ...] | None = None) -> float:
    """How much predictions move under augmentation (Aithal et al. 2021).

    ``mu = (1/|A|) sum_a (1/m) sum_i ( [yhat_i^a != yhat_i]
    + [yhat_i^a == yhat_i] |p_i^a - p_i| )`` where ``yhat`` is the predicted
    class, ``p`` the top softmax probability and ``a`` runs over the
    augmentations (`IMAGE_AUGMENTATIONS` or `VECTOR_AUGMENTATIONS`). Each
    change of prediction costs 1, an unchanged one its change of confidence;
    the runner-up weighted augmentations unequally and negated the sum (the
    official score ignores the sign). Cost: ``1 + |A|`` forward passes.
    """
    kinds = kinds or (IMAGE_AUGMENTATIONS if x.ndim == 4 else VECTOR_AUGMENTATIONS)
    rng = np.random.default_rng(seed)
    p = softmax(predict_logits(model, x))
    pred, conf = p.argmax(axis=1), p.max(axis=1)
    penalties = []
    for kind in kinds:
        pa = softmax(predict_logits(model, augment(x, kind, rng)))
        changed = pa.argmax(axis=1) != pred
        penalties.append(np.mean(np.where(changed, 1.0, np.abs(pa.max(axis=1) - conf))))
    return float(np.mean(penalties))


def penultimate_features(model, x: np.ndarray) -> np.ndarray:
    """The latent representation: the flattened input of the last Dense or
    convolution layer (the inputs themselves for a single-layer network).
    For networks ending in a 1x1 convolution and global pooling (NiN,
    all-convolutional) this is the feature map before the class maps."""
    last = max(i for i, layer in enumerate(model.layers) if hasattr(layer, "kernel"))
    if last == 0:
        return np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    (h,) = layer_outputs(model, x, [last - 1])
    return h.reshape(len(h), -1)


def knn_graph(features: np.ndarray, k: int) -> np.ndarray:
    """Symmetric weighted k-nearest-neighbour graph by cosine similarity.

    ``A_ij = max(cos(h_i, h_j), 0)`` when ``j`` is among the ``k`` most similar
    points to ``i`` (self excluded), else 0; returns ``W = (A + A^T) / 2``.
    """
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    unit = features / np.where(norms == 0, 1.0, norms)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    k = min(k, len(features) - 1)
    neighbours = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    adjacency = np.zeros_like(sim)
    rows = np.arange(len(features))[:, None]
    adjacency[rows, neighbours] = np.maximum(sim[rows, neighbours], 0.0)
    return (adjacency + adjacency.T) / 2


def label_variation(features: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Label variation on the latent geometry graph of ``features``.

    ``mu = sum_ij W_ij [y_i != y_j] / sum_ij W_ij`` for the `knn_graph` ``W``:
    the share of the graph's edge weight joining different classes
    (Lassance et al. 2020; their ``sigma = y^T L y`` normalized by the
    total edge weight). Returns 0 for a graph with no edges.
    """
    weights = knn_graph(np.asarray(features, dtype=np.float64), k)
    total = weights.sum()
    if total == 0:
        return 0.0
    return float(weights[labels[:, None] != labels[None, :]].sum() / total)


def latent_label_variation(model, x: np.ndarray, y: np.ndarray, k: int = 10) -> float:
    """`label_variation` of the penultimate-layer representation of ``(x, y)``.
    Cost: one forward pass."""
    return label_variation(penultimate_features(model, x), y, k)
