"""A task's reference side (SPEC §1): ``model_configs.json`` read and validated into a `Reference`.

Also the two readers every part of the harness shares: `read_json` (one-line
errors naming the file) and `natural_key` (``"2"`` before ``"10"``). Never
imports TensorFlow.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

MODEL_CONFIGS = "model_configs.json"


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


def natural_key(text: str) -> tuple:
    """Sort key ordering ``"2"`` before ``"10"``."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t)
                 for t in re.split(r"(\d+)", text) if t)


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
