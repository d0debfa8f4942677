"""A task's data (SPEC §1): ``shard_*.tfrecord`` splits read and written, and the datasets a submission gets.

* `read_split` / `write_split`: ``shard_*.tfrecord`` splits, read in natural
  name order into numpy arrays (the TFRecord protobufs are encoded by hand);
  `dataset_from_arrays` turns them into the unbatched, finite, deterministic
  ``tf.data.Dataset`` a submission receives.

`training_dataset` never touches ``model_configs.json`` or the test split.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from google.protobuf.message import DecodeError  # noqa: E402
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2  # noqa: E402

from harness.errors import HarnessError, one_line  # noqa: E402
from harness.task import Task, natural_key, read_json  # noqa: E402

SHARD_GLOB = "shard_*.tfrecord"
TRAIN_EXAMPLES = "train_examples"  # config.json: the model was trained on this many leading examples

def cast_whole_floats(value: Any) -> Any:
    """``64.0`` -> ``64``, inside lists too (configs written by float-only JSON tools)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [cast_whole_floats(v) for v in value]
    return value


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
    n = cast_whole_floats(n)
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
