"""Shared fixtures: tiny tasks in the SPEC §1 format and the original toy task.

The tiny tasks are session-scoped (written once per test run): treat them as
read-only, or build your own with `tests.helpers.make_tiny_task(tmp_path, ...)`.
TensorFlow is imported only by the fixtures that write a task.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import TinyTask, make_tiny_task, sample_toy_data


@pytest.fixture(scope="session")
def toy_data() -> Path:
    """The original starting kit's toy task (18 MLPs, combined layout); skips where absent."""
    path = sample_toy_data()
    if path is None:
        pytest.skip("original sample data absent (set PGDL_TOY_DATA or provide "
                    "../shared/pgdl-sample-data/toy_data)")
    return path


@pytest.fixture(scope="session")
def tiny_split_task(tmp_path_factory: pytest.TempPathFactory) -> TinyTask:
    """A 2 x 2 grid of random MLPs in the split layout (input_data/ + reference_data/)."""
    return make_tiny_task(tmp_path_factory.mktemp("tiny_split"), layout="split")


@pytest.fixture(scope="session")
def tiny_combined_task(tmp_path_factory: pytest.TempPathFactory) -> TinyTask:
    """The same task in the combined layout (one folder, with a test split)."""
    return make_tiny_task(tmp_path_factory.mktemp("tiny_combined"), layout="combined")
