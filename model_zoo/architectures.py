"""Architecture families: hyperparameters -> a ``config.json`` layer list (SPEC §1).

Each family maps ``width`` (channels or units of the first block), ``depth``
(number of blocks) and ``dropout`` (rate of the Dropout layer after each block)
to the plain stack of layers that `harness.io.build_model` rebuilds, the
last layer producing logits. They mirror the families of the PGDL competition
(Jiang et al., "NeurIPS 2020 Competition: Predicting Generalization in Deep
Learning", arXiv:2012.07976):

* ``vgg`` (tasks 1 and 8): blocks of two 3x3 ``Conv2D`` + ``MaxPooling2D``,
  channels doubling per block, then ``Flatten`` and a dense head
  (``Dense(2 * width)`` + ``Dense(classes)``).
* ``nin`` (tasks 2, 6 and 9; Lin et al., "Network in Network", 2014): blocks of a
  3x3 ``Conv2D`` and two 1x1 ``Conv2D``, each followed by batch norm and ReLU,
  ``MaxPooling2D`` between blocks, then a 1x1 ``Conv2D(classes)`` and
  ``GlobalAveragePooling2D`` as the classifier. (Without batch norm, the narrow
  members of a small zoo barely trained in 40 epochs: cross-entropy still 0.6-1.1.)
* ``allconv_bn`` (tasks 4 and 5; Springenberg et al., "Striving for Simplicity:
  the All Convolutional Net", 2015, with batch norm): blocks of two
  ``Conv2D(width)`` -> ``BatchNormalization`` -> ``Activation('relu')``, the
  second with stride 2 (downsampling without pooling), then a 1x1
  ``Conv2D(classes)`` and ``GlobalAveragePooling2D``. The width stays the same
  in every block, which keeps deep members small.
* ``mlp``: ``Flatten`` then ``depth`` blocks of ``Dense(width, relu)``, then
  ``Dense(classes)``.

Only layers that SPEC §1 lists are used. Weight decay, learning rate, batch
size and training-set size act on training, not on the layer list.
"""

from __future__ import annotations

from typing import Any, Callable

Layer = dict[str, Any]


def build_config(family: str, *, width: int, depth: int, dropout: float,
                 input_shape: tuple[int, ...], num_classes: int) -> dict[str, Any]:
    """The ``config.json`` of one model: ``{"model_config": [...], "input_shape": [...]}``."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}")
    layers = FAMILIES[family](width, depth, float(dropout), num_classes)
    return {"model_config": layers, "input_shape": list(input_shape)}


def _conv(filters: int, kernel: int, *, strides: int = 1, activation: str | None = "relu") -> Layer:
    layer: Layer = {"layer_name": "Conv2D", "filters": filters, "kernel_size": [kernel, kernel],
                    "strides": [strides, strides], "padding": "same"}
    if activation:
        layer["activation"] = activation
    return layer


def _batch_norm() -> Layer:
    # Momentum 0.9, not Keras' 0.99: with a few steps per epoch (500 images, batch 128)
    # the moving statistics otherwise lag the weights, and inference-mode accuracy
    # collapses (seen: train accuracy 12-60% in inference mode for such members).
    return {"layer_name": "BatchNormalization", "momentum": 0.9}


def _dropout(rate: float) -> Layer:
    return {"layer_name": "Dropout", "rate": rate}


def _max_pool() -> Layer:
    return {"layer_name": "MaxPooling2D", "pool_size": [2, 2]}


def vgg(width: int, depth: int, dropout: float, num_classes: int) -> list[Layer]:
    layers: list[Layer] = []
    for block in range(depth):
        channels = width * 2 ** block
        layers += [_conv(channels, 3), _conv(channels, 3), _max_pool(), _dropout(dropout)]
    return layers + [{"layer_name": "Flatten"},
                     {"layer_name": "Dense", "units": 2 * width, "activation": "relu"},
                     _dropout(dropout),
                     {"layer_name": "Dense", "units": num_classes}]


def nin(width: int, depth: int, dropout: float, num_classes: int) -> list[Layer]:
    layers: list[Layer] = []
    for block in range(depth):
        if block:
            layers.append(_max_pool())
        for kernel in (3, 1, 1):
            layers += [_conv(width, kernel, activation=None), _batch_norm(),
                       {"layer_name": "Activation", "activation": "relu"}]
        layers.append(_dropout(dropout))
    return layers + [_conv(num_classes, 1, activation=None),
                     {"layer_name": "GlobalAveragePooling2D"}]


def allconv_bn(width: int, depth: int, dropout: float, num_classes: int) -> list[Layer]:
    layers: list[Layer] = []
    for _ in range(depth):
        for strides in (1, 2):
            layers += [_conv(width, 3, strides=strides, activation=None),
                       _batch_norm(),
                       {"layer_name": "Activation", "activation": "relu"}]
        layers.append(_dropout(dropout))
    return layers + [_conv(num_classes, 1, activation=None),
                     {"layer_name": "GlobalAveragePooling2D"}]


def mlp(width: int, depth: int, dropout: float, num_classes: int) -> list[Layer]:
    layers: list[Layer] = [{"layer_name": "Flatten"}]
    for _ in range(depth):
        layers += [{"layer_name": "Dense", "units": width, "activation": "relu"}, _dropout(dropout)]
    return layers + [{"layer_name": "Dense", "units": num_classes}]


FAMILIES: dict[str, Callable[[int, int, float, int], list[Layer]]] = {
    "vgg": vgg,
    "nin": nin,
    "allconv_bn": allconv_bn,
    "mlp": mlp,
}
