"""Scratch folders that are removed whatever a submission left in them.

A submission's writable copy may hold trees Python's recursive removal cannot
take (folders thousands of levels deep, names past ``PATH_MAX``): `remove_tree`
hands the job to ``rm -rf``, which walks with ``openat`` and needs no
recursion, and never follows a link.

    >>> with scratch_dir("pgdl-run-") as scratch:  # doctest: +SKIP
    ...     (scratch / "a").mkdir()
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator


def remove_tree(path: str | Path) -> None:
    """Remove ``path`` and everything under it (``rm -rf``; no error if it is gone)."""
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A new private folder under the system's temporary folder, removed with `remove_tree` on exit."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        remove_tree(path)
