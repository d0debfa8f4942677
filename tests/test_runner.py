"""`pgdl predict` / `score` / `check` end to end, with real sandboxed TensorFlow workers.

Expected values are computed independently of the worker: straight from the
HDF5 weight files.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.run import RunConfig, run_submission
from harness.sandbox import find_bwrap, tree_pids
from harness.task import find_tasks
from tests.helpers.cli import pgdl_process as pgdl
from tests.helpers import expected_sum_of_squares, stored_weights, write_submission

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
HOSTILE = Path(__file__).resolve().parent / "hostile"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap (bwrap) is not installed")]


def read_predict(out: Path, task: str) -> dict[str, float]:
    return json.loads((out / f"{task}.predict").read_text())


def test_original_sample_submission_runs_unmodified_on_the_toy_task(tmp_path, toy_data):
    result = run_submission(SUBMISSIONS / "original_sum_of_squares", toy_data, tmp_path, RunConfig())
    assert [r.status for r in result.records] == ["ok"] * 18
    expected = expected_sum_of_squares(find_tasks(toy_data)[0])
    predicted = read_predict(tmp_path, "toy_data")
    assert list(predicted) == list(expected)
    assert predicted == pytest.approx(expected, rel=1e-5)


def test_distance_from_initialization_runs_unmodified_on_the_toy_task(tmp_path, toy_data):
    result = run_submission(SUBMISSIONS / "original_distance_from_init", toy_data, tmp_path, RunConfig())
    assert {r.status for r in result.records} == {"ok"}, result.records[0].message
    task = find_tasks(toy_data)[0]
    expected = {f"model_{m}": float(sum(np.sum(np.square(w - w0)) for w, w0 in
                                        zip(stored_weights(task.model_dir(m)),
                                            stored_weights(task.model_dir(m), "weights_init.hdf5"))))
                for m in task.model_ids()}
    assert read_predict(tmp_path, "toy_data") == pytest.approx(expected, rel=1e-5)


def test_predictions_do_not_depend_on_the_number_of_workers(tmp_path, tiny_split_task):
    for workers in (1, 2):
        run_submission(SUBMISSIONS / "seeded_noise", tiny_split_task.root, tmp_path / str(workers),
                       RunConfig(workers=workers))
    one, two = ((tmp_path / str(n) / "tiny_task.predict").read_bytes() for n in (1, 2))
    assert one == two
    values = list(json.loads(one).values())
    assert len(values) == 4 and len(set(values)) == 4
    assert {json.loads(line)["worker"] for line in (tmp_path / "2" / "run.jsonl").read_text().splitlines()} \
        == {0, 1}


def start_predict(out: Path, root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "predict",
                             str(SUBMISSIONS / "slow_sum_of_squares"), "--data", str(root), "--out", str(out)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_records(out: Path, count: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = out / "run.jsonl"
        if log.is_file() and log.read_text().count("\n") >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {count} records within {timeout} s")


def test_run_resumes_after_ctrl_c_and_after_being_killed(tmp_path, tiny_split_task):
    out = tmp_path / "out"
    first = start_predict(out, tiny_split_task.root)
    wait_for_records(out, 1, first)
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 130 and "run the same command again to resume" in stderr
    kept = (out / "run.jsonl").read_text().splitlines()

    second = start_predict(out, tiny_split_task.root)
    wait_for_records(out, len(kept) + 1, second)
    sandbox = tree_pids(second.pid)[1:]
    second.kill()
    second.wait()
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{p}").exists() for p in sandbox) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{p}").exists() for p in sandbox), "workers outlived the harness"
    kept = (out / "run.jsonl").read_text().splitlines()
    with open(out / "run.jsonl", "a") as fh:
        fh.write('{"task": "tiny_task", "model": "3", "stat')  # a line torn by the kill

    third = pgdl("predict", str(SUBMISSIONS / "slow_sum_of_squares"), "--data", str(tiny_split_task.root),
                 "--out", str(out))
    assert third.returncode == 0, third.stderr
    lines = (out / "run.jsonl").read_text().splitlines()
    assert [json.loads(line)["model"] for line in lines] == ["0", "1", "2", "3"]
    assert set(kept) <= set(lines)  # records of the interrupted runs were kept, not redone
    assert read_predict(out, "tiny_task") == pytest.approx(
        expected_sum_of_squares(tiny_split_task.task), rel=1e-5)


def test_check_reports_import_signature_and_one_model(toy_data):
    proc = pgdl("check", str(SUBMISSIONS / "original_distance_from_init"), "--data", str(toy_data))
    assert proc.returncode == 0, proc.stderr
    assert "sandbox     bubblewrap" in proc.stdout
    assert ("signature   complexity(model, dataset, program_dir) receives: model, dataset, program_dir"
            in proc.stdout)
    assert "toy_data/model_0: ok, value 0.301185" in proc.stdout


def test_check_fails_on_a_submission_that_does_not_import(tiny_split_task):
    proc = pgdl("check", str(HOSTILE / "syntax_error"), "--data", str(tiny_split_task.root))
    assert proc.returncode == 1
    assert "tiny_task/model_0: error, complexity.py failed to import: SyntaxError" in proc.stdout


def test_score_without_sandbox_writes_predictions_and_scores(tmp_path, tiny_split_task):
    out = tmp_path / "out"
    proc = pgdl("score", str(REPO / "sample_submissions" / "sum_of_squared_weights"), "--data",
                str(tiny_split_task.root), "--out", str(out), "--no-sandbox")
    assert proc.returncode == 0, proc.stderr
    assert "tiny_task" in proc.stdout and "overall official score" in proc.stdout
    assert json.loads((out / "scores.json").read_text())["n_scored"] == 4
    assert read_predict(out, "tiny_task") == pytest.approx(
        expected_sum_of_squares(tiny_split_task.task), rel=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("tf_keras") is None, reason="tf_keras is not installed")
def test_keras2_mode_runs_the_submission_under_tf_keras(tmp_path, tiny_split_task):
    probe = write_submission(
        tmp_path / "probe",
        "import numpy as np\nimport tensorflow as tf\nimport tf_keras\n\n\n"
        "def complexity(model, dataset):\n"
        "    assert isinstance(model, tf_keras.Model), type(model).__mro__\n"
        "    assert tf.keras.__name__.startswith('tf_keras'), tf.keras.__name__\n"
        "    return float(np.sum([np.sum(np.square(w)) for w in model.get_weights()]))\n")
    result = run_submission(probe, tiny_split_task.root, tmp_path / "out", RunConfig(keras="2"))
    assert {r.status for r in result.records} == {"ok"}, result.records[0].message
    assert read_predict(tmp_path / "out", "tiny_task") == pytest.approx(
        expected_sum_of_squares(tiny_split_task.task), rel=1e-5)


def test_gpu_workers_get_one_device_each_and_run_on_a_machine_without_one(tmp_path, tiny_split_task):
    probe = write_submission(
        tmp_path / "probe",
        "import os\n\n\n"
        "def complexity(model, dataset):\n"
        "    assert os.path.isdir('/sys/devices')\n"
        "    return float(os.environ['CUDA_VISIBLE_DEVICES'])\n")
    result = run_submission(probe, tiny_split_task.root, tmp_path / "out", RunConfig(gpus=(3,)))
    assert [(r.status, r.value, r.worker) for r in result.records] == [("ok", 3.0, 0)] * 4


def test_a_broken_model_folder_is_an_error_naming_the_host_file(tmp_path, tiny_split_task):
    root = shutil.copytree(tiny_split_task.root, tmp_path / "data")
    broken = root / "input_data" / "tiny_task" / "model_2" / "weights.hdf5"
    broken.write_bytes(b"not hdf5")
    result = run_submission(SUBMISSIONS / "original_sum_of_squares", root, tmp_path / "out", RunConfig())
    assert [r.status for r in result.records] == ["ok", "ok", "error", "ok"]
    assert result.records[2].message.startswith(f"could not load the model or data: {broken}")


def test_each_model_is_served_exactly_its_train_examples(tmp_path):
    from tests.helpers import make_tiny_task

    tiny = make_tiny_task(tmp_path / "zoo", n_train=30)
    for model_id, n in (("1", 7), ("3", 30)):
        path = tiny.task.model_dir(model_id) / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "train_examples": n}))
    counter = write_submission(tmp_path / "counter", "def complexity(model, dataset):\n"
                                                     "    return float(sum(1 for _ in dataset))\n")
    result = run_submission(counter, tiny.root, tmp_path / "out", RunConfig())
    assert {r.status for r in result.records} == {"ok"}
    assert read_predict(tmp_path / "out", "tiny_task") == {"model_0": 30.0, "model_1": 7.0,
                                                           "model_2": 30.0, "model_3": 30.0}
