"""Submissions written on the fly by the tests."""

from __future__ import annotations

from pathlib import Path


def write_submission(folder: Path, code: str = "def complexity(model, dataset):\n    return 1.0\n") -> Path:
    """A submission folder holding ``complexity.py`` with ``code`` (default: a constant measure)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "complexity.py").write_text(code)
    return folder
