"""Acceptance on the original starting kit's toy task (SPEC §1, §7; issue 2).

Reloaded with the right weights and data order, each of the 18 models
reproduces the train and test accuracies stored in ``model_configs.json``
exactly. Skipped where the sample data is absent.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness import io as loading
from harness.task import find_tasks


@pytest.fixture(scope="module")
def toy_task(toy_data):
    (task,) = find_tasks(toy_data)
    return task


@pytest.fixture(scope="module")
def toy_splits(toy_task):
    return loading.read_split(toy_task.train_dir), loading.read_split(toy_task.test_dir)


def test_toy_splits_decode_to_the_documented_shapes(toy_splits):
    (x_train, y_train), (x_test, y_test) = toy_splits
    assert x_train.shape == (200, 3) and x_train.dtype == np.float32
    assert x_test.shape == (100, 3) and y_test.dtype == np.int32
    assert set(np.unique(y_train)) == {0, 1}


def test_every_toy_model_reproduces_its_stored_accuracies_exactly(toy_task, toy_splits):
    (x_train, y_train), (x_test, y_test) = toy_splits
    records = toy_task.read_reference().records
    assert toy_task.model_ids() == [str(i) for i in range(18)]
    reproduced = {}
    for model_id in toy_task.model_ids():
        model = loading.load_model(toy_task, model_id)
        reproduced[model_id] = (loading.evaluate_accuracy(model, x_train, y_train),
                                loading.evaluate_accuracy(model, x_test, y_test))
    assert reproduced == {i: (r.train_acc, r.test_acc) for i, r in records.items()}


def test_toy_models_reproduce_their_accuracies_under_tf_keras_too(toy_task, toy_splits):
    tf_keras = pytest.importorskip("tf_keras", reason="tf_keras (the `compat` extra) is not installed")
    (x_train, y_train), (x_test, y_test) = toy_splits
    records = toy_task.read_reference().records
    for model_id in toy_task.model_ids():
        model = loading.load_model(toy_task, model_id, keras_module=tf_keras)
        assert (loading.evaluate_accuracy(model, x_train, y_train),
                loading.evaluate_accuracy(model, x_test, y_test)) == (records[model_id].train_acc,
                                                                      records[model_id].test_acc)


def test_toy_models_carry_their_initial_weights(toy_task):
    model = loading.load_model(toy_task, "5")
    assert len(model.initial_weights) == len(model.get_weights()) == 8
    assert [w.shape for w in model.initial_weights] == [w.shape for w in model.get_weights()]
    assert not np.array_equal(model.initial_weights[0], model.get_weights()[0])


def test_our_hdf5_reader_agrees_with_keras_own_loader_on_the_original_files(toy_task):
    model_dir = toy_task.model_dir("17")
    config = json.loads((model_dir / "config.json").read_text())
    ours, theirs = loading.build_model(config), loading.build_model(config)
    loading.load_weights_hdf5(ours, model_dir / "weights.hdf5")
    theirs.load_weights(model_dir / "weights.hdf5")
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_rewriting_a_toy_model_keeps_its_accuracy(toy_task, toy_splits, tmp_path):
    (x_train, y_train), _ = toy_splits
    model = loading.load_model(toy_task, "11")
    loading.save_weights_hdf5(model, tmp_path / "weights.hdf5")
    config = json.loads((toy_task.model_dir("11") / "config.json").read_text())
    reloaded = loading.build_model(config)
    loading.load_weights_hdf5(reloaded, tmp_path / "weights.hdf5")
    assert (loading.evaluate_accuracy(reloaded, x_train, y_train)
            == toy_task.read_reference().records["11"].train_acc)


def test_rewriting_the_toy_shards_gives_the_same_examples(toy_task, toy_splits, tmp_path):
    import tensorflow as tf

    (x_train, y_train), _ = toy_splits
    loading.write_split(tmp_path, x_train, y_train, n_shards=3)  # the original's 67/67/66 records
    for ours, original in zip(loading.list_shards(tmp_path), loading.list_shards(toy_task.train_dir), strict=True):
        parse = tf.train.Example.FromString
        assert ([parse(r.numpy()) for r in tf.data.TFRecordDataset(str(ours))]
                == [parse(r.numpy()) for r in tf.data.TFRecordDataset(str(original))])


def test_training_dataset_of_the_toy_task_has_its_200_examples_in_shard_order(toy_task, toy_splits):
    (x_train, y_train), _ = toy_splits
    served = list(loading.training_dataset(toy_task).as_numpy_iterator())
    assert len(served) == 200
    np.testing.assert_array_equal(served[0][0], x_train[0])
    assert [int(b) for _, b in served] == y_train.tolist()
