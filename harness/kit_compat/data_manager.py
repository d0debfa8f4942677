"""The 2020 kit's ``data_manager``: `DataManager`, which lists a task's models and loads them and its data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness import io as loading
from harness.task import Task, natural_key

_SKIPPED = (".DS_Store", "__MACOSX")


class DataManager:
    """Task ``basename`` under ``input_dir``: its models (``model_*`` folders) and training data."""

    def __init__(self, basename: str, input_dir: str) -> None:
        self.basename = basename
        self.input_dir = input_dir
        self.parent_directory = os.path.join(input_dir, basename)
        self.data_dir = os.path.join(self.parent_directory, "dataset_1")
        names = [n for n in os.listdir(self.parent_directory)
                 if "model" in n and "json" not in n and not any(s in n for s in _SKIPPED)]
        self.model_ids = sorted(names, key=natural_key)
        self.full_model_paths = [os.path.join(self.parent_directory, m) for m in self.model_ids]
        self.num_models = len(self.model_ids)
        self._task = Task(basename, Path(self.parent_directory), None)

    def __repr__(self) -> str:
        return f"DataManager : {self.basename}"

    def __str__(self) -> str:
        return f"DataManager : {self.basename}\ninfo:\nnumber of models: {self.num_models}"

    def load_model(self, model_id: str) -> Any:
        """Model ``model_id`` (``"model_3"`` or ``"3"``) with its weights; ``initial_weights`` where shipped."""
        bare = model_id[len("model_"):] if model_id.startswith("model_") else model_id
        return loading.load_model(self._task, bare, keras_module=_keras())

    def load_training_data(self) -> Any:
        """The training split: an unbatched ``tf.data.Dataset`` of ``(inputs, label)``."""
        return loading.training_dataset(self._task)


def _keras() -> Any:
    from model_utils import keras_module

    return keras_module()
