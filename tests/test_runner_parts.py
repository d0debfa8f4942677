"""The runner's parts that need no TensorFlow worker: submissions, records, the sandbox's view, limits."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.task.records import RunRecord, atomic_write_text, read_run_log, write_predict, write_run_log
from harness.run import RunConfig, model_seed, run_submission
from harness.sandbox import (LIB_DIR, SandboxLayout, TaskMount, UidPool, find_bwrap, kill_tree, tree_pids,
                             tree_usage, worker_command)
from harness.submission import (SubmissionError, open_submission, plan_call, safe_unzip, tree_digest)
from tests.helpers import write_submission
from harness.sandbox.worker import as_value, describe_exception

REPO = Path(__file__).resolve().parents[1]
needs_bwrap = pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap (bwrap) is not installed")


# --- submissions -------------------------------------------------------------


def test_zip_with_one_top_level_folder_opens_at_that_folder(tmp_path):
    archive = tmp_path / "measure.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("measure/complexity.py", "def complexity(model, dataset):\n    return 1.0\n")
        zf.writestr("measure/helper.py", "X = 1\n")
    sub = open_submission(archive, tmp_path / "scratch")
    assert sub.name == "measure"
    assert sorted(p.name for p in sub.root.iterdir()) == ["complexity.py", "helper.py"]


def test_submission_without_complexity_py_is_refused_naming_it(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SubmissionError, match=r"empty: no complexity\.py"):
        open_submission(tmp_path / "empty", tmp_path / "scratch")


def test_submission_that_is_a_plain_file_is_refused(tmp_path):
    path = tmp_path / "complexity.py"
    path.write_text("x = 1\n")
    with pytest.raises(SubmissionError, match="a folder or a .zip"):
        open_submission(path, tmp_path / "scratch")


def test_unzip_refuses_a_member_outside_the_folder(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("complexity.py", "")
        zf.writestr("../../escaped.py", "")
    with pytest.raises(SubmissionError, match="points outside"):
        safe_unzip(archive, tmp_path / "out")
    assert not (tmp_path / "escaped.py").exists()


def test_unzip_refuses_a_symbolic_link(tmp_path):
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo("data")
    info.external_attr = (0o120777 << 16)  # S_IFLNK
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "/work/main/model_zoo")
    with pytest.raises(SubmissionError, match="link or special file"):
        safe_unzip(archive, tmp_path / "out")


def test_unzip_refuses_a_declared_size_over_the_cap(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("complexity.py", b"0" * 5000)
    with pytest.raises(SubmissionError, match="unpacks to 5000 bytes, more than the 4096 bytes limit"):
        safe_unzip(archive, tmp_path / "out", max_bytes=4096)


def test_digest_follows_file_contents(tmp_path):
    sub = write_submission(tmp_path / "s")
    before = tree_digest(sub)
    assert tree_digest(sub) == before
    (sub / "complexity.py").write_text("def complexity(model, dataset):\n    return 2.0\n")
    assert tree_digest(sub) != before


def test_call_plan_passes_offered_parameters_by_name():
    def complexity(model, ds, program_dir, seed=0, num_classes=None, unused_with_default=3, **rest):
        pass

    assert plan_call(complexity).extras == ("program_dir", "seed", "num_classes")


def test_call_plan_of_the_2020_signature_passes_nothing_extra():
    def complexity(model, dataset):
        pass

    assert plan_call(complexity).extras == ()


def test_call_plan_refuses_a_required_parameter_it_cannot_fill():
    def complexity(model, dataset, labels):
        pass

    with pytest.raises(SubmissionError, match="asks for 'labels'"):
        plan_call(complexity)


def test_call_plan_refuses_a_function_of_one_argument():
    with pytest.raises(SubmissionError, match=r"must take \(model, dataset"):
        plan_call(lambda model: 0.0)


# --- results -----------------------------------------------------------------


@pytest.mark.parametrize("result, expected", [
    (1.5, 1.5), (np.float32(2.5), 2.5), (np.array(3.0), 3.0), (7, 7.0),
])
def test_numbers_are_accepted_as_values(result, expected):
    assert as_value(result) == (expected, "")


@pytest.mark.parametrize("result, problem", [
    (float("nan"), "returned nan"), (float("inf"), "returned inf"), ("1.5", "returned a str"),
    (None, "returned None"), (True, "returned a bool"), ([1.0, 2.0], "returned a list"),
])
def test_non_numbers_are_refused_with_the_reason(result, problem):
    value, message = as_value(result)
    assert value is None and message.startswith(problem)


def test_exception_is_described_with_the_submissions_line(tmp_path):
    program = write_submission(tmp_path / "s", "def complexity(model, dataset):\n    raise KeyError('w')\n")
    namespace: dict = {}
    exec(compile((program / "complexity.py").read_text(), str(program / "complexity.py"), "exec"), namespace)
    with pytest.raises(KeyError) as caught:
        namespace["complexity"](None, None)
    assert describe_exception(caught.value, str(program)) == "KeyError: 'w' (complexity.py:2)"


# --- records -----------------------------------------------------------------


def ok(task: str, model: str, value: float) -> RunRecord:
    return RunRecord(task, model, "ok", value, 0.1)


def test_run_log_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(ok("t", "0", 1.0).to_json() + "\n" + '{"task": "t", "model": "1", "sta')
    assert list(read_run_log(path)) == [("t", "0")]


def test_run_log_is_rewritten_in_natural_task_and_model_order(tmp_path):
    path = tmp_path / "run.jsonl"
    write_run_log(path, [ok("t", "10", 1.0), ok("t", "2", 2.0), ok("a", "1", 3.0)])
    keys = [(r["task"], r["model"]) for r in map(json.loads, path.read_text().splitlines())]
    assert keys == [("a", "1"), ("t", "2"), ("t", "10")]


def test_predict_file_holds_only_successful_models_in_the_original_format(tmp_path):
    records = [ok("t", "1", 0.5), RunRecord("t", "0", "timeout", None, 9.0, "too slow"), ok("u", "0", 9.0)]
    path = write_predict(tmp_path, "t", records)
    assert path.name == "t.predict"
    assert json.loads(path.read_text()) == {"model_1": 0.5}


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_atomic_writes_get_the_permissions_of_a_plain_write(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "scores.json", "{}\n")
    finally:
        os.umask(old)
    assert (tmp_path / "scores.json").stat().st_mode & 0o777 == mode
    assert [p.name for p in tmp_path.iterdir()] == ["scores.json"]


def test_record_of_status_ok_needs_a_finite_value():
    with pytest.raises(ValueError):
        RunRecord("t", "0", "ok", math.nan, 0.1)
    with pytest.raises(ValueError):
        RunRecord("t", "0", "error", 1.0, 0.1)


# --- seeds, configuration, output folder -------------------------------------


def test_model_seed_depends_on_task_and_model_only():
    assert model_seed("task", "3") == model_seed("task", "3")
    assert len({model_seed("task", "3"), model_seed("task", "4"), model_seed("other", "3")}) == 3
    assert 0 <= model_seed("task", "3") < 2 ** 31


def test_workers_share_the_cores():
    cores = len(os.sched_getaffinity(0))
    assert RunConfig(workers=1).threads_per_worker() == cores
    assert RunConfig(workers=2 * cores).threads_per_worker() == 1
    assert RunConfig(gpus=(0, 1)).slots == [0, 1]


def test_output_folder_of_another_submission_is_refused_before_anything_runs(tmp_path, tiny_split_task):
    out = tmp_path / "out"
    out.mkdir()
    (out / "submission.json").write_text(json.dumps({"name": "other", "sha256": "0" * 64}))
    (out / "run.jsonl").write_text(ok("tiny_task", "0", 1.0).to_json() + "\n")
    with pytest.raises(HarnessError, match="results of another submission"):
        run_submission(write_submission(tmp_path / "s"), tiny_split_task.root, out)


def test_missing_bubblewrap_is_refused_with_how_to_install_it(tmp_path, tiny_split_task):
    env = {**os.environ, "PATH": str(tmp_path)}  # no bwrap on this PATH
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "predict", str(write_submission(tmp_path / "s")),
                           "--data", str(tiny_split_task.root), "--out", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: bubblewrap (bwrap) is not installed")
    assert "apt-get install bubblewrap" in proc.stderr and "--no-sandbox" in proc.stderr


# --- the sandbox's view (real bubblewrap, plain Python, no TensorFlow) --------

PROBE = r"""
import json, os, socket, sys
report = {"uid": os.getuid(), "cwd": os.getcwd(), "copied": os.listdir("/pgdl/submission")}
sys.path.insert(0, "/pgdl/lib")
import harness
report["harness"] = harness.__file__
report["visible"] = {p: os.path.exists(p) for p in json.loads(sys.argv[1])}
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=2).close()
    report["connected"] = True
except OSError:
    report["connected"] = False
for path in ("/pgdl/submission/new.txt", "/tmp/new.txt"):
    open(path, "w").write("x")
report["written"] = True
print(json.dumps(report))
"""


@needs_bwrap
def test_sandbox_shows_the_input_side_only(tmp_path, tiny_combined_task):
    task = tiny_combined_task.task
    mount = TaskMount.of(task)
    copy = write_submission(tmp_path / "copy")
    uid = UidPool().take() if os.geteuid() == 0 else None
    args = SandboxLayout(copy, [mount], uid=uid).bwrap_args()
    base = f"/pgdl/data/{task.name}"
    probes = [f"{base}/model_0/weights.hdf5", f"{base}/dataset_1/train", f"{base}/model_configs.json",
              f"{base}/dataset_1/test", str(task.input_dir), str(REPO / "harness"),
              str(REPO / "model_zoo"), f"{LIB_DIR}/harness/sandbox/worker.py"]
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        command = worker_command([sys.executable, "-I", "-c", PROBE], uid=uid, max_threads=64)
        proc = subprocess.run(["bwrap", *args, "--", *command, json.dumps(probes), str(server.getsockname()[1])],
                              env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        with pytest.raises(socket.timeout):
            server.accept()
    report = json.loads(proc.stdout)
    assert report["visible"] == {**{p: False for p in probes}, probes[0]: True, probes[1]: True,
                                 probes[-1]: True}
    assert report["harness"] == f"{LIB_DIR}/harness/__init__.py"
    assert report["connected"] is False and report["written"] is True
    assert report["cwd"] == "/" and report["copied"] == ["complexity.py"]
    if uid is not None:
        assert report["uid"] == uid
    assert not (tmp_path / "new.txt").exists() and not (copy / "new.txt").exists()  # the copy is on a tmpfs


def test_private_tmp_is_mounted_before_anything_under_tmp(tmp_path, tiny_combined_task, monkeypatch):
    with tempfile.TemporaryDirectory(dir="/tmp") as venv_in_tmp:  # a Python environment under /tmp
        monkeypatch.setattr("harness.sandbox.layout.python_dirs", lambda: [Path(venv_in_tmp)])
        args = SandboxLayout(tmp_path / "copy", [TaskMount.of(tiny_combined_task.task)]).bwrap_args()
    tmpfs = next(i for i, a in enumerate(args) if a == "--tmpfs" and args[i + 1] == "/tmp")
    under_tmp = [i for i, a in enumerate(args) if a.startswith("/tmp/") and args[i - 2] in ("--bind", "--ro-bind")]
    assert under_tmp and all(i > tmpfs for i in under_tmp)


def test_no_reference_data_is_ever_a_mount_source(tmp_path, tiny_combined_task):
    task = tiny_combined_task.task
    mount = TaskMount.of(task)
    args = SandboxLayout(tmp_path / "copy", [mount]).bwrap_args()
    sources = [Path(args[i + 1]) for i, a in enumerate(args) if a in ("--bind", "--ro-bind")]
    assert task.input_dir not in sources and REPO not in sources
    for source in sources:
        assert not (source / "model_configs.json").exists(), source
        assert source != task.test_dir


# --- the process-tree watcher ------------------------------------------------


def test_tree_usage_counts_descendants_and_kill_tree_ends_them():
    proc = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 10
        while len(tree_pids(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = tree_pids(proc.pid)
        usage = tree_usage(proc.pid)
        assert len(pids) == 3 and usage.processes == 3 and usage.threads == 3
        assert usage.rss_bytes > 0
        kill_tree(proc.pid)
        proc.wait(timeout=10)
        time.sleep(0.2)
        assert not any(Path(f"/proc/{p}/status").exists() and "zombie" not in
                       Path(f"/proc/{p}/status").read_text() for p in pids[1:])
    finally:
        proc.kill()


def test_failure_reasons_are_counted_once_per_distinct_message_whatever_the_model():
    from harness.task.records import FailureReason, failure_reasons

    records = [RunRecord("t", "0", "ok", 1.0, 1.0),
               RunRecord("t", "1", "error", None, 1.0, "could not load /d/model_1/weights.hdf5: bad"),
               RunRecord("t", "2", "error", None, 1.0, "could not load /d/model_2/weights.hdf5: bad"),
               RunRecord("t", "3", "timeout", None, 3.0, "exceeded the 3 s time limit")]
    assert failure_reasons(records) == [
        FailureReason("error", "could not load /d/model_*/weights.hdf5: bad", 2),
        FailureReason("timeout", "exceeded the 3 s time limit", 1)]


def test_a_task_stops_at_the_third_timeout_in_a_row_and_only_then():
    from harness.run import TimeoutStreak

    def record(status):
        return RunRecord("t", "0", status, 1.0 if status == "ok" else None, 1.0)

    streak = TimeoutStreak(3)
    fired = [streak.add(record(s)) for s in ("timeout", "timeout", "ok", "timeout", "skipped", "timeout",
                                             "timeout", "timeout")]
    assert fired == [False, False, False, False, False, False, True, False]
    keep_going = TimeoutStreak(None)
    assert not any(keep_going.add(record("timeout")) for _ in range(10))
