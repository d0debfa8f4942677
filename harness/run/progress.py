"""What a run shows while it works: one status line on stderr.

`RunProgress` follows a run's tasks and models and shows, on one line, the
current task's count and failures, the overall count and an ETA, or
``starting worker…`` while no worker is ready yet. On a terminal the line is
redrawn in place (every record, and every second for the clock); elsewhere
(a log file, CI: ``isatty()`` false) a status line is printed every
``interval`` seconds and when a task ends, instead of a bar. `note` prints a
message on a line of its own (a resumed run's ``resuming: 42/96 done``, a
task stopped after timeouts).

    >>> import io
    >>> out = io.StringIO()
    >>> with RunProgress({"t": 4}, {"t": 2}, stream=out, interactive=False) as progress:
    ...     progress.start_task("t")
    >>> print(out.getvalue().strip())
    resuming: 2/4 done
    t: 2/4 done, 0 failed | overall 2/4 | starting worker… 0 s
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable, Mapping, TextIO

from harness.task.records import RunRecord


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``.

        >>> format_duration(185)
        '3 min 05 s'
    """
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class RunProgress:
    """A run's progress line; thread-safe (workers report their start from their own threads).

    ``totals`` and ``done`` give, per task, its models and how many an
    earlier run already finished. ``interactive`` defaults to
    ``stream.isatty()``; ``enabled=False`` shows nothing.
    """

    def __init__(self, totals: Mapping[str, int], done: Mapping[str, int], *, stream: TextIO | None = None,
                 interactive: bool | None = None, interval: float = 5.0, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.interval = interval
        self.clock = clock
        self.totals = dict(totals)
        self.done = {task: done.get(task, 0) for task in totals}
        self.failed = {task: 0 for task in totals}
        self.resumed = sum(self.done.values())
        self.task: str | None = None
        self.started = clock()
        self.first_ready: float | None = None
        self.finished_here = 0
        self.workers_ready = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._drawn = False
        self._last_print = 0.0

    def __enter__(self) -> "RunProgress":
        if self.enabled:
            if self.resumed:
                self.note(f"resuming: {self.resumed}/{sum(self.totals.values())} done")
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        with self._lock:
            if self.enabled and self.interactive and self._drawn:
                self.stream.write("\n")
                self.stream.flush()
            self._drawn = False

    # --- what the runner reports ---------------------------------------------

    def start_task(self, task: str) -> None:
        with self._lock:
            self.task = task
            self._show(force=True)

    def worker_starting(self, slot: int) -> None:
        with self._lock:
            self._show(force=False)

    def worker_ready(self, slot: int) -> None:
        with self._lock:
            self.workers_ready += 1
            if self.first_ready is None:
                self.first_ready = self.clock()
            self._show(force=False)

    def advance(self, record: RunRecord) -> None:
        with self._lock:
            self.done[record.task] = self.done.get(record.task, 0) + 1
            self.failed[record.task] = self.failed.get(record.task, 0) + (record.status != "ok")
            if record.status != "skipped":
                self.finished_here += 1
            if self.first_ready is None:  # workers elsewhere (Ray) report no start
                self.first_ready = self.clock()
            self._show(force=False)

    def end_task(self) -> None:
        with self._lock:
            self._show(force=True)
            if self.enabled and self.interactive and self._drawn:
                self.stream.write("\n")
                self._drawn = False

    def note(self, text: str) -> None:
        """``text`` on a line of its own (above the redrawn line on a terminal)."""
        with self._lock:
            if not self.enabled:
                return
            if self.interactive and self._drawn:
                self.stream.write("\r\033[K")
                self._drawn = False
            self.stream.write(text + "\n")
            self.stream.flush()

    # --- the line ------------------------------------------------------------

    def status_line(self) -> str:
        """``"task: 12/32 done, 1 failed | overall 44/96 | ETA 3 min 10 s"`` (caller holds the lock)."""
        total = sum(self.totals.values())
        overall = sum(self.done.values())
        parts = []
        if self.task is not None:
            parts.append(f"{self.task}: {self.done[self.task]}/{self.totals[self.task]} done, "
                         f"{self.failed[self.task]} failed")
        parts.append(f"overall {overall}/{total}")
        if self.first_ready is None:
            parts.append(f"starting worker… {format_duration(self.clock() - self.started)}")
        elif self.finished_here:
            rate = (self.clock() - self.first_ready) / self.finished_here
            parts.append(f"ETA {format_duration(rate * (total - overall))}")
        else:
            parts.append("ETA -")
        return " | ".join(parts)

    def _show(self, *, force: bool) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if self.interactive:
            self.stream.write("\r\033[K" + self.status_line())
            self._drawn = True
        elif force or now - self._last_print >= self.interval:
            self.stream.write(self.status_line() + "\n")
            self._last_print = now
        else:
            return
        self.stream.flush()

    def _tick(self) -> None:
        period = 1.0 if self.interactive else self.interval
        while not self._stop.wait(period):
            with self._lock:
                if self.task is not None:
                    self._show(force=False)
