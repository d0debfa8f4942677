"""What `harness.io.models` relies on in Keras, checked directly under each Keras the harness runs.

`build_model` patches layer *instances*: ``layer.call`` (to record
``_last_seen_input``, the 2020 kit's hook) and, while building,
``layer.add_weight`` (to create weights as zeros instead of running the
initializers). That works only while Keras looks both up on the instance,
passes ``add_weight`` an ``initializer`` it then calls as
``initializer(shape, dtype)``, and lets ``object.__setattr__`` bypass its
attribute tracking. A Keras release that changes any of this fails here, by
name, before it breaks submissions in subtler ways.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest

from harness.io.models import build_model, record_inputs

KERAS_MODULES = ["keras", "tf_keras"]
MLP = {"model_config": [{"layer_name": "Dense", "units": 5, "activation": "relu"},
                        {"layer_name": "Dense", "units": 2}], "input_shape": [3]}


@pytest.fixture(params=KERAS_MODULES)
def k(request):
    return importlib.import_module(request.param)


def _dense(k):
    return k.layers.Dense(4)


def test_calling_a_layer_goes_through_the_call_found_on_the_instance(k):
    layer, seen = _dense(k), []
    call = layer.call

    def spy(inputs, *args, **kwargs):
        seen.append(inputs)
        return call(inputs, *args, **kwargs)

    object.__setattr__(layer, "call", spy)
    layer(np.ones((2, 3), np.float32))
    assert seen, f"{k.__name__} {k.__version__}: Layer.__call__ no longer calls the instance's `call`"


def test_building_a_layer_creates_its_weights_through_the_add_weight_found_on_the_instance(k):
    layer, made = _dense(k), []
    add_weight = layer.add_weight

    def spy(*args, **kwargs):
        made.append(kwargs.get("name", args[1] if len(args) > 1 else None))
        return add_weight(*args, **kwargs)

    object.__setattr__(layer, "add_weight", spy)
    layer.build((None, 3))
    assert len(made) == 2, f"{k.__name__} {k.__version__}: Dense.build no longer uses the instance's `add_weight`"


def test_add_weight_still_takes_shape_dtype_and_initializer(k):
    parameters = inspect.signature(k.layers.Layer.add_weight).parameters
    assert {"shape", "dtype", "initializer"} <= set(parameters), \
        f"{k.__name__} {k.__version__}: Layer.add_weight's parameters are now {list(parameters)}"


def test_weights_built_without_initializing_are_zeros_and_add_weight_is_restored(k):
    model = build_model(MLP, keras_module=k, initialize=False)
    assert all(not np.any(w) for w in model.get_weights()), "the zero initializer was not used"
    assert all("add_weight" not in vars(layer) for layer in model.layers)


def test_the_recorded_input_is_no_layer_state(k):
    layer = _dense(k)
    record_inputs(layer)
    x = np.ones((2, 3), np.float32)
    layer(x)
    np.testing.assert_array_equal(layer._last_seen_input, x)
    assert len(layer.weights) == 2, "Keras tracked the recorded input as a weight"
    assert type(layer) is k.layers.Dense and layer.call.__name__ == "call"
