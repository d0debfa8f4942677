"""Running ``pgdl`` from the tests: in this process (`pgdl`), or as a program (`pgdl_process`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.cli import main

REPO = Path(__file__).resolve().parents[2]


def pgdl(*args: object) -> int:
    """Run the ``pgdl`` entry point in-process; its exit status."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code
    return 0


def pgdl_process(*args: object, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """``python -m harness.cli ARGS`` from the repository root, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "harness.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout, **kwargs)
