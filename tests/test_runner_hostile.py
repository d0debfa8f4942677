"""Hostile submissions (tests/hostile/<case>/complexity.py), each run for real in the sandbox.

Each case must be contained: the right status and message for the model it
attacks on, the other models of the run fine, the host unchanged, the harness
alive. Most cases misbehave on model 1 of the tiny 4-model task, so that the
run also shows the worker being replaced for models 2 and 3. Every case is run
once per module, two at a time (`hostile`), with short limits, and waited for
by its own test, so that a case that breaks the harness fails its test alone;
then a well-behaved submission runs on the same data.
"""

from __future__ import annotations

import hashlib
import os
import select
import shutil
import socket
import subprocess
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from harness.scoring.evaluate import evaluate_predictions
from harness.run import RunConfig, RunResult, SubmissionImportError, run_submission
from harness.sandbox import find_bwrap

REPO = Path(__file__).resolve().parents[1]
HOSTILE = Path(__file__).resolve().parent / "hostile"
GOOD = Path(__file__).resolve().parent / "submissions" / "original_sum_of_squares"
CANARY = Path("/tmp/pgdl-hostile-canary-writes-outside")  # written inside the sandbox's private /tmp
CASES = sorted(p.name for p in HOSTILE.iterdir() if (p / "complexity.py").is_file())
LIMITS = dict(time_per_model=8.0, memory_mb=2048)
# Models 0 and 1 have one hidden layer, 2 and 3 two: a well-behaved model answers len(model.layers).
LAYERS = {"0": 2.0, "1": 2.0, "2": 3.0, "3": 3.0}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap (bwrap) is not installed")]


class Hostile:
    """Every case's run, started at once (two at a time), each waited for by its own test.

    ``hostile[case]`` is that case's run: its `RunResult`, or the
    `SubmissionImportError` that ended it; anything else it raised fails that
    case's test alone. What the host looked like after all of them
    (`connections`, `bystander_survived`, `data_after`) and the well-behaved
    run after them (``hostile["good"]``) wait for every case first.
    """

    def __init__(self, server: "LoopbackServer", bystander: subprocess.Popen, data: Path,
                 good: tuple[Path, Path, Path]) -> None:
        self.futures: dict[str, Future] = {}
        self.server, self.bystander, self.data = server, bystander, data
        self.data_before = fingerprint(data)
        self._good_args, self._good = good, None

    def __getitem__(self, case: str) -> RunResult | SubmissionImportError:
        if case == "good":
            return self.good()
        try:
            return self.futures[case].result()
        except SubmissionImportError as failure:
            return failure

    def wait_all(self) -> None:
        wait(list(self.futures.values()))

    @property
    def connections(self) -> list[bytes]:
        self.wait_all()
        return self.server.seen

    @property
    def bystander_survived(self) -> bool:
        self.wait_all()
        return self.bystander.poll() is None

    @property
    def data_after(self) -> dict[str, tuple[int, str]]:
        self.wait_all()
        return fingerprint(self.data)

    def good(self) -> RunResult:
        self.wait_all()
        if self._good is None:
            self._good = run_submission(*self._good_args, RunConfig(**LIMITS))
        return self._good


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, tiny_combined_task, tiny_split_task) -> Iterator[Hostile]:
    """Start every case's run, two at a time (each run has its own sandboxed worker)."""
    root = tiny_combined_task.root
    network = shutil.copytree(HOSTILE / "network", tmp_path_factory.mktemp("submission") / "network")
    cases = {name: (HOSTILE / name, root, {}) for name in CASES}
    cases["network"] = (network, root, {})
    cases["fork_bomb"] = (HOSTILE / "fork_bomb", root, {"max_threads": 64})
    # Time enough to reach the memory limit even on a busy machine: the case must end on memory.
    cases["allocates_memory"] = (HOSTILE / "allocates_memory", root, {"time_per_model": 60.0})
    cases["reads_reference"] = (HOSTILE / "reads_reference", root, {"time_per_model": 120.0})
    cases["reads_reference_split"] = (HOSTILE / "reads_reference", tiny_split_task.root, {"time_per_model": 120.0})
    # Memory in tmpfs files and shared memory: 3 GiB each under a 1500 MiB limit, tmpfs caps above it.
    cases["hidden_memory"] = (HOSTILE / "hidden_memory", root, {"memory_mb": 1500, "tmp_mb": 4096,
                                                                "time_per_model": 60.0})
    cases["floods_logs"] = (HOSTILE / "floods_logs", root, {"log_mb": 3, "model_log_mb": 1})
    CANARY.unlink(missing_ok=True)
    bystander = subprocess.Popen(["sleep", "600"])
    with LoopbackServer() as server, ThreadPoolExecutor(max_workers=2) as pool:
        (network / "port.txt").write_text(str(server.port))
        runs = Hostile(server, bystander, tiny_combined_task.task.input_dir,
                       (GOOD, root, tmp_path_factory.mktemp("good")))
        runs.futures.update({name: pool.submit(run_submission, sub, data, tmp_path_factory.mktemp(name),
                                               RunConfig(**{**LIMITS, **limits}))
                             for name, (sub, data, limits) in cases.items()})
        yield runs
        runs.wait_all()
    bystander.kill()


class LoopbackServer:
    """A TCP and a UDP server on one port of 127.0.0.1, recording the first bytes of every
    connection and every datagram."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen()
        self.port = self._socket.getsockname()[1]
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", self.port))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve)

    def __enter__(self) -> "LoopbackServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()
        self._udp.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._socket, self._udp], [], [], 0.2)
            if self._udp in ready:
                self.seen.append(self._udp.recv(100))
            if self._socket in ready:
                conn, _ = self._socket.accept()
                with conn:
                    self.seen.append(conn.recv(100))


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
    for case, tiny in (("reads_reference", tiny_combined_task), ("reads_reference_split", tiny_split_task)):
        result = hostile[case]
        assert outcomes(result) == {m: ("ok", 1.0) for m in LAYERS}
        found = {"tiny_task": {r.model: r.value for r in result.records}}
        constant = {"tiny_task": {m: 1.0 for m in LAYERS}}
        scored, baseline = (evaluate_predictions(p, tiny.root, bootstrap=0).tasks[0] for p in (found, constant))
        np.testing.assert_equal((scored.official, scored.kendall_tau), (baseline.official, baseline.kendall_tau))


def test_network_reaches_nothing_on_the_hosts_loopback(hostile):
    assert hostile.connections == []
    assert outcomes(hostile["network"])["1"] == ("ok", 0.0)
    assert_others_fine(hostile["network"])


def test_writes_to_data_harness_and_host_change_nothing(hostile):
    result = hostile["writes_outside"]
    assert outcomes(result)["1"] == ("ok", 0.0)  # not one write outside its folder and /tmp went through
    assert_others_fine(result)
    assert hostile.data_after == hostile.data_before
    assert not any(p.name.startswith("hostile") for p in (REPO / "harness").rglob("*"))
    assert not CANARY.exists()


def test_infinite_loop_times_out_and_the_run_goes_on(hostile):
    result = hostile["infinite_loop"]
    assert outcomes(result)["1"] == ("timeout", None)
    assert message(result, "1") == "exceeded the 8 s time limit while running the measure"
    assert_others_fine(result)


def test_unbounded_allocation_hits_the_memory_limit(hostile):
    result = hostile["allocates_memory"]
    assert outcomes(result)["1"] == ("memory", None)
    assert message(result, "1").startswith("exceeded the memory limit while running the measure: used ")
    assert message(result, "1").endswith("over the 2048 MiB limit")
    assert_others_fine(result)


def test_killing_the_parent_and_every_process_harms_nothing(hostile):
    assert hostile.bystander_survived
    assert outcomes(hostile["kills_everything"]) == {m: ("ok", v) for m, v in LAYERS.items()}


def test_exiting_the_interpreter_is_a_crash_of_that_model_only(hostile):
    result = hostile["os_exit"]
    assert outcomes(result)["1"] == ("crashed", None)
    assert message(result, "1").startswith("the worker died while running the measure: exit status 3")
    assert_others_fine(result)


def test_sys_exit_is_an_error_of_that_model_only(hostile):
    result = hostile["sys_exit"]
    assert outcomes(result)["1"] == ("error", None)
    assert message(result, "1") == "SystemExit: 2 (complexity.py:7)"
    assert_others_fine(result)


def test_segfault_is_a_crash_of_that_model_only(hostile):
    result = hostile["segfault"]
    assert outcomes(result)["1"] == ("crashed", None)
    assert "killed by signal 11 (SIGSEGV)" in message(result, "1")
    assert_others_fine(result)


def test_nan_inf_string_and_none_are_invalid(hostile):
    assert {r.model: (r.status, r.message) for r in hostile["returns_invalid"].records} == {
        "0": ("invalid", "returned nan, not a finite number"),
        "1": ("invalid", "returned inf, not a finite number"),
        "2": ("invalid", "returned a str ('1.5'), not a number"),
        "3": ("invalid", "returned None, not a number")}


def test_an_exception_is_an_error_naming_it_and_the_line(hostile):
    result = hostile["raises"]
    assert outcomes(result)["1"] == ("error", None)
    assert message(result, "1") == "ValueError: hostile failure on purpose (complexity.py:6)"
    assert_others_fine(result)


def test_import_error_ends_the_run_after_one_attempt_recording_nothing(hostile):
    failure = hostile["import_error"]
    assert isinstance(failure, SubmissionImportError)
    assert str(failure) == ("complexity.py failed to import: ModuleNotFoundError: No module named "
                            "'pgdl_no_such_module_anywhere' (complexity.py:2)")
    assert (failure.out_dir / "run.jsonl").read_text() == ""
    assert (failure.out_dir / "logs" / "worker-0.log").read_text().count("=== worker") == 1


def test_syntax_error_ends_the_run_naming_the_file_and_line(hostile):
    failure = hostile["syntax_error"]
    assert isinstance(failure, SubmissionImportError)
    assert str(failure) == "complexity.py failed to import: SyntaxError: expected ':' (complexity.py:4)"


def test_sleeping_at_import_ends_the_run_after_one_attempt_saying_to_raise_the_limit(hostile):
    failure = hostile["sleeps_at_import"]
    assert isinstance(failure, SubmissionImportError)
    assert str(failure) == ("exceeded the 8 s time limit while importing complexity.py; "
                            "raise time_per_model")
    assert (failure.out_dir / "logs" / "worker-0.log").read_text().count("=== worker") == 1


def test_fork_bomb_is_stopped_at_the_thread_cap(hostile):
    result = hostile["fork_bomb"]
    status = outcomes(result)["1"][0]
    if os.geteuid() == 0:  # the kernel's RLIMIT_NPROC of the worker's own user id refuses the fork
        assert status == "error" and message(result, "1").startswith("BlockingIOError: [Errno 11]")
    else:  # the harness's watcher kills the tree
        assert status == "crashed" and "thread limit" in message(result, "1")
    assert_others_fine(result)


def test_a_good_submission_after_the_hostile_ones_is_unaffected(hostile):
    assert [r.status for r in hostile["good"].records] == ["ok"] * 4


# --- second round: privileges, system calls, hidden memory, protocol, values, disk -------------


def test_nothing_of_the_submission_runs_before_the_privilege_drop(hostile):
    # 256 (no process limit) is expected only in user-namespace mode, where the harness is no root.
    allowed = {0.0} if os.geteuid() == 0 else {0.0, 256.0}
    result = hostile["shadows_modules"]
    assert {r.status for r in result.records} == {"ok"}
    assert {r.value for r in result.records} <= allowed, [r.value for r in result.records]


def test_the_system_call_filter_refuses_namespaces_mounts_keyrings_tracing_and_hidden_memory(hostile):
    result = hostile["forbidden_syscalls"]
    assert outcomes(result)["1"] == ("ok", 0.0)
    assert_others_fine(result)


def test_memory_in_tmpfs_files_and_shared_memory_counts_against_the_limit(hostile):
    result = hostile["hidden_memory"]
    assert {m: s for m, (s, _) in outcomes(result).items()} == {m: "memory" for m in LAYERS}
    for record in result.records:
        assert "in tmpfs files), over the 1500 MiB limit" in record.message, record.message
    log = (result.out_dir / "logs" / "worker-0.log").read_text()
    assert "went through" not in log  # memfd_create and System V shared memory were refused


def test_anything_malformed_on_the_result_pipe_is_a_protocol_error_of_that_model(hostile):
    prefix = "protocol error while running the measure: the worker sent "
    assert {r.model: (r.status, r.message) for r in hostile["protocol_abuse"].records} == {
        "0": ("crashed", prefix + "JSON nested too deeply"),
        "1": ("crashed", prefix + "result: field 'value' must be a number or null, got a str"),
        "2": ("crashed", prefix + "a line that is not UTF-8"),
        "3": ("crashed", prefix + "a line of more than 1048576 bytes")}


def test_unusable_values_are_invalid_and_an_unprintable_exception_an_error(hostile):
    assert {r.model: (r.status, r.message) for r in hostile["bad_values"].records} == {
        "0": ("invalid", "returned a int too large for a float"),
        "1": ("invalid", "returned a Treacherous, not a number (RuntimeError from float())"),
        "2": ("error", "Unprintable (its message could not be read)"),
        "3": ("invalid", "returned an integer of 401 digits, not a finite number")}


def test_deep_trees_links_and_fifos_left_behind_harm_no_model_and_no_clean_up(hostile):
    assert outcomes(hostile["deep_trees"]) == {m: ("ok", v) for m, v in LAYERS.items()}


def test_logs_stay_within_the_per_model_and_per_run_caps(hostile):
    result = hostile["floods_logs"]
    assert {r.status for r in result.records} == {"crashed"}
    logs = list((result.out_dir / "logs").iterdir())
    total = sum(p.stat().st_size for p in logs)
    assert 2 << 20 < total < (3 << 20) + 4096  # 8 MiB printed per model: cut at 1 MiB each, 3 MiB in all
    text = "".join(p.read_text(errors="replace") for p in logs)
    assert "[pgdl: output cut here: over the 1 MiB per-model log limit]" in text
    assert "[pgdl: output cut here: over the run's 3 MiB log limit]" in text
