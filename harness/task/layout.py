"""The task format of SPEC §1: finding tasks on disk and reading their reference side.

Two layouts are read:

* split: ``<root>/input_data/<task>/`` (what a submission may see) and
  ``<root>/reference_data/<task>/model_configs.json`` (what only the scorer sees);
* combined: one folder holding the model folders, ``dataset_1/{train,test}`` and
  ``model_configs.json`` (the original starting kit's sample data).

A root may be one task or hold many. This module never imports TensorFlow:
model and data loading live in `harness.io`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.task.reference import MODEL_CONFIGS, Reference, natural_key, read_model_configs

_MODEL_DIR = re.compile(r"^model_(.+)$")


@dataclass(frozen=True)
class Task:
    """A task on disk. ``input_dir`` is the submission-visible side (may be None
    for a reference-only root); ``reference_dir`` is the folder that should
    hold ``model_configs.json`` (`has_reference` says whether it does; None
    where the task has no reference side). In the combined layout both are
    the same folder."""

    name: str
    input_dir: Path | None
    reference_dir: Path | None

    @property
    def combined(self) -> bool:
        return self.input_dir is not None and self.input_dir == self.reference_dir

    @property
    def train_dir(self) -> Path:
        return self._require_input() / "dataset_1" / "train"

    @property
    def test_dir(self) -> Path:
        """The test split; only the combined layout ships one."""
        return self._require_input() / "dataset_1" / "test"

    def model_dir(self, model_id: str) -> Path:
        return self._require_input() / f"model_{model_id}"

    def model_ids(self) -> list[str]:
        """Bare model ids (``"0"`` for ``model_0``) in natural order.

        Taken from the input side's model folders, else from the reference.
        """
        if self.input_dir is not None:
            ids = [m.group(1) for p in self.input_dir.iterdir()
                   if p.is_dir() and (m := _MODEL_DIR.match(p.name))]
        else:
            ids = self.read_reference().ids
        return sorted(ids, key=natural_key)

    def has_reference(self) -> bool:
        return self.reference_dir is not None and (self.reference_dir / MODEL_CONFIGS).is_file()

    def read_reference(self) -> Reference:
        if self.reference_dir is None:
            raise HarnessError(f"task {self.name}: no reference data ({MODEL_CONFIGS}) found")
        return read_model_configs(self.reference_dir / MODEL_CONFIGS)

    def _require_input(self) -> Path:
        if self.input_dir is None:
            raise HarnessError(f"task {self.name}: no input data (model folders) found")
        return self.input_dir


def _subdirs(path: Path) -> list[str]:
    return sorted((p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))),
                  key=natural_key)


def find_tasks(root: str | Path) -> list[Task]:
    """Every task under ``root``, sorted by name.

    ``root`` may be a split root (holding ``input_data`` and/or
    ``reference_data``), one task folder (combined or input side only), a
    ``reference_data``/``input_data`` folder itself, or a folder of task folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise HarnessError(f"{root}: not a directory")
    inp, ref = root / "input_data", root / "reference_data"
    if inp.is_dir() or ref.is_dir():
        names = sorted(set(_subdirs(inp) if inp.is_dir() else []) |
                       set(_subdirs(ref) if ref.is_dir() else []), key=natural_key)
        tasks = [Task(n, inp / n if (inp / n).is_dir() else None,
                      ref / n if (ref / n).is_dir() else None) for n in names]
    elif (task := _single_task(root)) is not None:
        tasks = [task]
    else:
        tasks = [t for n in _subdirs(root) if (t := _single_task(root / n)) is not None]
    if not tasks:
        raise HarnessError(f"{root}: no tasks found (expected model_<id> folders, "
                           f"{MODEL_CONFIGS}, or input_data/ and reference_data/)")
    return tasks


def _single_task(path: Path) -> Task | None:
    """The task held in folder ``path`` (either side, or both), or None if it holds neither."""
    has_input = (path / "dataset_1").is_dir() or any(p.is_dir() and _MODEL_DIR.match(p.name)
                                                     for p in path.iterdir())
    has_ref = (path / MODEL_CONFIGS).is_file()
    if not (has_input or has_ref):
        return None
    return Task(path.name, path if has_input else None, path if has_ref else None)


