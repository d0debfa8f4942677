"""The local executor: worker slots on this machine (one thread each) fed from one queue of jobs."""

from __future__ import annotations

import queue
import threading
from typing import Iterator, Sequence

from harness.run.context import Job, RunContext
from harness.run.session import Session
from harness.task import RunRecord


class LocalExecutor:
    """Worker slots (one thread each) fed from one queue of jobs."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.results: queue.Queue[RunRecord | BaseException] = queue.Queue()
        self.sessions = [Session(context, slot, gpu) for slot, gpu in enumerate(context.config.slots)]

        # A worker is started by its slot's thread and must stay with it: bwrap's
        # --die-with-parent kills the sandbox when the thread that started it ends.
        self.threads = [threading.Thread(target=self._serve, args=(s,), daemon=True) for s in self.sessions]

    def __enter__(self) -> "LocalExecutor":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.context.cancelled.set()
        for session in self.sessions:
            session.kill()
            self.jobs.put(None)
        for thread in self.threads:
            thread.join(timeout=60)

    def skip_pending(self, task: str, message: str) -> None:
        """Skip ``task``'s jobs not started yet: each yields a ``skipped`` record with ``message``.

        Queued jobs are taken back now; one a worker slot has just taken is
        skipped by that slot before it is sent to a worker (`Session.run`); running ones finish.
        """
        self.context.skip_task(task, message)
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                return
            if job is None:  # the pool is closing
                self.jobs.put(None)
                return
            self.results.put(RunRecord(job.task, job.model, "skipped", None, 0.0, message))

    def run(self, jobs: Sequence[Job]) -> Iterator[RunRecord]:
        """Queue ``jobs``; yield their records as they complete."""
        for job in jobs:
            self.jobs.put(job)
        for _ in jobs:
            item = self.results.get()
            if isinstance(item, BaseException):
                raise item
            yield item

    def _serve(self, session: Session) -> None:
        try:
            while (job := self.jobs.get()) is not None and not self.context.cancelled.is_set():
                try:
                    record = session.run(job)
                except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                    self.results.put(exc)
                    return
                if not self.context.cancelled.is_set():
                    self.results.put(record)
        finally:
            session.stop()
