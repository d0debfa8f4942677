"""What a submission may see of a task, defined once (SPEC §2).

A submission sees each model folder (``model_<id>/``: ``config.json`` and
the weights) and the training split (``dataset_1/train``); never
``model_configs.json`` (the reference side: accuracies, hence the gaps), a
reference folder or a test split, whichever layout the task is in. The local
sandbox binds exactly these paths (`harness.sandbox.TaskMount`), a Ray unit
is shipped exactly these (`harness.run.ray_executor.pack_task_input`), the
official run's prediction container mounts exactly these
(`harness.report.official`), and the leaderboard's data checksum covers exactly
these (`harness.report.leaderboard.input_files`).

    >>> [p.inside for p in visible_paths(task, ["0"])]  # doctest: +SKIP
    ['model_0', 'dataset_1/train']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.task.layout import Task

TRAIN_SPLIT = "dataset_1/train"


@dataclass(frozen=True)
class VisiblePath:
    """One folder a submission may see: ``host`` on this machine, shown at ``inside`` (relative to the
    task's folder); ``model`` is the model's id for a model folder, None for the training split."""

    host: Path
    inside: str
    model: str | None = None


def visible_paths(task: Task, models: Sequence[str] | None = None) -> list[VisiblePath]:
    """The model folders of ``models`` (default: every model of ``task``), then the training split."""
    ids = task.model_ids() if models is None else list(models)
    paths = [VisiblePath(task.model_dir(m), f"model_{m}", m) for m in ids]
    return paths + [VisiblePath(task.train_dir, TRAIN_SPLIT)]
