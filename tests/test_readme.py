"""The README's tables: copied from the measured results, and well-formed (issue 14, item 8)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_tables_module():
    spec = importlib.util.spec_from_file_location("readme_tables", REPO / "benchmarks" / "readme_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def markdown_tables(text: str) -> list[list[str]]:
    return [block.group(0).splitlines() for block in re.finditer(r"(?:^\|.*\n)+", text, re.M)]


def test_the_baseline_tables_are_those_of_the_measured_results():
    assert readme_tables_module().main(["--check"]) == 0


def test_every_readme_table_has_a_header_that_fits_its_rows():
    tables = markdown_tables((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(tables) >= 5
    for lines in tables:
        widths = {line.count("|") for line in lines}
        assert len(widths) == 1, lines[:3]
        assert all(re.fullmatch(r"\s*:?-{3,}:?\s*", cell) for cell in lines[1].strip("|").split("|")), lines[:2]


def test_a_stale_copy_is_detected(tmp_path):
    module = readme_tables_module()
    original = (REPO / "README.md").read_text(encoding="utf-8")
    readme = re.sub(r"^\| 1 \| \w+", "| 1 | x", original, count=1, flags=re.M)
    assert readme != original
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    assert module.main(["--check", "--readme", str(tmp_path / "README.md")]) == 1
    assert module.main(["--readme", str(tmp_path / "README.md")]) == 0
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == original


def test_the_against_random_sentence_is_copied_with_the_tables(tmp_path):
    module = readme_tables_module()
    results = tmp_path / "leaderboard.md"
    results.write_text("# t\n\n## Ranking\n\n| rank | measure |\n| --- | --- |\n| 1 | m |\n\n"
                       "## Against random\n\nBeat a random measure on every task: 1 of 1.\n\n"
                       "## By family\n\n| family |\n| --- |\n| weights |\n\n## Task a\n\n| x |\n",
                       encoding="utf-8")
    block = module.tables(results.read_text(encoding="utf-8"))
    assert "### Against random\n\nBeat a random measure on every task: 1 of 1.\n" in block
    assert "Seed to seed" not in block and "Task a" not in block
