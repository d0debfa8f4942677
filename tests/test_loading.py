"""Model and data loading (harness.io, harness.io.hdf5): SPEC §1 and §2."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from harness import io as loading
from harness.io import data as tfrecord
from harness.errors import HarnessError
from harness.io.hdf5 import LayerWeights, read_weights_hdf5, write_weights_hdf5
from harness.task import Task, find_tasks
from tests.helpers import make_tiny_task

MLP = {"model_config": [{"layer_name": "Dense", "units": 5, "activation": "relu"},
                        {"layer_name": "Dense", "units": 2}],
       "input_shape": [3]}

# Every layer class the real competition tasks use (SPEC §1), in one stack.
CNN = {"model_config": [
    {"layer_name": "Conv2D", "filters": 4.0, "kernel_size": [3.0, 3.0], "padding": "same"},
    {"layer_name": "BatchNormalization"},
    {"layer_name": "Activation", "activation": "relu"},
    {"layer_name": "MaxPooling2D", "pool_size": 2.0},
    {"layer_name": "Conv2D", "filters": 6, "kernel_size": 3, "padding": "same"},
    {"layer_name": "AveragePooling2D", "pool_size": 2},
    {"layer_name": "GlobalAveragePooling2D"},
    {"layer_name": "Dropout", "rate": 0.5},
    {"layer_name": "Flatten"},
    {"layer_name": "Dense", "units": 10.0},
], "input_shape": [8.0, 8.0, 1.0]}


def _one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def _random_weights(model: keras.Model, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()]


def _write_model_dir(model_dir: Path, config: dict, seed: int, *, with_init: bool) -> keras.Model:
    model_dir.mkdir(parents=True)
    (model_dir / "config.json").write_text(json.dumps(config))
    model = loading.build_model(config)
    if with_init:
        model.set_weights(_random_weights(model, seed + 1))
        loading.save_weights_hdf5(model, model_dir / "weights_init.hdf5")
    model.set_weights(_random_weights(model, seed))
    loading.save_weights_hdf5(model, model_dir / "weights.hdf5")
    return model


# --- build_model ---------------------------------------------------------------


def test_build_model_stacks_the_configured_layers_after_an_input():
    model = loading.build_model(MLP)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert [layer.units for layer in model.layers] == [5, 2]
    assert model.layers[0].activation is keras.activations.relu
    assert model.layers[1].activation is keras.activations.linear  # logits
    assert tuple(model.inputs[0].shape) == (None, 3)
    assert model(np.zeros((4, 3), np.float32)).shape == (4, 2)


def test_build_model_casts_whole_number_floats_and_builds_every_competition_layer():
    model = loading.build_model(CNN)
    conv = model.layers[0]
    assert conv.filters == 4 and isinstance(conv.filters, int)
    assert tuple(conv.kernel_size) == (3, 3)
    assert model.layers[3].pool_size == (2, 2)
    assert tuple(model.inputs[0].shape) == (None, 8, 8, 1)
    assert model(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 10)


def test_build_model_rejects_an_unknown_layer_in_one_line_naming_file_and_layer():
    config = {"model_config": [{"layer_name": "Densely", "units": 2}], "input_shape": [3]}
    with pytest.raises(HarnessError) as excinfo:
        loading.build_model(config, source="task/model_7/config.json")
    message = _one_line_error(excinfo)
    assert "task/model_7/config.json" in message and "'Densely'" in message


def test_build_model_rejects_names_in_keras_layers_that_are_not_layer_classes():
    config = {"model_config": [{"layer_name": "Input", "shape": [3]}], "input_shape": [3]}
    with pytest.raises(HarnessError, match="unknown layer 'Input'"):
        loading.build_model(config)


def test_build_model_reports_invalid_layer_arguments_in_one_line():
    config = {"model_config": [{"layer_name": "Dense", "unit": 2}], "input_shape": [3]}
    with pytest.raises(HarnessError) as excinfo:
        loading.build_model(config, source="config.json")
    assert "layer 0 (Dense): invalid arguments" in _one_line_error(excinfo)


@pytest.mark.parametrize("config", [{"input_shape": [3]},
                                    {"model_config": MLP["model_config"], "input_shape": []},
                                    {"model_config": MLP["model_config"], "input_shape": [2.5]}])
def test_build_model_rejects_a_malformed_config(config):
    with pytest.raises(HarnessError) as excinfo:
        loading.build_model(config, source="config.json")
    assert _one_line_error(excinfo).startswith("config.json: ")


# --- the starting kit's hooks ------------------------------------------------------


def test_tape_argument_makes_the_model_watch_its_input():
    model = loading.build_model(MLP)
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 3)), tf.float32)
    with tf.GradientTape() as unwatched:
        unwatched_out = model(x)
    assert unwatched.gradient(unwatched_out, x) is None
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(model(x, tape=tape))
    gradient = tape.gradient(out, x)
    assert gradient is not None and gradient.shape == (4, 3)
    assert np.any(np.asarray(gradient) != 0)


def test_every_layer_records_the_input_it_last_saw():
    model = loading.build_model(MLP)
    assert [layer._last_seen_input for layer in model.layers] == [None, None]
    x = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    model(x)
    first, second = model.layers
    np.testing.assert_array_equal(first._last_seen_input, x)
    np.testing.assert_allclose(second._last_seen_input, first(x), rtol=1e-6)
    second(np.ones((2, 5), np.float32))  # a direct layer call records too
    np.testing.assert_array_equal(second._last_seen_input, np.ones((2, 5)))


def test_last_seen_input_is_readable_inside_tf_function():
    model = loading.build_model(MLP)

    @tf.function
    def logits_and_penultimate(x):
        return model(x), model.layers[-1]._last_seen_input

    x = np.random.default_rng(2).normal(size=(3, 3)).astype(np.float32)
    _, penultimate = logits_and_penultimate(x)
    np.testing.assert_allclose(penultimate, model.layers[0](x), rtol=1e-6)


# Keras 3 warns that a bare tensor is not the one-element list `model.inputs` is; the
# original submissions call their sub-models that way, so the call stays as they wrote it.
@pytest.mark.filterwarnings("ignore:The structure of `inputs` doesn't match")
def test_functional_submodel_of_all_layer_outputs_works():
    model = loading.build_model(CNN)
    submodel = keras.Model(model.inputs, [layer.output for layer in model.layers])
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 1)).astype(np.float32)
    outputs = submodel(x)
    assert len(outputs) == len(model.layers) == 10
    assert outputs[0].shape == (2, 8, 8, 4)
    np.testing.assert_allclose(outputs[-1], model(x), rtol=1e-5)


def test_built_model_has_no_initial_weights():
    assert loading.build_model(MLP).initial_weights is None


def test_build_model_without_initializing_makes_zero_weights_and_keeps_the_layer_config():
    fresh, zeroed = loading.build_model(CNN), loading.build_model(CNN, initialize=False)
    assert all(not np.any(w) for w in zeroed.get_weights())
    assert [w.shape for w in zeroed.get_weights()] == [w.shape for w in fresh.get_weights()]
    assert [layer.get_config() | {"name": ""} for layer in zeroed.layers] == \
        [layer.get_config() | {"name": ""} for layer in fresh.layers]


def test_build_model_without_initializing_leaves_add_weight_as_keras_defines_it():
    model = loading.build_model(MLP, initialize=False)
    assert all(layer.add_weight.__func__ is keras.layers.Layer.add_weight for layer in model.layers)


# --- load_model --------------------------------------------------------------------


def test_load_model_loads_trained_weights_and_initial_weights_in_get_weights_order(tmp_path):
    trained = _write_model_dir(tmp_path / "task" / "model_3", CNN, seed=10, with_init=True)
    init = loading.build_model(CNN)
    init.set_weights(_random_weights(init, 11))
    model = loading.load_model(Task("task", tmp_path / "task", None), "3")
    for loaded, expected in zip(model.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded, expected)
    assert len(model.initial_weights) == len(init.get_weights()) == 10  # BN: 2 trainable + 2 moving
    for loaded, expected in zip(model.initial_weights, init.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded, expected)


def test_load_model_initial_weights_are_private_copies(tmp_path):
    _write_model_dir(tmp_path / "t" / "model_0", MLP, seed=0, with_init=True)
    model = loading.load_model(Task("t", tmp_path / "t", None), "0")
    before = [w.copy() for w in model.initial_weights]
    model.initial_weights[0] += 1.0
    model.set_weights([w * 0 for w in model.get_weights()])
    np.testing.assert_array_equal(model.initial_weights[1], before[1])
    np.testing.assert_array_equal(model.initial_weights[0], before[0] + 1.0)


def test_load_model_without_weights_init_has_initial_weights_none(tmp_path):
    _write_model_dir(tmp_path / "t" / "model_0", MLP, seed=0, with_init=False)
    assert loading.load_model(Task("t", tmp_path / "t", None), "0").initial_weights is None


def test_load_model_names_a_missing_model_folder(tmp_path):
    with pytest.raises(HarnessError, match="model_9: model folder not found"):
        loading.load_model(Task("t", tmp_path, None), "9")


def test_load_model_names_malformed_config_json(tmp_path):
    _write_model_dir(tmp_path / "t" / "model_0", MLP, seed=0, with_init=False)
    (tmp_path / "t" / "model_0" / "config.json").write_text("{not json")
    with pytest.raises(HarnessError) as excinfo:
        loading.load_model(Task("t", tmp_path / "t", None), "0")
    assert "model_0/config.json: malformed JSON" in _one_line_error(excinfo)


# --- Keras 2 HDF5 weights ------------------------------------------------------------


def test_saved_weights_round_trip_through_our_reader(tmp_path):
    model = loading.build_model(CNN)
    model.set_weights(_random_weights(model, 4))
    loading.save_weights_hdf5(model, tmp_path / "w.hdf5")
    fresh = loading.build_model(CNN)
    loading.load_weights_hdf5(fresh, tmp_path / "w.hdf5")
    for loaded, saved in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded, saved)


def test_saved_weights_use_the_keras2_layout(tmp_path):
    model = loading.build_model(CNN)
    loading.save_weights_hdf5(model, tmp_path / "w.hdf5")
    names = [layer.name for layer in model.layers]
    with h5py.File(tmp_path / "w.hdf5", "r") as f:
        assert [n.decode() for n in f.attrs["layer_names"]] == names  # weightless layers too
        assert f.attrs["backend"] == "tensorflow"
        assert f.attrs["keras_version"] == keras.__version__
        bn = names[1]
        assert [n.decode() for n in f[bn].attrs["weight_names"]] == [
            f"{bn}/gamma:0", f"{bn}/beta:0", f"{bn}/moving_mean:0", f"{bn}/moving_variance:0"]
        assert len(f[names[7]].attrs["weight_names"]) == 0  # Dropout
        assert f[names[0]][f"{names[0]}/kernel:0"].shape == (3, 3, 1, 4)


def test_saved_weights_read_back_with_keras_own_legacy_loader(tmp_path):
    model = loading.build_model(CNN)
    model.set_weights(_random_weights(model, 5))
    loading.save_weights_hdf5(model, tmp_path / "w.hdf5")
    fresh = loading.build_model(CNN)
    fresh.load_weights(tmp_path / "w.hdf5")
    for loaded, saved in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded, saved)


def test_truncated_hdf5_is_one_line_naming_the_file(tmp_path):
    model = loading.build_model(MLP)
    loading.save_weights_hdf5(model, tmp_path / "full.hdf5")
    data = (tmp_path / "full.hdf5").read_bytes()
    (tmp_path / "weights.hdf5").write_bytes(data[: len(data) // 2])
    with pytest.raises(HarnessError) as excinfo:
        loading.load_weights_hdf5(loading.build_model(MLP), tmp_path / "weights.hdf5")
    assert _one_line_error(excinfo).startswith(f"{tmp_path / 'weights.hdf5'}: ")


def test_a_file_that_is_not_hdf5_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "weights.hdf5").write_text("hello")
    with pytest.raises(HarnessError) as excinfo:
        read_weights_hdf5(tmp_path / "weights.hdf5")
    assert "weights.hdf5: unreadable HDF5 weights file" in _one_line_error(excinfo)


def test_hdf5_without_layer_names_is_rejected(tmp_path):
    with h5py.File(tmp_path / "w.hdf5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(HarnessError, match="no 'layer_names' attribute"):
        read_weights_hdf5(tmp_path / "w.hdf5")


def test_weights_for_another_architecture_are_rejected_before_assigning(tmp_path):
    wide = dict(MLP, model_config=[{"layer_name": "Dense", "units": 6}, {"layer_name": "Dense", "units": 2}])
    loading.save_weights_hdf5(loading.build_model(wide), tmp_path / "w.hdf5")
    model = loading.build_model(MLP)
    before = model.get_weights()
    with pytest.raises(HarnessError, match=r"has shape \(3, 6\), model layer .* expects \(3, 5\)"):
        loading.load_weights_hdf5(model, tmp_path / "w.hdf5")
    for now, then in zip(model.get_weights(), before):
        np.testing.assert_array_equal(now, then)


def test_weights_with_a_different_number_of_layers_are_rejected(tmp_path):
    loading.save_weights_hdf5(loading.build_model(MLP), tmp_path / "w.hdf5")
    with pytest.raises(HarnessError, match="holds weights for 2 layers, the model has 4 layers with weights"):
        loading.load_weights_hdf5(loading.build_model(CNN), tmp_path / "w.hdf5")


def test_name_lists_too_long_for_one_attribute_are_chunked_like_keras2(tmp_path):
    layers = [LayerWeights(f"layer_{i:04d}_" + "x" * 240, [], []) for i in range(300)]  # ~75 kB of names
    write_weights_hdf5(tmp_path / "w.hdf5", layers, keras_version="test")
    with h5py.File(tmp_path / "w.hdf5", "r") as f:
        assert "layer_names" not in f.attrs and "layer_names0" in f.attrs and "layer_names1" in f.attrs
    assert [entry.name for entry in read_weights_hdf5(tmp_path / "w.hdf5")] == [l.name for l in layers]


# --- TFRecord splits --------------------------------------------------------------------


def test_write_then_read_split_returns_the_same_arrays(tmp_path):
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(25, 4, 4, 3)).astype(np.float32), rng.integers(0, 10, 25).astype(np.int32)
    paths = loading.write_split(tmp_path / "train", x, y, n_shards=3)
    assert [p.name for p in paths] == ["shard_0.tfrecord", "shard_1.tfrecord", "shard_2.tfrecord"]
    x_read, y_read = loading.read_split(tmp_path / "train")
    assert x_read.dtype == np.float32 and y_read.dtype == np.int32
    np.testing.assert_array_equal(x_read, x)
    np.testing.assert_array_equal(y_read, y)


def test_shards_are_read_in_natural_name_order(tmp_path):
    labels = np.arange(11, dtype=np.int32)  # one record per shard: shard_i holds label i
    loading.write_split(tmp_path / "s", labels[:, None].astype(np.float32), labels, n_shards=11)
    _, y = loading.read_split(tmp_path / "s")
    assert y.tolist() == list(range(11))  # lexicographic order would give 0, 1, 10, 2, ...


def test_written_records_are_those_of_tf_io_serialize_tensor():
    x, label = np.array([0.5, -1.25, 3.0], np.float32), np.int32(7)
    record = tfrecord._example(tfrecord._tensor_bytes(tfrecord._tensor_header(1, (3,)), x),
                              tfrecord._tensor_bytes(tfrecord._tensor_header(3, ()), np.asarray(label)))
    expected = tf.train.Example(features=tf.train.Features(feature={
        "inputs": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(x).numpy()])),
        "output": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(label).numpy()])),
    }))
    assert tf.train.Example.FromString(record) == expected


def test_write_split_replaces_older_shards(tmp_path):
    x, y = np.zeros((6, 2), np.float32), np.arange(6, dtype=np.int32)
    loading.write_split(tmp_path / "s", x, y, n_shards=6)
    loading.write_split(tmp_path / "s", x[:2], y[:2], n_shards=1)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["shard_0.tfrecord"]
    assert loading.read_split(tmp_path / "s")[1].tolist() == [0, 1]


def test_missing_split_folder_is_an_error(tmp_path):
    with pytest.raises(HarnessError, match="split folder not found"):
        loading.read_split(tmp_path / "nope")


def test_split_without_shards_is_an_error(tmp_path):
    with pytest.raises(HarnessError, match=r"no shard_\*\.tfrecord files"):
        loading.read_split(tmp_path)


def test_split_of_empty_shards_is_an_error(tmp_path):
    with tf.io.TFRecordWriter(str(tmp_path / "shard_0.tfrecord")):
        pass
    with pytest.raises(HarnessError, match="holds no records"):
        loading.read_split(tmp_path)


def test_corrupt_shard_is_one_line_naming_the_shard(tmp_path):
    loading.write_split(tmp_path, np.ones((20, 3), np.float32), np.zeros(20, np.int32), n_shards=2)
    shard = tmp_path / "shard_1.tfrecord"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(HarnessError) as excinfo:
        loading.read_split(tmp_path)
    assert _one_line_error(excinfo).startswith(f"{shard}: corrupt or malformed record")


def test_record_of_the_wrong_dtype_is_an_error(tmp_path):
    _write_records(tmp_path / "shard_0.tfrecord", [
        (tf.io.serialize_tensor(np.zeros(3, np.float64)).numpy(), tf.io.serialize_tensor(np.int32(0)).numpy()),
    ])
    with pytest.raises(HarnessError) as excinfo:
        loading.read_split(tmp_path)
    assert _one_line_error(excinfo).endswith("shard_0.tfrecord: corrupt or malformed record "
                                             "('inputs' is float64, expected float32)")


def test_record_without_the_output_feature_is_an_error(tmp_path):
    example = tf.train.Example(features=tf.train.Features(feature={
        "inputs": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[tf.io.serialize_tensor(np.zeros(3, np.float32)).numpy()]))}))
    with tf.io.TFRecordWriter(str(tmp_path / "shard_0.tfrecord")) as writer:
        writer.write(example.SerializeToString())
    with pytest.raises(HarnessError, match="shard_0.tfrecord: corrupt or malformed record"):
        loading.read_split(tmp_path)


def _write_records(shard: Path, records: list[tuple[bytes, bytes]]) -> None:
    with tf.io.TFRecordWriter(str(shard)) as writer:
        for inputs, output in records:
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "inputs": tf.train.Feature(bytes_list=tf.train.BytesList(value=[inputs])),
                "output": tf.train.Feature(bytes_list=tf.train.BytesList(value=[output])),
            })).SerializeToString())


def test_tensors_encoded_without_tensor_content_are_decoded_too(tmp_path):
    # A valid TensorProto may hold its values in float_val/int_val instead of tensor_content.
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2)])
    by_value = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape, float_val=[1.5, -2.0])
    label = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                                   int_val=[4])
    _write_records(tmp_path / "shard_0.tfrecord", [
        (by_value.SerializeToString(), label.SerializeToString()),
        (tf.io.serialize_tensor(np.array([3.0, 4.0], np.float32)).numpy(),
         tf.io.serialize_tensor(np.int32(1)).numpy()),
    ])
    x, y = loading.read_split(tmp_path)
    assert x.tolist() == [[1.5, -2.0], [3.0, 4.0]] and y.tolist() == [4, 1]


def test_records_of_different_input_shapes_are_an_error(tmp_path):
    label = tf.io.serialize_tensor(np.int32(0)).numpy()
    _write_records(tmp_path / "shard_0.tfrecord", [
        (tf.io.serialize_tensor(np.zeros(2, np.float32)).numpy(), label),
        (tf.io.serialize_tensor(np.zeros(3, np.float32)).numpy(), label),
    ])
    with pytest.raises(HarnessError, match="shard_0.tfrecord: records have inputs of different shapes"):
        loading.read_split(tmp_path)


def test_a_label_that_is_not_an_int32_scalar_is_an_error(tmp_path):
    _write_records(tmp_path / "shard_0.tfrecord", [
        (tf.io.serialize_tensor(np.zeros(2, np.float32)).numpy(),
         tf.io.serialize_tensor(np.zeros(2, np.int32)).numpy()),
    ])
    with pytest.raises(HarnessError, match=r"'output' must have shape \(\)"):
        loading.read_split(tmp_path)


def test_dataset_from_arrays_is_unbatched_finite_and_deterministic():
    x, y = np.arange(12, dtype=np.float64).reshape(6, 2), np.array([1, 0, 1, 1, 0, 0])
    dataset = loading.dataset_from_arrays(x, y)
    assert dataset.element_spec == (tf.TensorSpec((2,), tf.float32), tf.TensorSpec((), tf.int32))
    assert int(dataset.cardinality()) == 6
    first = [(a.tolist(), int(b)) for a, b in dataset.as_numpy_iterator()]
    second = [(a.tolist(), int(b)) for a, b in dataset.as_numpy_iterator()]
    assert first == second == [([2.0 * i, 2.0 * i + 1], int(y[i])) for i in range(6)]


def test_training_dataset_serves_the_train_split(tiny_split_task):
    task = tiny_split_task.task
    x, y = loading.read_split(task.train_dir)
    served = list(loading.training_dataset(task).as_numpy_iterator())
    assert len(served) == len(x) == 40
    np.testing.assert_array_equal(np.stack([a for a, _ in served]), x)
    np.testing.assert_array_equal(np.array([b for _, b in served]), y)


def test_test_dataset_needs_the_combined_layout(tiny_split_task, tiny_combined_task):
    with pytest.raises(HarnessError, match="only the combined layout ships a test split"):
        loading.test_dataset(tiny_split_task.task)
    assert int(loading.test_dataset(tiny_combined_task.task).cardinality()) == 20


# --- accuracy ------------------------------------------------------------------------------


def test_evaluate_accuracy_is_the_mean_of_argmax_equals_label():
    identity = loading.build_model({"model_config": [{"layer_name": "Dense", "units": 2, "use_bias": False}],
                                    "input_shape": [2]})
    identity.set_weights([np.eye(2, dtype=np.float32)])  # logits = inputs
    x = np.array([[1, 0], [0, 1], [2, 1], [0, 3], [5, 4]], np.float32)  # argmax 0, 1, 0, 1, 0
    y = np.array([0, 1, 1, 1, 1], np.int32)
    assert loading.evaluate_accuracy(identity, x, y, batch_size=2) == 3 / 5


# --- tiny tasks (helpers) --------------------------------------------------------------


def test_tiny_split_task_is_found_with_a_complete_grid(tiny_split_task):
    (task,) = find_tasks(tiny_split_task.root)
    assert task == tiny_split_task.task and not task.combined
    reference = task.read_reference()
    assert reference.grid == {"depth": [1, 2], "width": [4, 8]}
    assert {tuple(r.hparams.values()) for r in reference.records.values()} == {(1, 4), (1, 8), (2, 4), (2, 8)}
    assert task.model_ids() == ["0", "1", "2", "3"]
    assert not (task.input_dir / "dataset_1" / "test").exists()


def test_tiny_task_models_reproduce_their_stored_accuracies(tiny_combined_task):
    task = tiny_combined_task.task
    reference = task.read_reference()
    x_train, y_train = loading.read_split(task.train_dir)
    x_test, y_test = loading.read_split(task.test_dir)
    for model_id in task.model_ids():
        model = loading.load_model(task, model_id)
        assert model.initial_weights is not None
        record = reference.records[model_id]
        assert loading.evaluate_accuracy(model, x_train, y_train) == record.train_acc
        assert loading.evaluate_accuracy(model, x_test, y_test) == record.test_acc


def test_make_tiny_task_sizes_the_grid_from_n_models(tmp_path):
    tiny = make_tiny_task(tmp_path, layout="combined", n_models=6, n_train=8, n_test=4)
    assert tiny.grid == {"depth": [1, 2], "width": [4, 8, 12]}
    assert len(tiny.task.model_ids()) == 6
    with pytest.raises(ValueError, match="even"):
        make_tiny_task(tmp_path / "odd", n_models=5)


# --- Keras 2 compatibility mode --------------------------------------------------------------------


def test_tf_keras_initial_weights_follow_get_weights_order(tmp_path):
    tf_keras = pytest.importorskip("tf_keras", reason="tf_keras (the `compat` extra) is not installed")
    _write_model_dir(tmp_path / "t" / "model_0", CNN, seed=3, with_init=True)
    model = loading.load_model(Task("t", tmp_path / "t", None), "0", keras_module=tf_keras)
    loading.load_weights_hdf5(model, tmp_path / "t" / "model_0" / "weights_init.hdf5")
    assert len(model.initial_weights) == 10  # BN: 2 trainable + 2 moving
    for loaded, expected in zip(model.initial_weights, model.get_weights(), strict=True):
        assert loaded.dtype == expected.dtype
        np.testing.assert_array_equal(loaded, expected)


def test_tf_keras_models_load_and_honour_the_hooks(tmp_path):
    tf_keras = pytest.importorskip("tf_keras", reason="tf_keras (the `compat` extra) is not installed")
    trained = _write_model_dir(tmp_path / "t" / "model_0", MLP, seed=8, with_init=True)
    model = loading.load_model(Task("t", tmp_path / "t", None), "0", keras_module=tf_keras)
    assert isinstance(model, tf_keras.Model)
    for loaded, expected in zip(model.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded, expected)
    assert len(model.initial_weights) == 4
    x = tf.constant(np.ones((2, 3), np.float32))
    with tf.GradientTape() as tape:
        out = model(x, tape=tape)
    assert tape.gradient(out, x) is not None
    np.testing.assert_array_equal(model.layers[0]._last_seen_input, x)
    submodel = tf_keras.Model(model.inputs, [layer.output for layer in model.layers])
    np.testing.assert_allclose(submodel(x)[-1], out, rtol=1e-6)
    loading.save_weights_hdf5(model, tmp_path / "w.hdf5")
    with h5py.File(tmp_path / "w.hdf5", "r") as f:
        assert f.attrs["keras_version"] == tf_keras.__version__
        first = model.layers[0].name
        assert [n.decode() for n in f[first].attrs["weight_names"]] == [f"{first}/kernel:0", f"{first}/bias:0"]


# --- train_examples: a model is served exactly what it was trained on -----------


def _set_train_examples(task: Task, model_id: str, value) -> None:
    path = task.model_dir(model_id) / "config.json"
    config = json.loads(path.read_text())
    config["train_examples"] = value
    path.write_text(json.dumps(config))


def _served(dataset: tf.data.Dataset) -> np.ndarray:
    return np.stack([x for x, _ in dataset.as_numpy_iterator()])


def test_training_dataset_serves_the_first_train_examples_of_the_split(tmp_path):
    task = make_tiny_task(tmp_path, n_train=30).task
    _set_train_examples(task, "1", 12)
    x, _ = loading.read_split(task.train_dir)
    assert np.array_equal(_served(loading.training_dataset(task, "1")), x[:12])
    assert np.array_equal(_served(loading.training_dataset(task, "0")), x)
    assert np.array_equal(_served(loading.training_dataset(task)), x)


def test_train_examples_larger_than_the_split_is_refused_naming_the_model(tmp_path):
    task = make_tiny_task(tmp_path, n_train=30).task
    _set_train_examples(task, "0", 31)
    with pytest.raises(HarnessError, match=r"model_0: train_examples = 31 exceeds the 30 examples"):
        loading.training_dataset(task, "0")


@pytest.mark.parametrize("value", [0, -3, 2.5, "10", True])
def test_train_examples_must_be_a_positive_integer(tmp_path, value):
    task = make_tiny_task(tmp_path).task
    _set_train_examples(task, "0", value)
    with pytest.raises(HarnessError, match="'train_examples' must be a positive integer"):
        loading.train_examples(task, "0")
