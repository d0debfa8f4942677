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
