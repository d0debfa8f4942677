"""`pgdl zoo info`: what a zoo holds and how its generalization gaps are spread.

Per task: the hyperparameter grid, the number of models (and whether the grid
is complete), the distribution of the gap ``train_acc - test_acc`` over all
models and per value of each hyperparameter (min / median / max), each
hyperparameter's *effect* on the gap, and, for zoos this builder wrote, how
training stopped, with a warning for every model that did not reach the loss
threshold (stopped at the epoch cap, or diverged).

The effect of hyperparameter ``k`` is the mean ``|g_i - g_j|`` over the pairs
of models that differ in ``k`` only: how much the gap moves when ``k`` alone
changes. Where a task has a *replicate* (the same grid trained with other
seeds: ``replicate_of`` in its ``zoo_task.json``, see `model_zoo.spec`), the
seed-to-seed spread is the same statistic over the pairs of twins (same
configuration, other seed), and the agreement of the two tasks' gaps is
reported as Pearson's r and Kendall's τ. An effect is informative when it is
well above the seed-to-seed spread.

Reads only the reference side (`harness.task.Task.read_reference`); no TensorFlow.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.task import Reference, Task, find_tasks, read_json

CONVERGED = "loss_threshold"
_REPLICATE_NAME = re.compile(r"^(?P<base>.+)_seed\d+$")


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
    effects: dict[str, float] = field(default_factory=dict)
    train_acc: Spread | None = None
    unconverged: dict[str, str] = field(default_factory=dict)
    replicate: SeedAgreement | None = None

    @property
    def complete(self) -> bool:
        return self.n_models == self.grid_size


@dataclass(frozen=True)
class SeedAgreement:
    """How a task's gaps agree with its replicate's (the same configurations, other seeds)."""

    other: str
    n_pairs: int
    spread: float
    pearson: float
    kendall: float


def zoo_info(root: str | Path) -> list[TaskInfo]:
    """Describe every task under ``root`` that has reference data."""
    tasks = [task for task in find_tasks(root) if task.has_reference()]
    references = {task.name: task.read_reference() for task in tasks}
    pairs = replicate_pairs(tasks)
    infos = []
    for task in tasks:
        other = pairs.get(task.name)
        agreement = seed_agreement(references[task.name], references[other], other) if other else None
        infos.append(task_info(task.name, references[task.name], agreement))
    return infos


def replicate_pairs(tasks: list[Task]) -> dict[str, str]:
    """``{task: its replicate}`` and back, for every replicate among ``tasks``.

    A replicate names its twin in ``zoo_task.json`` (``spec.replicate_of``);
    without that file, a task named ``<name>_seed<k>`` beside a task ``<name>``.
    """
    names = {task.name for task in tasks}
    pairs: dict[str, str] = {}
    for task in tasks:
        base = _replicated_task(task)
        if base in names and base != task.name:
            pairs.setdefault(base, task.name)
            pairs[task.name] = base
    return pairs


def _replicated_task(task: Task) -> str | None:
    fingerprint = task.reference_dir / "zoo_task.json" if task.reference_dir else None
    if fingerprint is not None and fingerprint.is_file():
        spec = read_json(fingerprint).get("spec", {})
        return spec.get("replicate_of") if isinstance(spec, dict) else None
    match = _REPLICATE_NAME.match(task.name)
    return match.group("base") if match else None


def task_info(name: str, reference: Reference, replicate: SeedAgreement | None = None) -> TaskInfo:
    """Describe one task from its `harness.task.Reference` (and its agreement with a replicate)."""
    records = list(reference.records.values())
    by_value = {
        hp: [(value, Spread.of([r.gap for r in records if r.hparams.get(hp) == value]))
             for value in values if any(r.hparams.get(hp) == value for r in records)]
        for hp, values in reference.grid.items()
    }
    stops = {r.id: r.extra.get("training", {}).get("stop_reason", "unknown") for r in records}
    unconverged = {model_id: reason for model_id, reason in stops.items() if reason not in (CONVERGED, "unknown")}
    return TaskInfo(name, reference.grid, len(records), math.prod(len(v) for v in reference.grid.values()),
                    Spread.of([r.gap for r in records]), Spread.of([r.test_acc for r in records]),
                    by_value, dict(sorted(Counter(stops.values()).items())), hparam_effects(reference),
                    Spread.of([r.train_acc for r in records]), unconverged, replicate)


def hparam_effects(reference: Reference) -> dict[str, float]:
    """Per hyperparameter ``k``: the mean ``|g_i - g_j|`` over pairs of models that differ in ``k`` only.

    >>> from harness.task import ModelRecord, Reference
    >>> records = {str(i): ModelRecord(str(i), {"a": a, "b": b}, 1.0, 1.0 - gap)
    ...            for i, (a, b, gap) in enumerate([(0, 0, .1), (1, 0, .3), (0, 1, .1), (1, 1, .5)])}
    >>> {k: round(v, 3) for k, v in hparam_effects(Reference(records, {"a": [0, 1], "b": [0, 1]})).items()}
    {'a': 0.3, 'b': 0.1}
    """
    effects = {}
    for k in reference.grid:
        groups: dict[tuple, list[float]] = defaultdict(list)
        for r in reference.records.values():
            groups[tuple(sorted((n, repr(v)) for n, v in r.hparams.items() if n != k))].append(r.gap)
        diffs = [abs(a - b) for gaps in groups.values() for i, a in enumerate(gaps) for b in gaps[i + 1:]]
        effects[k] = float(np.mean(diffs)) if diffs else float("nan")
    return effects


def seed_agreement(reference: Reference, replicate: Reference, other: str) -> SeedAgreement | None:
    """Twins matched by configuration: the mean ``|g - g'|`` (the seed-to-seed spread), Pearson's r
    and Kendall's τ between the two tasks' gaps; None when no configuration is shared."""
    def by_config(ref: Reference) -> dict[tuple, float]:
        return {tuple(sorted((n, repr(v)) for n, v in r.hparams.items())): r.gap for r in ref.records.values()}

    mine, theirs = by_config(reference), by_config(replicate)
    shared = sorted(set(mine) & set(theirs))
    if len(shared) < 2:
        return None
    a, b = np.array([mine[c] for c in shared]), np.array([theirs[c] for c in shared])
    return SeedAgreement(other, len(shared), float(np.mean(np.abs(a - b))),
                         float(np.corrcoef(a, b)[0, 1]), _kendall(a, b))


def _kendall(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's τ-a between two vectors (ties count 0), O(n²) memory: fine for a zoo's tasks."""
    sa, sb = np.sign(a[:, None] - a[None, :]), np.sign(b[:, None] - b[None, :])
    n = len(a)
    return float((sa * sb).sum() / (n * (n - 1)))


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
        lines += _effect_lines(info)
        if set(info.stop_reasons) != {"unknown"}:
            reasons = ", ".join(f"{k} {v}" for k, v in info.stop_reasons.items())
            lines.append(f"  training stopped by: {reasons}")
        if info.train_acc is not None:
            lines.append(f"  train accuracy (%)     min / median / max: {info.train_acc.points()}")
        if info.unconverged:
            listed = ", ".join(f"model_{m} ({reason})" for m, reason in list(info.unconverged.items())[:10])
            more = f" and {len(info.unconverged) - 10} more" if len(info.unconverged) > 10 else ""
            lines.append(f"  WARNING: {len(info.unconverged)} model(s) did not reach the loss threshold: "
                         f"{listed}{more}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _effect_lines(info: TaskInfo) -> list[str]:
    rep = info.replicate
    if rep is None:
        lines = ["  effect on the gap (mean |change| in points when only it changes; no replicate task, "
                 "so no seed-to-seed spread here):"]
    else:
        lines = [f"  seed-to-seed spread: {100 * rep.spread:.2f} points (mean |gap - gap'| over {rep.n_pairs} "
                 f"twins in {rep.other}); gaps agree with Pearson r = {rep.pearson:.3f}, "
                 f"Kendall tau = {rep.kendall:.3f}",
                 "  effect on the gap (mean |change| in points when only it changes):"]
    for hp, effect in info.effects.items():
        ratio = f"  ({effect / rep.spread:.1f}x seed spread)" if rep is not None and rep.spread > 0 else ""
        lines.append(f"    {hp:<24} {100 * effect:6.2f}{ratio}")
    return lines
