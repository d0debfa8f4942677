"""Rebuilding a task's Keras models and reading its data (SPEC §1 and §2).

* `build_model` / `load_model`: the network of a ``config.json`` as a
  ``keras.Sequential`` with the original starting kit's hooks, weights from the
  Keras 2 HDF5 files (`harness.hdf5_weights`).
* `read_split` / `write_split`: ``shard_*.tfrecord`` splits, read in natural
  name order into numpy arrays; `dataset_from_arrays` turns them into the
  unbatched, finite, deterministic ``tf.data.Dataset`` a submission receives.
* `evaluate_accuracy`: the fraction of examples whose argmax logit is the label.

Submission-facing helpers (`load_model`, `training_dataset`) never touch
``model_configs.json`` or the test split.
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
import tensorflow as tf  # noqa: E402
from google.protobuf.message import DecodeError  # noqa: E402
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2  # noqa: E402

from harness.errors import HarnessError, one_line  # noqa: E402
from harness.hdf5_weights import LayerWeights, read_weights_hdf5, write_weights_hdf5  # noqa: E402
from harness.task import Task, natural_key, read_json  # noqa: E402

SHARD_GLOB = "shard_*.tfrecord"
TRAIN_EXAMPLES = "train_examples"  # config.json: the model was trained on this many leading examples

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
    layers = [_make_layer(k, spec, index, where) for index, spec in enumerate(specs)]
    if not initialize:
        for layer in layers:
            _create_weights_as_zeros(layer)
    try:
        model = _model_class(k)([k.Input(shape=tuple(input_shape))] + layers)
    except (ValueError, TypeError) as exc:
        raise HarnessError(f"{where}: the layers do not fit together ({one_line(exc)})") from None
    finally:
        for layer in layers:
            layer.__dict__.pop("add_weight", None)
    for layer in model.layers:
        _record_inputs(layer)
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
def _model_class(k: ModuleType) -> type:
    """A ``Sequential`` of Keras module ``k`` with the starting kit's ``tape`` argument."""

    class PGDLModel(k.Sequential):
        """A plain stack of layers; ``model(x, tape=tape)`` watches ``x`` on ``tape`` first."""

        def call(self, inputs, training=None, mask=None, tape=None):
            if tape is not None:
                tape.watch(inputs)
            return super().call(inputs, training=training, mask=mask)

    return PGDLModel


def _record_inputs(layer: Any) -> None:
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
    shape = _cast_whole_floats(config.get("input_shape"))
    if not (isinstance(shape, list) and shape and all(isinstance(d, int) and d > 0 for d in shape)):
        raise HarnessError(f"{where}: 'input_shape' must be a non-empty list of positive integers "
                           f"(got {config.get('input_shape')!r})")
    return config["model_config"], shape


def _make_layer(k: ModuleType, spec: Any, index: int, where: str) -> Any:
    if not isinstance(spec, Mapping):
        raise HarnessError(f"{where}: layer {index} is not an object")
    name = spec.get("layer_name")
    cls = getattr(k.layers, name, None) if isinstance(name, str) and not name.startswith("_") else None
    if not (isinstance(cls, type) and issubclass(cls, k.layers.Layer)):
        raise HarnessError(f"{where}: unknown layer {name!r} (layer {index}): not a class of keras.layers")
    kwargs = {key: _cast_whole_floats(value) for key, value in spec.items() if key != "layer_name"}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise HarnessError(f"{where}: layer {index} ({name}): invalid arguments ({one_line(exc)})") from None


def _cast_whole_floats(value: Any) -> Any:
    """``64.0`` -> ``64``, inside lists too (configs written by float-only JSON tools)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_cast_whole_floats(v) for v in value]
    return value


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


# --- data --------------------------------------------------------------------


def read_split(split_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Decode every ``shard_*.tfrecord`` of a split, in natural name order.

    Returns ``(inputs float32 [n, ...], labels int32 [n])``. Raises
    `HarnessError` for a missing or empty split, a corrupt shard, records of
    the wrong type, or inputs of differing shapes.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise HarnessError(f"{split_dir}: split folder not found")
    shards = list_shards(split_dir)
    if not shards:
        raise HarnessError(f"{split_dir}: no {SHARD_GLOB} files")
    parts = [part for shard in shards for part in _read_shard(shard)]
    if not parts:
        raise HarnessError(f"{split_dir}: the split holds no records")
    shapes = {x.shape[1:] for x, _ in parts}
    if len(shapes) > 1:
        raise HarnessError(f"{split_dir}: records have inputs of different shapes {sorted(shapes)}")
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def list_shards(split_dir: str | Path) -> list[Path]:
    """The split's ``shard_*.tfrecord`` files in natural order (``shard_2`` before ``shard_10``)."""
    return sorted(Path(split_dir).glob(SHARD_GLOB), key=lambda p: natural_key(p.name))


def dataset_from_arrays(x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
    """The unbatched, finite, deterministic dataset of ``(inputs float32, label int32)`` pairs."""
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int32)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    return tf.data.Dataset.from_tensor_slices((x, y))


def training_dataset(task: Task, model_id: str | None = None) -> tf.data.Dataset:
    """The training data as a submission sees it: the task's split, or model ``model_id``'s part of it.

    With a ``model_id`` whose ``config.json`` has ``"train_examples": n``, only
    the first ``n`` examples of the split (the ones that model was trained on);
    otherwise, and without a ``model_id``, the whole split.
    """
    x, y = read_split(task.train_dir)
    if model_id is not None:
        x, y = first_examples(x, y, train_examples(task, model_id), task.model_dir(model_id))
    return dataset_from_arrays(x, y)


def train_examples(task: Task, model_id: str) -> int | None:
    """The ``train_examples`` of model ``model_id``'s ``config.json`` (SPEC §1), or None: the whole split."""
    config_path = task.model_dir(model_id) / "config.json"
    config = read_json(config_path)
    n = config.get(TRAIN_EXAMPLES) if isinstance(config, Mapping) else None
    if n is None:
        return None
    n = _cast_whole_floats(n)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise HarnessError(f"{config_path}: '{TRAIN_EXAMPLES}' must be a positive integer (got {n!r})")
    return n


def first_examples(x: np.ndarray, y: np.ndarray, n: int | None, where: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(x[:n], y[:n])``: the examples a model with ``train_examples = n`` was trained on (all for None)."""
    if n is None:
        return x, y
    check_train_examples(n, len(x), where)
    return x[:n], y[:n]


def check_train_examples(n: int, size: int, where: Path | str) -> None:
    """Refuse a ``train_examples`` larger than the training split (``size`` examples)."""
    if n > size:
        raise HarnessError(f"{where}: {TRAIN_EXAMPLES} = {n} exceeds the {size} examples of the training split")


def test_dataset(task: Task) -> tf.data.Dataset:
    """The test split of a combined-layout task (scorer side only; never give it to a submission)."""
    if not task.combined:
        raise HarnessError(f"task {task.name}: only the combined layout ships a test split")
    return dataset_from_arrays(*read_split(task.test_dir))


test_dataset.__test__ = False  # not a pytest test, wherever it is imported


def write_split(split_dir: str | Path, x: np.ndarray, y: np.ndarray, *, n_shards: int = 1) -> list[Path]:
    """Write ``(x, y)`` as ``n_shards`` TFRecord files ``shard_0.tfrecord``, ... in order.

    Records are ``tf.train.Example``s with bytes features ``inputs``
    (``tf.io.serialize_tensor`` of the float32 input) and ``output`` (of the
    int32 label), the same ``Example`` messages as the original data holds
    (with a fixed order of the two features, so the bytes are reproducible). Existing
    shards in ``split_dir`` are removed first, so `read_split` reads back
    exactly ``(x, y)``. Returns the shard paths.
    """
    x = np.ascontiguousarray(x, dtype="<f4")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x) or len(x) == 0:
        raise ValueError(f"need a 1-d label per input and at least one input (x {x.shape}, y {y.shape})")
    if n_shards < 1:
        raise ValueError(f"n_shards must be at least 1 (got {n_shards})")
    if not (np.issubdtype(y.dtype, np.integer) and y.min() >= np.iinfo(np.int32).min
            and y.max() <= np.iinfo(np.int32).max):
        raise ValueError(f"labels must be int32 integers (got {y.dtype})")
    split_dir = Path(split_dir)
    split_dir.mkdir(parents=True, exist_ok=True)
    for old in list_shards(split_dir):
        old.unlink()
    input_header = _tensor_header(types_pb2.DT_FLOAT, x.shape[1:])
    label_header = _tensor_header(types_pb2.DT_INT32, ())
    labels = y.astype("<i4")
    paths = []
    for index, rows in enumerate(np.array_split(np.arange(len(x)), min(n_shards, len(x)))):
        path = split_dir / f"shard_{index}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for i in rows:
                writer.write(_example(_tensor_bytes(input_header, x[i]), _tensor_bytes(label_header, labels[i])))
        paths.append(path)
    return paths


_FEATURES = {"inputs": tf.io.FixedLenFeature([], tf.string),
             "output": tf.io.FixedLenFeature([], tf.string)}


def _read_shard(shard: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The shard's records as ``(inputs, labels)`` array pairs, one pair per batch of records."""
    batches = (tf.data.TFRecordDataset(str(shard))
               .batch(8192)
               .map(lambda records: tf.io.parse_example(records, _FEATURES)))
    try:
        raw = [(batch["inputs"].numpy(), batch["output"].numpy()) for batch in batches]
    except tf.errors.OpError as exc:
        raise HarnessError(f"{shard}: corrupt or malformed record ({one_line(exc.message)})") from None
    return [(_decode_tensors(shard, "inputs", inputs, np.float32, None),
             _decode_tensors(shard, "output", outputs, np.int32, ()))
            for inputs, outputs in raw]


def _decode_tensors(shard: Path, feature: str, serialized: np.ndarray, dtype: type,
                    shape: tuple[int, ...] | None) -> np.ndarray:
    """Stack a batch of ``tf.io.serialize_tensor`` outputs of one dtype (and ``shape``) into one array.

    Fast path: when every record has the same length and the same bytes
    before the tensor content as the first record (the case for any split
    written by ``serialize_tensor``), the contents are sliced out of one
    buffer at once. Otherwise each record is decoded on its own.
    """
    first = _parse_tensor_proto(shard, feature, serialized[0], dtype, shape)
    content = first.tensor_content
    head = serialized[0][:len(serialized[0]) - len(content)]
    size = len(serialized[0])
    if content and serialized[0].endswith(content) and all(
            len(s) == size and s.startswith(head) for s in serialized):
        item_shape = tuple(d.size for d in first.tensor_shape.dim)
        rows = np.frombuffer(b"".join(serialized), np.uint8).reshape(len(serialized), size)[:, len(head):]
        return np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder("<")).reshape(
            (len(serialized),) + item_shape).astype(dtype)
    arrays = [tf.make_ndarray(_parse_tensor_proto(shard, feature, s, dtype, shape)) for s in serialized]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise HarnessError(f"{shard}: records have {feature} of different shapes {sorted(shapes)}")
    return np.stack(arrays).astype(dtype)


def _parse_tensor_proto(shard: Path, feature: str, serialized: bytes, dtype: type,
                        shape: tuple[int, ...] | None) -> tensor_pb2.TensorProto:
    try:
        proto = tensor_pb2.TensorProto.FromString(serialized)
    except DecodeError:
        raise HarnessError(f"{shard}: corrupt or malformed record ({feature!r} is not a serialized tensor)") from None
    expected = tf.dtypes.as_dtype(dtype)
    if proto.dtype != expected.as_datatype_enum:
        got = tf.dtypes.as_dtype(proto.dtype).name if proto.dtype in types_pb2.DataType.values() else proto.dtype
        raise HarnessError(f"{shard}: corrupt or malformed record ({feature!r} is {got}, expected {expected.name})")
    if shape is not None and tuple(d.size for d in proto.tensor_shape.dim) != shape:
        raise HarnessError(f"{shard}: corrupt or malformed record ({feature!r} must have shape {shape})")
    return proto


def _tensor_header(dtype: int, shape: tuple[int, ...]) -> bytes:
    """The serialized ``TensorProto`` fields before ``tensor_content`` (dtype, shape).

    ``tf.io.serialize_tensor`` writes dtype (field 1), tensor_shape (2) and
    tensor_content (4) in that order; fixing the first two once per split
    keeps writing 60,000 records fast.
    """
    shape_proto = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape])
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape_proto).SerializeToString()


def _tensor_bytes(header: bytes, value: np.ndarray) -> bytes:
    return header + _field(4, value.tobytes())


def _example(inputs: bytes, output: bytes) -> bytes:
    """A serialized ``tf.train.Example`` with bytes features ``inputs`` and ``output``.

    Encoded by hand because protobuf leaves the order of map entries open
    (the original shards hold both orders): this fixes it to ``inputs`` first,
    so that the same arrays always give the same bytes.
    """
    def entry(key: bytes, value: bytes) -> bytes:  # Features.feature map entry -> BytesList
        return _field(1, _field(1, key) + _field(2, _field(1, _field(1, value))))

    return _field(1, entry(b"inputs", inputs) + entry(b"output", output))


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field: tag, length, payload."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
