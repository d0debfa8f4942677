"""The 2020 kit's ``model_utils``: the kit's ``Sequential`` and layer wrappers, and layer Jacobians.

``Sequential`` is a Keras ``Sequential`` whose ``model(x, tape=tape)`` watches
``x``; `wrap_layer` makes a layer that remembers its last input as
``layer._last_seen_input``; `model_def_to_keras_sequential` builds a
``config.json``'s ``model_config`` list into such a model (built once
``model.build([0] + input_shape)`` is called, as the kit's ``DataManager`` did);
`get_jacobian` gives the Jacobian of the output with respect to each wrapped
layer's input.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf

from harness.io import models as loading


def keras_module() -> Any:
    """The Keras the worker runs (``tf_keras`` when ``TF_USE_LEGACY_KERAS=1``, else Keras 3)."""
    if os.environ.get("TF_USE_LEGACY_KERAS") == "1":
        import tf_keras

        return tf_keras
    import keras

    return keras


Sequential = loading.model_class(keras_module())


def wrap_layer(layer_cls: type, *args: Any, **kwargs: Any) -> Any:
    """An instance of ``layer_cls(*args, **kwargs)`` that keeps its latest input in ``_last_seen_input``."""
    layer = layer_cls(*args, **kwargs)
    loading.record_inputs(layer)
    return layer


def model_def_to_keras_sequential(model_def: list[dict[str, Any]]) -> Any:
    """A `Sequential` of ``model_def``'s layers (``{"layer_name": "Dense", "units": 8, ...}`` each), wrapped."""
    k = keras_module()
    layers = [loading.make_layer(k, spec, index, "model_def") for index, spec in enumerate(model_def)]
    for layer in layers:
        loading.record_inputs(layer)
    return Sequential(layers)


@tf.function
def get_jacobian(model: Any, inputs: Any) -> dict[int, Any]:
    """``{layer index: batch Jacobian of the output w.r.t. that layer's input}`` (None for unwrapped layers)."""
    with tf.GradientTape(persistent=True) as tape:
        outputs = model(inputs, tape=tape)
    jacobians = {}
    for index, layer in enumerate(model.layers):
        seen = getattr(layer, "_last_seen_input", None)
        jacobians[index] = None if seen is None else tape.batch_jacobian(outputs, seen)
    return jacobians
