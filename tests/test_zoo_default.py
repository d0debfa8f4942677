"""The committed default zoo (model_zoo/default): big enough to rank, trained to the protocol,
each model served its own training data, small, reproducible.

These tests read reference files and a few models only (the zoo has about a thousand)."""

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


def test_three_tasks_on_two_datasets_and_three_families_and_a_seed_replicate(tasks) -> None:
    spec = load_spec(SPECS_DIR / "default.toml")
    assert sorted(t.name for t in tasks) == sorted(t.name for t in spec.tasks)
    base = [t for t in spec.tasks if t.replicate_of is None]
    assert len(base) >= 3
    assert len({t.dataset for t in base}) >= 2 and len({t.family for t in base}) >= 3
    replicates = [t for t in spec.tasks if t.replicate_of is not None]
    assert [t.name for t in replicates] == [f"{t.replicate_of}_seed1" for t in replicates] != []
    for twin in replicates:
        assert twin.grid == spec.task(twin.replicate_of).grid and twin.seed != spec.task(twin.replicate_of).seed


def test_each_task_is_a_complete_grid_of_at_least_243_models_over_4_hparams(tasks) -> None:
    for task in tasks:
        reference = task.read_reference()
        assert len(reference.grid) >= 4
        assert len(reference.records) == math.prod(len(v) for v in reference.grid.values()) >= 243
        points = {tuple(r.hparams[k] for k in reference.grid) for r in reference.records.values()}
        assert len(points) == len(reference.records)
        assert task.model_ids() == reference.ids
        assert all((task.model_dir(i) / f).is_file() for i in reference.ids for f in MODEL_FILES)


def test_every_model_reached_the_loss_threshold_with_99_percent_train_accuracy(tasks) -> None:
    for task in tasks:
        for model_id, record in task.read_reference().records.items():
            assert record.extra["training"]["stop_reason"] == "loss_threshold", (task.name, model_id)
            assert record.train_acc >= 0.99, (task.name, model_id, record.train_acc)


def test_each_model_declares_the_examples_it_was_trained_on(tasks) -> None:
    from harness.io import train_examples

    for task in tasks:
        for model_id, record in task.read_reference().records.items():
            n = record.extra["training"]["train_examples"]
            assert n == record.hparams.get("train_size", n)
            assert train_examples(task, model_id) == (n if "train_size" in record.hparams else None)


def test_gaps_really_vary(tasks) -> None:
    for task in tasks:
        gaps = np.array([r.gap for r in task.read_reference().records.values()])
        assert gaps.max() - gaps.min() >= 0.05, task.name
        assert len(np.unique(gaps)) >= len(gaps) // 2, task.name


def test_a_random_measure_scores_below_1_at_its_95th_percentile(tasks) -> None:
    from harness.scoring import Grid, official_score

    rng = np.random.default_rng(0)
    for task in tasks:
        reference = task.read_reference()
        records = list(reference.records.values())
        grid = Grid.from_hparams([r.hparams for r in records], reference.grid)
        gaps = np.array([r.gap for r in records])
        null = [official_score(rng.permutation(len(gaps)).astype(float), gaps, grid) for _ in range(100)]
        assert 100 * np.quantile(null, 0.95) <= 1.0, task.name
        assert official_score(gaps, gaps, grid) == pytest.approx(1.0)


def test_whole_zoo_stays_under_150_mb() -> None:
    size = sum(p.stat().st_size for p in DEFAULT_ZOO.rglob("*") if p.is_file())
    assert size <= 150 * 2**20


def test_built_from_the_committed_spec(tasks) -> None:
    import json

    spec = load_spec(SPECS_DIR / "default.toml")
    for task in tasks:
        stored = json.loads((task.reference_dir / TASK_FINGERPRINT).read_text())["spec"]
        assert stored == json.loads(json.dumps(spec.task(task.name).to_dict()))


def test_stored_accuracies_reproduce(tasks) -> None:
    """The first and last model of each task, on the data a submission is served; the test side
    where the dataset package is installed."""
    from harness.io import evaluate_accuracy, load_model, read_split, training_dataset

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
            model = load_model(task, model_id)
            served = list(training_dataset(task, model_id).as_numpy_iterator())  # what a submission gets
            xs, ys = np.stack([a for a, _ in served]), np.array([b for _, b in served])
            assert len(xs) == record.extra["training"]["train_examples"]
            assert evaluate_accuracy(model, xs, ys) == record.train_acc
            if data is not None:
                assert evaluate_accuracy(model, data.x_test, data.y_test) == record.test_acc
