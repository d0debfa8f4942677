"""The sandbox's parts, one guarantee per test, without TensorFlow (fast).

The worker protocol (anything malformed is a one-line `ProtocolError`), the system-call
filter (compiled by libseccomp, refusing in a real bwrap sandbox what it lists), worker user
ids (random per run, never one in use), delegated-cgroup detection (on a fake cgroup tree:
this machine's cgroups are not ours), the capped logs, the tmpfs-aware memory watch, and the
leaderboard going on past a submission that cannot even be opened. The same attacks against
a real run with TensorFlow are in test_runner_hostile.py.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from harness.sandbox import protocol
from harness.report.leaderboard import run_leaderboard
from harness.sandbox.memory import (CGROUP_ENV, MemoryUsage, ProcMemoryWatch, WorkerCgroup, find_delegated_cgroup,
                            sandboxed_pid, tmpfs_bytes)
from harness.run import RunConfig, usable_value
from harness.sandbox import (TMPFS_MOUNTS, LogBudget, SandboxLayout, UidPool, WorkerLog, find_bwrap, tree_pids,
                             uids_in_use, worker_command)
from harness.sandbox.seccomp import compile_filter, rules
from tests.helpers import write_submission

needs_bwrap = pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap (bwrap) is not installed")


# --- the worker protocol -------------------------------------------------------


def test_every_message_survives_encoding_and_decoding():
    messages = [protocol.Init("/pgdl/submission", {"t": "/pgdl/data/t"}, 2, True), protocol.Hello(1.5),
                protocol.Ready(0.2, "complexity(model, dataset)"), protocol.ImportFailed("SyntaxError: x"),
                protocol.Run("t/0", "t", "0", 12345, 300.0),
                protocol.Result("t/0", protocol.Status.OK, 1.25, "", 0.01, 0.02)]
    assert [protocol.decode(protocol.encode(m).rstrip(b"\n")) for m in messages] == messages


@pytest.mark.parametrize("line, reason", [
    (b"[" * 200_000 + b"]" * 200_000, "JSON nested too deeply"),
    (b'{"op": "result", "job": "a", "status": "ok", "value": ' + b"9" * 5000 + b"}", "not JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b'{"op": "result", "job": 1, "status": "ok"}', "field 'job' must be a string, got an int"),
    (b'{"op": "result", "job": "a", "status": "done"}', "field 'status' must be one of ok, error, invalid"),
    (b'{"op": "result", "job": "a", "status": "ok", "value": [1]}', "field 'value' must be a number or null"),
    (b'{"op": "result", "job": "a", "status": "ok", "value": NaN}', "non-JSON constant NaN"),
    (b'{"op": "hello", "seconds": -1}', "finite number of seconds"),
    (b'{"op": "hello", "seconds": 1e999}', "finite number of seconds"),
    (b'{"op": "hello", "seconds": true}', "must be a number, got a bool"),
    (b'{"op": "hello"}', "missing 1 required"),
    (b'{"op": "hello", "seconds": 1, "extra": 2}', "unknown field 'extra'"),
    (b'{"op": "launch_missiles"}', "unknown message kind"),
    (b'{"op": [[[[]]]]}', "without an 'op' string"),
    (b"[1, 2]", "an array instead of a message object"),
    (b'{"op": "result", "job": "' + b"x" * 20_000 + b'", "status": "ok"}', "at most 10000 characters"),
    (b" " * (protocol.MAX_LINE + 1), "more than 1048576 bytes"),
])
def test_a_malformed_line_is_a_one_line_protocol_error(line, reason):
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.decode(line)
    assert reason in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("value, expected", [(1.5, 1.5), (3, 3.0), (10 ** 400, None), (None, None),
                                             (float("inf"), None)])
def test_a_result_value_is_used_only_when_it_is_a_finite_float(value, expected):
    assert usable_value(value) == expected


# --- the system-call filter ------------------------------------------------------


def test_the_filter_is_compiled_by_libseccomp_into_a_bpf_program():
    program = compile_filter()
    assert len(program) % 8 == 0 and len(program) // 8 > len(rules())  # struct sock_filter: 8 bytes each


PROBE_SYSCALLS = r"""
import ctypes, errno, json, os, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(*args):
    ctypes.set_errno(0)
    result = libc.syscall(*args)
    return result, ctypes.get_errno()
report = {"unshare_user": call(272, 0x10000000), "memfd": call(319, b"x", 0), "shmget": call(29, 0, 4096, 0o1600),
          "keyctl": call(250, 0, -3, 0), "clone3": call(435, 0, 0), "io_uring": call(425, 8, 0),
          "ptrace": call(101, 0, 0, 0, 0), "mount": call(165, b"none", b"/tmp", b"tmpfs", 0, 0),
          "socket": call(41, 2, 1, 0), "socketpair": call(53, 1, 1, 0, 0)}
t = threading.Thread(target=lambda: None); t.start(); t.join()
pid = os.fork()
if pid == 0:
    os._exit(0)
report["fork"] = os.waitpid(pid, 0)[1]
print(json.dumps(report))
"""


@needs_bwrap
def test_the_filter_refuses_its_calls_in_a_real_sandbox_and_threads_and_fork_still_work(tmp_path):
    import errno

    from harness.sandbox.seccomp import filter_fd

    copy = write_submission(tmp_path / "copy")
    uid = UidPool().take() if os.geteuid() == 0 else None
    args = SandboxLayout(copy, [], uid=uid).bwrap_args()
    fd = filter_fd(compile_filter())
    try:
        command = worker_command([sys.executable, "-I", "-c", PROBE_SYSCALLS], uid=uid, max_threads=64)
        proc = subprocess.run(["bwrap", *args, "--seccomp", str(fd), "--", *command], pass_fds=(fd,),
                              env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report.pop("fork") == 0
    assert report.pop("clone3") == [-1, errno.ENOSYS]
    assert report == {name: [-1, errno.EPERM] for name in report}


# --- worker user ids ---------------------------------------------------------------


def test_uids_in_use_are_read_from_every_process_status(tmp_path):
    for pid, uids in (("1", "0\t0\t0\t0"), ("42", "2000100\t2000100\t2000101\t2000100"), ("self", "5\t5\t5\t5")):
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "status").write_text(f"Name:\tx\nUid:\t{uids}\nGid:\t0\t0\t0\t0\n")
    assert uids_in_use(tmp_path) == {0, 2000100, 2000101}


def test_worker_uids_skip_ids_in_use_and_never_repeat(tmp_path):
    base = random.Random(7).randrange(2_000_000, 2_000_000_000)
    (tmp_path / "9").mkdir()
    (tmp_path / "9" / "status").write_text(f"Uid:\t{base}\t{base + 1}\t{base}\t{base}\n")
    pool = UidPool(tmp_path, random.Random(7))
    assert [pool.take() for _ in range(3)] == [base + 2, base + 3, base + 4]


def test_two_runs_draw_different_worker_uids():
    first, second = UidPool().take(), UidPool().take()
    assert first != second and min(first, second) >= 2_000_000 and first not in uids_in_use()


# --- delegated cgroups (a fake cgroup tree: this machine's cgroups are not ours) -------


def fake_cgroup_tree(tmp_path: Path, controls: str) -> tuple[Path, Path]:
    mount = tmp_path / "sys" / "fs" / "cgroup"
    mine = mount / "pgdl.scope"
    mine.mkdir(parents=True)
    (mine / "cgroup.subtree_control").write_text(controls + "\n")
    proc = tmp_path / "proc" / "self"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text("0::/pgdl.scope\n")
    (proc / "mountinfo").write_text(f"25 1 0:22 / {mount} rw,nosuid - cgroup2 cgroup2 rw\n"
                                    "26 1 0:23 / /proc rw - proc proc rw\n")
    return tmp_path / "proc", mine


def test_a_delegated_cgroup_with_the_memory_controller_is_found(tmp_path, monkeypatch):
    proc, mine = fake_cgroup_tree(tmp_path, "cpu memory pids")
    monkeypatch.setattr("harness.sandbox.memory.handed_over", lambda folder: folder == mine)
    assert find_delegated_cgroup(proc, env={}) == mine


def test_a_cgroup_not_handed_over_is_not_used_even_when_writable(tmp_path):
    proc, _ = fake_cgroup_tree(tmp_path, "cpu memory pids")  # owned by whoever runs the test, no delegate mark
    if os.geteuid() != 0:
        pytest.skip("as another user the fake folder is its own, which is what delegation looks like")
    assert find_delegated_cgroup(proc, env={}) is None


def test_the_root_cgroup_is_never_used_unasked(tmp_path, monkeypatch):
    proc, _ = fake_cgroup_tree(tmp_path, "memory")
    (proc / "self" / "cgroup").write_text("0::/\n")
    (tmp_path / "sys" / "fs" / "cgroup" / "cgroup.subtree_control").write_text("memory\n")
    monkeypatch.setattr("harness.sandbox.memory.handed_over", lambda folder: True)
    assert find_delegated_cgroup(proc, env={}) is None


def test_a_cgroup_without_the_memory_controller_is_not_used(tmp_path, monkeypatch):
    proc, _ = fake_cgroup_tree(tmp_path, "cpu pids")
    monkeypatch.setattr("harness.sandbox.memory.handed_over", lambda folder: True)
    assert find_delegated_cgroup(proc, env={}) is None


def test_pgdl_cgroup_names_the_delegated_folder(tmp_path):
    proc, mine = fake_cgroup_tree(tmp_path, "memory")
    other = tmp_path / "other"
    other.mkdir()
    (other / "cgroup.subtree_control").write_text("memory\n")
    assert find_delegated_cgroup(proc, env={CGROUP_ENV: str(other)}) == other


def test_no_cgroup2_mount_means_the_proc_fallback(tmp_path, monkeypatch):
    proc, _ = fake_cgroup_tree(tmp_path, "memory")
    monkeypatch.setattr("harness.sandbox.memory.handed_over", lambda folder: True)
    (proc / "self" / "mountinfo").write_text("26 1 0:23 / /proc rw - proc proc rw\n")
    assert find_delegated_cgroup(proc, env={}) is None


def test_a_worker_cgroup_gets_the_memory_limit_and_the_worker_moves_in(tmp_path):
    _, mine = fake_cgroup_tree(tmp_path, "memory")
    cgroup = WorkerCgroup.create(mine, "pgdl-1-0", 1000 << 20)
    assert (cgroup.path / "memory.max").read_text() == f"{1000 << 20}\n"
    assert (cgroup.path / "memory.swap.max").read_text() == "0\n"
    proc = subprocess.run([*cgroup.launcher(), "sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    assert (cgroup.path / "cgroup.procs").read_text().split() == proc.stdout.split()  # the same process


def test_an_oom_kill_in_the_worker_cgroup_is_reported(tmp_path):
    _, mine = fake_cgroup_tree(tmp_path, "memory")
    cgroup = WorkerCgroup.create(mine, "w", 1 << 30)
    (cgroup.path / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\n")
    assert not cgroup.oom_killed()
    (cgroup.path / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    assert cgroup.oom_killed()


# --- capped logs ------------------------------------------------------------------


def test_a_model_section_is_cut_at_its_cap_with_a_marker(tmp_path):
    log = WorkerLog(tmp_path / "w.log", LogBudget(run_bytes=10_000, section_bytes=100))
    log.section("model t/0")
    log.write(b"a" * 60)
    log.write(b"b" * 60)
    log.write(b"c" * 60)
    log.section("model t/1")
    log.write(b"d" * 10)
    text = (tmp_path / "w.log").read_text()
    assert text == ("=== model t/0 ===\n" + "a" * 60 + "b" * 40
                    + "\n[pgdl: output cut here: over the 0 MiB per-model log limit]\n=== model t/1 ===\n" + "d" * 10)


def test_the_run_cap_holds_across_workers_logs(tmp_path):
    budget = LogBudget(run_bytes=150, section_bytes=100)
    logs = [WorkerLog(tmp_path / f"w{i}.log", budget) for i in range(3)]
    for log in logs:
        log.section("model")
        log.write(b"x" * 100)
    written = [(tmp_path / f"w{i}.log").read_text().count("x") for i in range(3)]
    assert written == [100, 50, 0]
    assert "over the run's 0 MiB log limit" in (tmp_path / "w2.log").read_text()


# --- memory the processes do not show ------------------------------------------------


@needs_bwrap
def test_tmpfs_files_of_a_sandbox_count_as_its_memory(tmp_path):
    args = SandboxLayout(write_submission(tmp_path / "copy"), []).bwrap_args()
    script = "head -c 50000000 /dev/zero > /tmp/a; head -c 30000000 /dev/zero > /dev/shm/b; " \
             "exec 3</tmp/a; rm /tmp/a; touch /tmp/ready; sleep 30"
    proc = subprocess.Popen(["bwrap", *args, "--", "sh", "-c", script])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            inside = sandboxed_pid(tree_pids(proc.pid)[1:])
            if inside is not None and os.path.exists(f"/proc/{inside}/root/tmp/ready"):
                break
            time.sleep(0.1)
        pids = tree_pids(proc.pid)
        usage = ProcMemoryWatch(TMPFS_MOUNTS).usage(pids, resident=0)
        assert usage.tmpfs >= 80_000_000  # the deleted but open file included
        assert tmpfs_bytes(os.getpid(), ["/nonexistent"]) == 0
    finally:
        proc.kill()
        proc.wait()


def test_memory_usage_says_how_much_is_in_tmpfs_files():
    assert MemoryUsage(100 << 20, 900 << 20).describe() == "1000 MiB (of which 900 MiB in tmpfs files)"


# --- the leaderboard goes on ---------------------------------------------------------


def test_a_submission_that_cannot_be_opened_gets_its_error_row_and_the_rest_are_ranked(tmp_path, tiny_split_task):
    linked = write_submission(tmp_path / "linked")
    os.symlink("/".join(["x" * 250] * 16), linked / "long-link")
    os.symlink("/dev/zero", linked / "metadata")  # never read through
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata", "name: " + "x" * 4000 + "\n")  # its deflate stream gets corrupted below
        zf.writestr("complexity.py", "def complexity(model, dataset):\n    return 1.0\n")
    data = bytearray(broken.read_bytes())
    data[45:70] = b"\xff" * 25
    broken.write_bytes(bytes(data))
    good = write_submission(tmp_path / "good")
    board = run_leaderboard([linked, broken, good], tiny_split_task.root, tmp_path / "board",
                            RunConfig(time_per_model=60.0, sandbox=find_bwrap() is not None), bootstrap=0)
    errors = {e.name: e.error for e in board.entries}
    assert "is a symbolic link" in errors["linked"] and "cannot unpack" in errors["broken"]
    assert errors["good"] is None
