"""One row per model: what a measure gave each model beside its gap and hyperparameters (``models.csv``).

`model_rows` joins a task's predictions, its reference data and, where the
run left one, its ``run.jsonl`` record; `models_csv` and `rows_frame` show
the same rows as CSV text and as a pandas DataFrame (columns ``task, model,
value, gap, status, seconds`` and one per hyperparameter).

    >>> from harness.task import ModelRecord, Reference
    >>> ref = Reference({"0": ModelRecord("0", {"width": 8}, 1.0, 0.75)}, {"width": [8]})
    >>> print(models_csv(model_rows("t", ref, {"0": 2.5}, {})), end="")
    task,model,value,gap,status,seconds,width
    t,0,2.5,0.25,ok,,8
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from harness.task.records import RunRecord
from harness.scoring.inputs import finite_number
from harness.task import Reference

if TYPE_CHECKING:
    import pandas

MODELS_CSV = "models.csv"
COLUMNS = ("task", "model", "value", "gap", "status", "seconds")
#: Status of a model whose predictions file has no entry and whose run left no record.
MISSING = "missing"


@dataclass(frozen=True)
class ModelRow:
    """One model: its prediction (None where it has no finite one), gap, status, seconds, hyperparameters.

    ``status`` is the run's (``ok``, ``error``, ``timeout``, ... as in
    ``run.jsonl``), else ``ok`` for a finite prediction, ``invalid`` for
    another value, ``missing`` for none; ``seconds`` is the run's wall time of
    the model, None without a run record.
    """

    task: str
    model: str
    value: float | None
    gap: float
    status: str
    seconds: float | None
    hparams: Mapping[str, Any] = field(default_factory=dict)


def model_rows(task: str, reference: Reference, values: Mapping[str, float],
               run_records: Mapping[tuple[str, str], RunRecord]) -> tuple[ModelRow, ...]:
    """The rows of ``reference``'s models, in its order; ``values`` maps bare ids to predictions
    (nan for a value that is not a number), ``run_records`` is `read_run_log`'s mapping."""
    rows = []
    for model_id, record in reference.records.items():
        run = run_records.get((task, model_id))
        value = values.get(model_id)
        number = finite_number(value)
        if number is not None:
            status = "ok"
        elif run is not None and run.status != "ok":
            status = run.status
        else:
            status = MISSING if value is None else "invalid"
        rows.append(ModelRow(task, model_id, number, record.gap, status,
                             None if run is None else run.seconds, dict(record.hparams)))
    return tuple(rows)


def hparam_columns(rows: Sequence[ModelRow]) -> tuple[list[str], list[str]]:
    """The column names and the names of every hyperparameter of ``rows``, in order of first
    appearance; a column named like one of `COLUMNS` gets the prefix ``hp_``."""
    names = list(dict.fromkeys(name for row in rows for name in row.hparams))
    return [f"hp_{n}" if n in COLUMNS else n for n in names], names


def _table(rows: Sequence[ModelRow]) -> tuple[list[str], list[list[Any]]]:
    columns, names = hparam_columns(rows)
    body = [[r.task, r.model, r.value, r.gap, r.status, r.seconds, *(r.hparams.get(n) for n in names)]
            for r in rows]
    return [*COLUMNS, *columns], body


def models_csv(rows: Sequence[ModelRow]) -> str:
    """``rows`` as CSV text: a header, then one line per model (an empty cell for None)."""
    header, body = _table(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if cell is None else _cell(cell) for cell in row] for row in body])
    return out.getvalue()


def _cell(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def rows_frame(rows: Sequence[ModelRow]) -> "pandas.DataFrame":
    """``rows`` as a pandas DataFrame with the columns of `models_csv` (NaN for None)."""
    import pandas

    header, body = _table(rows)
    frame = pandas.DataFrame(body, columns=header)
    for column in ("value", "seconds"):
        frame[column] = frame[column].astype("float64")
    return frame
