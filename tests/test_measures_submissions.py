"""Every sample submission is a valid submission that runs on a tiny model."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

import numpy as np

from harness.io import build_model, dataset_from_arrays, load_model, training_dataset
from harness.submission import OFFERED, plan_call
from tests.helpers import make_tiny_task
from harness.sandbox.worker import as_value

SUBMISSIONS = sorted(p for p in (Path(__file__).resolve().parents[1] / "sample_submissions").iterdir()
                     if (p / "complexity.py").is_file())
# Small enough for a test: the measures' own defaults are sized for real zoos.
FAST = {"seed": 0, "num_examples": 32, "draws": 2, "steps": 3}


def load_complexity(folder: Path):
    spec = importlib.util.spec_from_file_location(f"sample_{folder.name}", folder / "complexity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CNN_CONFIG = {"input_shape": [8, 8, 1], "model_config": [
    {"layer_name": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
    {"layer_name": "BatchNormalization"},
    {"layer_name": "MaxPooling2D", "pool_size": 2},
    {"layer_name": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
    {"layer_name": "GlobalAveragePooling2D"},
    {"layer_name": "Dropout", "rate": 0.5},
    {"layer_name": "Dense", "units": 3}]}


@pytest.fixture(scope="module")
def tiny_mlp(tmp_path_factory):
    task = make_tiny_task(tmp_path_factory.mktemp("tiny"), grid={"depth": [2], "width": [6]},
                          n_train=60, n_classes=3).task
    return load_model(task, "0"), training_dataset(task)


@pytest.fixture(scope="module")
def tiny_cnn():
    rng = np.random.default_rng(0)
    model = build_model(CNN_CONFIG)
    model.initial_weights = [w + rng.normal(scale=0.1, size=w.shape).astype(np.float32)
                             for w in model.get_weights()]
    x = rng.normal(size=(60, 8, 8, 1)).astype(np.float32)
    return model, dataset_from_arrays(x, rng.integers(0, 3, size=60).astype(np.int32))


def test_there_are_at_least_twenty_sample_submissions():
    assert len(SUBMISSIONS) >= 20


@pytest.mark.parametrize("folder", SUBMISSIONS, ids=lambda p: p.name)
def test_sample_submission_has_metadata_and_a_documented_measure(folder):
    lines = (folder / "metadata").read_text().splitlines()
    assert any(line.startswith("description: ") and len(line) > 20 for line in lines)
    module = load_complexity(folder)
    assert "Source:" in module.__doc__ and "Cost:" in module.__doc__
    assert set(plan_call(module.complexity).extras) <= set(OFFERED)


@pytest.mark.parametrize("kind", ["tiny_mlp", "tiny_cnn"])
@pytest.mark.parametrize("folder", SUBMISSIONS, ids=lambda p: p.name)
def test_sample_submission_returns_a_finite_float_on_a_tiny_model(folder, kind, request):
    model, dataset = request.getfixturevalue(kind)
    before = [w.copy() for w in model.get_weights()]
    fn = load_complexity(folder).complexity
    accepted = inspect.signature(fn).parameters
    value = fn(model, dataset, **{k: v for k, v in FAST.items() if k in accepted})
    assert as_value(value) == (float(value), "")  # what the harness accepts: a finite number
    assert all((a == b).all() for a, b in zip(before, model.get_weights())), "weights were changed"
