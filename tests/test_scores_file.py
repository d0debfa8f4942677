"""``scores.json``: one schema, written and read back by the same records (harness.scoring.scores_file)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.report.entries import load_entry
from harness.scoring import ScoresFile, evaluate_dir, official_score
from harness.scoring.grid import Grid

GRID = {"width": [1, 2, 4], "depth": [1, 2], "lr": [0.1, 0.01]}


def write_task(root: Path, predictions: dict[str, object]) -> tuple[Path, Path]:
    """A reference-only split root with one task on the complete grid, and a result folder
    holding its ``.predict``."""
    configs = {}
    for i, point in enumerate(itertools.product(*GRID.values())):
        hparams = {k: {"possible_values": GRID[k], "current_value": v} for k, v in zip(GRID, point)}
        configs[str(i)] = {"hparams": hparams, "metrics": {"train_acc": 1.0, "test_acc": 1.0 - (i % 5) / 10 - i / 1000}}
    reference = root / "data" / "reference_data" / "alpha"
    reference.mkdir(parents=True)
    (reference / "model_configs.json").write_text(json.dumps(configs))
    results = root / "results"
    results.mkdir()
    (results / "alpha.predict").write_text(json.dumps(predictions))
    return root / "data", results


@pytest.fixture
def scored(tmp_path: Path) -> tuple[Path, Path]:
    values = {f"model_{i}": float((7 * i) % 12) for i in range(12)}
    data, results = write_task(tmp_path, values)
    evaluate_dir(results, data, results, bootstrap=20, permutations=19)
    return data, results


def test_reading_the_written_file_gives_back_the_records_written(scored) -> None:
    data, results = scored
    report = evaluate_dir(results, data, results, bootstrap=20, permutations=19)
    written = ScoresFile.of(report)
    assert ScoresFile.read(results / "scores.json") == written
    assert written.tasks[0].null is not None and written.tasks[0].ci   # the nested records were there to compare


def test_the_file_is_the_json_of_its_records(scored) -> None:
    _, results = scored
    text = (results / "scores.json").read_text()
    assert ScoresFile.from_json(text).to_json() == text


def test_the_leaderboard_reads_a_task_as_the_scorer_wrote_it(scored) -> None:
    data, results = scored
    entry = load_entry("a", "subs/a", results)
    (task,) = ScoresFile.read(results / "scores.json").tasks
    assert entry.tasks == (task,)
    configs = json.loads((data / "reference_data" / "alpha" / "model_configs.json").read_text())
    grid = Grid.from_hparams([{k: h["current_value"] for k, h in c["hparams"].items()} for c in configs.values()],
                             GRID)
    gaps = [c["metrics"]["train_acc"] - c["metrics"]["test_acc"] for c in configs.values()]
    assert task.official == official_score([(7 * i) % 12 for i in range(12)], gaps, grid)


def test_a_failed_model_is_kept_as_null_and_flagged(tmp_path: Path) -> None:
    values: dict[str, object] = {f"model_{i}": float(i) for i in range(12)}
    values["model_3"] = "EXCEEDED"
    data, results = write_task(tmp_path, values)
    evaluate_dir(results, data, results, bootstrap=0, permutations=0)
    (task,) = ScoresFile.read(results / "scores.json").tasks
    assert task.official is None and task.n_scored == 11 and task.null is None
    assert task.flags == (f"{results / 'alpha.predict'}: 1 of 12 models have no finite prediction (3); "
                          f"official score 0",)


@pytest.mark.parametrize("content", ["[]", "{}", '{"overall_official": 1.0, "tasks": {}}', "not json"])
def test_a_file_that_is_not_a_scores_file_is_one_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "scores.json"
    path.write_text(content)
    with pytest.raises(HarnessError, match=r"scores.json: not a scores file \("):
        ScoresFile.read(path)


def test_a_missing_file_says_the_submission_was_not_scored(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"scores.json: not found \(the submission was not scored\)$"):
        ScoresFile.read(tmp_path / "scores.json")
