"""The task format of SPEC §1: finding tasks on disk and reading their reference side.

Two layouts are read:

* split: ``<root>/input_data/<task>/`` (what a submission may see) and
  ``<root>/reference_data/<task>/model_configs.json`` (what only the scorer sees);
* combined: one folder holding the model folders, ``dataset_1/{train,test}`` and
  ``model_configs.json`` (the original starting kit's sample data).

A root may be one task or hold many. This module never imports TensorFlow:
model and data loading live in `harness.loading`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

MODEL_CONFIGS = "model_configs.json"
_MODEL_DIR = re.compile(r"^model_(.+)$")


@dataclass(frozen=True)
class ModelRecord:
    """One model's reference entry: its hyperparameters and accuracies."""

    id: str
    hparams: dict[str, Any]
    train_acc: float
    test_acc: float
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def gap(self) -> float:
        """Generalization gap: ``train_acc - test_acc``."""
        return self.train_acc - self.test_acc


@dataclass(frozen=True)
class Reference:
    """A task's reference data: every model's record and the hyperparameter grid.

    ``grid`` maps each hyperparameter name to its ``possible_values``, taken
    from the first model's entry in file order (as the original scorer did).
    """

    records: dict[str, ModelRecord]
    grid: dict[str, list[Any]]
    path: Path | None = None

    @property
    def ids(self) -> list[str]:
        return list(self.records)


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


def natural_key(text: str) -> tuple:
    """Sort key ordering ``"2"`` before ``"10"``."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t)
                 for t in re.split(r"(\d+)", text) if t)


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


def bare_model_id(key: str) -> str:
    """The bare id of a model key: ``"model_3"`` and ``"3"`` are both ``"3"``."""
    return key[len("model_"):] if key.startswith("model_") else key


def read_json(path: str | Path, *, max_bytes: int | None = None) -> Any:
    """The parsed content of a JSON file; `HarnessError` naming the file when it is missing,
    unreadable, larger than ``max_bytes``, not UTF-8 JSON, nested too deeply to parse, or
    has an object with the same key twice (JSON leaves that undefined; Python's parser would
    silently keep the last)."""
    path = Path(path)
    try:
        if max_bytes is not None and (size := path.stat().st_size) > max_bytes:
            raise HarnessError(f"{path}: {size:,} bytes, larger than the {max_bytes:,} this file may hold")
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
    except FileNotFoundError:
        raise HarnessError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: malformed JSON ({exc})") from None
    except _DuplicateKey as exc:
        raise HarnessError(f"{path}: malformed JSON (key {exc.args[0]!r} appears twice in one object)") from None
    except RecursionError:
        raise HarnessError(f"{path}: malformed JSON (nested too deeply to parse)") from None
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read ({exc})") from None


class _DuplicateKey(ValueError):
    """A JSON object holds the same key twice (the key is the argument)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``dict(pairs)``, refusing a key given twice (the ``object_pairs_hook`` of `read_json`)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return out


def read_model_configs(path: str | Path) -> Reference:
    """Read a ``model_configs.json`` into a `Reference`.

    Raises `HarnessError` naming the file for malformed JSON (duplicate keys
    included), a model given under two ids (``model_0`` and ``0``), entries
    without ``hparams``/``metrics.train_acc``/``metrics.test_acc``,
    accuracies that are not JSON numbers in [0, 1] (strings and percentages
    are refused), and ``possible_values`` that are not a list.
    """
    path = Path(path)
    raw = read_json(path)
    if not isinstance(raw, dict) or not raw:
        raise HarnessError(f"{path}: expected a non-empty JSON object of model entries")
    records: dict[str, ModelRecord] = {}
    for key, entry in raw.items():
        model_id = bare_model_id(key)
        if model_id in records:
            raise HarnessError(f"{path}: model {model_id} is given twice (as {key!r} and under another id)")
        records[model_id] = _parse_entry(path, model_id, entry)
    first = next(iter(raw.values()))["hparams"]
    grid = {}
    for name, spec in first.items():
        if not isinstance(spec, dict) or "possible_values" not in spec:
            raise HarnessError(f"{path}: hyperparameter {name!r} of the first model has no possible_values")
        if not isinstance(spec["possible_values"], list):
            raise HarnessError(f"{path}: hyperparameter {name!r}: possible_values must be a list. "
                               f"Received: {spec['possible_values']!r}")
        grid[name] = list(spec["possible_values"])
    return Reference(records, grid, path)


def _parse_entry(path: Path, model_id: str, entry: Any) -> ModelRecord:
    try:
        hp = entry["hparams"]
        hparams = {name: spec["current_value"] for name, spec in hp.items()}
        metrics = entry["metrics"]
        train_acc, test_acc = metrics["train_acc"], metrics["test_acc"]
    except (KeyError, TypeError, AttributeError) as exc:
        raise HarnessError(f"{path}: model {model_id}: missing or invalid field ({exc!r})") from None
    for name, value in (("train_acc", train_acc), ("test_acc", test_acc)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise HarnessError(f"{path}: model {model_id}: {name} must be a JSON number in [0, 1] "
                               f"(a fraction, not a percentage). Received: {value!r}")
    extra = {k: v for k, v in entry.items() if k not in ("hparams", "metrics")}
    extra.update({k: v for k, v in metrics.items() if k not in ("train_acc", "test_acc")})
    return ModelRecord(model_id, hparams, float(train_acc), float(test_acc), extra)
