"""Hostile submissions (tests/hostile/<case>/complexity.py), each run for real in the sandbox.

Each case must be contained: the right status and message for the model it
attacks on, the other models of the run fine, the host unchanged, the harness
alive. Most cases misbehave on model 1 of the tiny 4-model task, so that the
run also shows the worker being replaced for models 2 and 3. Every case is run
once per module (`hostile`), with short limits.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.evaluate import evaluate_predictions
from harness.runner import RunConfig, RunResult, run_submission
from harness.sandbox import find_bwrap

HOSTILE = Path(__file__).resolve().parent / "hostile"
GOOD = Path(__file__).resolve().parent / "submissions" / "original_sum_of_squares"
LIMITS = dict(time_per_model=8.0, memory_mb=2048)
# Models 0 and 1 have one hidden layer, 2 and 3 two: a well-behaved model answers len(model.layers).
LAYERS = {"0": 2.0, "1": 2.0, "2": 3.0, "3": 3.0}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap (bwrap) is not installed")]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, tiny_combined_task):
    """``run(case, submission=None, root=None, **limits) -> RunResult``, each case run once."""
    done: dict[str, RunResult] = {}

    def run(case: str, submission: Path | None = None, root: Path | None = None, **limits) -> RunResult:
        key = f"{case}@{root}" if root else case
        if key not in done:
            out = tmp_path_factory.mktemp(case)
            done[key] = run_submission(submission or HOSTILE / case, root or tiny_combined_task.root, out,
                                       RunConfig(**{**LIMITS, **limits}))
        return done[key]

    return run


def outcomes(result: RunResult) -> dict[str, tuple[str, float | None]]:
    return {r.model: (r.status, r.value) for r in result.records}


def message(result: RunResult, model: str) -> str:
    return next(r.message for r in result.records if r.model == model)


def assert_others_fine(result: RunResult, bad: str = "1") -> None:
    assert {m: v for m, v in outcomes(result).items() if m != bad} == \
        {m: ("ok", v) for m, v in LAYERS.items() if m != bad}


def fingerprint(folder: Path) -> dict[str, tuple[int, str]]:
    return {str(p.relative_to(folder)): (p.stat().st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_reading_reference_data_finds_none_and_scores_as_a_constant(hostile, tiny_combined_task,
                                                                      tiny_split_task):
    for tiny in (tiny_combined_task, tiny_split_task):
        result = hostile("reads_reference", root=tiny.root, time_per_model=120.0)
        assert outcomes(result) == {m: ("ok", 1.0) for m in LAYERS}
        found = {"tiny_task": {r.model: r.value for r in result.records}}
        constant = {"tiny_task": {m: 1.0 for m in LAYERS}}
        scored, baseline = (evaluate_predictions(p, tiny.root, bootstrap=0).tasks[0] for p in (found, constant))
        assert (scored.official, scored.kendall_tau) == (baseline.official, baseline.kendall_tau)


def test_network_reaches_nothing_on_the_hosts_loopback(hostile, tmp_path):
    seen: list[bytes] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                    seen.append(conn.recv(100))
                    conn.close()
                except OSError:
                    pass

        listener = threading.Thread(target=accept)
        listener.start()
        submission = shutil.copytree(HOSTILE / "network", tmp_path / "network")
        (submission / "port.txt").write_text(str(server.getsockname()[1]))
        try:
            result = hostile("network", submission=submission)
        finally:
            stop.set()
            listener.join()
    assert seen == []
    assert outcomes(result)["1"] == ("ok", 0.0)
    assert_others_fine(result)


def test_writes_to_data_harness_and_host_change_nothing(hostile, tiny_combined_task):
    data = tiny_combined_task.task.input_dir
    harness_dir = Path(__file__).resolve().parents[1] / "harness"
    canary = Path("/tmp/pgdl-hostile-canary-writes-outside")
    canary.unlink(missing_ok=True)
    before = (fingerprint(data), sorted(p.name for p in harness_dir.iterdir()))
    result = hostile("writes_outside")
    assert outcomes(result)["1"] == ("ok", 0.0)  # not one write outside its folder and /tmp went through
    assert_others_fine(result)
    assert (fingerprint(data), sorted(p.name for p in harness_dir.iterdir())) == before
    assert not canary.exists()


def test_infinite_loop_times_out_and_the_run_goes_on(hostile):
    result = hostile("infinite_loop")
    assert outcomes(result)["1"] == ("timeout", None)
    assert message(result, "1") == "exceeded the 8 s time limit while running the measure"
    assert_others_fine(result)


def test_unbounded_allocation_hits_the_memory_limit(hostile):
    result = hostile("allocates_memory")
    assert outcomes(result)["1"] == ("memory", None)
    assert message(result, "1").startswith("exceeded the memory limit while running the measure: used ")
    assert message(result, "1").endswith("over the 2048 MiB limit")
    assert_others_fine(result)


def test_killing_the_parent_and_every_process_harms_nothing(hostile):
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        result = hostile("kills_everything")
        assert bystander.poll() is None
    finally:
        bystander.kill()
    assert outcomes(result) == {m: ("ok", v) for m, v in LAYERS.items()}


def test_exiting_the_interpreter_is_a_crash_of_that_model_only(hostile):
    result = hostile("os_exit")
    assert outcomes(result)["1"] == ("crashed", None)
    assert message(result, "1").startswith("the worker died while running the measure: exit status 3")
    assert_others_fine(result)


def test_sys_exit_is_an_error_of_that_model_only(hostile):
    result = hostile("sys_exit")
    assert outcomes(result)["1"] == ("error", None)
    assert message(result, "1") == "SystemExit: 2 (complexity.py:7)"
    assert_others_fine(result)


def test_segfault_is_a_crash_of_that_model_only(hostile):
    result = hostile("segfault")
    assert outcomes(result)["1"] == ("crashed", None)
    assert "killed by signal 11 (SIGSEGV)" in message(result, "1")
    assert_others_fine(result)


def test_nan_inf_string_and_none_are_invalid(hostile):
    result = hostile("returns_invalid")
    assert {r.model: (r.status, r.message) for r in result.records} == {
        "0": ("invalid", "returned nan, not a finite number"),
        "1": ("invalid", "returned inf, not a finite number"),
        "2": ("invalid", "returned a str ('1.5'), not a number"),
        "3": ("invalid", "returned None, not a number")}


def test_an_exception_is_an_error_naming_it_and_the_line(hostile):
    result = hostile("raises")
    assert outcomes(result)["1"] == ("error", None)
    assert message(result, "1") == "ValueError: hostile failure on purpose (complexity.py:6)"
    assert_others_fine(result)


def test_import_error_fails_every_model_from_one_attempt(hostile):
    result = hostile("import_error")
    assert {r.status for r in result.records} == {"error"} and len(result.records) == 4
    assert {r.message for r in result.records} == {
        "complexity.py failed to import: ModuleNotFoundError: No module named "
        "'pgdl_no_such_module_anywhere' (complexity.py:2)"}
    log = (result.out_dir / "logs" / "worker-0.log").read_text()
    assert log.count("=== worker") == 1


def test_syntax_error_fails_every_model(hostile):
    result = hostile("syntax_error")
    assert {r.status for r in result.records} == {"error"}
    assert all(r.message.startswith("complexity.py failed to import: SyntaxError") for r in result.records)


def test_sleeping_at_import_times_out_every_model_without_hanging(hostile):
    started = time.monotonic()
    result = hostile("sleeps_at_import")
    assert {(r.status, r.message) for r in result.records} == {
        ("timeout", "exceeded the 8 s time limit while importing complexity.py")}
    assert len(result.records) == 4 and time.monotonic() - started < 8 + 120


def test_fork_bomb_is_stopped_at_the_thread_cap(hostile):
    result = hostile("fork_bomb", max_threads=64)
    status = outcomes(result)["1"][0]
    if os.geteuid() == 0:  # the kernel's RLIMIT_NPROC of the worker's own user id refuses the fork
        assert status == "error" and message(result, "1").startswith("BlockingIOError: [Errno 11]")
    else:  # the harness's watcher kills the tree
        assert status == "crashed" and "thread limit" in message(result, "1")
    assert_others_fine(result)


def test_a_good_submission_after_hostile_ones_is_unaffected(hostile, tiny_combined_task):
    for case in ("writes_outside", "kills_everything", "fork_bomb"):
        hostile(case, max_threads=64) if case == "fork_bomb" else hostile(case)
    result = hostile("good", submission=GOOD)
    assert [r.status for r in result.records] == ["ok"] * 4
