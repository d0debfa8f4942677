"""Zoo spec files: which tasks to train, on what data, over which grid, how.

A spec is a TOML file (read with `tomllib`)::

    name = "default"          # optional
    seed = 0                  # base of every model's seed

    [training]                # protocol defaults for every task (all optional)
    momentum = 0.9            # SGD momentum
    loss_threshold = 0.01     # stop once the training cross-entropy is below it ...
    min_train_accuracy = 0.99 # ... and the training accuracy at least this (default 0: any) ...
    max_epochs = 100          # ... or after this many epochs

    [[task]]
    name = "fashion_mnist_vgg"
    dataset = "fashion_mnist" # see model_zoo.datasets; dataset_path = ".." for idx files
    image_size = 14           # optional: average-pool the images to 14x14
    test_size = 0             # 0: the dataset's full test split; n: a fixed seeded subset
    family = "vgg"            # vgg | nin | allconv_bn | mlp
    [task.hparams]            # a list is a grid axis, a single value is fixed
    width = [8, 16]
    depth = [1, 2]
    dropout = [0.0, 0.25]
    weight_decay = [0.0, 0.0005]
    learning_rate = 0.02
    batch_size = [32, 64]
    train_size = 1000
    [task.training]           # optional per-task override of [training]

    [[task]]                  # a replicate: the same task trained with another seed
    name = "fashion_mnist_vgg_seed1"
    replicate_of = "fashion_mnist_vgg"
    seed = 1

Hyperparameters (defaults in `HPARAM_DEFAULTS`): ``width``, ``depth``,
``dropout`` (architecture, see `model_zoo.architectures`), ``weight_decay``,
``learning_rate``, ``batch_size``, ``train_size`` (training). A task's models
are the points of the product of its axes, in ``itertools.product`` order of
the axes as written; their ids are ``"0"``, ``"1"``, .... Problems raise
`HarnessError` naming the file and the key.

A task may set its own ``seed`` (default: the spec's). A *replicate* task
names another task of the spec in ``replicate_of`` and sets only ``name`` and
``seed``: it is that task with the same training data, the same grid and the
same protocol, trained from other seeds, so that the seed-to-seed spread of
the gaps can be measured (`model_zoo.info`).
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from harness.errors import HarnessError
from model_zoo.architectures import FAMILIES
from model_zoo.datasets import DATASET_NAMES

HPARAM_DEFAULTS: dict[str, Any] = {
    "width": 16, "depth": 2, "dropout": 0.0, "weight_decay": 0.0,
    "learning_rate": 0.01, "batch_size": 64, "train_size": 1000,
}
_INT_HPARAMS = ("width", "depth", "batch_size", "train_size")
_TOP_KEYS = {"name", "description", "seed", "training", "task"}
_TASK_KEYS = {"name", "dataset", "dataset_path", "image_size", "test_size", "split_seed",
              "train_shards", "family", "hparams", "training", "seed"}
_REPLICATE_KEYS = {"name", "replicate_of", "seed"}


@dataclass(frozen=True)
class Training:
    """The protocol: SGD with ``momentum`` on the cross-entropy from logits
    (plus ``weight_decay * sum ||W||^2`` over kernels), until the training
    cross-entropy is below ``loss_threshold`` (with a training accuracy of at
    least ``min_train_accuracy``) or ``max_epochs`` have run."""

    momentum: float = 0.9
    loss_threshold: float = 0.01
    max_epochs: int = 100
    min_train_accuracy: float = 0.0


@dataclass(frozen=True)
class TaskSpec:
    """One task of a zoo. ``grid`` holds the axes ``(name, values)`` in spec
    order, ``fixed`` the single-valued hyperparameters. Hashable, so that a
    worker can cache the prepared data per task."""

    name: str
    dataset: str
    family: str
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    fixed: tuple[tuple[str, Any], ...]
    training: Training = field(default_factory=Training)
    dataset_path: str | None = None
    image_size: int | None = None
    test_size: int = 0
    split_seed: int = 0
    train_shards: int = 2
    seed: int = 0
    replicate_of: str | None = None
    data_seed: int | None = None

    @property
    def data_name(self) -> str:
        """The name the training subset derives from: the replicated task's, else this task's."""
        return self.replicate_of or self.name

    @property
    def data_key(self) -> tuple[int, str]:
        """``(seed, name)`` of the task whose training subset this task uses."""
        return (self.seed if self.data_seed is None else self.data_seed), self.data_name

    @property
    def axes(self) -> dict[str, list[Any]]:
        return {name: list(values) for name, values in self.grid}

    @property
    def n_models(self) -> int:
        n = 1
        for _, values in self.grid:
            n *= len(values)
        return n

    @property
    def max_train_size(self) -> int:
        return max(self.hparam_values("train_size"))

    def hparam_values(self, name: str) -> list[Any]:
        return self.axes.get(name) or [dict(self.fixed)[name]]

    def models(self) -> list[tuple[str, dict[str, Any]]]:
        """``(id, hparams)`` for every grid point; ``hparams`` has all seven names."""
        names = [name for name, _ in self.grid]
        points = itertools.product(*(values for _, values in self.grid))
        return [(str(i), {**dict(self.fixed), **dict(zip(names, point))}) for i, point in enumerate(points)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (the build's fingerprint of this task)."""
        out = asdict(self)
        out["grid"] = {name: list(values) for name, values in self.grid}
        out["fixed"] = dict(self.fixed)
        for key in ("replicate_of", "data_seed"):  # unset: left out, as in zoos built before they existed
            if out[key] is None:
                del out[key]
        if not self.training.min_train_accuracy:
            del out["training"]["min_train_accuracy"]
        return out


@dataclass(frozen=True)
class ZooSpec:
    """A parsed spec file: its tasks, in file order."""

    name: str
    seed: int
    tasks: tuple[TaskSpec, ...]
    path: Path | None = None

    def select(self, names: Sequence[str] | None = None) -> list[TaskSpec]:
        """The tasks named in ``names``, in that order; every task when none is named."""
        return [self.task(name) for name in names] if names else list(self.tasks)

    def task(self, name: str) -> TaskSpec:
        for task in self.tasks:
            if task.name == name:
                return task
        raise HarnessError(f"{self.path}: no task named {name!r} "
                           f"(tasks: {', '.join(t.name for t in self.tasks)})")


def load_spec(path: str | Path) -> ZooSpec:
    """Read and validate a spec file (see the module docstring)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise HarnessError(f"{path}: file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: malformed TOML ({exc})") from None
    return parse_spec(raw, path)


def parse_spec(raw: dict[str, Any], path: Path | None = None) -> ZooSpec:
    """Validate a spec already read into a dict (as `tomllib` returns it)."""
    where = str(path) if path else "spec"
    _no_unknown_keys(where, "top level", raw, _TOP_KEYS)
    seed = _int(where, "seed", raw.get("seed", 0), minimum=0)
    defaults = _training(where, "training", raw.get("training", {}), Training())
    tasks = raw.get("task")
    if not isinstance(tasks, list) or not tasks:
        raise HarnessError(f"{where}: no [[task]] tables")
    if not all(isinstance(t, dict) for t in tasks):
        raise HarnessError(f"{where}: every [[task]] must be a table")
    base = {i: _task(where, i, t, defaults, seed) for i, t in enumerate(tasks) if "replicate_of" not in t}
    by_name = {t.name: t for t in base.values()}
    parsed = tuple(base[i] if i in base else _replicate(where, i, t, by_name) for i, t in enumerate(tasks))
    names = [t.name for t in parsed]
    if len(set(names)) != len(names):
        raise HarnessError(f"{where}: task names must be unique (got {names})")
    return ZooSpec(str(raw.get("name", path.stem if path else "zoo")), seed, parsed, path)


def _task_name(where: str, index: int, raw: dict) -> str:
    name = raw.get("name")
    if not (isinstance(name, str) and name and name.replace("_", "").replace("-", "").isalnum()):
        raise HarnessError(f"{where}: task {index}: 'name' must be letters, digits, '_' or '-' (got {name!r})")
    return name


def _replicate(where: str, index: int, raw: dict, tasks: dict[str, TaskSpec]) -> TaskSpec:
    name = _task_name(where, index, raw)
    at = f"task {name}"
    _no_unknown_keys(where, at, raw, _REPLICATE_KEYS)
    of = raw["replicate_of"]
    if of not in tasks:
        raise HarnessError(f"{where}: {at}: replicate_of must name a task of this spec that is not itself "
                           f"a replicate (got {of!r}; tasks: {', '.join(tasks)})")
    if "seed" not in raw:
        raise HarnessError(f"{where}: {at}: a replicate needs its own 'seed'")
    base = tasks[of]
    seed = _int(where, f"{at}: seed", raw["seed"], minimum=0)
    if seed == base.seed:
        raise HarnessError(f"{where}: {at}: seed {seed} is the seed of {of}; a replicate needs another one")
    return replace(base, name=name, seed=seed, replicate_of=of, data_seed=base.seed)


def _task(where: str, index: int, raw: dict, defaults: Training, seed: int) -> TaskSpec:
    name = _task_name(where, index, raw)
    at = f"task {name}"
    _no_unknown_keys(where, at, raw, _TASK_KEYS)
    dataset = raw.get("dataset")
    if dataset not in DATASET_NAMES:
        raise HarnessError(f"{where}: {at}: dataset must be one of {', '.join(DATASET_NAMES)} (got {dataset!r})")
    family = raw.get("family")
    if family not in FAMILIES:
        raise HarnessError(f"{where}: {at}: family must be one of {', '.join(FAMILIES)} (got {family!r})")
    grid, fixed = _hparams(where, at, raw.get("hparams", {}))
    image_size = raw.get("image_size")
    return TaskSpec(
        name=name, dataset=dataset, family=family, grid=grid, fixed=fixed,
        training=_training(where, f"{at}: training", raw.get("training", {}), defaults),
        dataset_path=_optional_str(where, f"{at}: dataset_path", raw.get("dataset_path")),
        image_size=None if image_size is None else _int(where, f"{at}: image_size", image_size, minimum=1),
        test_size=_int(where, f"{at}: test_size", raw.get("test_size", 0), minimum=0),
        split_seed=_int(where, f"{at}: split_seed", raw.get("split_seed", 0), minimum=0),
        train_shards=_int(where, f"{at}: train_shards", raw.get("train_shards", 2), minimum=1),
        seed=_int(where, f"{at}: seed", raw.get("seed", seed), minimum=0),
    )


def _hparams(where: str, at: str, raw: Any) -> tuple[tuple, tuple]:
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: {at}: 'hparams' must be a table")
    _no_unknown_keys(where, f"{at}: hparams", raw, set(HPARAM_DEFAULTS))
    grid, fixed = [], []
    for name, default in HPARAM_DEFAULTS.items():
        value = raw.get(name, default)
        values = value if isinstance(value, list) else [value]
        if not values:
            raise HarnessError(f"{where}: {at}: hparams.{name} is an empty list")
        values = [_hparam(where, f"{at}: hparams.{name}", name, v) for v in values]
        if len(set(values)) != len(values):
            raise HarnessError(f"{where}: {at}: hparams.{name} lists a value twice ({values})")
        if len(values) > 1:
            grid.append((name, tuple(values)))
        else:
            fixed.append((name, values[0]))
    order = list(raw)  # axes in the order written
    grid.sort(key=lambda axis: order.index(axis[0]))
    return tuple(grid), tuple(fixed)


def _hparam(where: str, at: str, name: str, value: Any) -> Any:
    if name in _INT_HPARAMS:
        return _int(where, at, value, minimum=1)
    number = _number(where, at, value)
    if name == "dropout" and not 0.0 <= number < 1.0:
        raise HarnessError(f"{where}: {at}: dropout must be in [0, 1) (got {value!r})")
    if name == "weight_decay" and number < 0:
        raise HarnessError(f"{where}: {at}: weight_decay must be >= 0 (got {value!r})")
    if name == "learning_rate" and number <= 0:
        raise HarnessError(f"{where}: {at}: learning_rate must be > 0 (got {value!r})")
    return number


def _training(where: str, at: str, raw: Any, base: Training) -> Training:
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: {at} must be a table")
    _no_unknown_keys(where, at, raw, {"momentum", "loss_threshold", "max_epochs", "min_train_accuracy"})
    momentum = _number(where, f"{at}.momentum", raw.get("momentum", base.momentum))
    threshold = _number(where, f"{at}.loss_threshold", raw.get("loss_threshold", base.loss_threshold))
    if not 0 <= momentum < 1 or threshold <= 0:
        raise HarnessError(f"{where}: {at}: need 0 <= momentum < 1 and loss_threshold > 0")
    epochs = _int(where, f"{at}.max_epochs", raw.get("max_epochs", base.max_epochs), minimum=1)
    accuracy = _number(where, f"{at}.min_train_accuracy", raw.get("min_train_accuracy", base.min_train_accuracy))
    if not 0 <= accuracy <= 1:
        raise HarnessError(f"{where}: {at}.min_train_accuracy must be in [0, 1] (got {accuracy!r})")
    return Training(momentum, threshold, epochs, accuracy)


def _no_unknown_keys(where: str, at: str, raw: dict, known: set[str]) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise HarnessError(f"{where}: {at}: unknown key(s) {', '.join(unknown)} "
                           f"(known: {', '.join(sorted(known))})")


def _int(where: str, at: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise HarnessError(f"{where}: {at} must be an integer >= {minimum} (got {value!r})")
    return value


def _number(where: str, at: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HarnessError(f"{where}: {at} must be a number (got {value!r})")
    return float(value)


def _optional_str(where: str, at: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise HarnessError(f"{where}: {at} must be a string (got {value!r})")
    return value
