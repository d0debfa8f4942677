"""Reading the task format's JSON files (harness.task.read_json)."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.task import read_json


def test_read_json_returns_the_parsed_content(tmp_path):
    (tmp_path / "a.json").write_text('{"model_1": 0.5, "ids": [1, 2]}', encoding="utf-8")
    assert read_json(tmp_path / "a.json") == {"model_1": 0.5, "ids": [1, 2]}


def test_read_json_names_a_missing_file(tmp_path):
    with pytest.raises(HarnessError, match=r"^.*missing\.json: file not found$"):
        read_json(tmp_path / "missing.json")


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00binary"])
def test_read_json_calls_bad_syntax_or_bytes_malformed_json(tmp_path, content):
    (tmp_path / "bad.json").write_bytes(content)
    with pytest.raises(HarnessError, match=r"bad\.json: malformed JSON \("):
        read_json(tmp_path / "bad.json")


def test_read_json_reports_an_unreadable_path_in_one_line(tmp_path):
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(HarnessError, match=r"folder\.json: cannot read \(") as excinfo:
        read_json(tmp_path / "folder.json")
    assert "\n" not in str(excinfo.value)


# --- reference data is validated (issue 14, item 7) ---------------------------

import json  # noqa: E402
import time  # noqa: E402

from harness.scoring.evaluate import reference_tasks  # noqa: E402
from harness.task import MODEL_CONFIGS, read_model_configs  # noqa: E402


def entry(train_acc=0.9, test_acc=0.8, values=(1, 2), current=1):
    return {"hparams": {"width": {"possible_values": values, "current_value": current}},
            "metrics": {"train_acc": train_acc, "test_acc": test_acc}}


def write_configs(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MODEL_CONFIGS).write_text(text if isinstance(text, str) else json.dumps(text))
    return folder / MODEL_CONFIGS


def test_read_json_refuses_a_key_given_twice(tmp_path):
    (tmp_path / "a.json").write_text('{"model_1": 0.5, "model_1": 0.7}')
    with pytest.raises(HarnessError, match=r"a\.json: malformed JSON \(key 'model_1' appears twice in one object\)$"):
        read_json(tmp_path / "a.json")


def test_read_json_reports_deep_nesting_in_one_line(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(HarnessError, match=r"deep\.json: malformed JSON \(nested too deeply to parse\)$"):
        read_json(tmp_path / "deep.json")


def test_read_json_refuses_a_file_over_its_size_cap_without_reading_it(tmp_path):
    path = tmp_path / "big.json"
    with open(path, "wb") as fh:
        fh.truncate(80 << 20)   # 80 MB (sparse: not written, and not valid JSON either)
    start = time.perf_counter()
    with pytest.raises(HarnessError, match=r"big\.json: 83,886,080 bytes, larger than the 1,024 this file may hold"):
        read_json(path, max_bytes=1024)
    assert time.perf_counter() - start < 0.1


@pytest.mark.parametrize("bad", ["0.9", 90, 1.5, -0.1, None, True, float("nan")])
def test_an_accuracy_that_is_not_a_fraction_is_refused(tmp_path, bad):
    path = write_configs(tmp_path, json.dumps({"0": entry(train_acc=bad), "1": entry(current=2)}))
    with pytest.raises(HarnessError, match=r"model 0: train_acc must be a JSON number in \[0, 1\] "
                                           r"\(a fraction, not a percentage\)\. Received: "):
        read_model_configs(path)


def test_a_model_under_two_ids_is_refused(tmp_path):
    path = write_configs(tmp_path, {"model_0": entry(), "0": entry(current=2)})
    with pytest.raises(HarnessError, match=r"model_configs\.json: model 0 is given twice"):
        read_model_configs(path)


def test_possible_values_given_as_a_string_is_refused(tmp_path):
    path = write_configs(tmp_path, {"0": entry(values="1,2")})
    with pytest.raises(HarnessError, match=r"hyperparameter 'width': possible_values must be a list\. "
                                           r"Received: '1,2'"):
        read_model_configs(path)


def test_valid_reference_data_still_reads(tmp_path):
    path = write_configs(tmp_path, {"model_0": entry(train_acc=1, test_acc=0), "1": entry(current=2)})
    reference = read_model_configs(path)
    assert reference.ids == ["0", "1"] and reference.records["0"].gap == 1.0
    assert reference.grid == {"width": [1, 2]}


def test_a_reference_task_folder_without_model_configs_is_an_error(tmp_path):
    write_configs(tmp_path / "reference_data" / "a", {"0": entry(), "1": entry(current=2)})
    (tmp_path / "reference_data" / "b").mkdir()
    with pytest.raises(HarnessError, match=r"reference_data/b: no model_configs\.json in this reference folder$"):
        reference_tasks(tmp_path)
