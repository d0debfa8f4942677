"""`pgdl zoo build` end to end on a tiny spec (scikit-learn digits, 8 MLPs, a few epochs).

Eight models (2 x 2 x 2), not four: with two hyperparameters every bin of the
official metric holds a single pair of models, so its score is 0/0 whatever
the predictions; a third hyperparameter gives every bin pairs to compare.

The zoo is built once per module; it is read back by the task reader, its
stored accuracies are reproduced by reloading the weights, its gaps are scored
by the official metric, and interrupted builds are resumed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.task import MODEL_CONFIGS, find_tasks
from model_zoo.builder import MODEL_FILES, build_zoo, model_seed, prepare_task_data
from model_zoo.info import zoo_info
from model_zoo.spec import load_spec, parse_spec

TINY_SPEC = """\
seed = 0
[training]
loss_threshold = 0.05
max_epochs = 6

[[task]]
name = "digits_mlp"
dataset = "digits"
family = "mlp"
train_shards = 3
[task.hparams]
width = [8, 16]
dropout = [0.0, 0.25]
train_size = [150, 300]
learning_rate = 0.05
batch_size = 32
"""


def _write_spec(folder: Path, text: str = TINY_SPEC) -> Path:
    path = folder / "tiny.toml"
    path.write_text(text)
    return path


def _snapshot(model_dir: Path) -> dict[str, tuple[bytes, int]]:
    return {name: ((model_dir / name).read_bytes(), (model_dir / name).stat().st_mtime_ns) for name in MODEL_FILES}


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(spec path, zoo root) of the tiny zoo, built once."""
    folder = tmp_path_factory.mktemp("tiny_zoo")
    spec = _write_spec(folder)
    report = build_zoo(load_spec(spec), folder / "zoo")
    assert len(report.trained) == 8 and report.skipped == 0
    return spec, folder / "zoo"


def test_build_writes_the_split_layout(tiny_zoo: tuple[Path, Path]) -> None:
    from harness.io import list_shards, read_split

    _, root = tiny_zoo
    (task,) = find_tasks(root)
    assert task.input_dir == root / "input_data" / "digits_mlp"
    assert task.reference_dir == root / "reference_data" / "digits_mlp"
    assert task.model_ids() == [str(i) for i in range(8)]
    assert all((task.model_dir(i) / f).is_file() for i in task.model_ids() for f in MODEL_FILES)
    assert len(list_shards(task.train_dir)) == 3
    x, y = read_split(task.train_dir)
    assert x.shape == (300, 8, 8, 1) and y.dtype == np.int32
    assert not (task.input_dir / MODEL_CONFIGS).exists() and not (task.input_dir / "dataset_1" / "test").exists()


def test_reference_holds_grid_metrics_and_training_facts(tiny_zoo: tuple[Path, Path]) -> None:
    spec_path, root = tiny_zoo
    task_spec = load_spec(spec_path).tasks[0]
    reference = find_tasks(root)[0].read_reference()
    assert reference.grid == {"width": [8, 16], "dropout": [0.0, 0.25], "train_size": [150, 300]}
    assert [tuple(r.hparams.values()) for r in reference.records.values()] == [
        (8, 0.0, 150), (8, 0.0, 300), (8, 0.25, 150), (8, 0.25, 300),
        (16, 0.0, 150), (16, 0.0, 300), (16, 0.25, 150), (16, 0.25, 300)]
    for model_id, record in reference.records.items():
        facts = record.extra["training"]
        assert 1 <= facts["epochs"] <= 6
        assert facts["stop_reason"] == ("loss_threshold" if facts["final_loss"] < 0.05 else "max_epochs")
        assert facts["seed"] == model_seed(task_spec, model_id)
        assert facts["train_examples"] == record.hparams["train_size"] and facts["test_examples"] == 500
        assert facts["fixed_hparams"]["learning_rate"] == 0.05


def test_stored_accuracies_are_reproduced_by_reloaded_weights(tiny_zoo: tuple[Path, Path]) -> None:
    from harness.io import evaluate_accuracy, load_model, read_split

    spec_path, root = tiny_zoo
    (task,) = find_tasks(root)
    x, y = read_split(task.train_dir)
    data = prepare_task_data(load_spec(spec_path).tasks[0])
    for model_id, record in task.read_reference().records.items():
        model = load_model(task, model_id)
        n = record.hparams["train_size"]
        assert evaluate_accuracy(model, x[:n], y[:n]) == record.train_acc
        assert evaluate_accuracy(model, data.x_test, data.y_test) == record.test_acc
        assert model.initial_weights is not None
        assert not np.array_equal(model.initial_weights[0], model.get_weights()[0])


def test_gaps_as_predictions_score_one(tiny_zoo: tuple[Path, Path]) -> None:
    from harness.scoring.evaluate import evaluate_predictions

    _, root = tiny_zoo
    records = find_tasks(root)[0].read_reference().records
    gaps = {model_id: r.gap for model_id, r in records.items()}
    assert len(set(gaps.values())) == len(gaps), "the tiny zoo's gaps should be distinct"
    report = evaluate_predictions({"digits_mlp": gaps}, root, bootstrap=0)
    assert report.tasks[0].official == pytest.approx(1.0)
    assert report.overall_official == pytest.approx(100.0)


def test_info_reports_grid_and_gap_spread(tiny_zoo: tuple[Path, Path]) -> None:
    _, root = tiny_zoo
    (info,) = zoo_info(root)
    gaps = sorted(r.gap for r in find_tasks(root)[0].read_reference().records.values())
    assert info.n_models == 8 and info.complete
    assert (info.gaps.min, info.gaps.median, info.gaps.max) == pytest.approx(
        (gaps[0], (gaps[3] + gaps[4]) / 2, gaps[7]))
    assert [value for value, _ in info.gaps_by_value["width"]] == [8, 16]
    assert all(spread.n == 4 for spreads in info.gaps_by_value.values() for _, spread in spreads)


def test_cli_info_prints_each_task(tiny_zoo: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    from harness.cli import main

    main(["zoo", "info", str(tiny_zoo[1])])
    out = capsys.readouterr().out
    assert "task digits_mlp: 8 models (complete grid)" in out and "width = 16" in out


def test_rebuild_skips_every_trained_model(tiny_zoo: tuple[Path, Path]) -> None:
    spec, root = tiny_zoo
    before = {i: _snapshot(root / "input_data" / "digits_mlp" / f"model_{i}") for i in range(8)}
    report = build_zoo(load_spec(spec), root)
    assert (len(report.trained), report.skipped) == (0, 8)
    assert {i: _snapshot(root / "input_data" / "digits_mlp" / f"model_{i}") for i in range(8)} == before


def test_same_spec_gives_byte_identical_models(tiny_zoo: tuple[Path, Path], tmp_path: Path) -> None:
    spec, root = tiny_zoo
    build_zoo(load_spec(spec), tmp_path / "again", max_models=2)
    for model_id in "01":
        for name in MODEL_FILES:
            path = Path("input_data") / "digits_mlp" / f"model_{model_id}" / name
            assert (tmp_path / "again" / path).read_bytes() == (root / path).read_bytes(), path


def test_resume_after_max_models_redoes_half_written_folder(tmp_path: Path) -> None:
    spec = load_spec(_write_spec(tmp_path))
    first = build_zoo(spec, tmp_path / "zoo", max_models=1)
    assert (len(first.trained), first.left) == (1, 7)
    task_dir = tmp_path / "zoo" / "input_data" / "digits_mlp"
    kept = _snapshot(task_dir / "model_0")
    (task_dir / "model_1").mkdir()
    (task_dir / "model_1" / "config.json").write_text("{half written")
    second = build_zoo(spec, tmp_path / "zoo", max_models=2)
    assert [r.model_id for r in second.trained] == ["1", "2"] and second.skipped == 1
    assert _snapshot(task_dir / "model_0") == kept
    assert json.loads((task_dir / "model_1" / "config.json").read_text())["input_shape"] == [8, 8, 1]
    assert list(find_tasks(tmp_path / "zoo")[0].read_reference().records) == ["0", "1", "2"]


def test_killed_build_resumes_where_it_stopped(tmp_path: Path) -> None:
    spec = _write_spec(tmp_path)
    root = tmp_path / "zoo"
    configs = root / "reference_data" / "digits_mlp" / MODEL_CONFIGS
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "zoo", "build", str(spec), "--out", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not configs.is_file() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert configs.is_file(), "the build recorded no model before the deadline"
    done = list(json.loads(configs.read_text()))
    assert 1 <= len(done) < 8
    kept = {i: _snapshot(root / "input_data" / "digits_mlp" / f"model_{i}") for i in done}
    report = build_zoo(load_spec(spec), root)
    assert report.skipped == len(done) and len(report.trained) == 8 - len(done)
    assert {i: _snapshot(root / "input_data" / "digits_mlp" / f"model_{i}") for i in done} == kept
    assert find_tasks(root)[0].read_reference().ids == [str(i) for i in range(8)]


def test_resume_with_a_changed_spec_is_refused(tmp_path: Path) -> None:
    build_zoo(load_spec(_write_spec(tmp_path)), tmp_path / "zoo", max_models=0)
    changed = load_spec(_write_spec(tmp_path, TINY_SPEC.replace("max_epochs = 6", "max_epochs = 7")))
    with pytest.raises(HarnessError, match="built from a different spec"):
        build_zoo(changed, tmp_path / "zoo")


def test_missing_dataset_is_one_line_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from harness.cli import main

    spec = _write_spec(tmp_path, TINY_SPEC.replace('dataset = "digits"',
                                                   f'dataset = "fashion_mnist"\ndataset_path = "{tmp_path}"'))
    with pytest.raises(SystemExit) as exit_info:
        main(["zoo", "build", str(spec), "--out", str(tmp_path / "zoo")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("error: fashion_mnist: ") and "train-images-idx3-ubyte" in err
    assert err.count("\n") == 1


def test_config_records_the_examples_each_model_was_trained_on(tiny_zoo: tuple[Path, Path]) -> None:
    from harness.io import train_examples

    _, root = tiny_zoo
    (task,) = find_tasks(root)
    for model_id, record in task.read_reference().records.items():
        assert train_examples(task, model_id) == record.hparams["train_size"]


def test_info_warns_about_every_model_that_missed_the_loss_threshold(tiny_zoo: tuple[Path, Path]) -> None:
    from model_zoo.info import format_info

    _, root = tiny_zoo
    (info,) = zoo_info(root)
    records = find_tasks(root)[0].read_reference().records
    missed = {m for m, r in records.items() if r.extra["training"]["stop_reason"] != "loss_threshold"}
    assert set(info.unconverged) == missed
    text = format_info([info])
    assert ("WARNING" in text) == bool(missed)
    assert all(f"model_{m} (" in text for m in missed)


def test_replicate_trains_the_same_data_from_other_seeds(tmp_path: Path) -> None:
    text = TINY_SPEC + '\n[[task]]\nname = "digits_mlp_seed1"\nreplicate_of = "digits_mlp"\nseed = 1\n'
    base, twin = load_spec(_write_spec(tmp_path, text)).tasks
    a, b = prepare_task_data(base), prepare_task_data(twin)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_train, b.y_train)
    assert np.array_equal(a.x_test, b.x_test)
    assert all(model_seed(base, m) != model_seed(twin, m) for m, _ in base.models())


def test_min_train_accuracy_keeps_training_past_the_loss_threshold() -> None:
    from harness.io import build_model, evaluate_accuracy
    from model_zoo.architectures import build_config
    from model_zoo.builder import fit_model

    import tomllib

    data = prepare_task_data(parse_spec(tomllib.loads(TINY_SPEC)).tasks[0])
    x, y = data.x_train[:150], data.y_train[:150]

    def fit(min_train_accuracy: float) -> tuple[object, float]:
        import keras

        keras.utils.set_random_seed(0)
        model = build_model(build_config("mlp", width=16, depth=1, dropout=0.0, input_shape=data.image_shape,
                                         num_classes=data.num_classes))
        result = fit_model(model, x, y, learning_rate=0.05, batch_size=32, weight_decay=0.0, momentum=0.9,
                           loss_threshold=2.5, max_epochs=200, seed=0, min_train_accuracy=min_train_accuracy)
        return result, evaluate_accuracy(model, x, y)

    loose, loose_acc = fit(0.0)
    strict, strict_acc = fit(0.95)
    assert loose.stop_reason == strict.stop_reason == "loss_threshold"
    assert loose_acc < 0.95 <= strict_acc
    assert strict.epochs > loose.epochs
