"""2020 submissions in the sandbox as they were written: Keras 2 code, the kit's seeding and environment,
errors named at once, tasks stopped after timeouts, and what the terminal shows. Real sandboxed workers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.task.records import read_run_log
from harness.run import RunConfig, run_submission
from harness.sandbox import find_bwrap
from tests.helpers.cli import pgdl_process as pgdl
from tests.helpers import expected_sum_of_squares, make_tiny_task, stored_weights, write_submission

REPO = Path(__file__).resolve().parents[1]
HOSTILE = Path(__file__).resolve().parent / "hostile"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap (bwrap) is not installed")]

# What a 2020 submission draws with op seeds (and no global seed); the same expression in a fresh process.
OP_SEEDED = ("float(tf.reduce_sum(tf.random.uniform([3], seed=1))) * 1000 + "
             "float(tf.random.shuffle(tf.range(10), seed=1)[0])")


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """A task of two MLPs (depth 1 and 2), split layout."""
    return make_tiny_task(tmp_path_factory.mktemp("two"), n_models=2)


def parameter_counts(task) -> list[float]:
    return [float(sum(w.size for w in stored_weights(task.model_dir(m)))) for m in task.model_ids()]


def test_keras_2_code_runs_unmodified_with_no_flag_under_tf_keras(tmp_path, two_models):
    sub = write_submission(tmp_path / "vc", "import numpy as np\n\n\ndef complexity(model, ds):\n"
                                            "    return float(sum(np.prod(v.get_shape().as_list())\n"
                                            "                     for v in model.trainable_variables))\n")
    result = run_submission(sub, two_models.root, tmp_path / "out", RunConfig())
    assert [r.value for r in result.records] == parameter_counts(two_models.task)
    assert {(r.keras, r.keras_reason) for r in result.records} == {
        ("2", "auto: complexity.py:5 calls .get_shape(), which Keras 3 variables lack")}


def test_auto_reruns_a_model_under_tf_keras_after_a_keras_3_only_attribute_error(tmp_path, two_models):
    sub = write_submission(tmp_path / "hidden", "import numpy as np\n\n\ndef complexity(model, ds):\n"
                                                "    shape = getattr(model.trainable_variables[0], 'get_' + 'shape')\n"
                                                "    return float(np.prod(shape().as_list()))\n")
    result = run_submission(sub, two_models.root, tmp_path / "out", RunConfig())
    assert [r.status for r in result.records] == ["ok", "ok"]
    assert {r.keras for r in result.records} == {"2"}
    assert result.records[0].keras_reason == (
        "auto: re-run under tf_keras after AttributeError: 'Variable' object has no attribute 'get_shape' "
        "(complexity.py:5)")
    logged = [json.loads(line) for line in (tmp_path / "out" / "run.jsonl").read_text().splitlines()]
    assert {line["keras"] for line in logged} == {"2"}


def fresh_process_draw() -> float:
    """What the op-seeded expression gives in a new process that only clears the Keras session first."""
    code = f"import tensorflow as tf, keras\nkeras.backend.clear_session()\nprint(repr({OP_SEEDED}))\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**{k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"},
                               "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr
    return float(proc.stdout.strip().splitlines()[-1])


def test_kit_seeding_draws_for_every_model_what_a_fresh_process_draws(tmp_path, two_models):
    sub = write_submission(tmp_path / "shuffle", f"import tensorflow as tf\n\n\ndef complexity(model, ds):\n"
                                                 f"    return {OP_SEEDED}\n")
    expected = fresh_process_draw()
    kit = run_submission(sub, two_models.root, tmp_path / "kit", RunConfig(seeding="kit", keras="3"))
    assert [r.value for r in kit.records] == [expected, expected]
    seeded = run_submission(sub, two_models.root, tmp_path / "model", RunConfig(keras="3"))
    assert expected not in [r.value for r in seeded.records]  # per-model seeds change op-seeded draws


ENVIRONMENT = '''import os

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas
import scipy.linalg
import sklearn.linear_model
import tensorflow as tf
import tqdm

import data_io
import model_utils
from data_manager import DataManager


def complexity(model, dataset, task_name, model_id):
    assert matplotlib.get_backend().lower() == "agg", matplotlib.get_backend()
    figure = plt.figure()
    plt.plot([1, 2, 3])
    figure.savefig(os.path.join(os.environ["MPLCONFIGDIR"], "plot.png"))
    assert os.path.getsize(os.path.join(os.environ["MPLCONFIGDIR"], "plot.png")) > 0
    assert len(list(tqdm.tqdm(range(3), disable=True))) == 3
    assert pandas.DataFrame({"a": [1]}).shape == (1, 1) and scipy.linalg.norm([3, 4]) == 5
    sklearn.linear_model.LinearRegression().fit([[0], [1]], [0, 1])
    data_io.mkdir("made_by_data_io")
    manager = DataManager(task_name, "/pgdl/data")
    assert manager.model_ids == ["model_0", "model_1"], manager.model_ids
    kit_model = manager.load_model("model_" + model_id)
    rebuilt = model_utils.model_def_to_keras_sequential([{"layer_name": "Dense", "units": 2}])
    rebuilt.build([0, 3])
    assert model_utils.get_jacobian(rebuilt, tf.ones([2, 3]))[0].shape == (2, 2, 3)
    assert sum(1 for _ in manager.load_training_data()) == sum(1 for _ in dataset)
    return float(sum(np.sum(np.square(w)) for w in kit_model.get_weights()))
'''


@pytest.mark.parametrize("keras", ["3", "2"])
def test_the_2020_environment_and_the_kits_modules_are_importable_in_the_sandbox(tmp_path, two_models, keras):
    sub = write_submission(tmp_path / "env", ENVIRONMENT)
    result = run_submission(sub, two_models.root, tmp_path / "out", RunConfig(keras=keras))
    assert [r.status for r in result.records] == ["ok", "ok"], result.records[0].message
    expected = expected_sum_of_squares(two_models.task)
    assert [r.value for r in result.records] == pytest.approx(list(expected.values()), rel=1e-5)


def test_an_error_inside_a_tf_function_is_reported_as_the_original_exception_and_line(tmp_path, two_models):
    sub = write_submission(tmp_path / "tffn", "import tensorflow as tf\n\n\n@tf.function\ndef augment(x):\n"
                                              "    return tf.reshape(x, [7, 5])\n\n\n"
                                              "def complexity(model, ds):\n"
                                              "    return float(tf.reduce_sum(augment(tf.ones([3]))))\n")
    result = run_submission(sub, two_models.root, tmp_path / "out", RunConfig())
    message = result.records[0].message
    assert message.startswith("ValueError: Cannot reshape a tensor with 3 elements to shape [7,5]"), message
    assert message.endswith("(complexity.py:6)")


def test_an_import_failure_ends_the_run_at_once_with_one_line_and_a_fixed_rerun_proceeds(tmp_path, two_models):
    out = tmp_path / "out"
    proc = pgdl("predict", str(HOSTILE / "syntax_error"), "--data", str(two_models.root), "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: complexity.py failed to import: SyntaxError: expected ':' (complexity.py:4)")
    assert read_run_log(out / "run.jsonl") == {}
    fixed = pgdl("predict", str(REPO / "sample_submissions" / "sum_of_squared_weights"), "--data",
                 str(two_models.root), "--out", str(out))
    assert fixed.returncode == 0, fixed.stderr


def test_a_task_stops_after_three_timeouts_in_a_row_saying_to_raise_the_limit(tmp_path, tiny_split_task):
    sub = write_submission(tmp_path / "slow", "import time\n\n\ndef complexity(model, ds):\n"
                                              "    time.sleep(60)\n    return 1.0\n")
    proc = pgdl("predict", str(sub), "--data", str(tiny_split_task.root), "--out", str(tmp_path / "out"),
                "--time-per-model", "2")
    assert proc.returncode == 0, proc.stderr
    records = read_run_log(tmp_path / "out" / "run.jsonl")
    assert [records[("tiny_task", m)].status for m in "0123"] == ["timeout"] * 3 + ["skipped"]
    skipped = records[("tiny_task", "3")].message
    assert "raise --time-per-model" in skipped and "--keep-going" in skipped
    assert f"tiny_task: {skipped}" in proc.stderr
    assert "     3 x timeout: exceeded the 2 s time limit while running the measure" in proc.stdout
    assert f"     1 x skipped: {skipped}" in proc.stdout


def test_the_terminal_shows_start_up_progress_failure_reasons_resumption_and_what_was_written(tmp_path,
                                                                                              two_models):
    sub = write_submission(tmp_path / "half", "def complexity(model, ds, model_id):\n"
                                              "    if model_id == '1':\n"
                                              "        raise ValueError('not this one')\n"
                                              "    return 1.0\n")
    out = tmp_path / "out"
    first = pgdl("predict", str(sub), "--data", str(two_models.root), "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert "keras 3 (auto: no Keras-2-only API found)" in first.stderr
    assert "tiny_task: 0/2 done, 0 failed | overall 0/2 | starting worker…" in first.stderr
    assert "tiny_task: 2/2 done, 1 failed | overall 2/2 | ETA 0 s" in first.stderr
    assert "\r" not in first.stderr  # not a terminal: status lines, no bars
    assert "1 model(s) failed, for 1 reason(s)" in first.stdout
    assert "     1 x error: ValueError: not this one (complexity.py:3)" in first.stdout
    last = first.stdout.strip().splitlines()[-1]
    assert last.startswith(f"wrote run.jsonl, 1 .predict file, logs/ to {out} in ")
    lines = (out / "run.jsonl").read_text().splitlines()
    (out / "run.jsonl").write_text(lines[0] + "\n")
    second = pgdl("predict", str(sub), "--data", str(two_models.root), "--out", str(out))
    assert second.returncode == 0, second.stderr
    assert "resuming: 1/2 done" in second.stderr


def test_check_lists_the_environment_the_keras_choice_and_the_seeding(two_models):
    proc = pgdl("check", str(REPO / "sample_submissions" / "sum_of_squared_weights"), "--data",
                str(two_models.root), "--seeding", "kit")
    assert proc.returncode == 0, proc.stderr
    environment = next(line for line in proc.stdout.splitlines() if line.startswith("environment "))
    for name in ("numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "tqdm", "tensorflow", "tf_keras",
                 "backend Agg", "kit modules model_utils, data_manager, data_io"):
        assert name in environment
    assert "keras       3 (auto: no Keras-2-only API found)" in proc.stdout
    assert "seeding     kit" in proc.stdout


def test_a_slow_restart_after_a_good_import_is_a_timeout_of_that_model_not_the_runs_end(tmp_path,
                                                                                          tiny_split_task):
    marker = tmp_path / "imported-once"
    sub = write_submission(tmp_path / "slow_again", f"import os\nimport time\n\n"
                                                    f"if os.path.exists({str(marker)!r}):\n    time.sleep(60)\n"
                                                    f"open({str(marker)!r}, 'w').close()\n\n\n"
                                                    f"def complexity(model, ds):\n    time.sleep(60)\n")
    result = run_submission(sub, tiny_split_task.root, tmp_path / "out",
                            RunConfig(sandbox=False, time_per_model=3.0))
    assert [(r.status, r.message) for r in result.records[:3]] == [
        ("timeout", "exceeded the 3 s time limit while running the measure"),
        ("timeout", "exceeded the 3 s time limit while importing complexity.py"),
        ("timeout", "exceeded the 3 s time limit while importing complexity.py")]
    assert result.records[3].status == "skipped"
