"""`harness.run.progress.RunProgress`: the run's status line, on a terminal and off one."""

from __future__ import annotations

import io

from harness.run.progress import RunProgress, format_duration
from harness.task.records import RunRecord


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ok(model: str, task: str = "a") -> RunRecord:
    return RunRecord(task, model, "ok", 1.0, 1.0)


def test_off_a_terminal_status_lines_are_printed_every_interval_not_every_record():
    out, clock = io.StringIO(), Clock()
    progress = RunProgress({"a": 10}, {}, stream=out, interactive=False, interval=5.0, clock=clock)
    progress.start_task("a")
    progress.worker_ready(0)
    for model in range(4):
        clock.now += 1.0
        progress.advance(ok(str(model)))
    clock.now += 1.5
    progress.advance(ok("4"))
    lines = out.getvalue().splitlines()
    assert lines == ["a: 0/10 done, 0 failed | overall 0/10 | starting worker… 0 s",
                     "a: 5/10 done, 0 failed | overall 5/10 | ETA 6 s"]
    assert "\r" not in out.getvalue()


def test_on_a_terminal_the_line_is_redrawn_in_place():
    out = io.StringIO()
    progress = RunProgress({"a": 2}, {}, stream=out, interactive=True, clock=Clock())
    progress.start_task("a")
    progress.advance(RunRecord("a", "0", "error", None, 1.0, "boom"))
    assert out.getvalue().count("\r\033[K") == 2 and "\n" not in out.getvalue()
    assert out.getvalue().endswith("a: 1/2 done, 1 failed | overall 1/2 | ETA 0 s")


def test_a_resumed_run_says_how_much_was_done_and_counts_on_from_there():
    out = io.StringIO()
    with RunProgress({"a": 48, "b": 48}, {"a": 42}, stream=out, interactive=False, clock=Clock()) as progress:
        progress.start_task("a")
    assert out.getvalue().splitlines() == ["resuming: 42/96 done",
                                           "a: 42/48 done, 0 failed | overall 42/96 | starting worker… 0 s"]


def test_the_eta_counts_only_models_run_now_and_leaves_out_skipped_ones():
    clock = Clock()
    progress = RunProgress({"a": 10}, {"a": 4}, stream=io.StringIO(), interactive=False, clock=clock)
    progress.start_task("a")
    progress.worker_ready(0)
    clock.now = 10.0
    progress.advance(ok("4"))
    progress.advance(RunRecord("a", "5", "skipped", None, 0.0, "not run"))
    assert progress.status_line() == "a: 6/10 done, 1 failed | overall 6/10 | ETA 40 s"


def test_a_disabled_progress_writes_nothing():
    out = io.StringIO()
    with RunProgress({"a": 1}, {"a": 1}, stream=out, enabled=False) as progress:
        progress.start_task("a")
        progress.note("hello")
        progress.advance(ok("0"))
    assert out.getvalue() == ""


def test_durations_read_as_seconds_minutes_and_hours():
    assert [format_duration(s) for s in (0.4, 59, 61, 3725)] == ["0 s", "59 s", "1 min 01 s", "1 h 02 min"]
