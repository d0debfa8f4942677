"""harness.task.subset.covering_subset: the models of ``--limit`` (issue 14, item 5)."""

from __future__ import annotations

import itertools

import pytest

from harness.errors import ParameterError
from harness.task.subset import covering_subset
from harness.task import ModelRecord, Reference

GRID = {"width": [8, 16, 32], "depth": [1, 2], "dropout": [0.0, 0.5]}


def reference(grid=GRID) -> Reference:
    records = {str(i): ModelRecord(str(i), dict(zip(grid, values)), 1.0, 0.5)
               for i, values in enumerate(itertools.product(*grid.values()))}
    return Reference(records, {k: list(v) for k, v in grid.items()})


@pytest.mark.parametrize("seed", range(5))
def test_the_subset_covers_every_value_of_every_hyperparameter(seed):
    ref = reference()
    chosen = covering_subset(ref, 4, seed=seed)
    assert len(chosen) == 4 and len(set(chosen)) == 4
    for name, values in GRID.items():
        assert {ref.records[i].hparams[name] for i in chosen} == set(values)


def test_the_subset_is_reproducible_and_depends_on_the_seed():
    ref = reference()
    assert covering_subset(ref, 5, seed=1) == covering_subset(ref, 5, seed=1)
    assert len({tuple(covering_subset(ref, 5, seed=s)) for s in range(10)}) > 1


def test_a_limit_too_small_to_cover_the_values_names_the_parameter():
    with pytest.raises(ParameterError, match=r"^limit must be at least 3 for this task .*Received: limit=2$") as info:
        covering_subset(reference(), 2)
    assert info.value.shown_as("--limit").endswith("Received: --limit 2")


def test_a_limit_at_least_the_task_size_takes_every_model():
    ref = reference()
    assert covering_subset(ref, 100) == [str(i) for i in range(12)]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_a_limit_that_is_not_a_positive_whole_number_is_refused(bad):
    with pytest.raises(ParameterError, match=r"^limit must be a positive whole number"):
        covering_subset(reference(), bad)
