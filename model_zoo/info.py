"""`pgdl zoo info`: what a zoo holds and how its generalization gaps are spread.

Per task: the hyperparameter grid, the number of models (and whether the grid
is complete), the distribution of the gap ``train_acc - test_acc`` over all
models and per value of each hyperparameter (min / median / max), and, for
zoos this builder wrote, how training stopped. Reads only the reference side
(`harness.task.Task.read_reference`); no TensorFlow.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.task import find_tasks


@dataclass(frozen=True)
class Spread:
    """Min, median and max of a set of values (accuracy units), and their count."""

    n: int
    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        v = np.asarray(values, dtype=float)
        return cls(len(v), float(v.min()), float(np.median(v)), float(v.max()))

    def points(self) -> str:
        """``min / median / max`` in percentage points."""
        return f"{100 * self.min:6.1f} / {100 * self.median:6.1f} / {100 * self.max:6.1f}"


@dataclass(frozen=True)
class TaskInfo:
    """The description of one task (see the module docstring)."""

    name: str
    grid: dict[str, list[Any]]
    n_models: int
    grid_size: int
    gaps: Spread
    test_acc: Spread
    gaps_by_value: dict[str, list[tuple[Any, Spread]]]
    stop_reasons: dict[str, int]

    @property
    def complete(self) -> bool:
        return self.n_models == self.grid_size


def zoo_info(root: str | Path) -> list[TaskInfo]:
    """Describe every task under ``root`` that has reference data."""
    return [task_info(task.name, task.read_reference()) for task in find_tasks(root) if task.has_reference()]


def task_info(name: str, reference: Any) -> TaskInfo:
    """Describe one task from its `harness.task.Reference`."""
    records = list(reference.records.values())
    by_value = {
        hp: [(value, Spread.of([r.gap for r in records if r.hparams.get(hp) == value]))
             for value in values if any(r.hparams.get(hp) == value for r in records)]
        for hp, values in reference.grid.items()
    }
    reasons = Counter(r.extra.get("training", {}).get("stop_reason", "unknown") for r in records)
    return TaskInfo(name, reference.grid, len(records), math.prod(len(v) for v in reference.grid.values()),
                    Spread.of([r.gap for r in records]), Spread.of([r.test_acc for r in records]),
                    by_value, dict(sorted(reasons.items())))


def format_info(infos: list[TaskInfo]) -> str:
    """The text `pgdl zoo info` prints."""
    lines = []
    for info in infos:
        status = "complete grid" if info.complete else f"INCOMPLETE grid of {info.grid_size}"
        lines.append(f"task {info.name}: {info.n_models} models ({status})")
        for hp, values in info.grid.items():
            lines.append(f"  {hp:<14} {values}")
        lines.append(f"  test accuracy (%)      min / median / max: {info.test_acc.points()}")
        lines.append(f"  gap (points)           min / median / max: {info.gaps.points()}")
        for hp, spreads in info.gaps_by_value.items():
            for value, spread in spreads:
                label = f"{hp} = {value}"
                lines.append(f"    {label:<24} ({spread.n:>3} models): {spread.points()}")
        if set(info.stop_reasons) != {"unknown"}:
            reasons = ", ".join(f"{k} {v}" for k, v in info.stop_reasons.items())
            lines.append(f"  training stopped by: {reasons}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
