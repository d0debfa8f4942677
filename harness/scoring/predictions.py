"""Reading predictions: ``<task>.predict`` files, JSON objects ``{"model_<id>": value}``.

As the original ingestion wrote them (bare ids ``"<id>"`` are accepted too). A
value that is not a finite number (``"EXCEEDED"``, NaN, inf, a string, ``null``)
is read as nan: the model failed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from harness.errors import HarnessError
from harness.task.records import PREDICT_SUFFIX
from harness.scoring.inputs import finite_number
from harness.task import bare_model_id, natural_key, read_json


def predict_size_limit(n_models: int) -> int:
    """The most bytes a ``.predict`` for ``n_models`` models may hold: 1 MiB + 1 KiB per model
    (a value per model takes a few dozen), so that a huge file is refused before it is parsed.

    >>> predict_size_limit(0), predict_size_limit(1000)
    (1048576, 2072576)
    """
    return (1 << 20) + 1024 * n_models


#: The size cap of a ``.predict`` read without knowing its task (enough for 100,000 models).
MAX_PREDICT_BYTES = predict_size_limit(100_000)


def read_prediction_file(path: str | Path, *, max_bytes: int = MAX_PREDICT_BYTES) -> dict[str, float]:
    """``{bare id: value}`` from one ``.predict`` file; nan where the value is not a finite number.

    Raises `HarnessError` naming the file when it cannot be read, is larger
    than ``max_bytes``, is not a JSON object, or gives a model twice
    (``"model_3"`` and ``"3"``).
    """
    path = Path(path)
    raw = read_json(path, max_bytes=max_bytes)
    if not isinstance(raw, dict):
        raise HarnessError(f"{path}: expected a JSON object mapping model ids to numbers, "
                           f"got {type(raw).__name__}")
    return normalize_predictions(raw, str(path))


def read_predictions(pred_dir: str | Path) -> dict[str, dict[str, float]]:
    """Every ``<task>.predict`` in ``pred_dir``: task name -> {bare id -> value (nan if not a number)}."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise HarnessError(f"{pred_dir}: not a directory")
    files = sorted(pred_dir.glob(f"*{PREDICT_SUFFIX}"), key=lambda p: natural_key(p.name))
    return {path.name[:-len(PREDICT_SUFFIX)]: read_prediction_file(path) for path in files}


def normalize_predictions(raw: Mapping[str, Any], source: str) -> dict[str, float]:
    """``{bare id: value}`` of one task's predictions, nan for a value that is not a finite number;
    `HarnessError` naming ``source`` for a model given twice.

    >>> normalize_predictions({"model_1": 0.5, "2": "EXCEEDED"}, "t.predict")
    {'1': 0.5, '2': nan}
    """
    out: dict[str, float] = {}
    for key, value in raw.items():
        mid = bare_model_id(str(key))
        if mid in out:
            raise HarnessError(f"{source}: model {mid} is given twice")
        number = finite_number(value)
        out[mid] = math.nan if number is None else number
    return out
