"""The rows of a leaderboard: each submission's `Entry` (its ``scores.json`` read back with
`harness.scoring.scores_file`, its run records, its `Provenance`), and the ranked `Leaderboard`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterable

from harness.task.records import RUN_LOG, RunRecord, read_run_log, record_order
from harness.scoring.inputs import finite_number
from harness.scoring.scores_file import SCORES_JSON, ScoresFile, TaskEntry
from harness.task import natural_key


@dataclass(frozen=True)
class Provenance:
    """What a leaderboard row depends on, recorded beside it.

    ``sandbox`` is ``bubblewrap``, ``none`` or ``container`` (the official
    run, where the container is the sandbox). ``seed`` seeds the bootstrap of
    the confidence intervals; each model's own seed is derived from its task
    and id (`harness.run.model_seed`), so it needs no record.
    """

    harness_version: str
    data_sha256: str
    reference_sha256: str
    submission_sha256: str
    seed: int
    time_per_model: float
    memory_mb: int
    max_threads: int
    sandbox: str
    keras: str
    seeding: str
    tasks: tuple[str, ...]

    def same_predictions(self, other: "Provenance") -> bool:
        """Whether a run under ``other`` gives the same predictions (sandbox kind and seed aside)."""
        keys = ("harness_version", "data_sha256", "submission_sha256", "time_per_model", "memory_mb",
                "max_threads", "keras", "seeding", "tasks")
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    @property
    def limits(self) -> str:
        return f"{self.time_per_model:g} s/model, {self.memory_mb} MB, {self.max_threads} threads"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def read(cls, path: str | Path) -> "Provenance | None":
        """The provenance stored at ``path``; None when absent or unreadable (the result is then redone)."""
        try:
            raw = json.loads(Path(path).read_text())
            return cls(**{**raw, "tasks": tuple(raw["tasks"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None


@dataclass(frozen=True)
class Entry:
    """One submission's row: its scores, or why it has none.

    ``rank`` is None for a submission that was not scored (``error`` says
    why). ``flags`` are the scorer's one-line problems (failed models, ...).
    """

    name: str
    source: str
    out_dir: Path
    error: str | None = None
    overall_official: float | None = None
    overall_p_value: float | None = None
    tasks: tuple[TaskEntry, ...] = ()
    records: tuple[RunRecord, ...] = ()
    flags: tuple[str, ...] = ()
    provenance: Provenance | None = None
    reused: bool = False
    rank: int | None = None

    @property
    def status(self) -> str:
        """``ok``, ``N model(s) failed``, or ``not scored: <why>``."""
        if self.error is not None:
            return f"not scored: {self.error}"
        if self.failed_models:
            return f"{self.failed_models} model(s) failed"
        return "ok"

    @property
    def failed_models(self) -> int:
        return sum(r.status != "ok" for r in self.records)

    def mean(self, metric: str) -> float | None:
        """The mean over tasks of a headline (`TaskEntry.headline`), over the tasks where it is defined."""
        values = [finite_number(t.headline(metric)) for t in self.tasks]
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Leaderboard:
    """Ranked entries (scored ones first, by official score), and the data they were scored on."""

    entries: tuple[Entry, ...]
    tasks: tuple[str, ...]
    data_sha256: str
    out_dir: Path


def load_entry(name: str, source: str | Path, result_dir: str | Path, provenance: Provenance | None = None,
               *, reused: bool = False) -> Entry:
    """An `Entry` from a result folder: ``scores.json`` (required) and ``run.jsonl`` (optional)."""
    result_dir = Path(result_dir)
    scores = ScoresFile.read(result_dir / SCORES_JSON)
    overall_p = None if scores.null_overall is None else scores.null_overall.p_value
    return Entry(name, str(source), result_dir, None, scores.overall_official, overall_p, scores.tasks,
                 records(result_dir), scores.problems, provenance, reused)


def rank_entries(entries: Iterable[Entry]) -> tuple[Entry, ...]:
    """Scored entries by official score (highest first; equal scores share a rank, then by name),
    then the unscored ones by name, with rank None."""
    entries = list(entries)
    scored = sorted((e for e in entries if e.error is None),
                    key=lambda e: (-(e.overall_official or 0.0), natural_key(e.name)))
    ranked, previous, rank = [], None, 0
    for position, entry in enumerate(scored, start=1):
        if entry.overall_official != previous:
            rank, previous = position, entry.overall_official
        ranked.append(replace(entry, rank=rank))
    failed = sorted((replace(e, rank=None) for e in entries if e.error is not None),
                    key=lambda e: natural_key(e.name))
    return tuple(ranked + failed)


def records(result_dir: Path) -> tuple[RunRecord, ...]:
    """The run records kept in ``result_dir``, in record order (none when it has no run log)."""
    return tuple(sorted(read_run_log(result_dir / RUN_LOG).values(), key=record_order))
