"""Tiny tasks in the SPEC §1 format, for the tests and benchmarks.

`make_tiny_task` writes a complete task without training anything: small MLPs
with random weights (``weights.hdf5`` and ``weights_init.hdf5``), a few
TFRecord shards of random data, and a ``model_configs.json`` over a complete
hyperparameter grid whose accuracies are those the written models really
reach on the written splits (measured with `harness.io`), so a reloaded
model reproduces them exactly.

    >>> tiny = make_tiny_task(tmp_path, layout="split")          # doctest: +SKIP
    >>> find_tasks(tiny.root)[0].model_ids()                       # doctest: +SKIP
    ['0', '1', '2', '3']

TensorFlow is imported only when a task is written, so that importing this
module (say, from a ``conftest.py``) stays cheap.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np

from harness.task import MODEL_CONFIGS, Task

DEFAULT_GRID: dict[str, list[Any]] = {"depth": [1, 2], "width": [4, 8]}


@dataclass(frozen=True)
class TinyTask:
    """What `make_tiny_task` wrote.

    ``root`` is the folder to hand to `harness.task.find_tasks` (the split root
    holding ``input_data``/``reference_data``, or the combined task folder's
    parent); ``task`` the task itself (its ``model_configs.json`` holds each
    model's hyperparameters and accuracies); ``grid`` the grid it spans.
    """

    root: Path
    task: Task
    grid: dict[str, list[Any]]


def make_tiny_task(root: str | Path, layout: Literal["split", "combined"] = "split", *,
                   name: str = "tiny_task", grid: Mapping[str, list[Any]] | None = None,
                   n_models: int | None = None, n_train: int = 40, n_test: int = 20,
                   input_dim: int = 3, n_classes: int = 2, n_shards: int = 2,
                   with_init: bool = True, seed: int = 0) -> TinyTask:
    """Write a tiny task under ``root`` in the ``layout`` of SPEC §1.

    One model per point of the complete ``grid`` (default `DEFAULT_GRID`,
    2 x 2 = 4 models), in ``itertools.product`` order with ids ``"0"``,
    ``"1"``, .... Hyperparameters named ``depth`` (hidden layers) and ``width``
    (hidden units) shape each MLP (defaults 1 and 4); any others are only
    recorded. ``n_models`` (even) without ``grid`` asks for the grid
    ``depth: [1, 2]`` x ``width: [4, 8, ...]`` of that size.

    Split layout: ``root/input_data/<name>/`` (models, ``dataset_1/train``) and
    ``root/reference_data/<name>/model_configs.json``. Combined: everything,
    plus ``dataset_1/test``, in ``root/<name>/``. Deterministic in ``seed``.
    """
    from harness.io.data import write_split
    from harness.io.models import evaluate_accuracy

    if layout not in ("split", "combined"):
        raise ValueError(f"layout must be 'split' or 'combined', not {layout!r}")
    grid = _grid(grid, n_models)
    root = Path(root)
    input_dir = root / "input_data" / name if layout == "split" else root / name
    reference_dir = root / "reference_data" / name if layout == "split" else input_dir
    rng = np.random.default_rng(seed)
    x_train, y_train = _random_split(rng, n_train, input_dim, n_classes)
    x_test, y_test = _random_split(rng, n_test, input_dim, n_classes)
    write_split(input_dir / "dataset_1" / "train", x_train, y_train, n_shards=n_shards)
    if layout == "combined":
        write_split(input_dir / "dataset_1" / "test", x_test, y_test, n_shards=n_shards)

    entries = {}
    for index, values in enumerate(itertools.product(*grid.values())):
        hp = dict(zip(grid, values))
        model = _write_model(input_dir / f"model_{index}", hp, input_dim, n_classes, rng, with_init)
        entries[str(index)] = {
            "hparams": {k: {"possible_values": grid[k], "current_value": v} for k, v in hp.items()},
            "metrics": {"train_acc": evaluate_accuracy(model, x_train, y_train),
                        "test_acc": evaluate_accuracy(model, x_test, y_test)},
        }
    reference_dir.mkdir(parents=True, exist_ok=True)
    (reference_dir / MODEL_CONFIGS).write_text(json.dumps(entries, indent=2))
    return TinyTask(root, Task(name, input_dir, reference_dir), grid)


def mlp_config(hparams: Mapping[str, Any], input_dim: int, n_classes: int) -> dict[str, Any]:
    """The ``config.json`` of an MLP: ``depth`` hidden Dense(``width``, relu) layers, then logits."""
    hidden = {"layer_name": "Dense", "units": int(hparams.get("width", 4)), "activation": "relu"}
    layers = [dict(hidden) for _ in range(int(hparams.get("depth", 1)))]
    return {"model_config": layers + [{"layer_name": "Dense", "units": n_classes}],
            "input_shape": [input_dim]}


def sample_toy_data() -> Path | None:
    """The original starting kit's toy task (combined layout), or None where it is absent.

    ``$PGDL_TOY_DATA`` if set, else ``../shared/pgdl-sample-data/toy_data``
    beside the repository.
    """
    default = Path(__file__).resolve().parents[3] / "shared" / "pgdl-sample-data" / "toy_data"
    path = Path(os.environ.get("PGDL_TOY_DATA", default))
    return path if (path / MODEL_CONFIGS).is_file() else None


def _grid(grid: Mapping[str, list[Any]] | None, n_models: int | None) -> dict[str, list[Any]]:
    if grid is not None:
        if n_models is not None and n_models != int(np.prod([len(v) for v in grid.values()])):
            raise ValueError(f"n_models={n_models} does not match the grid's size")
        return {k: list(v) for k, v in grid.items()}
    if n_models is None:
        return {k: list(v) for k, v in DEFAULT_GRID.items()}
    if n_models < 2 or n_models % 2:
        raise ValueError(f"n_models must be even and at least 2 without a grid (got {n_models})")
    return {"depth": [1, 2], "width": [4 * (i + 1) for i in range(n_models // 2)]}


def _random_split(rng: np.random.Generator, n: int, dim: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x, rng.integers(0, n_classes, size=n).astype(np.int32)


def stored_weights(model_dir: Path, name: str = "weights.hdf5") -> list[np.ndarray]:
    """Every weight array of a model's HDF5 file, read with h5py only (not through Keras)."""
    from harness.io.hdf5 import read_weights_hdf5

    return [v for layer in read_weights_hdf5(model_dir / name) for v in layer.values]


def expected_sum_of_squares(task: Task) -> dict[str, float]:
    """``{"model_<id>": sum of squared weights}`` of every model of ``task``, straight from its HDF5 files.

    Independent of the harness's model loading: what the original sample
    submission must predict.
    """
    return {f"model_{m}": float(sum(np.sum(np.square(w)) for w in stored_weights(task.model_dir(m))))
            for m in task.model_ids()}


def _write_model(model_dir: Path, hparams: Mapping[str, Any], input_dim: int, n_classes: int,
                 rng: np.random.Generator, with_init: bool) -> Any:
    from harness.io.models import build_model, save_weights_hdf5

    model_dir.mkdir(parents=True, exist_ok=True)
    config = mlp_config(hparams, input_dim, n_classes)
    (model_dir / "config.json").write_text(json.dumps(config, indent=2))
    model = build_model(config, source=model_dir / "config.json", initialize=False)
    if with_init:
        model.set_weights(_random_weights(model, rng))
        save_weights_hdf5(model, model_dir / "weights_init.hdf5")
    model.set_weights(_random_weights(model, rng))
    save_weights_hdf5(model, model_dir / "weights.hdf5")
    return model


def _random_weights(model: Any, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.normal(scale=1.0 / np.sqrt(max(w.shape[0], 1)), size=w.shape).astype(np.float32)
            for w in model.get_weights()]
