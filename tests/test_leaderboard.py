"""`pgdl leaderboard`: naming, checksums, ranking, the written tables, reuse, and bad input.

The end-to-end tests run real sandboxed submissions on a tiny task; the
others work on real files without running anything.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from harness import __version__
from harness.errors import HarnessError
from harness.task.records import RunRecord, write_predict
from harness.report.entries import Entry, Provenance, rank_entries
from harness.report.html import REPORT_HTML
from harness.report.leaderboard import data_checksum, name_submissions, run_leaderboard
from harness.submission.naming import slug, submission_name
from harness.report.tables import LEADERBOARD_CSV, LEADERBOARD_MD
from harness.run import RunConfig
from harness.sandbox import find_bwrap
from harness.scoring import Grid, official_score
from harness.scoring.evaluate import evaluate_dir
from harness.task import Task, find_tasks

TESTS = Path(__file__).resolve().parent
SUM_OF_SQUARES = TESTS / "submissions" / "original_sum_of_squares"
NOISE = TESTS / "submissions" / "seeded_noise"


# --------------------------------------------------------------------- naming


def test_a_submission_is_named_by_the_name_line_of_its_metadata(tmp_path: Path) -> None:
    sub = tmp_path / "folder_name"
    sub.mkdir()
    (sub / "metadata").write_text("description: a measure\nname:  Path norm v2 \n")
    assert submission_name(sub) == "Path norm v2"


def test_without_a_name_line_the_folder_or_zip_names_the_submission(tmp_path: Path) -> None:
    sub = tmp_path / "folder_name"
    sub.mkdir()
    (sub / "metadata").write_text("description: no name here\n")
    (tmp_path / "zipped.zip").write_bytes(b"not even a zip")
    assert submission_name(sub) == "folder_name"
    assert submission_name(tmp_path / "zipped.zip") == "zipped"


def test_a_zip_is_named_by_its_metadata_also_inside_a_top_folder(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "upload.zip", "w") as zf:
        zf.writestr("measure/complexity.py", "")
        zf.writestr("measure/metadata", "name: zipped measure\n")
    assert submission_name(tmp_path / "upload.zip") == "zipped measure"


def test_repeated_names_get_numbered_folders(tmp_path: Path) -> None:
    for parent in ("a", "b"):
        (tmp_path / parent / "norm").mkdir(parents=True)
    named = name_submissions([tmp_path / "a" / "norm", tmp_path / "b" / "norm"])
    assert [(name, folder) for _, name, folder in named] == [("norm", "norm"), ("norm-2", "norm-2")]
    assert slug("Path norm / v2!") == "Path_norm_v2"


# ------------------------------------------------------------------ checksums


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def combined_task(root: Path) -> Task:
    """A combined-layout task with one model: input files, plus reference and test split."""
    task_dir = root / "t"
    _write(task_dir / "model_0" / "config.json", b'{"model_config": []}')
    _write(task_dir / "model_0" / "weights.hdf5", b"W" * 10)
    _write(task_dir / "dataset_1" / "train" / "shard_0.tfrecord", b"TRAIN")
    _write(task_dir / "dataset_1" / "test" / "shard_0.tfrecord", b"TEST")
    _write(task_dir / "model_configs.json", b"{}")
    return Task("t", task_dir, task_dir)


def test_the_data_checksum_is_sha256_over_name_size_and_bytes_of_the_input_files(tmp_path: Path) -> None:
    task = combined_task(tmp_path)
    expected = hashlib.sha256()
    for name, data in [("t/dataset_1/train/shard_0.tfrecord", b"TRAIN"),
                       ("t/model_0/config.json", b'{"model_config": []}'),
                       ("t/model_0/weights.hdf5", b"W" * 10)]:
        expected.update(f"{name}\0{len(data)}\0".encode() + data)
    assert data_checksum([task]) == expected.hexdigest()


def test_the_data_checksum_ignores_reference_and_test_split_but_not_weights(tmp_path: Path) -> None:
    task = combined_task(tmp_path)
    before = data_checksum([task])
    (task.input_dir / "model_configs.json").write_text('{"0": {}}')
    (task.test_dir / "shard_0.tfrecord").write_bytes(b"OTHER TEST")
    assert data_checksum([task]) == before
    (task.model_dir("0") / "weights.hdf5").write_bytes(b"V" * 10)
    assert data_checksum([task]) != before


# -------------------------------------------------------------------- ranking


def _entry(name: str, official: float | None, error: str | None = None) -> Entry:
    return Entry(name, name, Path(name), error=error, overall_official=official)


def test_ranking_is_by_official_score_with_ties_sharing_a_rank_and_failures_last() -> None:
    ranked = rank_entries([_entry("c", 10.0), _entry("dead", None, "boom"), _entry("a", 30.0), _entry("b", 10.0),
                           _entry("d", 5.0)])
    assert [(e.rank, e.name) for e in ranked] == [(1, "a"), (2, "b"), (2, "c"), (4, "d"), (None, "dead")]


# ---------------------------------------------------------------- bad input


def test_predictions_of_models_the_reference_does_not_know_fail_in_one_line(tmp_path: Path) -> None:
    reference = tmp_path / "reference_data" / "alpha"
    reference.mkdir(parents=True)
    hp = {"depth": {"possible_values": [1, 2], "current_value": 1}}
    (reference / "model_configs.json").write_text(json.dumps(
        {"0": {"hparams": hp, "metrics": {"train_acc": 1.0, "test_acc": 0.9}}}))
    results = tmp_path / "results"
    results.mkdir()
    write_predict(results, "alpha", [RunRecord("alpha", "0", "ok", 1.0, 0.1), RunRecord("alpha", "7", "ok", 2.0, 0.1)])
    with pytest.raises(HarnessError, match=r"alpha.predict: unknown model id\(s\) 7 \(not in .*model_configs.json\)"):
        evaluate_dir(results, tmp_path, results, bootstrap=0)


def test_an_empty_data_root_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = subprocess.run([sys.executable, "-m", "harness.cli", "leaderboard", str(SUM_OF_SQUARES),
                           "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "board")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {tmp_path / 'empty'}: no tasks found (expected model_<id> "
                                                f"folders, model_configs.json, or input_data/ and reference_data/)"]


# ---------------------------------------------------------------- end to end

needs_bwrap = pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap (bwrap) is not installed")


@pytest.fixture(scope="module")
def board_run(tmp_path_factory: pytest.TempPathFactory, tiny_split_task):
    """Two real submissions and three broken ones, run once for the module."""
    tmp = tmp_path_factory.mktemp("board")
    no_entry = tmp / "no_entry"
    no_entry.mkdir()
    (no_entry / "measure.py").write_text("def complexity(model, dataset):\n    return 1.0\n")
    traversal = tmp / "traversal.zip"
    with zipfile.ZipFile(traversal, "w") as zf:
        zf.writestr("complexity.py", "def complexity(model, dataset):\n    return 1.0\n")
        zf.writestr("../escape.py", "")
    submissions = [SUM_OF_SQUARES, no_entry, NOISE, traversal, tmp / "missing"]
    config = RunConfig(time_per_model=120.0)
    board = run_leaderboard(submissions, tiny_split_task.root, tmp / "out", config, bootstrap=20)
    return board, submissions, config, tiny_split_task


@pytest.mark.slow
@needs_bwrap
def test_broken_submissions_get_one_line_each_and_the_others_are_ranked(board_run) -> None:
    board, *_ = board_run
    assert {e.name for e in board.entries if e.rank is not None} == {"original_sum_of_squares", "seeded_noise"}
    errors = {e.name: e.error for e in board.entries if e.rank is None}
    assert errors["no_entry"].endswith("no_entry: no complexity.py at its top level (nor in a single top-level folder)")
    assert errors["traversal"].endswith("traversal.zip: member '../escape.py' points outside the submission")
    assert errors["missing"].endswith("missing: no such file or folder")
    assert all("\n" not in e for e in errors.values())


def official_from_files(result_dir: Path, task: Task) -> float:
    """A task's official score computed straight from its files (``model_configs.json`` and the
    submission's ``.predict``, parsed here), not through the scorer's own files."""
    configs = json.loads((task.reference_dir / "model_configs.json").read_text())
    predicted = json.loads((result_dir / f"{task.name}.predict").read_text())
    ids = list(configs)
    possible = {name: h["possible_values"] for name, h in configs[ids[0]]["hparams"].items()}
    grid = Grid.from_hparams([{name: h["current_value"] for name, h in configs[i]["hparams"].items()} for i in ids],
                             possible)
    gap = [configs[i]["metrics"]["train_acc"] - configs[i]["metrics"]["test_acc"] for i in ids]
    return official_score([predicted[f"model_{i}"] for i in ids], gap, grid)


@pytest.mark.slow
@needs_bwrap
def test_the_ranking_follows_the_official_scores(board_run) -> None:
    board, _submissions, _config, tiny = board_run
    ranked = [e for e in board.entries if e.rank is not None]
    scores = [e.overall_official for e in ranked]
    assert scores == sorted(scores, reverse=True)
    (task,) = find_tasks(tiny.root)
    for entry in ranked:
        expected = official_from_files(entry.out_dir, task)
        assert entry.tasks[0].official == expected
        assert entry.overall_official == 100.0 * expected   # one task: the overall is 100 x its score


@pytest.mark.slow
@needs_bwrap
def test_every_row_of_the_csv_records_its_provenance(board_run) -> None:
    board, submissions, config, tiny = board_run
    with open(board.out_dir / LEADERBOARD_CSV, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["submission"] for r in rows] == [e.name for e in board.entries]
    tasks = find_tasks(tiny.root)
    row = next(r for r in rows if r["submission"] == "original_sum_of_squares")
    digest = json.loads((board.out_dir / "original_sum_of_squares" / "submission.json").read_text())["sha256"]
    assert row["harness version"] == __version__
    assert row["data sha256"] == data_checksum(tasks) == board.data_sha256
    assert row["submission sha256"] == digest
    assert (row["seed"], row["time per model s"], row["memory MB"], row["max threads"], row["sandbox"]) == \
        ("0", "120.0", str(config.memory_mb), str(config.max_threads), "bubblewrap")
    assert row["official tiny_task"] != "-" and row["status"] == "ok"
    failed = next(r for r in rows if r["submission"] == "missing")
    assert failed["rank"] == "-" and failed["status"].startswith("not scored: ")


@pytest.mark.slow
@needs_bwrap
def test_markdown_and_report_are_written_beside_the_csv(board_run) -> None:
    board, *_ = board_run
    markdown = (board.out_dir / LEADERBOARD_MD).read_text().splitlines()
    table = [line for line in markdown if line.startswith("| ")]
    assert len(table) == 2 + len(board.entries)  # header, rule, one row each
    assert table[2].startswith(f"| 1 | {board.entries[0].name} | ")
    assert (board.out_dir / REPORT_HTML).read_text().count("<img ") == 3 * 2


@pytest.mark.slow
@needs_bwrap
def test_finished_results_are_reused_and_rerun_runs_again(board_run, tmp_path: Path) -> None:
    board, submissions, config, tiny = board_run
    shutil.copytree(board.out_dir / "original_sum_of_squares", tmp_path / "original_sum_of_squares")
    log = tmp_path / "original_sum_of_squares" / "run.jsonl"
    before = log.stat().st_mtime_ns
    again = run_leaderboard(submissions[:1], tiny.root, tmp_path, config, bootstrap=20)
    assert again.entries[0].reused and log.stat().st_mtime_ns == before
    assert again.entries[0].overall_official == board.entries[0].overall_official

    rerun = run_leaderboard(submissions[:1], tiny.root, tmp_path, config, bootstrap=20, rerun=True)
    assert not rerun.entries[0].reused and log.stat().st_mtime_ns != before
    assert rerun.entries[0].overall_official == board.entries[0].overall_official  # deterministic


def test_other_limits_or_another_submission_mean_other_predictions() -> None:
    base = Provenance("0.1.0", "d" * 64, "r" * 64, "s" * 64, 0, 300.0, 8192, 1024, "bubblewrap", "auto", "model",
                      ("t",))
    assert base.same_predictions(replace(base, seed=5, sandbox="container", reference_sha256="x" * 64))
    for change in ({"time_per_model": 60.0}, {"memory_mb": 4096}, {"submission_sha256": "t" * 64},
                   {"data_sha256": "e" * 64}, {"harness_version": "0.2.0"}, {"keras": "2"}, {"seeding": "kit"},
                   {"tasks": ("u",)}):
        assert not base.same_predictions(replace(base, **change)), change
