"""What a run writes: ``OUT/run.jsonl`` (one record per model) and ``OUT/<task>.predict``.

``run.jsonl`` is appended to as models finish (each line flushed and synced,
so that a harness killed outright loses at most the line being written) and
rewritten in a fixed order when the run ends. `read_run_log` skips a torn or
malformed line, which is how a restarted run finds what is already done.
``<task>.predict`` is the original ingestion program's format,
``{"model_<id>": value}`` for the models that succeeded, written atomically.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from harness.errors import HarnessError
from harness.task.reference import natural_key

RUN_LOG = "run.jsonl"
PREDICT_SUFFIX = ".predict"
_MODEL_FOLDER = re.compile(r"model_[^/\s:'\"]+")
STATUSES = ("ok", "error", "timeout", "memory", "crashed", "invalid", "skipped")


@dataclass(frozen=True)
class RunRecord:
    """The outcome of one model.

    ``status``: ``ok`` (``value`` is a finite float), ``error`` (the
    submission raised, failed to import or the model could not be loaded),
    ``timeout``/``memory`` (a limit was exceeded and the worker killed),
    ``crashed`` (the worker died, or ran too many threads) or ``invalid``
    (the result was not a finite number) or ``skipped`` (not run: its task was
    stopped, e.g. after consecutive timeouts). ``seconds`` is the harness-side wall
    time of the model's evaluation; ``measure_seconds`` the time of the
    ``complexity`` call alone and ``load_seconds`` that of loading the model
    (both measured inside the worker, absent when it did not report them).
    ``keras`` is the Keras version the model ran under (``"2"`` or ``"3"``) and
    ``keras_reason`` why (`harness.submission.keras_mode`).
    """

    task: str
    model: str
    status: str
    value: float | None
    seconds: float
    message: str = ""
    worker: int | None = None
    measure_seconds: float | None = None
    load_seconds: float | None = None
    keras: str | None = None
    keras_reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if (self.status == "ok") != (self.value is not None and math.isfinite(self.value)):
            raise ValueError(f"status {self.status!r} with value {self.value!r}")

    @property
    def key(self) -> tuple[str, str]:
        return self.task, self.model

    def to_json(self) -> str:
        return json.dumps(asdict(self), allow_nan=False)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "RunRecord":
        fields = {name: raw[name] for name in cls.__dataclass_fields__ if name in raw}
        return cls(**fields)


@dataclass(frozen=True)
class FailureReason:
    """One distinct reason models failed for, and how many failed for it."""

    status: str
    message: str
    count: int


def failure_reasons(records: Iterable[RunRecord]) -> list[FailureReason]:
    """The distinct ``(status, message)`` of the records that are not ``ok``, most frequent first.

    Model folders named in a message (``.../model_7/weights.hdf5``) count as one
    reason whatever the model: they are shown as ``model_*``.

        >>> rs = [RunRecord("t", m, "timeout", None, 3.0, "too slow") for m in "01"]
        >>> failure_reasons(rs)
        [FailureReason(status='timeout', message='too slow', count=2)]
    """
    counts: dict[tuple[str, str], int] = {}
    for r in records:
        if r.status != "ok":
            key = (r.status, _MODEL_FOLDER.sub("model_*", r.message))
            counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [FailureReason(status, message, count) for (status, message), count in ranked]


def record_order(record: RunRecord) -> tuple:
    """Sort key: task name, then model id, both in natural order."""
    return natural_key(record.task), natural_key(record.model)


def read_run_log(path: str | Path) -> dict[tuple[str, str], RunRecord]:
    """The records of a ``run.jsonl``, by ``(task, model)``; later lines win.

    Lines that are not a complete, valid record (a line torn by a kill, say)
    are skipped. A missing file reads as no records.
    """
    records: dict[tuple[str, str], RunRecord] = {}
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return records
    for line in text.splitlines():
        try:
            record = RunRecord.from_dict(json.loads(line))
        except (ValueError, TypeError, AttributeError):
            continue
        records[record.key] = record
    return records


class RunLog:
    """Appends records to ``run.jsonl`` durably: one line, flushed and fsynced, per record."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = open(self.path, "a", encoding="utf-8")

    def append(self, record: RunRecord) -> None:
        self._file.write(record.to_json() + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RunLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_run_log(path: str | Path, records: Iterable[RunRecord]) -> None:
    """Replace ``path`` atomically with ``records`` in `record_order`."""
    lines = [r.to_json() + "\n" for r in sorted(records, key=record_order)]
    atomic_write_text(path, "".join(lines))


def predictions(records: Iterable[RunRecord], task: str) -> dict[str, float]:
    """``{"model_<id>": value}`` of the task's ``ok`` records, in natural model order."""
    chosen = sorted((r for r in records if r.task == task and r.status == "ok"), key=record_order)
    return {f"model_{r.model}": r.value for r in chosen}


def write_predict(out_dir: str | Path, task: str, records: Iterable[RunRecord]) -> Path:
    """Write ``out_dir/<task>.predict`` atomically; returns its path."""
    path = Path(out_dir) / f"{task}{PREDICT_SUFFIX}"
    atomic_write_text(path, json.dumps(predictions(records, task), indent=1) + "\n")
    return path


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, sync it, then rename it over ``path``.

    The file gets the permissions a plain ``open(path, "w")`` would give it
    (``0o666`` less the umask), not the temporary file's private ``0o600``.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` would, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def prepare_out_dir(out_dir: str | Path, *, create: bool = True) -> Path:
    """``out_dir`` (created if ``create``); `HarnessError` in one line when it, or the folder it would
    be created in, is a file or not writable. With ``create=False`` nothing is written to disk."""
    out_dir = Path(out_dir)
    existing = next(p for p in (out_dir, *out_dir.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise HarnessError(f"{existing}: not a folder (the output folder {out_dir} must be one, or not exist yet)")
    try:  # a real write: permission bits say nothing to root, nor about a read-only mount
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".pgdl-probe-")
        os.close(fd)
        os.unlink(probe)
        if create:
            out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"{out_dir}: cannot write the output folder ({exc.strerror or exc})") from None
    return out_dir
