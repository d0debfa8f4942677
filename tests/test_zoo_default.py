"""The committed default zoo (model_zoo/default): complete, varied, small, reproducible."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.task import find_tasks
from model_zoo import DEFAULT_ZOO, SPECS_DIR
from model_zoo.builder import MODEL_FILES, TASK_FINGERPRINT, prepare_task_data
from model_zoo.spec import load_spec

pytestmark = pytest.mark.skipif(not (DEFAULT_ZOO / "reference_data").is_dir(),
                                reason="the default zoo is not in this checkout")


@pytest.fixture(scope="module")
def tasks():
    return find_tasks(DEFAULT_ZOO)


def test_at_least_two_tasks_on_different_datasets_and_families(tasks) -> None:
    spec = load_spec(SPECS_DIR / "default.toml")
    assert [t.name for t in tasks] == sorted(t.name for t in spec.tasks)
    assert len({t.dataset for t in spec.tasks}) >= 2 and len({t.family for t in spec.tasks}) >= 2
    assert any(t.dataset == "fashion_mnist" and t.family == "vgg" for t in spec.tasks)


def test_each_task_is_a_complete_grid_of_32_models_over_4_hparams(tasks) -> None:
    for task in tasks:
        reference = task.read_reference()
        assert len(reference.grid) >= 4
        assert len(reference.records) == math.prod(len(v) for v in reference.grid.values()) >= 32
        points = {tuple(r.hparams[k] for k in reference.grid) for r in reference.records.values()}
        assert len(points) == len(reference.records)
        assert task.model_ids() == reference.ids
        assert all((task.model_dir(i) / f).is_file() for i in reference.ids for f in MODEL_FILES)


def test_gaps_really_vary(tasks) -> None:
    for task in tasks:
        gaps = np.array([r.gap for r in task.read_reference().records.values()])
        assert gaps.max() - gaps.min() >= 0.05, task.name
        assert len(np.unique(gaps)) >= len(gaps) // 2, task.name


def test_whole_zoo_stays_under_30_mb() -> None:
    size = sum(p.stat().st_size for p in DEFAULT_ZOO.rglob("*") if p.is_file())
    assert size <= 30 * 2**20


def test_built_from_the_committed_spec(tasks) -> None:
    import json

    spec = load_spec(SPECS_DIR / "default.toml")
    for task in tasks:
        stored = json.loads((task.reference_dir / TASK_FINGERPRINT).read_text())["spec"]
        assert stored == json.loads(json.dumps(spec.task(task.name).to_dict()))


def test_stored_accuracies_reproduce(tasks) -> None:
    """The first and last model of each task; the test side where the dataset package is installed."""
    from harness.io import evaluate_accuracy, load_model, read_split

    spec = load_spec(SPECS_DIR / "default.toml")
    for task in tasks:
        records = task.read_reference().records
        x, y = read_split(task.train_dir)
        try:
            data = prepare_task_data(spec.task(task.name))
        except HarnessError:
            data = None  # the dataset package is not installed here: check the train side only
        if data is not None:
            np.testing.assert_array_equal(data.x_train, x)
        for model_id in (task.model_ids()[0], task.model_ids()[-1]):
            record = records[model_id]
            n = record.extra["training"]["train_examples"]
            model = load_model(task, model_id)
            assert evaluate_accuracy(model, x[:n], y[:n]) == record.train_acc
            if data is not None:
                assert evaluate_accuracy(model, data.x_test, data.y_test) == record.test_acc
