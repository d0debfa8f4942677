"""`--executor ray` against a real Ray cluster: two nodes started with ``ray start`` on loopback.

The cluster (`tests.helpers.loopback.LoopbackCluster`: a head on 127.0.0.2 and
a second node on 127.0.0.3, one CPU each) is started once for the module.
Drivers run as separate ``pgdl`` processes, as an organizer would run them,
so that a test can kill one. Expected values come from a local run of the same
submission on the same task, or straight from the HDF5 weight files.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from harness.scoring.evaluate import evaluate_dir
from harness.run.ray_executor import INSTALL_HINT, Unit, pack_task_input, plan_units, unit_size
from harness.task.records import read_run_log
from harness.run import RunConfig, run_submission
from harness.sandbox import find_bwrap
from tests.helpers import TinyTask, expected_sum_of_squares, make_tiny_task
from tests.helpers.loopback import LoopbackCluster

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
HOSTILE = Path(__file__).resolve().parent / "hostile"
TASK = "tiny_task"
N_MODELS = 6

needs_cluster = [pytest.mark.slow,
                 pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                    reason=f"Ray is not installed ({INSTALL_HINT})"),
                 pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap (bwrap) is not installed")]


# --- fixtures ----------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCluster:
    with LoopbackCluster(tmp_path_factory.mktemp("ray"), nodes=2, cpus_per_node=1) as running:
        yield running


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> TinyTask:
    """Six MLPs in the combined layout: reference data and a test split beside the models."""
    return make_tiny_task(tmp_path_factory.mktemp("data"), layout="combined", n_models=N_MODELS)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, task: TinyTask) -> Path:
    """A local run of the determinism probe, scored: what a Ray run must reproduce."""
    out = tmp_path_factory.mktemp("local")
    run_submission(SUBMISSIONS / "seeded_noise", task.root, out, RunConfig())
    evaluate_dir(out, task.root, out)
    return out


def driver(cluster: LoopbackCluster, *args: str, address: bool = True) -> subprocess.Popen:
    """``pgdl ARGS --executor ray`` joining ``cluster`` (by --ray-address, else by $RAY_ADDRESS)."""
    env = {**os.environ, **cluster.env}
    command = [sys.executable, "-m", "harness.cli", *args, "--executor", "ray"]
    if address:
        command += ["--ray-address", cluster.address]
    else:
        env["RAY_ADDRESS"] = cluster.address
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    output, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, output
    return output


def records_in(out: Path) -> dict[tuple[str, str], dict]:
    return {key: json.loads(r.to_json()) for key, r in read_run_log(out / "run.jsonl").items()}


def wait_for(condition, proc: subprocess.Popen, timeout: float = 240, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the driver ended (status {proc.returncode}) before {what}: {proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def running_units(cluster: LoopbackCluster) -> dict[int, tuple[str, ...]]:
    """The cluster's Ray worker processes running a unit now: pid -> the unit's model ids.

    A Ray worker's process title is ``ray::<task name>`` while it runs a task,
    and a unit's task name is ``pgdl <task> <id>,<id>,...`` (`Unit.name`).
    """
    units = {}
    for pid in cluster.pids():
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except (OSError, UnicodeDecodeError):
            continue
        if title.startswith(f"ray::pgdl {TASK} "):
            units[pid] = tuple(title.split()[-1].split(","))
    return units


# --- units and shipping (no cluster) ------------------------------------------


def test_units_cut_a_task_in_order_and_number_them_across_the_run():
    units = plan_units("t", ["0", "1", "2", "3", "4"], size=2, first_index=7)
    assert units == [Unit(7, "t", ("0", "1")), Unit(8, "t", ("2", "3")), Unit(9, "t", ("4",))]
    assert units[0].name == "pgdl t 0,1"


def test_automatic_unit_size_gives_two_units_per_slot_capped_at_sixteen():
    assert unit_size(100, slots=4, requested=None) == 13  # ceil(100 / 8)
    assert unit_size(1000, slots=4, requested=None) == 16
    assert unit_size(3, slots=8, requested=None) == 1
    assert unit_size(1000, slots=4, requested=5) == 5


def test_shipped_task_input_holds_models_and_training_split_but_no_reference_data(task):
    data = pack_task_input(task.task, ["0", "3"])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = set(tar.getnames())
    assert {"model_0/config.json", "model_0/weights.hdf5", "model_3/weights_init.hdf5"} <= names
    assert any(n.startswith("dataset_1/train/shard_") for n in names)
    assert not any("model_configs" in n or n.startswith("dataset_1/test") or n.startswith("model_1")
                   for n in names)
    assert pack_task_input(task.task, ["0", "3"]) == data  # deterministic: the node cache's key


def test_executor_ray_without_ray_installed_says_how_to_get_it(tmp_path, task):
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "predict", str(SUBMISSIONS / "seeded_noise"),
                           "--data", str(task.root), "--out", str(tmp_path / "out"), "--executor", "ray"],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(shadow.parent)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f"error: the Ray executor needs Ray, which is not installed: {INSTALL_HINT}\n"


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason=f"Ray is not installed ({INSTALL_HINT})")
def test_an_unreachable_ray_address_fails_at_once_in_one_line(tmp_path, task):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "predict", str(SUBMISSIONS / "seeded_noise"),
                           "--data", str(task.root), "--out", str(tmp_path), "--executor", "ray",
                           "--ray-address", address], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == (f"error: cannot reach the Ray cluster at {address} (Connection refused): "
                           f"is `ray start --head` running there?\n")
    assert time.monotonic() - start < 60  # ray.init alone would retry for many minutes


# --- on the loopback cluster -------------------------------------------------


class TestOnACluster:
    pytestmark = needs_cluster

    def test_predictions_and_scores_are_those_of_a_local_run(self, cluster, task, local_run, tmp_path):
        finish(driver(cluster, "score", str(SUBMISSIONS / "seeded_noise"), "--data", str(task.root),
                      "--out", str(tmp_path), "--models-per-unit", "3"))
        for name in (f"{TASK}.predict", "scores.json", "scores.txt"):
            assert (tmp_path / name).read_text() == (local_run / name).read_text(), name
        records = read_run_log(tmp_path / "run.jsonl")
        assert [r.status for r in records.values()] == ["ok"] * N_MODELS
        assert [r.worker for r in records.values()] == [0, 0, 0, 1, 1, 1]  # two units of three models
        assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["worker-0.log", "worker-1.log"]

    def test_a_killed_ray_worker_has_its_unit_run_again_and_every_model_is_recorded(
            self, cluster, task, tmp_path):
        proc = driver(cluster, "predict", str(SUBMISSIONS / "slow_sum_of_squares"), "--data", str(task.root),
                      "--out", str(tmp_path), "--models-per-unit", "3", "--ray-data", "shared")
        wait_for(lambda: running_units(cluster), proc, what="a unit to run")
        pid, models = next(iter(running_units(cluster).items()))
        assert not {(TASK, m) for m in models} & set(read_run_log(tmp_path / "run.jsonl"))
        os.kill(pid, signal.SIGKILL)  # a unit takes seconds (a worker's start, then 1 s per model)
        finish(proc)
        unit = 0 if models == ("0", "1", "2") else 1
        header = (tmp_path / "logs" / f"worker-{unit}.log").read_text().splitlines()[0]
        assert header.startswith(f"=== unit {unit} (pgdl {TASK} {','.join(models)}) on Ray node 127.0.0.")
        assert f"(Ray worker pid {pid})" not in header  # run again by another Ray worker
        records = read_run_log(tmp_path / "run.jsonl")
        assert sorted(records) == [(TASK, str(m)) for m in range(N_MODELS)]
        assert {r.status for r in records.values()} == {"ok"}
        predicted = json.loads((tmp_path / f"{TASK}.predict").read_text())
        assert predicted == pytest.approx(expected_sum_of_squares(task.task), rel=1e-5)

    def test_a_restarted_driver_resumes_where_the_killed_one_stopped(self, cluster, task, tmp_path):
        args = ("predict", str(SUBMISSIONS / "slow_sum_of_squares"), "--data", str(task.root),
                "--out", str(tmp_path), "--models-per-unit", "2")
        first = driver(cluster, *args, address=False)  # three units: the third waits for a free CPU
        wait_for(lambda: len(read_run_log(tmp_path / "run.jsonl")) >= 2, first, what="a unit's records")
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
        before = records_in(tmp_path)
        assert 2 <= len(before) < N_MODELS
        finish(driver(cluster, *args, address=False))
        after = records_in(tmp_path)
        assert sorted(after) == [(TASK, str(m)) for m in range(N_MODELS)]
        assert {key: after[key] for key in before} == before  # kept as they were, not run again
        assert {r["status"] for r in after.values()} == {"ok"}
        predicted = json.loads((tmp_path / f"{TASK}.predict").read_text())
        assert predicted == pytest.approx(expected_sum_of_squares(task.task), rel=1e-5)

    def test_a_crash_of_the_submission_is_recorded_not_retried(self, cluster, task, tmp_path):
        finish(driver(cluster, "predict", str(HOSTILE / "segfault"), "--data", str(task.root),
                      "--out", str(tmp_path), "--models-per-unit", "3"))
        records = read_run_log(tmp_path / "run.jsonl")
        assert {m: r.status for (_, m), r in records.items()} == \
            {str(m): "crashed" if m == 1 else "ok" for m in range(N_MODELS)}
        assert records[(TASK, "1")].message.startswith("the worker died while running the measure: "
                                                       "killed by signal 11 (SIGSEGV)")
        assert records[(TASK, "1")].worker == 0

    def test_an_import_failure_ends_the_run_at_once_and_cancels_the_other_units(self, cluster, task, tmp_path):
        proc = driver(cluster, "predict", str(HOSTILE / "import_error"), "--data", str(task.root),
                      "--out", str(tmp_path), "--models-per-unit", "1")
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 2, output
        assert output.strip().splitlines()[-1] == (
            "error: complexity.py failed to import: ModuleNotFoundError: No module named "
            "'pgdl_no_such_module_anywhere' (complexity.py:2)")
        assert read_run_log(tmp_path / "run.jsonl") == {}
        assert len(list((tmp_path / "logs").iterdir())) < N_MODELS  # the units not started were cancelled
