"""The one interface every way of running models offers (`harness.run.executors` chooses one by name).

An executor is a context manager around a run: entering it acquires its
workers (local processes, a Ray cluster), leaving releases them. In between,
`Executor.run` takes jobs (models of one or more tasks) and yields their
`harness.task.RunRecord`\\ s as they complete; `Executor.skip_pending` stops a
task: its jobs not started yet yield ``skipped`` records.
"""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence

from harness.run.context import Job
from harness.task import RunRecord


class Executor(Protocol):
    """Runs a run's jobs somewhere; built from the run's `harness.run.context.RunContext`."""

    def __enter__(self) -> "Executor": ...

    def __exit__(self, *exc: object) -> None: ...

    def run(self, jobs: Sequence[Job]) -> Iterator[RunRecord]:
        """Run ``jobs``; yield one record per job, as they complete."""
        ...

    def skip_pending(self, task: str, message: str) -> None:
        """Run no more of ``task``'s jobs: those not started yet yield ``skipped`` records with ``message``."""
        ...
