"""Rebuilding a task's Keras models (SPEC §2): `build_model`, `load_model`, HDF5 weights, accuracy.

* `build_model` / `load_model`: the network of a ``config.json`` as a
  ``keras.Sequential`` with the original starting kit's hooks, weights from the
  Keras 2 HDF5 files (`harness.io.hdf5`).
* `evaluate_accuracy`: the fraction of examples whose argmax logit is the label.

`load_model` never touches ``model_configs.json`` or the test split.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from harness.errors import HarnessError, one_line  # noqa: E402
from harness.io.hdf5 import LayerWeights, read_weights_hdf5, write_weights_hdf5  # noqa: E402
from harness.io.data import cast_whole_floats  # noqa: E402
from harness.task import Task, read_json  # noqa: E402


# --- models ------------------------------------------------------------------


def build_model(config: Mapping[str, Any], *, keras_module: ModuleType | None = None,
                source: str | Path | None = None, initialize: bool = True) -> keras.Model:
    """Build the network a parsed ``config.json`` describes, weights freshly initialized.

    ``config`` is ``{"model_config": [{"layer_name": "Dense", "units": 64, ...}, ...],
    "input_shape": [...]}``: each entry a class of ``keras.layers`` and its
    keyword arguments (whole-number floats cast to int). The result is a
    ``Sequential`` of ``keras.Input(input_shape)`` and those layers, with the
    original starting kit's hooks:

    * ``model(x, tape=tape)`` calls ``tape.watch(x)`` before running;
    * every layer keeps the input of its latest call in ``layer._last_seen_input``;
    * ``model.initial_weights`` is None (`load_model` fills it).

    ``keras_module`` selects the Keras implementation (default Keras 3; pass
    ``tf_keras`` for Keras 2 behaviour). ``source`` names the config file in
    error messages. ``initialize=False`` creates every weight as zeros
    instead of running the layers' initializers (whose configuration is kept):
    about half the cost, for callers that load weights next. Raises
    `HarnessError` for an unknown layer, bad layer arguments or layers that do
    not fit together.
    """
    k = keras_module or keras
    where = str(source) if source is not None else "config.json"
    specs, input_shape = _parse_config(config, where)
    layers = [make_layer(k, spec, index, where) for index, spec in enumerate(specs)]
    if not initialize:
        for layer in layers:
            _create_weights_as_zeros(layer)
    try:
        model = model_class(k)([k.Input(shape=tuple(input_shape))] + layers)
    except (ValueError, TypeError) as exc:
        raise HarnessError(f"{where}: the layers do not fit together ({one_line(exc)})") from None
    finally:
        for layer in layers:
            layer.__dict__.pop("add_weight", None)
    for layer in model.layers:
        record_inputs(layer)
    object.__setattr__(model, "initial_weights", None)
    return model


def load_model(task: Task, model_id: str, *, keras_module: ModuleType | None = None) -> keras.Model:
    """Model ``model_<model_id>`` of ``task``: ``config.json`` + ``weights.hdf5``.

    ``model.initial_weights`` holds the weights of ``weights_init.hdf5`` (numpy
    arrays in ``model.get_weights()`` order) when that file exists, else None.
    """
    model_dir = task.model_dir(model_id)
    if not model_dir.is_dir():
        raise HarnessError(f"{model_dir}: model folder not found")
    config_path = model_dir / "config.json"
    model = build_model(read_json(config_path), keras_module=keras_module, source=config_path,
                        initialize=False)
    initial = None
    init_path = model_dir / "weights_init.hdf5"
    if init_path.is_file():
        # Read straight into numpy: the arrays model.get_weights() would give after loading them.
        stored = {id(variable): value for variable, value in _match_weights(model, init_path)}
        initial = [np.array(stored[id(variable)], dtype=_numpy_dtype(variable.dtype)) for variable in model.weights]
    load_weights_hdf5(model, model_dir / "weights.hdf5")
    object.__setattr__(model, "initial_weights", initial)
    return model


def load_weights_hdf5(model: keras.Model, path: str | Path) -> None:
    """Load a Keras 2 ``save_weights`` HDF5 file into ``model``, as Keras 2 did.

    The file's layers that hold weights are matched, in order, to the model's
    layers that own weights; each layer's weights are taken in Keras 2 order
    (trainable, then non-trainable). Every count and shape is checked before
    anything is assigned; a mismatch raises `HarnessError` naming the file.
    """
    for variable, value in _match_weights(model, path):
        variable.assign(value)


def _match_weights(model: keras.Model, path: str | Path) -> list[tuple[Any, np.ndarray]]:
    """``(variable, stored value)`` for every weight of ``model``, checked as `load_weights_hdf5` says."""
    path = Path(path)
    stored = [entry for entry in read_weights_hdf5(path) if entry.values]
    targets = [layer for layer in model.layers if _legacy_weights(layer)]
    if len(stored) != len(targets):
        raise HarnessError(f"{path}: holds weights for {len(stored)} layers, "
                           f"the model has {len(targets)} layers with weights")
    pairs = []
    for entry, layer in zip(stored, targets):
        variables = _legacy_weights(layer)
        if len(variables) != len(entry.values):
            raise HarnessError(f"{path}: layer {entry.name!r} has {len(entry.values)} weights, "
                               f"model layer {layer.name!r} ({type(layer).__name__}) has {len(variables)}")
        for variable, name, value in zip(variables, entry.weight_names, entry.values):
            if tuple(variable.shape) != value.shape:
                raise HarnessError(f"{path}: weight {name!r} has shape {value.shape}, "
                                   f"model layer {layer.name!r} expects {tuple(variable.shape)}")
            pairs.append((variable, value))
    return pairs


def save_weights_hdf5(model: keras.Model, path: str | Path) -> None:
    """Write ``model``'s weights in the Keras 2 ``save_weights`` HDF5 layout.

    Every layer is listed (weightless ones with no weights), weights named
    ``<layer>/<weight>:0`` in Keras 2 order, with the ``backend`` and
    ``keras_version`` attributes (the version of the Keras that wrote it), so
    that `load_weights_hdf5` and tools written for the original data read it.
    """
    layers = [LayerWeights(layer.name,
                           [f"{layer.name}/{_short_name(v)}:0" for v in _legacy_weights(layer)],
                           [np.asarray(v.numpy()) for v in _legacy_weights(layer)])
              for layer in model.layers if not _is_input_layer(layer)]
    write_weights_hdf5(path, layers, keras_version=_keras_version(model), backend="tensorflow")


def evaluate_accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray, *, batch_size: int = 256) -> float:
    """Accuracy of ``model`` on ``(x, y)``: ``mean_i [argmax_c f(x_i)_c == y_i]``.

    Runs in inference mode (``training=False``) on batches of ``batch_size``.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need as many labels as inputs, and at least one (got {len(x)} and {len(y)})")
    y = np.asarray(y)
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = np.asarray(model(x[start:start + batch_size], training=False))
        correct += int(np.count_nonzero(np.argmax(logits, axis=-1) == y[start:start + batch_size]))
    return correct / len(x)


@functools.cache
def model_class(k: ModuleType) -> type:
    """A ``Sequential`` of Keras module ``k`` with the starting kit's ``tape`` argument."""

    class PGDLModel(k.Sequential):
        """A plain stack of layers; ``model(x, tape=tape)`` watches ``x`` on ``tape`` first."""

        def call(self, inputs, training=None, mask=None, tape=None):
            if tape is not None:
                tape.watch(inputs)
            return super().call(inputs, training=training, mask=mask)

    return PGDLModel


def record_inputs(layer: Any) -> None:
    """Make ``layer`` store the input of each call in ``layer._last_seen_input``.

    The instance's ``call`` is wrapped (not the class) so that layers keep
    their class and their Keras-given names. ``object.__setattr__`` keeps
    Keras' attribute tracking from treating the tensor as layer state.
    """
    call = layer.call

    @functools.wraps(call)
    def recording_call(inputs, *args, **kwargs):
        object.__setattr__(layer, "_last_seen_input", inputs)
        return call(inputs, *args, **kwargs)

    object.__setattr__(layer, "_last_seen_input", None)
    object.__setattr__(layer, "call", recording_call)


def _create_weights_as_zeros(layer: Any) -> None:
    """Until the instance attribute is removed, ``layer.add_weight`` ignores the initializer and makes zeros.

    Running initializers costs several TensorFlow ops per weight; a numpy
    array of zeros costs none beyond creating the variable.
    """
    add_weight = layer.add_weight
    signature = inspect.signature(add_weight)

    def zeros(shape, dtype=None, **_):
        return np.zeros(tuple(shape), dtype=_numpy_dtype(dtype or "float32"))

    def add_zero_weight(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.arguments["initializer"] = zeros
        return add_weight(*call.args, **call.kwargs)

    object.__setattr__(layer, "add_weight", add_zero_weight)


def _numpy_dtype(dtype: Any) -> np.dtype:
    """The numpy dtype for a Keras 3 (``"float32"``) or TensorFlow (``tf.float32``) dtype."""
    return np.dtype(getattr(dtype, "as_numpy_dtype", dtype))


def _parse_config(config: Any, where: str) -> tuple[list[dict], list[int]]:
    if not isinstance(config, Mapping) or not isinstance(config.get("model_config"), list):
        raise HarnessError(f"{where}: expected an object with a 'model_config' list of layers")
    shape = cast_whole_floats(config.get("input_shape"))
    if not (isinstance(shape, list) and shape and all(isinstance(d, int) and d > 0 for d in shape)):
        raise HarnessError(f"{where}: 'input_shape' must be a non-empty list of positive integers "
                           f"(got {config.get('input_shape')!r})")
    return config["model_config"], shape


def make_layer(k: ModuleType, spec: Any, index: int, where: str) -> Any:
    if not isinstance(spec, Mapping):
        raise HarnessError(f"{where}: layer {index} is not an object")
    name = spec.get("layer_name")
    cls = getattr(k.layers, name, None) if isinstance(name, str) and not name.startswith("_") else None
    if not (isinstance(cls, type) and issubclass(cls, k.layers.Layer)):
        raise HarnessError(f"{where}: unknown layer {name!r} (layer {index}): not a class of keras.layers")
    kwargs = {key: cast_whole_floats(value) for key, value in spec.items() if key != "layer_name"}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise HarnessError(f"{where}: layer {index} ({name}): invalid arguments ({one_line(exc)})") from None


def _legacy_weights(layer: Any) -> list:
    """A layer's weights in Keras 2 file order: trainable, then non-trainable."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _short_name(variable: Any) -> str:
    """``kernel`` for Keras 3's ``kernel`` and Keras 2's ``dense/kernel:0``."""
    return variable.name.split("/")[-1].split(":")[0]


def _is_input_layer(layer: Any) -> bool:
    return type(layer).__name__ == "InputLayer"


def _keras_version(model: Any) -> str:
    """The version of the Keras (3, or ``tf_keras``) whose classes ``model`` is built from."""
    for cls in type(model).__mro__:
        top = cls.__module__.split(".")[0]
        if top in ("keras", "tf_keras"):
            return sys.modules[top].__version__
    return keras.__version__
