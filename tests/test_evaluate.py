"""Specifications of `pgdl evaluate` and harness.scoring.evaluate, on the original toy task's reference data."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.scoring.evaluate import evaluate_dir, evaluate_predictions
from harness.scoring.formatting import format_table
from harness.scoring.predictions import read_prediction_file
from harness.scoring.results import SUBSET_REASON
from harness.scoring.scores_file import ScoresFile
from harness.task import MODEL_CONFIGS, read_model_configs
from tests.helpers.cli import pgdl




def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def flagged_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("flagged:")]


@pytest.fixture
def gaps(toy_data: Path) -> dict[str, float]:
    """Bare model id -> generalization gap of the toy task."""
    return {i: r.gap for i, r in read_model_configs(toy_data / MODEL_CONFIGS).records.items()}


def write_predict(folder: Path, task: str, content: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{task}.predict"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def copy_reference(toy_data: Path, root: Path, task: str = "toy_data", edit=None) -> Path:
    """A reference-only task folder ``root/task`` holding (an edited copy of) the toy task's configs."""
    configs = json.loads((toy_data / MODEL_CONFIGS).read_text())
    if edit:
        edit(configs)
    (root / task).mkdir(parents=True)
    (root / task / MODEL_CONFIGS).write_text(json.dumps(configs))
    return root / task / MODEL_CONFIGS


def test_predicting_the_gap_scores_one_on_the_toy_task(toy_data, gaps, tmp_path, capsys):
    write_predict(tmp_path / "pred", "toy_data", {f"model_{i}": g for i, g in gaps.items()})
    code = pgdl("evaluate", tmp_path / "pred", "--reference", toy_data, "--out", tmp_path / "out",
                "--bootstrap", "20")
    out = capsys.readouterr().out
    assert code == 0
    lines = (tmp_path / "out" / "scores.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["task_toy_data_score", "task_average_score"]
    assert re.fullmatch(r"task_toy_data_score: \d\.\d{12}", lines[0])
    assert float(lines[0].split()[1]) == pytest.approx(1.0, abs=1e-9)
    assert float(lines[1].split()[1]) == pytest.approx(100.0, abs=1e-7)
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    task = scores["tasks"]["toy_data"]
    assert (task["n_models"], task["n_scored"], task["n_missing"]) == (18, 18, 0)
    assert task["robust_cmi"]["headline"] == pytest.approx(1.0, abs=1e-12)
    assert task["kendall_tau"] == 1.0   # tau_b: ties in the gap are ties in the measure too
    # Jiang et al.'s tau counts the toy task's tied gaps as 0, so even the gap itself has Psi < 1
    assert 0.9 < task["granulated_kendall"]["psi"] < 1.0
    assert task["ci"]["kendall_tau"]["n_resamples"] == 20
    assert sorted(task["ci"]) == ["kendall_tau", "psi"]   # none for robust CMI nor the official score
    assert task["null"]["n_permutations"] == 999 and isinstance(task["null"]["seed"], int)
    for metric in ("official", "robust_cmi", "kendall_tau", "psi"):
        assert set(task["null"][metric]) == {"mean", "q95", "p_value"}
        assert task["null"][metric]["p_value"] <= 0.01, metric
    assert set(scores["null_overall"]["official"]) == {"mean", "q95", "p_value"}
    assert scores["null_overall"]["official"]["p_value"] <= 0.01
    assert len(task["official_pairs"]) == 6 and task["flags"] == []
    assert re.search(r"^toy_data\s+18/18\s+1\.0000", out, re.M)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["models.csv", "scores.json", "scores.txt"]


def test_bare_ids_and_a_split_reference_root_are_accepted(toy_data, gaps, tmp_path):
    copy_reference(toy_data, tmp_path / "root" / "reference_data")
    write_predict(tmp_path / "pred", "toy_data", {i: -g for i, g in gaps.items()})
    assert pgdl("evaluate", tmp_path / "pred", "--reference", tmp_path / "root", "--out", tmp_path / "out",
                "--bootstrap", "0") == 0
    task = json.loads((tmp_path / "out" / "scores.json").read_text())["tasks"]["toy_data"]
    assert task["kendall_tau"] == -1.0
    assert task["ci"] == {}
    # The toy gaps tie (e.g. models 0 and 1). A tied pair is "not greater" both ways in G and in Q,
    # so with m = -g the official tables are not a relabelling of m = g's: the 2020 score is not
    # sign-invariant when gaps tie (0.5835 here, the slow reference agrees). Robust CMI is.
    assert task["official"] == pytest.approx(0.5834791483628631, rel=1e-12)
    assert task["robust_cmi"]["headline"] == pytest.approx(1.0, abs=1e-12)


def test_a_constant_measure_scores_zero(toy_data, gaps, tmp_path):
    report = evaluate_predictions({"toy_data": {i: 0.5 for i in gaps}}, toy_data, bootstrap=0)
    assert report.task("toy_data").official == 0.0
    assert report.overall_official == 0.0


def test_malformed_json_is_one_error_line_and_writes_nothing(toy_data, tmp_path, capsys):
    path = write_predict(tmp_path / "pred", "toy_data", '{"model_0": 0.1,')
    code = pgdl("evaluate", tmp_path / "pred", "--reference", toy_data, "--out", tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {path}: malformed JSON") and err.count("\n") == 1
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_json_list_is_rejected(tmp_path):
    path = write_predict(tmp_path, "t", [1, 2])
    with pytest.raises(HarnessError, match=r"expected a JSON object mapping model ids to numbers, got list"):
        read_prediction_file(path)


def test_a_model_given_twice_is_rejected(tmp_path):
    path = write_predict(tmp_path, "t", {"model_3": 1.0, "3": 2.0})
    with pytest.raises(HarnessError, match=rf"^{re.escape(str(path))}: model 3 is given twice$"):
        read_prediction_file(path)


def test_unknown_ids_are_an_error_naming_the_file(toy_data, gaps, tmp_path, capsys):
    path = write_predict(tmp_path / "pred", "toy_data", {**{f"model_{i}": g for i, g in gaps.items()},
                                                        "model_99": 0.0})
    code = pgdl("evaluate", tmp_path / "pred", "--reference", toy_data, "--out", tmp_path / "out")
    assert code == 2
    assert error_lines(capsys.readouterr().err) == [
        f"error: {path}: unknown model id(s) 99 (not in {toy_data / MODEL_CONFIGS})"]
    assert not (tmp_path / "out").exists()


def test_a_missing_predict_file_flags_the_task_but_scores_the_others(toy_data, gaps, tmp_path, capsys):
    ref = tmp_path / "ref"
    copy_reference(toy_data, ref, "a")
    copy_reference(toy_data, ref, "b")
    write_predict(tmp_path / "pred", "a", {f"model_{i}": g for i, g in gaps.items()})
    code = pgdl("evaluate", tmp_path / "pred", "--reference", ref, "--out", tmp_path / "out",
                "--bootstrap", "0")
    assert code == 1
    assert flagged_lines(capsys.readouterr().err) == [f"flagged: {tmp_path / 'pred' / 'b.predict'}: not found"]
    lines = (tmp_path / "out" / "scores.txt").read_text().splitlines()
    assert lines[1] == "task_b_score: 0.000000000000"
    assert float(lines[0].split()[1]) == pytest.approx(1.0, abs=1e-9)
    assert float(lines[2].split()[1]) == pytest.approx(50.0, abs=1e-7)   # 100 x mean(1, 0)
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores["tasks"]["b"]["official"] is None and scores["tasks"]["b"]["n_scored"] == 0


@pytest.mark.parametrize("bad", [float("nan"), "EXCEEDED", None, "abc", True])
def test_a_model_without_a_finite_prediction_zeroes_the_official_score_only(toy_data, gaps, tmp_path,
                                                                             capsys, bad):
    values = {f"model_{i}": g for i, g in gaps.items()}
    values["model_4"] = bad
    path = write_predict(tmp_path / "pred", "toy_data", json.dumps(values))
    code = pgdl("evaluate", tmp_path / "pred", "--reference", toy_data, "--out", tmp_path / "out",
                "--bootstrap", "0")
    assert code == 1
    assert flagged_lines(capsys.readouterr().err) == [
        f"flagged: {path}: 1 of 18 models have no finite prediction (4); official score 0"]
    task = json.loads((tmp_path / "out" / "scores.json").read_text())["tasks"]["toy_data"]
    assert task["official"] is None and task["official_reason"] == "1 model(s) without a finite prediction"
    assert (task["n_scored"], task["n_missing"]) == (17, 1)
    assert task["robust_cmi"]["headline"] == pytest.approx(1.0, abs=1e-12)   # the 17 others still count
    assert task["kendall_tau"] == 1.0


def test_a_model_absent_from_the_file_counts_as_failed(toy_data, gaps, tmp_path):
    report = evaluate_predictions({"toy_data": {i: g for i, g in gaps.items() if i != "7"}}, toy_data,
                                  bootstrap=0)
    task = report.task("toy_data")
    assert task.official is None and task.n_missing == 1
    assert report.problems == ["predictions for task toy_data: 1 of 18 models have no finite "
                               "prediction (7); official score 0"]


def test_an_incomplete_grid_is_flagged_and_scored_by_the_robust_metrics(toy_data, gaps, tmp_path, capsys):
    configs = copy_reference(toy_data, tmp_path / "ref", edit=lambda c: c.pop("5"))
    write_predict(tmp_path / "pred", "toy_data", {f"model_{i}": g for i, g in gaps.items() if i != "5"})
    code = pgdl("evaluate", tmp_path / "pred", "--reference", tmp_path / "ref" / "toy_data",
                "--out", tmp_path / "out", "--bootstrap", "0")
    assert code == 1
    assert flagged_lines(capsys.readouterr().err) == [
        f"flagged: {configs}: incomplete grid: 1 of 18 hyperparameter combinations missing; official score 0"]
    task = json.loads((tmp_path / "out" / "scores.json").read_text())["tasks"]["toy_data"]
    assert task["official"] is None and task["n_scored"] == 17
    assert task["robust_cmi"]["headline"] == pytest.approx(1.0, abs=1e-12)


def test_a_duplicated_grid_is_flagged(toy_data, gaps, tmp_path):
    copy_reference(toy_data, tmp_path / "ref", edit=lambda c: c.update({"18": c["0"]}))
    report = evaluate_predictions({"toy_data": {**gaps, "18": 0.3}}, tmp_path / "ref", bootstrap=0)
    task = report.task("toy_data")
    assert task.official is None
    assert task.official_reason.startswith(
        "duplicated grid: 1 hyperparameter combination(s) appear more than once")
    assert task.n_scored == 19 and task.robust is not None


def test_an_official_score_the_2020_code_gives_as_nan_is_flagged(toy_data, gaps, tmp_path):
    """num_layers values 1, 11, 3: "1"+"11" == "11"+"1", so bins collide and stay empty; the last
    ordered pair, (activation_function, num_layers), is nan, so the 2020 result is nan."""
    def layers_1_11_3(configs):
        for entry in configs.values():
            spec = entry["hparams"]["num_layers"]
            spec["possible_values"] = [1, 11, 3]
            spec["current_value"] = {2: 11}.get(spec["current_value"], spec["current_value"])
    configs = copy_reference(toy_data, tmp_path / "ref", edit=layers_1_11_3)
    report = evaluate_predictions({"toy_data": gaps}, tmp_path / "ref", bootstrap=0)
    task = report.task("toy_data")
    assert task.official is None and task.official_reason.startswith("the 2020 scorer gives nan")
    assert report.problems == [f"{configs}: {task.official_reason}; official score 0"]
    assert task.robust.headline == pytest.approx(1.0, abs=1e-12)


def test_predictions_for_an_unknown_task_are_a_warning(toy_data, gaps, tmp_path, capsys):
    write_predict(tmp_path / "pred", "toy_data", {f"model_{i}": g for i, g in gaps.items()})
    extra = write_predict(tmp_path / "pred", "other", {"model_0": 1.0})
    code = pgdl("evaluate", tmp_path / "pred", "--reference", toy_data, "--out", tmp_path / "out",
                "--bootstrap", "0")
    assert code == 0
    assert f"warning: {extra}: no task other in the reference data; ignored" in capsys.readouterr().err


def test_report_json_has_no_nan_and_table_shows_each_task(toy_data, gaps):
    measure = {i: float(len(i)) for i in gaps}   # ties everywhere: some metrics undefined
    report = evaluate_predictions({"toy_data": measure}, toy_data, bootstrap=5)
    data = json.loads(ScoresFile.of(report).to_json(), parse_constant=lambda c: pytest.fail(f"{c} in scores.json"))
    assert data["tasks"]["toy_data"]["n_scored"] == 18
    table = format_table(report)
    assert table.splitlines()[2].startswith("toy_data") and "overall official score" in table


def test_a_reference_root_without_reference_data_is_an_error(tmp_path):
    (tmp_path / "task" / "model_0").mkdir(parents=True)
    with pytest.raises(HarnessError, match=r"no reference data \(model_configs.json\) found"):
        evaluate_predictions({}, tmp_path / "task")


def test_scoring_never_imports_tensorflow(toy_data, gaps, tmp_path):
    write_predict(tmp_path / "pred", "toy_data", {f"model_{i}": g for i, g in gaps.items()})
    code = ("import sys\n"
            "import harness.scoring, harness.report\n"
            "assert 'tensorflow' not in sys.modules, 'import harness.scoring, harness.report'\n"
            "from harness.cli import main\n"
            "try:\n"
            f"    main(['evaluate', {str(tmp_path / 'pred')!r}, '--reference', {str(toy_data)!r},\n"
            f"          '--out', {str(tmp_path / 'out')!r}, '--bootstrap', '2'])\n"
            "except SystemExit as exc:\n"
            "    assert not exc.code, exc.code\n"
            "assert 'tensorflow' not in sys.modules, 'pgdl evaluate'\n"
            "assert 'scipy' not in sys.modules, 'pgdl evaluate'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "scores.txt").is_file()


def test_the_console_script_reports_errors_without_traceback(toy_data, tmp_path):
    pgdl_script = Path(sys.executable).parent / "pgdl"
    if not pgdl_script.exists():
        pytest.skip("the pgdl console script is not installed beside this interpreter")
    done = subprocess.run([str(pgdl_script), "evaluate", str(tmp_path / "nowhere"), "--reference",
                           str(toy_data), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == f"error: {tmp_path / 'nowhere'}: not a directory\n"


# --- one task at a time, subsets, tables, provenance, bad input (issue 14) ----


def two_task_reference(toy_data: Path, root: Path) -> Path:
    copy_reference(toy_data, root, "a")
    copy_reference(toy_data, root, "b")
    return root


def test_task_scores_exactly_the_named_tasks_and_exits_zero(toy_data, gaps, tmp_path, capsys):
    ref = two_task_reference(toy_data, tmp_path / "ref")
    write_predict(tmp_path / "pred", "a", {f"model_{i}": g for i, g in gaps.items()})   # no b.predict
    code = pgdl("evaluate", tmp_path / "pred", "--data", ref, "--task", "a", "--out", tmp_path / "out",
                "--bootstrap", "0")
    assert code == 0, capsys.readouterr().err
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert list(scores["tasks"]) == ["a"] and scores["problems"] == []
    assert scores["overall_official"] == pytest.approx(100.0, abs=1e-7)   # over a alone


def test_an_unknown_task_is_one_line_naming_the_option(toy_data, tmp_path, capsys):
    ref = two_task_reference(toy_data, tmp_path / "ref")
    (tmp_path / "pred").mkdir()
    code = pgdl("evaluate", tmp_path / "pred", "--data", ref, "--task", "c", "--out", tmp_path / "out")
    assert code == 2
    assert capsys.readouterr().err == (f"error: --task must name tasks with reference data under {ref} (a, b). "
                                       f"Received: --task c\n")


def test_a_subset_of_models_gets_robust_metrics_and_no_flagged_official_score(toy_data, gaps, tmp_path):
    subset = ["0", "5", "9", "13", "17"]
    report = evaluate_predictions({"toy_data": gaps}, toy_data, models={"toy_data": subset}, bootstrap=0)
    task = report.task("toy_data")
    assert (task.n_models, task.n_scored) == (5, 5)
    assert task.official is None and task.official_reason == SUBSET_REASON
    assert report.problems == [] and task.kendall_tau is not None
    assert report.notes == ("scored a subset of the models (toy_data 5/18) that covers every hyperparameter "
                            "value: the official score needs the complete grid (none given), the robust "
                            "metrics do not",)
    assert [row.model for row in report.models] == subset


def test_models_csv_is_the_report_frame(toy_data, gaps, tmp_path):
    import pandas

    values = {f"model_{i}": -g for i, g in gaps.items() if i != "3"}
    write_predict(tmp_path / "pred", "toy_data", values)
    report = evaluate_dir(tmp_path / "pred", toy_data, tmp_path / "out", bootstrap=0)
    frame = report.to_frame()
    assert list(frame.columns) == ["task", "model", "value", "gap", "status", "seconds",
                                   "num_units", "num_layers", "activation_function"]
    assert len(frame) == 18
    row = frame.set_index("model").loc["3"]
    assert row["status"] == "missing" and math.isnan(row["value"])
    assert frame.set_index("model").loc["4", "value"] == -gaps["4"]
    assert frame.set_index("model").loc["4", "gap"] == gaps["4"]
    written = pandas.read_csv(tmp_path / "out" / "models.csv", dtype={"model": str})
    pandas.testing.assert_frame_equal(written, frame)


def test_models_csv_takes_status_and_seconds_from_the_run_log(toy_data, gaps, tmp_path):
    from harness.task.records import RunRecord, write_run_log

    write_predict(tmp_path / "pred", "toy_data", {f"model_{i}": g for i, g in gaps.items() if i != "2"})
    write_run_log(tmp_path / "pred" / "run.jsonl",
                  [RunRecord("toy_data", "2", "timeout", None, 300.5, "exceeded the time limit"),
                   RunRecord("toy_data", "1", "ok", gaps["1"], 0.25)])
    frame = evaluate_dir(tmp_path / "pred", toy_data, tmp_path / "out", bootstrap=0).to_frame().set_index("model")
    assert (frame.loc["2", "status"], frame.loc["2", "seconds"]) == ("timeout", 300.5)
    assert (frame.loc["1", "status"], frame.loc["1", "seconds"]) == ("ok", 0.25)
    assert math.isnan(frame.loc["0", "seconds"])


def test_scores_json_records_the_environment_from_package_metadata(toy_data, gaps, tmp_path):
    import importlib.metadata
    import platform

    write_predict(tmp_path / "pred", "toy_data", gaps)
    evaluate_dir(tmp_path / "pred", toy_data, tmp_path / "out", bootstrap=0)
    env = json.loads((tmp_path / "out" / "scores.json").read_text())["environment"]
    assert env["python"] == platform.python_version()
    assert env["numpy"] == importlib.metadata.version("numpy")
    assert env["tensorflow"] == importlib.metadata.version("tensorflow")
    assert env["keras"] == importlib.metadata.version("keras")
    assert env["harness"]["version"] == importlib.metadata.version("pgdl-harness")
    assert env["harness"]["commit"] is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", env["harness"]["commit"])
    assert env["platform"] == platform.platform()


def test_a_failed_scoring_run_leaves_no_earlier_scores(toy_data, gaps, tmp_path, capsys):
    write_predict(tmp_path / "pred", "toy_data", gaps)
    assert pgdl("evaluate", tmp_path / "pred", "--data", toy_data, "--out", tmp_path / "out", "--bootstrap", "0") == 0
    write_predict(tmp_path / "pred", "toy_data", '{"model_0": 0.1,')
    assert pgdl("evaluate", tmp_path / "pred", "--data", toy_data, "--out", tmp_path / "out") == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_an_oversized_predict_file_is_refused_in_well_under_a_second(toy_data, tmp_path, capsys):
    path = tmp_path / "pred" / "toy_data.predict"
    path.parent.mkdir()
    with open(path, "w") as fh:   # 80 MB of unknown ids
        fh.write("{" + ", ".join(f'"model_{i}": 0.5' for i in range(20, 4_000_000)) + "}")
    assert path.stat().st_size > 80e6
    start = time.perf_counter()
    code = pgdl("evaluate", tmp_path / "pred", "--data", toy_data, "--out", tmp_path / "out")
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2 and seconds < 0.5, seconds
    assert re.fullmatch(rf"error: {re.escape(str(path))}: [\d,]+ bytes, larger than the [\d,]+ this file may hold\n",
                        err)


@pytest.mark.parametrize("where", ["file", "under_a_file"])
def test_an_out_that_is_a_file_is_one_line_and_nothing_is_written(toy_data, gaps, tmp_path, capsys, where):
    write_predict(tmp_path / "pred", "toy_data", gaps)
    (tmp_path / "taken").write_text("mine")
    out = tmp_path / "taken" if where == "file" else tmp_path / "taken" / "scores"
    code = pgdl("evaluate", tmp_path / "pred", "--data", toy_data, "--out", out)
    assert code == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'taken'}: not a folder (the output folder {out} "
                                       f"must be one, or not exist yet)\n")
    assert (tmp_path / "taken").read_text() == "mine"


def test_permutations_zero_writes_no_null_and_a_count_sets_its_resolution(toy_data, gaps, tmp_path):
    write_predict(tmp_path / "pred", "toy_data", {i: g for i, g in gaps.items()})
    assert pgdl("evaluate", tmp_path / "pred", "--reference", toy_data, "--out", tmp_path / "none",
                "--permutations", "0", "--bootstrap", "0") == 0
    scores = json.loads((tmp_path / "none" / "scores.json").read_text())
    assert scores["tasks"]["toy_data"]["null"] is None and scores["null_overall"]["official"] is None
    assert pgdl("evaluate", tmp_path / "pred", "--reference", toy_data, "--out", tmp_path / "few",
                "--permutations", "19", "--bootstrap", "0") == 0
    null = json.loads((tmp_path / "few" / "scores.json").read_text())["tasks"]["toy_data"]["null"]
    assert null["n_permutations"] == 19 and null["official"]["p_value"] == 0.05   # 1 / (19 + 1)


def test_a_negative_permutation_count_is_one_line_of_error(toy_data, tmp_path, capsys):
    write_predict(tmp_path / "pred", "toy_data", {})
    code = pgdl("evaluate", tmp_path / "pred", "--reference", toy_data, "--out", tmp_path / "out",
                "--permutations", "-1")
    assert code == 2
    assert "-1" in capsys.readouterr().err and not (tmp_path / "out").exists()
